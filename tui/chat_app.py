"""`tunewiz chat RUN`: the chat screen on its own, for a run's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App

from tui.lang import translate_bindings
from tui.screens.chat import ChatScreen


class ChatApp(App):
    """Shows one run's A/B chat; ctrl+q leaves."""

    TITLE = "tunewiz chat"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, run_dir: str | Path, **screen_kw: Any):
        super().__init__()
        translate_bindings(self)  # the App's own keys (ctrl+q)
        self.run_dir = Path(run_dir)
        self.screen_kw = screen_kw

    def on_mount(self) -> None:
        self.push_screen(ChatScreen(self.run_dir, **self.screen_kw))
