"""Attaching to a long run: the monitor's sampled read against parsing every event.

    python bench/attach.py [--events 1000000]

Writes a synthetic run directory (log events, an eval every 1,000 steps, a save every 5,000), then
times RunReader's first poll (what `tunewiz attach` does before its first paint), one following poll
after 100 new events, and the naive baseline that parses every line. Target (issue 4): about a
second for a million events, and a following poll that does not grow with the run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

from engine import rundir
from engine.monitor import RunReader


def write_run(d: Path, n: int) -> None:
    rundir.update_status(d, state="running", pid=None, started=time.time())
    rng = random.Random(0)
    t = time.time() - n
    with open(d / "events.jsonl", "w") as f:
        f.write(json.dumps({"v": 1, "type": "start", "time": t, "step": 0, "max_steps": n}) + "\n")
        for i in range(1, n + 1):
            f.write(json.dumps({"v": 1, "type": "log", "time": t + i, "step": i, "max_steps": n, "epoch": i / 1000,
                                "loss": 2.0 * math.exp(-i / n) + rng.random() * 0.1, "learning_rate": 2e-4,
                                "grad_norm": 1.0 + rng.random(), "num_input_tokens_seen": i * 4096}) + "\n")
            if i % 1000 == 0:
                f.write(json.dumps({"v": 1, "type": "eval", "time": t + i, "step": i, "loss": 1.5}) + "\n")
            if i % 5000 == 0:
                f.write(json.dumps({"v": 1, "type": "save", "time": t + i, "step": i, "checkpoint": f"checkpoint-{i}"}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    n = ap.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_run(d, n)
        size = (d / "events.jsonl").stat().st_size
        t0 = time.perf_counter()
        reader = RunReader(d)
        view = reader.poll()
        attach = time.perf_counter() - t0
        with open(d / "events.jsonl", "a") as f:
            for i in range(n + 1, n + 101):
                f.write(json.dumps({"v": 1, "type": "log", "time": time.time(), "step": i, "loss": 1.0}) + "\n")
        t0 = time.perf_counter()
        view = reader.poll()
        follow = time.perf_counter() - t0
        t0 = time.perf_counter()
        with open(d / "events.jsonl") as f:
            parsed = [json.loads(line) for line in f]
        naive = time.perf_counter() - t0
    print(f"run: {n:,} log events, {size / 2**20:.0f} MiB events.jsonl\n")
    print("| read | seconds | plotted loss points | evals | saves |")
    print("|---|---|---|---|---|")
    print(f"| tunewiz attach (first poll) | {attach:.3f} | {len(view.loss):,} | {len(view.evals):,} | {len(view.saves):,} |")
    print(f"| next poll (+100 events) | {follow:.4f} | | | |")
    print(f"| baseline: parse every line | {naive:.3f} | {sum(1 for e in parsed if e['type'] == 'log'):,} | | |")
    print(f"\nattach is {naive / attach:.0f}x faster than parsing everything; last step seen: {view.step:,}")


if __name__ == "__main__":
    main()
