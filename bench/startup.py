"""How fast the wizard opens, measured the way a person sees it: the `tunewiz` command started in a
pseudo-terminal (80x24), timed from process start until the first screen is on the terminal, and until
a key typed then shows up on it.

    python bench/startup.py [--runs 7]

Rows:
- `python + import textual.app`: the floor for any Textual program (interpreter start + import).
- `minimal Textual app`: an App with one focused Input, in the terminal: the floor for a first screen.
- `tunewiz`: the real command (tui.cli.main with no arguments: the demo preset, then the wizard).
  "first screen" = the model step painted with its values (model reference, the demos hint, the key
  legend); "key echoed" = three keys typed at that moment appear in the model field (the screen is
  interactive, not only painted).
- `TunewizApp(preset=...)`: the demo preset given to the wizard as a file, validated after the first paint
  (tui.cli's wizard validates it first, which puts pydantic on the path to the first screen).
- `TunewizApp()`, in-process, headless: to the first refresh after the first screen is mounted, and the
  heavy libraries (torch & co.) imported by then (there should be none).

The children write bytecode to a private cache (PYTHONPYCACHEPREFIX) and one unmeasured run warms it,
so every run reads compiled modules, as an installed tunewiz does (this machine's PYTHONDONTWRITEBYTECODE
would otherwise make edited modules compile on every start). The target (the issue) is under 0.5 s to an
interactive first screen; on a slow machine, compare with the two Textual floors.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BASELINE = ("import time, sys; t0 = float(sys.argv[1]); import textual.app; "
            "open(sys.argv[2], 'w').write(f'{time.time() - t0:.3f}\\n-\\n')")

MINIMAL_APP = """
from textual.app import App
from textual.widgets import Input
class Minimal(App):
    def compose(self):
        yield Input("ready")
Minimal().run()
"""

TUNEWIZ = "import sys\nfrom tui.cli import main\nsys.exit(main())"  # what the `tunewiz` console script runs
# the same preset handed to the wizard unvalidated: it validates it after the first paint
PRESET_AFTER_PAINT = ("from engine.cli import find_preset\nfrom tui.app import TunewizApp\nfrom tui.cli import DEMO_PRESET\n"
                      "TunewizApp(preset=find_preset(DEMO_PRESET)).run()")

IN_PROCESS = """
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

KEYS = b"qz7"  # typed into the focused field (which selects its text on focus: the keys replace it)
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*\x1b\\|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def child_env(cache: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=cache, TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def in_terminal(code: str, first: list[bytes], echo: bytes, env: dict[str, str], timeout: float = 30) -> tuple[float, float]:
    """Run `code` in a pseudo-terminal; seconds from start until every `first` marker is on the screen,
    and until the keys typed then make `echo` appear."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env,
                            start_new_session=True)
    os.close(slave)
    seen, raw = b"", b""
    t_first = t_echo = None
    try:
        while t_echo is None:
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"no first screen after {timeout} s; the terminal shows:\n"
                                 + _ESCAPES.sub(b"", raw)[-2000:].decode(errors="replace"))
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child exited
                raise SystemExit(f"exited ({proc.wait()}):\n" + _ESCAPES.sub(b"", raw)[-2000:].decode(errors="replace")) from None
            raw += chunk
            seen = _ESCAPES.sub(b"", raw)
            if t_first is None and all(m in seen for m in first):
                t_first = time.perf_counter() - t0
                seen = raw = b""
                os.write(master, KEYS)
            elif t_first is not None and echo in seen:
                t_echo = time.perf_counter() - t0
    finally:
        proc.kill()  # our own child; the wizard's background imports would make a clean exit slow
        proc.wait()
        os.close(master)
    return t_first, t_echo


def in_process(code: str, env: dict[str, str]) -> tuple[float, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as f:
        out = subprocess.run([sys.executable, "-c", code, str(time.time()), f.name], capture_output=True, text=True,
                             cwd=REPO, env=env)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        lines = Path(f.name).read_text().split()
    return float(lines[0]), lines[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    n = ap.parse_args().runs
    cache = tempfile.mkdtemp(prefix="tunewiz-bench-pycache-")
    env = child_env(cache)
    wizard_first = [b"demo:smollm2-135m-instruct", b"Bundled demos", b"Load preset"]

    def process(code: str) -> tuple[float, float | None, str]:
        t, heavy = in_process(code, env)
        return t, None, heavy

    def terminal(code: str, first: list[bytes], echo: bytes) -> tuple[float, float | None, str]:
        return *in_terminal(code, first, echo, env), ""

    cases = {
        "python + import textual.app": lambda: process(BASELINE),
        "minimal Textual app (one Input)": lambda: terminal(MINIMAL_APP, [b"ready"], KEYS),
        "tunewiz (the command, demo preset)": lambda: terminal(TUNEWIZ, wizard_first, KEYS),
        "TunewizApp(preset=demo), validated after the paint": lambda: terminal(PRESET_AFTER_PAINT, wizard_first, KEYS),
        "TunewizApp(), in-process, headless": lambda: process(IN_PROCESS),
    }
    rows = []
    for name, case in cases.items():
        case()  # warm the bytecode cache
        results = [case() for _ in range(n)]
        firsts = [r[0] for r in results]
        echoes = [r[1] for r in results if r[1] is not None]
        rows.append((name, statistics.median(firsts), min(firsts), statistics.median(echoes) if echoes else None,
                     results[-1][2]))
        print(f"  {name}: {rows[-1][1]:.3f} s median", file=sys.stderr, flush=True)
    print(f"| what ({n} runs) | first screen, median s | best s | key echoed, median s | heavy libraries at first screen |")
    print("|---|---|---|---|---|")
    for name, med, best, echo, heavy in rows:
        print(f"| {name} | {med:.3f} | {best:.3f} | {'' if echo is None else f'{echo:.3f}'} | {heavy} |")
    floor = {name: med for name, med, *_ in rows}
    wiz = rows[2]
    print(f"\ntunewiz - import textual.app: {wiz[1] - floor['python + import textual.app']:+.3f} s; "
          f"tunewiz - minimal Textual app: {wiz[1] - floor['minimal Textual app (one Input)']:+.3f} s "
          f"(first screen); target: an interactive first screen under 0.5 s")


if __name__ == "__main__":
    main()
