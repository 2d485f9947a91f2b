"""The `tunewiz` console script: the command line of engine.cli with the interactive screens handed in (the
wizard, `tunewiz attach`, `tunewiz chat` without --prompt). The engine never imports the TUI; this module is the
layer above both. The screens' modules are imported when one opens, so `tunewiz run ...` starts without Textual.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine import cli
from engine.i18n import _

if TYPE_CHECKING:
    from engine.generate import Settings

DEMO_PRESET = "smollm2-identity-lora"


def wizard(preset: str | None) -> int:
    """`tunewiz` opens the wizard on the demo preset (demo model, sample data, settings that teach it);
    `tunewiz PRESET` opens it filled from that preset."""
    from tui.app import TunewizApp

    # the wizard validates the preset once its first screen is up; a preset with problems closes it again
    app = TunewizApp(preset=cli.find_preset(preset or DEMO_PRESET))
    app.run()
    if app.preset_error is not None:
        print(f"tunewiz: {app.preset_error}", file=sys.stderr)
        return cli.EXIT_INPUT
    if app.launched is not None:
        print(launched_line(app.launched))
    return 0


def launched_line(run_dir: Path) -> str:
    """What the terminal keeps after the wizard launched a run and quit: its name, state and the commands."""
    from engine import rundir, runs

    name = shlex.quote(run_dir.name)
    state, _detail = runs.effective_state(run_dir, rundir.read_status(run_dir))
    if state in ("starting", "running"):
        line = _("run {name} keeps running (in {folder}).").format(name=run_dir.name, folder=run_dir)
    else:
        line = _("run {name} {state} (in {folder}).").format(name=run_dir.name, state=state, folder=run_dir)
    return line + "\n" + _("Watch it: {attach}; stop it: {stop}; list runs: {runs}").format(
        attach=f"tunewiz attach {name}", stop=f"tunewiz stop {name}", runs="tunewiz runs")


def attach(run_dir: Path) -> int:
    """`tunewiz attach RUN`: the live monitor (finished and failed runs show their history)."""
    from tui.monitor_app import MonitorApp

    app = MonitorApp(run_dir)
    app.run()
    return app.return_code or 0  # non-zero when the monitor itself failed


def chat(run_dir: Path, settings: Settings, system: str | None) -> int:
    """`tunewiz chat RUN`: the tuned model next to its base, in one screen."""
    from tui.chat_app import ChatApp

    ChatApp(run_dir, settings=settings, system=system).run()
    return 0


SCREENS = cli.Screens(wizard=wizard, attach=attach, chat=chat)


def main(argv: list[str] | None = None) -> int:
    """The `tunewiz` command ([project.scripts])."""
    return cli.main(argv, screens=SCREENS)


if __name__ == "__main__":
    raise SystemExit(main())
