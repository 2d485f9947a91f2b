"""The base of every wizard step: one screen that edits one part of the app's config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from engine.i18n import N_, _
from tui.lang import translate_bindings

if TYPE_CHECKING:
    from textual import getters

    from engine.config import Config
    from tui.app import Step, TunewizApp


class StepBar(Static):
    """The list of steps with the current one highlighted."""

    DEFAULT_CSS = """
    StepBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, steps: Sequence[Step]) -> None:
        super().__init__()
        self.current = current
        self.steps = steps

    def on_mount(self) -> None:
        parts = []
        for i, step in enumerate(self.steps, 1):
            title = _(step.title)
            parts.append(f"[b reverse] {i} {title} [/]" if step.key == self.current else f" {i} {title} ")
        self.update("›".join(parts))


class StepScreen(Screen[None]):
    """A wizard step. Subclasses compose a body, and implement load / errors / store."""

    if TYPE_CHECKING:  # a step runs inside the wizard (tui.app imports this module, so only the type checker looks)
        app = getters.app(TunewizApp)

    STEP: ClassVar[str] = ""
    BINDINGS = [
        Binding("ctrl+n", "app.next_step", N_("Next")),
        Binding("ctrl+p", "app.prev_step", N_("Back")),
        Binding("ctrl+q", "app.quit", N_("Quit")),
    ]

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name, id, classes)
        translate_bindings(self)

    @property
    def wizard(self) -> TunewizApp:
        """The wizard app, which owns the config."""
        return self.app

    @property
    def cfg(self) -> Config:
        return self.wizard.cfg

    def compose(self) -> ComposeResult:
        yield StepBar(self.STEP, self.wizard.steps)
        yield from self.compose_body()
        with Horizontal(classes="nav"):
            yield Static("", classes="problems", id="problems")
            yield Button(_("Back"), id="back", classes="nav-back")
            yield Button(_("Next"), id="next", variant="primary", classes="nav-next")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.wizard.action_next_step()
        elif event.button.id == "back":
            event.stop()
            self.wizard.action_prev_step()

    def on_screen_resume(self) -> None:
        # each time the step is entered (first visit included, once mounted): refill from the config;
        # not when a dialog on top of it closes (its edits are not stored yet)
        if self.wizard.entering == self.STEP:
            self.wizard.entering = None
            self.load(self.cfg)

    def load(self, cfg: Config) -> None:
        """Fill the widgets from the config (called each time the step is shown)."""

    def errors(self) -> list[str]:
        """What blocks Next, each naming the field and the fix; [] when the step is complete."""
        return []

    def store(self, cfg: Config) -> None:
        """Write the widgets into the config (called when leaving with no errors)."""

    def recheck(self) -> None:
        """After an edit: a problems line shown by a blocked Next follows the fields (fixed ones go away)."""
        if self.query_one("#problems", Static).has_class("has-problems"):
            self.show_problems(self.errors())

    def show_problems(self, problems: list[str]) -> None:
        box = self.query_one("#problems", Static)
        box.update("\n".join(problems))
        box.set_class(bool(problems), "has-problems")
