"""Step 5: how the weights are trained. Full fine-tuning, LoRA or QLoRA (offered only where a CUDA GPU
and bitsandbytes are), the LoRA rank, alpha, dropout and bias, the target modules picked from the
model's own linear layers, and the trainable parameter count this gives for this model.
"""

from __future__ import annotations

from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Static
from textual.worker import get_current_worker

from engine import config, fieldhelp, fields
from engine.config import Config
from engine.i18n import N_, _
from engine.paste import Pasted
from tui import heavy
from tui.messages import ModelInspected
from tui.step import StepScreen
from tui.widgets.advanced import AdvancedFields
from tui.widgets.field import Field, fmt, full_help, library_check
from tui.widgets.paste_dialog import PasteDialog, apply_pasted
from tui.widgets.targets import TargetPicker, head_of
from tui.widgets.toggles import Radio

METHODS = [("full", N_("Full fine-tuning")), ("lora", N_("LoRA")), ("qlora", N_("QLoRA (4-bit base + LoRA)"))]
SHOWN = ["r", "lora_alpha", "lora_dropout", "bias"]
LABELS = {"r": N_("Rank r"), "lora_alpha": N_("Alpha"), "lora_dropout": N_("Dropout"), "bias": N_("Bias")}
# what the help pane says while the method choice or the target picker has focus
AREA_HELP = {"method": "lora.enabled", "picker": "lora.target_modules"}
# LoraConfig fields that peft or tunewiz fill in themselves
NOT_OFFERED = {"target_modules", "peft_type", "peft_version", "auto_mapping", "base_model_name_or_path", "revision",
               "inference_mode", "runtime_config"}


class HardwareChecked(Message):
    """Whether QLoRA can run here (from a worker): None, or why not."""

    def __init__(self, reason: str | None) -> None:
        super().__init__()
        self.reason = reason


