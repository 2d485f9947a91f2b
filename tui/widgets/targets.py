"""The LoRA target picker: the model's own linear layer names as ticks, with quick picks.

`targets` is what goes into `lora.target_modules`: "all-linear", a list of names, or a pattern string
kept from a preset until a layer is ticked.
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, SelectionList, Static

from engine.i18n import _
from tui.widgets.field import fmt
from tui.widgets.toggles import TickList

# attention projections across architectures (Llama/Qwen/Mistral, BERT, GPT-2, Falcon, MPT, T5, OPT/BART, Phi-3)
ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "query", "key", "value", "c_attn", "query_key_value",
             "Wqkv", "q", "k", "v", "o", "out_proj"}
# a classifier's head: peft leaves it out of all-linear for SEQ_CLS and trains it in full (modules_to_save)
HEADS = {"classifier", "score"}


def head_of(info: Any) -> str | None:
    """The layer all-linear leaves out: the LM head, or a classification head."""
    if info.output_layer:
        return info.output_layer
    if info.task == "sequence-classification":
        return next((lin.name for lin in info.linears if lin.name in HEADS), None)
    return None


class TargetPicker(Vertical):
    """Ticks for the model's linear layers, plus "Attention only" and "All linear"."""

    DEFAULT_CSS = """
    TargetPicker {
        height: auto;
        #targets-row { height: 1; }
        .targets-label { width: 20; }
        #targets-row Button { margin-right: 1; }
        #targets-mode { height: 1; padding-left: 20; color: $text-muted; }
        #targets { height: auto; max-height: 12; }
    }
    """

    class Changed(Message):
        """The targets changed (a tick or a quick pick)."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info: Any = None
        self.targets: Any = "all-linear"

    def compose(self) -> ComposeResult:
        with Horizontal(id="targets-row"):
            yield Label(_("Target modules"), classes="targets-label")
            yield Button(_("Attention only"), id="pick-attention", compact=True)
            yield Button(_("All linear"), id="pick-all", compact=True)
        yield Static("", id="targets-mode", markup=False)
        yield TickList(id="targets", compact=True)

    def set_info(self, info: Any) -> None:
        """The inspected model (engine.inspect.ModelInfo) whose layers are offered."""
        self.info = info
        self._fill()

    def set_targets(self, targets: Any) -> None:
        """Tick what a target_modules value names."""
        self.targets = targets if isinstance(targets, str | list) else "all-linear"
        self._fill()
        self.post_message(self.Changed())

    def problems(self) -> list[str]:
        """What is wrong with the ticks: none, or names this model does not have."""
        if not isinstance(self.targets, list):
            return []
        if not self.targets:
            return [_("lora.target_modules: no layer is ticked; tick some, or press All linear")]
        if self.info is None:
            return []
        missing = [t for t in self.targets if t not in {lin.name for lin in self.info.linears}]
        if missing:
            return [_("lora.target_modules: {names} is not a linear layer of {model}; untick it").format(
                names=", ".join(missing), model=self.info.ref)]
        return []

    def _fill(self) -> None:
        box = self.query_one("#targets", SelectionList)
        box.clear_options()
        self._show_mode()
        if self.info is None:
            return
        chosen = self._chosen()
        head = head_of(self.info)
        for lin in self.info.linears:
            note = ""
            if lin.name == head:
                note = "  [dim]" + (_("(output layer)") if lin.name == self.info.output_layer else _("(head: trained in full)")) + "[/]"
            shape = f"{lin.in_features}→{lin.out_features}" if lin.shapes == 1 else _("{n} shapes").format(n=lin.shapes)
            box.add_option((f"{lin.name:<12} {shape} ×{lin.count}{note}", lin.name, lin.name in chosen))
        names = {lin.name for lin in self.info.linears}
        for name in self.targets if isinstance(self.targets, list) else []:
            if name not in names:
                box.add_option((f"{name:<12} [red]" + _("(not in this model)") + "[/]", name, True))

    def _show_mode(self) -> None:
        mode = self.query_one("#targets-mode", Static)
        if self.targets == "all-linear":
            head = head_of(self.info) if self.info is not None else None
            mode.update(_("all-linear: every linear layer but {head}").format(head=head) if head
                        else _("all-linear: every linear layer"))
        elif isinstance(self.targets, str):
            mode.update(_("pattern {pattern}: ticking a layer replaces it").format(pattern=repr(self.targets)))
        else:
            mode.update(fmt(self.targets))

    def _chosen(self) -> set[str]:
        if self.targets == "all-linear":
            return {lin.name for lin in self.info.linears if lin.name != head_of(self.info)}
        return set(self.targets) if isinstance(self.targets, list) else set()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        box = event.widget
        if isinstance(box, SelectionList) and box.highlighted is None and box.option_count:
            box.highlighted = 0  # a visible cursor row as soon as the list has focus (Space ticks it)

    @on(SelectionList.SelectedChanged, "#targets")
    def _ticked(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        selected = list(self.query_one("#targets", SelectionList).selected)
        if self.info is None or set(selected) == self._chosen():
            return  # our own refill, or nothing changed
        self.targets = sorted(selected)
        self._show_mode()
        self.post_message(self.Changed())

    @on(Button.Pressed, "#pick-attention")
    def _pick_attention(self, event: Button.Pressed) -> None:
        event.stop()
        names = sorted(lin.name for lin in self.info.linears if lin.name in ATTENTION) if self.info else []
        if not names:
            self.notify(_("No attention layer names recognised in this model; tick them in the list"), severity="warning")
            return
        self.set_targets(names)

    @on(Button.Pressed, "#pick-all")
    def _pick_all(self, event: Button.Pressed) -> None:
        event.stop()
        self.set_targets("all-linear")
