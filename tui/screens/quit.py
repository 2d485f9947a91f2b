"""The quit dialog: with choices not in any preset file yet, ctrl+q asks before they are lost (save a preset,
quit without saving, or stay)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from engine.i18n import N_, _, ngettext
from tui.lang import translate_bindings


class QuitScreen(ModalScreen[str]):
    """Dismisses with "save", "quit" or "cancel"."""

    CSS_PATH = "quit.tcss"
    BINDINGS = [Binding("escape", "cancel", N_("Cancel")), Binding("ctrl+q", "quit", N_("Quit without saving"), priority=True)]

    def __init__(self, changes: list[str]) -> None:
        super().__init__()
        translate_bindings(self)
        self._changes = changes

    def compose(self) -> ComposeResult:
        more = len(self._changes) - 4
        shown = self._changes[:4] + ([ngettext("and {n} more", "and {n} more", more).format(n=more)] if more > 0 else [])
        with Vertical(id="quit-box"):
            yield Static("[b]" + _("Quit with unsaved changes?") + "[/]", id="quit-title")
            yield Static("\n".join(f"  {escape(c)}" for c in shown) or "  " + _("(a field with a problem)"), id="quit-changes")
            with Horizontal(id="quit-buttons"):
                yield Button(_("Save preset"), id="quit-save", variant="primary")
                yield Button(_("Quit without saving"), id="quit-quit", variant="error")
                yield Button(_("Cancel"), id="quit-cancel")

    def on_mount(self) -> None:
        self.query_one("#quit-save", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(str(event.button.id).removeprefix("quit-"))

    def action_cancel(self) -> None:
        self.dismiss("cancel")

    def action_quit(self) -> None:
        self.dismiss("quit")
