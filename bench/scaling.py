"""Scaling of one preset over processes: the same run on 1 and on N GPUs (or CPU processes), through the
real launcher, and the efficiency = tokens/s on N / (N x tokens/s on 1).

    python bench/scaling.py PRESET [--processes 2] [--steps 30] [--set k=v ...]

Each run is `tunewiz run PRESET --set launch.processes=K --set training.max_steps=STEPS` into its own
run directory; tokens/s comes from the run's events (num_input_tokens_seen over the event times,
skipping the first logged steps as warm-up), so it counts what rank 0 saw times the world size.
Prints one table. On CPU it runs gloo processes (a check that the path works, not a speed figure).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WARMUP_LOGS = 3


def tokens_per_second(run_dir: Path) -> tuple[float, int]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["type"] == "start")
    logs = [e for e in events if e["type"] == "log" and "num_input_tokens_seen" in e]
    if len(logs) <= WARMUP_LOGS + 1:
        raise SystemExit(f"{run_dir}: too few log events; raise --steps")
    a, b = logs[WARMUP_LOGS], logs[-1]
    # num_input_tokens_seen is gathered over all processes by the Trainer
    return (b["num_input_tokens_seen"] - a["num_input_tokens_seen"]) / (b["time"] - a["time"]), int(start.get("world_size", 1))


def run(preset: str, processes: int, steps: int, extra: list[str], out: Path) -> Path:
    run_dir = out / f"p{processes}"
    cmd = [sys.executable, "-m", "engine.cli", "run", preset, "--set", f"launch.processes={processes}",
           "--set", f"training.max_steps={steps}", "--set", "training.logging_steps=1", "--set", "training.save_strategy=no",
           "--set", "training.eval_strategy=no", "--set", "dataset.eval_size=0", "--set", f"training.output_dir={run_dir}",
           "--set", "launch.main_port=29561", *[x for kv in extra for x in ("--set", kv)]]
    print("$", " ".join(cmd[2:]), flush=True)
    done = subprocess.run(cmd)
    if done.returncode:
        raise SystemExit(f"the run with {processes} process(es) failed; see {run_dir / 'stdout.log'}")
    return run_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--set", action="append", default=[], dest="extra")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="tunewiz-scaling-"))
    rows = []
    for n in (1, a.processes):
        tps, world = tokens_per_second(run(a.preset, n, a.steps, a.extra, out))
        rows.append((n, world, tps))
    base = rows[0][2]
    print(f"\npreset {a.preset}, {a.steps} steps each, per-process batch as in the preset\n")
    print("| processes | world size | tokens/s | speed-up | scaling efficiency |")
    print("|---|---|---|---|---|")
    for n, world, tps in rows:
        print(f"| {n} | {world} | {tps:,.0f} | {tps / base:.2f}x | {tps / (n * base):.0%} |")


if __name__ == "__main__":
    main()
