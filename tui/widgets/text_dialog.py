"""A read-only dialog for text that a pane cuts: the whole of it, wrapped and scrollable, closed by Escape (a
dataset row on the Rows tab, the token preview's checks)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.i18n import N_, _
from tui.lang import translate_bindings


class TextDialog(ModalScreen[None]):
    """`title` over `body` (wrapped, scrolled by up/down/page keys); Escape, Enter or q closes it."""

    DEFAULT_CSS = """
    TextDialog {
        align: center middle;
        #text-box { width: 90%; max-width: 100; height: auto; max-height: 90%; border: round $primary;
                    background: $surface; padding: 0 1; }
        #text-title { dock: top; height: auto; text-style: bold; }
        #text-scroll { height: auto; max-height: 100%; scrollbar-size-vertical: 1; }
        #text-body { height: auto; }
        #text-keys { dock: bottom; height: 1; color: $text-muted; }
    }
    """
    BINDINGS = [Binding("escape", "close", N_("Close")), Binding("enter", "close", show=False),
                Binding("q", "close", show=False)]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        translate_bindings(self)
        self._title, self._body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(id="text-box"):
            yield Static(Text(self._title), id="text-title")
            with VerticalScroll(id="text-scroll"):
                yield Static(self._body, id="text-body")
            yield Static(_("esc: close · ↑↓ PgUp PgDn: scroll"), id="text-keys")

    def on_mount(self) -> None:
        self.query_one("#text-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
