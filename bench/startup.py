"""How fast the wizard opens: process start to the first screen mounted, against bare Python + Textual.

    python bench/startup.py [--runs 5]

Prints a table; the target (issue 3) is under 0.5 s to an interactive first screen, which needs the
wizard to import no torch / transformers / trl / peft / datasets at start.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPEN_WIZARD = """
import time, sys
t0 = float(sys.argv[1])
from tui.app import TunewizApp
class Probe(TunewizApp):
    def on_mount(self):  # runs after TunewizApp.on_mount (Textual calls each class's handler)
        self.call_after_refresh(self.done)
    def done(self):
        heavy = [m for m in ("torch", "transformers", "trl", "peft", "datasets") if m in sys.modules]
        # the app owns stdout while it runs: report through a file
        open(sys.argv[2], "w").write(f"{time.time() - t0:.3f}\\n{','.join(heavy) or '-'}\\n")
        self.exit()
Probe().run(headless=True)
"""
BASELINE = ("import time, sys; t0 = float(sys.argv[1]); import textual.app; "
            "open(sys.argv[2], 'w').write(f'{time.time() - t0:.3f}\\n-\\n')")


def measure(code: str) -> tuple[float, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as f:
        out = subprocess.run([sys.executable, "-c", code, str(time.time()), f.name], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        lines = Path(f.name).read_text().split()
    return float(lines[0]), lines[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    n = ap.parse_args().runs
    rows = []
    for name, code in (("python + import textual", BASELINE), ("tunewiz wizard, first screen", OPEN_WIZARD)):
        times, heavy = [], "-"
        for _ in range(n):
            t, heavy = measure(code)
            times.append(t)
        rows.append((name, statistics.median(times), min(times), heavy))
    print("| what | median s | best s | heavy libraries imported |")
    print("|---|---|---|---|")
    for name, med, best, heavy in rows:
        print(f"| {name} | {med:.3f} | {best:.3f} | {heavy} |")
    print(f"\nwizard - baseline: {rows[1][1] - rows[0][1]:+.3f} s (target: first screen under 0.5 s)")


if __name__ == "__main__":
    main()
