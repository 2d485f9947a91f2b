"""`tunewiz attach RUN`: the monitor on its own, for a run started anywhere."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from tui.lang import translate_bindings
from tui.screens.monitor import MonitorScreen


class MonitorApp(App):
    """Shows one run's monitor; quitting leaves the run going."""

    TITLE = "tunewiz attach"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, run_dir: str | Path):
        super().__init__()
        translate_bindings(self)  # the App's own keys (ctrl+q)
        self.run_dir = Path(run_dir)

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen(self.run_dir))
