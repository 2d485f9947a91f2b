"""The paste dialog: a tutorial's TrainingArguments / SFTConfig / LoraConfig call (or a whole SFTTrainer cell) in,
parsed calls out.

Parsing is engine.paste (ast only, nothing runs). A syntax error keeps the dialog open with the line.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

from engine.config import Config
from engine.errors import TunewizError
from engine.i18n import N_, _
from engine.paste import Pasted, parse_calls
from tui.lang import translate_bindings


class PasteDialog(ModalScreen[list[Pasted] | None]):
    """Paste code, press ctrl+s: the dialog closes with the parsed calls (None when cancelled)."""

    DEFAULT_CSS = """
    PasteDialog {
        align: center middle;
        #paste-box { width: 76; height: 20; border: round $primary; background: $surface; padding: 0 1; }
        Label { width: 1fr; }
        #paste-text { height: 1fr; }
        #paste-error { height: auto; color: $error; }
        #paste-buttons { height: 1; align-horizontal: right; }
        #paste-buttons Button { margin-left: 1; }
    }
    """
    BINDINGS = [Binding("ctrl+s", "fill", N_("Fill the form"), show=True, priority=True),
                Binding("escape", "cancel", N_("Cancel"), show=True)]

    def __init__(self, task: str = "causal-lm") -> None:
        super().__init__()
        translate_bindings(self)
        self.for_task = task

    def compose(self) -> ComposeResult:
        with Vertical(id="paste-box"):
            yield Label(_("Paste a TrainingArguments(...), SFTConfig(...), LoraConfig(...) or SFTTrainer(...) call. "
                          "It is read, never run."))
            yield TextArea("", language=None, soft_wrap=False, id="paste-text", placeholder="args = TrainingArguments(\n    ...\n)")
            yield Static("", id="paste-error", markup=False)
            with Horizontal(id="paste-buttons"):
                yield Button(_("Cancel (esc)"), id="paste-cancel", compact=True)
                yield Button(_("Fill the form (ctrl+s)"), id="paste-fill", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#paste-text", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "paste-fill":
            self.action_fill()
        else:
            self.action_cancel()

    def action_fill(self) -> None:
        text = self.query_one("#paste-text", TextArea).text
        try:
            found = parse_calls(text, task=self.for_task)
        except TunewizError as e:
            p = e.problems[0]
            self.query_one("#paste-error", Static).update(f"{p.where}: {p.what}\n  " + _("fix: {fix}").format(fix=p.fix) if p.fix else f"{p.where}: {p.what}")
            return
        self.dismiss(found)

    def action_cancel(self) -> None:
        self.dismiss(None)


def apply_pasted(cfg: Config, found: list[Pasted], section: str, fill: Any) -> str:
    """Calls for this step's `section` go through `fill(values)`; the other step's go into the config, and so do
    the dataset: values a call implies (dataset_text_field). Returns the notes to show: what was filled, and
    each renamed, removed or skipped argument."""
    lines = []
    for p in found:
        if p.kind == section:
            fill(p.values)
            lines.append(_("{call}: filled {keys}").format(call=p.call, keys=", ".join(p.values)) if p.values else
                         _("{call}: filled nothing").format(call=p.call))
        else:
            lines.append(store_other(cfg, p))
        if p.dataset:
            lines.append(store_dataset(cfg, p))
        lines += [f"  • {n}" for n in p.notes]
    return "\n".join(lines)


def store_dataset(cfg: Config, pasted: Pasted) -> str:
    """dataset: values of a call (dataset.columns from dataset_text_field) go into the config; returns the note."""
    said = []
    for key, value in pasted.dataset.items():
        if isinstance(value, dict):
            value = {**(getattr(cfg.dataset, key) or {}), **value}
            said += [f"dataset.{key}.{k}: {v}" for k, v in pasted.dataset[key].items()]
        else:
            said.append(f"dataset.{key}: {value}")
        setattr(cfg.dataset, key, value)
    return _("{call}: {values} was saved for the Dataset step").format(call=pasted.call, values=", ".join(said))


def store_other(cfg: Config, pasted: Pasted) -> str:
    """A call for the other step's section goes straight into the config; returns the note that says so."""
    if pasted.kind == "lora":
        cfg.lora = {**cfg.lora, **pasted.values, "enabled": True}
        return _("{call}: {n} values were saved for the LoRA step").format(call=pasted.call, n=len(pasted.values))
    cfg.training = {**cfg.training, **pasted.values}
    return _("{call}: {n} values were saved for the Training step").format(call=pasted.call, n=len(pasted.values))