class LoraScreen(StepScreen):
    STEP = "lora"
    CSS_PATH = "lora.tcss"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+t", "paste", N_("Paste code"), show=True)]

    def compose_body(self) -> ComposeResult:
        specs = fields.fields("lora")
        with VerticalScroll(id="lora-body"):
            yield Static("", id="paste-notes", markup=False)
            with RadioSet(id="method", compact=True):
                for key, label in METHODS:
                    yield Radio(_(label), id=f"m-{key}", disabled=key == "qlora")
            yield Static(_("QLoRA: checking for a CUDA GPU and bitsandbytes..."), id="qlora-reason")
            for key in SHOWN:
                spec = specs[key]
                choices = [(c, c) for c in spec["choices"]] if spec["kind"] == "choice" else None
                # (peft's LoRA help texts are one or two words: tunewiz's newcomer help says the rest)
                yield Field(key, _(LABELS[key]), spec["help"].rstrip(".") + ".",
                            choices=choices, check=library_check("lora", key), id=f"f-{key}",
                            placeholder=_("default {value}").format(value=fmt(config.LORA_DEFAULTS.get(key, spec.get("default")))),
                            newcomer=fieldhelp.source(f"lora.{key}") or "")
            yield TargetPicker(id="picker")
            yield AdvancedFields("lora", [k for k in specs if k not in NOT_OFFERED and k not in SHOWN], id="advanced")
        yield Static("", id="trainable")
        yield Static(_("r, alpha, dropout: Tab to move; Space ticks a layer."), id="help", markup=False)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._info: Any = None
        self._info_error: str | None = None
        self._quant = "none"
        self._qlora_reason: str | None = "checking"

    def on_mount(self) -> None:
        self._check_hardware()

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        lora = {**config.LORA_DEFAULTS, **cfg.lora}
        self._quant = cfg.model.quantization
        method = "full" if not cfg.lora_enabled else ("qlora" if self._quant == "4bit" else "lora")
        self.query_one(f"#m-{method}", RadioButton).value = True
        specs = fields.fields("lora")
        for key in SHOWN:
            self._field(key).set_text(fmt(lora.get(key, specs[key].get("default"))))
        self._picker.set_targets(lora.get("target_modules") or "all-linear")
        self.query_one("#advanced", AdvancedFields).load(cfg.lora)
        info = self.wizard.model_info
        if info is not None and info.ref == cfg.model.name_or_path and info.task == cfg.model.task:
            self._show_model(info, None)
        elif self._info is None or self._info.ref != cfg.model.name_or_path or self._info.task != cfg.model.task:
            self._info = None
            self.query_one("#trainable", Static).update(
                "[dim]" + _("Reading the layers of {model} (no weights)...").format(model=cfg.model.name_or_path) + "[/]")
            self._inspect(cfg.model.name_or_path, cfg.model.task, cfg.model.trust_remote_code)
        self._update()

    @property
    def method(self) -> str:
        pressed = self.query_one("#method", RadioSet).pressed_button
        return str(pressed.id).removeprefix("m-") if pressed is not None else "lora"

    def errors(self) -> list[str]:
        if self.method == "full":
            return []
        problems = [f.error for f in self.query(Field) if f.id != "adv-edit" and f.error]
        problems += self._picker.problems()
        problems += self.query_one("#advanced", AdvancedFields).result()[1]
        return problems

    def store(self, cfg: Config) -> None:
        method = self.method
        lora = dict(cfg.lora)
        lora["enabled"] = method != "full"
        if method != "full":
            for key in SHOWN:
                f = self._field(key)
                if f.blank:
                    lora.pop(key, None)
                else:
                    lora[key] = f.value
            if lora.get("bias") == fields.fields("lora")["bias"]["default"] and "bias" not in cfg.lora:
                lora.pop("bias")
            lora["target_modules"] = self._picker.targets
            adv = self.query_one("#advanced", AdvancedFields)
            for key in adv.keys:
                lora.pop(key, None)
            lora.update(adv.result()[0])
        cfg.lora = lora
        if method == "qlora":
            cfg.model.quantization = "4bit"
        else:  # an 8-bit base from a preset stays with LoRA; full fine-tuning cannot train a quantized model
            cfg.model.quantization = "8bit" if method == "lora" and self._quant == "8bit" else "none"
        if self._info is not None and self.wizard.model_info is None:
            self.wizard.model_info = self._info

    # ------------------------------------------------------------------------------------ hardware
    @work(thread=True, exclusive=True, group="lora-hardware")
    def _check_hardware(self) -> None:
        import importlib.util

        try:
            heavy.ready()
            import torch

            cuda = torch.cuda.is_available()
        except ImportError:
            cuda = False
        if not cuda:
            reason = _("no CUDA GPU here (torch.cuda.is_available() is False)")
        elif importlib.util.find_spec("bitsandbytes") is None:
            reason = _("bitsandbytes is not installed (pip install bitsandbytes)")
        else:
            reason = None
        if not get_current_worker().is_cancelled:
            self.post_message(HardwareChecked(reason))

    @on(HardwareChecked)
    def _show_hardware(self, message: HardwareChecked) -> None:
        reason = message.reason
        self._qlora_reason = reason
        self.query_one("#m-qlora", RadioButton).disabled = reason is not None
        self._update()

    # --------------------------------------------------------------------------------------- model
    @work(thread=True, exclusive=True, group="lora-inspect")
    def _inspect(self, ref: str, task: str, trust_remote_code: bool) -> None:
        from engine.errors import TunewizError
        from engine.inspect import inspect_model

        worker = get_current_worker()
        try:
            heavy.ready()
            info = inspect_model(ref, trust_remote_code=trust_remote_code, task=task)
            inspected = ModelInspected(ref, info, None)
        except TunewizError as e:
            inspected = ModelInspected(ref, None, e.problems[0].what)
        except Exception as e:  # an unreadable model is shown, never a crash
            inspected = ModelInspected(ref, None, f"{type(e).__name__}: {e}")
        if not worker.is_cancelled:
            self.post_message(inspected)

    @on(ModelInspected)
    def _inspected(self, message: ModelInspected) -> None:
        self._show_model(message.info, message.error)

    def _show_model(self, info: Any, error: str | None) -> None:
        self._info, self._info_error = info, error
        self._picker.set_info(info)
        self._update()

    # ------------------------------------------------------------------------------------ reactions
    def _field(self, key: str) -> Field:
        return self.query_one(f"#f-{key}", Field)

    @property
    def _picker(self) -> TargetPicker:
        return self.query_one("#picker", TargetPicker)

    @on(RadioSet.Changed, "#method")
    @on(TargetPicker.Changed)
    @on(Field.Changed)
    def _changed(self) -> None:
        self._update()

    @on(Field.Focused)
    def _focused(self, event: Field.Focused) -> None:
        if event.field.id != "adv-edit":
            self.query_one("#help", Static).update(event.field.full_help(f"lora.{event.field.key}"))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The method choice or the target picker got focus: its newcomer help, and the library's for the targets."""
        for area, name in AREA_HELP.items():
            if any(node.id == area for node in event.widget.ancestors_with_self):
                key = name.split(".", 1)[1]
                spec = fields.fields("lora").get(key, {})
                self.query_one("#help", Static).update(full_help(name, fieldhelp.source(name) or "", spec.get("help", "")))

    def _update(self) -> None:
        method = self.method
        for w in [*(self._field(k) for k in SHOWN), self._picker, self.query_one("#advanced")]:
            w.disabled = method == "full"
        reason = self.query_one("#qlora-reason", Static)
        if self._qlora_reason is None:
            reason.update("[dim]" + _("QLoRA is available: a CUDA GPU and bitsandbytes were found.") + "[/]")
        elif self._qlora_reason == "checking":
            reason.update("[dim]" + _("QLoRA: checking for a CUDA GPU and bitsandbytes...") + "[/]")
        elif method == "qlora":
            reason.update("[yellow]" + _("QLoRA cannot run on this machine: {reason}. "
                                         "The preset will run on a CUDA machine with bitsandbytes.").format(reason=self._qlora_reason) + "[/]")
        else:
            reason.update("[dim]" + _("QLoRA is unavailable: {reason}.").format(reason=self._qlora_reason) + "[/]")
        if method == "lora" and self._quant == "8bit":
            reason.update("[dim]" + _("The base model loads in 8 bit (model.quantization: 8bit, from the preset).") + "[/]")
        self.query_one("#trainable", Static).update(self._trainable(method))

    def _trainable(self, method: str) -> str:
        info = self._info
        if info is None:
            if self._info_error:
                return "[red]" + _("Trainable parameters unknown: {error}").format(error=self._info_error) + "[/]"
            return "[dim]" + _("Reading the layers of {model} (no weights)...").format(model=self.cfg.model.name_or_path) + "[/]"
        if method == "full":
            return _("Trainable: all [b]{n:,}[/] parameters (100%)").format(n=info.parameters)
        r = config.LORA_DEFAULTS["r"] if self._field("r").blank else self._field("r").value
        if not isinstance(r, int) or r <= 0:
            return _("Trainable parameters: fix r first")
        targets = self._picker.targets
        if isinstance(targets, str) and targets != "all-linear":
            return _("Trainable parameters: unknown for a pattern; tick the layers to see the count")
        head = head_of(info)
        names = [lin.name for lin in info.linears if lin.name != head] if targets == "all-linear" else targets
        n = info.lora_parameters(r, names)
        if info.task == "sequence-classification" and head:
            # peft trains a copy of the classification head in full (modules_to_save)
            lin = next(lin for lin in info.linears if lin.name == head)
            n += lin.in_features * lin.out_features + lin.out_features
        return _("Trainable: [b]{n:,}[/] of {total:,} parameters ([b]{share:.2f}%[/])").format(
            n=n, total=info.parameters + n, share=100 * n / (info.parameters + n))

    # ----------------------------------------------------------------------------------------- paste
    def action_paste(self) -> None:
        self.app.push_screen(PasteDialog(self.cfg.model.task), self._pasted)

    def _pasted(self, found: list[Pasted] | None) -> None:
        if not found:
            return
        notes = self.query_one("#paste-notes", Static)
        notes.update(apply_pasted(self.cfg, found, "lora", self.fill))
        notes.add_class("-shown")
        self.query_one("#lora-body").scroll_home(animate=False)

    def fill(self, values: dict[str, Any]) -> None:
        """Put pasted LoraConfig values into the form."""
        if self.method == "full":
            self.query_one("#m-lora", RadioButton).value = True
        for key in SHOWN:
            if key in values:
                self._field(key).set_text(fmt(values[key]))
        if "target_modules" in values:
            self._picker.set_targets(values["target_modules"])
        self.query_one("#advanced", AdvancedFields).set_values(values)
        self._update()
