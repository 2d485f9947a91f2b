"""Step 4: the training arguments. The fields people set most, each with the library's own help and
checked as you type; every other field of the method's config (TrainingArguments / SFTConfig, or
DPOConfig / KTOConfig / ORPOConfig for model.method dpo / kto / orpo) under Advanced; the batch and
step numbers they imply; and a paste dialog that reads a tutorial's TrainingArguments(...) call.
"""

from __future__ import annotations

import math
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from engine import config, fieldhelp, fields
from engine.config import Config
from engine.i18n import N_, _, ngettext
from engine.paste import Pasted
from tui.step import StepScreen
from tui.widgets.advanced import AdvancedFields
from tui.widgets.field import Field, fmt, library_check, placeholder_for
from tui.widgets.paste_dialog import PasteDialog, apply_pasted

COMMON = [
    ("num_train_epochs", N_("Epochs")),
    ("max_steps", N_("Max steps")),
    ("learning_rate", N_("Learning rate")),
    ("lr_scheduler_type", N_("Scheduler")),
    ("warmup_steps", N_("Warmup steps")),
    ("per_device_train_batch_size", N_("Batch size / device")),
    ("gradient_accumulation_steps", N_("Grad. accumulation")),
    ("max_length", N_("Max length")),
    ("precision", N_("Precision")),
    ("logging_strategy", N_("Log")),
    ("logging_steps", N_("Log every (steps)")),
    ("eval_strategy", N_("Evaluate")),
    ("eval_steps", N_("Evaluate every")),
    ("save_strategy", N_("Save checkpoints")),
    ("save_steps", N_("Save every (steps)")),
    ("seed", N_("Seed")),
    ("output_dir", N_("Output dir")),
]
PRECISIONS = [("auto", "auto"), ("bf16", "bf16"), ("fp16", "fp16"), ("fp32", "fp32")]
PRECISION_HELP = N_("auto leaves bf16/fp16 unset so tunewiz picks per machine: bf16 on a GPU that has it, fp16 on older GPUs, "
                    "fp32 on CPU. bf16/fp16 set training.bf16 / training.fp16 (mixed precision); fp32 sets both false.")
# a strategy field and the steps field it switches on
STEPS_OF = {"logging_strategy": "logging_steps", "eval_strategy": "eval_steps", "save_strategy": "save_steps"}
# the fields a preference method adds to the form (its trl config's own; the rest are under Advanced)
METHOD_COMMON: dict[str, list[tuple[str, str]]] = {
    "dpo": [("beta", N_("Beta (β)")), ("loss_type", N_("Loss type"))],
    "kto": [("beta", N_("Beta (β)")), ("loss_type", N_("Loss type")), ("desirable_weight", N_("Desirable weight")),
            ("undesirable_weight", N_("Undesirable weight"))],
    "orpo": [("beta", N_("Beta (λ)"))],
}
METHOD_TITLES = {"dpo": "DPO (trl.DPOConfig)", "kto": "KTO (trl.KTOConfig)", "orpo": "ORPO (trl ORPOConfig)"}


def hidden(method: str) -> set[str]:
    """Keys the form never offers: precision has its own field; keys tunewiz sets itself (per method)."""
    return {"bf16", "fp16", *(fields.RESERVED if method == "sft" else fields.RESERVED_ALL)}


def specs_of(method: str) -> dict[str, dict[str, Any]]:
    """The field specs of the method's training config (engine.fields.section_of)."""
    return fields.fields(fields.section_of("training", method))


HIDDEN = hidden("sft")


class TrainingScreen(StepScreen):
    STEP = "training"
    CSS_PATH = "training.tcss"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+t", "paste", N_("Paste code"), show=True)]

    def compose_body(self) -> ComposeResult:
        specs = fields.fields("training")  # (SFT: each step's load switches the checks and help to the method's)
        with VerticalScroll(id="training-body"):
            with Horizontal(id="training-top"):
                yield Button(_("Paste code (ctrl+t)"), id="paste", compact=True)
                yield Static(_("a tutorial's TrainingArguments(...) fills the form"), classes="hint")
            yield Static("", id="paste-notes", markup=False)
            for method, keys in METHOD_COMMON.items():
                mspecs = specs_of(method)
                with Vertical(id=f"m-{method}", classes="method-fields"):
                    yield Static(METHOD_TITLES[method], classes="method-title")
                    for key, label in keys:
                        spec = mspecs[key]
                        choices = [(c, c) for c in spec["choices"]] if spec["kind"] == "choice" else None
                        yield Field(key, _(label), spec["help"], choices=choices, check=library_check("training", key, "causal-lm", method),
                                    placeholder=placeholder_for(spec), id=f"f-{method}-{key}",
                                    newcomer=fieldhelp.source(f"training.{key}", method) or "")
            for key, label in COMMON:
                newcomer = fieldhelp.source(f"training.{key}") or ""
                if key == "precision":
                    yield Field(key, _(label), _(PRECISION_HELP), choices=PRECISIONS, id="f-precision", newcomer=newcomer)
                    continue
                spec = specs[key]
                choices = [(c, c) for c in spec["choices"]] if spec["kind"] == "choice" else None
                placeholder = "runs/<preset>-<time>" if key == "output_dir" else placeholder_for(spec)
                yield Field(key, _(label), spec["help"], choices=choices, check=library_check("training", key),
                            placeholder=placeholder, id=f"f-{key}", newcomer=newcomer)
            yield AdvancedFields("training", [], id="advanced")
        yield Static("", id="derived")
        yield Static("", id="help", markup=False)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._set_keys: set[str] = set()
        self._for_task = ""
        self._method = "sft"

    def on_mount(self) -> None:
        self.query_one("#help", Static).update(_("Tab moves between fields; the full help of the field you are on shows here."))

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        self._set_task(cfg.model.task, cfg.model.method)
        specs = specs_of(self._method)
        t = cfg.training
        self._set_keys = set(t)
        for key, _label in self._common():
            if key == "precision":
                self._field(key).set_text(_precision_of(t))
            else:
                self._field(key).set_text(fmt(t.get(key, specs[key].get("default"))))
        self.query_one("#advanced", AdvancedFields).load(t)
        self._update()

    def _common(self) -> list[tuple[str, str]]:
        """The form's fields for the current method: its own first (beta, loss_type, ...), then the common ones."""
        return [*METHOD_COMMON.get(self._method, []), *COMMON]

    def _set_task(self, task: str, method: str = "sft") -> None:
        if (task, method) == (self._for_task, self._method):
            return
        self._for_task, self._method = task, method
        specs = specs_of(method)
        for m in METHOD_COMMON:
            self.query_one(f"#m-{m}").display = m == method
        for key, _label in COMMON:
            if key != "precision":
                f = self._field(key)
                f.check = library_check("training", key, task, method)
                if f.help != specs[key]["help"]:
                    f.set_help(specs[key]["help"])
        shown = {k for k, _ in self._common()} | hidden(method)
        keys = [k for k, s in specs.items() if k not in shown
                and (task == "causal-lm" or s.get("source") != "SFTConfig" or k in config.SHARED_SFT_KEYS)]
        self.query_one("#advanced", AdvancedFields).set_method(task, method, keys)

    def errors(self) -> list[str]:
        mine = {f"f-{k}" if (k, label) in COMMON else f"f-{self._method}-{k}" for k, label in self._common()}
        problems = [f.error for f in self.query(Field) if f.id in mine and f.error]
        problems += self.query_one("#advanced", AdvancedFields).result()[1]
        strategy = self._field("eval_strategy").text
        if strategy != "no" and not self.cfg.dataset.eval_size:
            problems.append(_("training.eval_strategy: {strategy} needs held-out rows and dataset.eval_size is 0; "
                              "set an eval size on the Dataset step, or Evaluate: no").format(strategy=strategy))
        return problems

    def store(self, cfg: Config) -> None:
        t = dict(cfg.training)
        specs = specs_of(self._method)
        for key, _label in self._common():
            f = self._field(key)
            if key == "precision":
                t.pop("bf16", None)
                t.pop("fp16", None)
                t.update({"bf16": {"bf16": True}, "fp16": {"fp16": True, "bf16": False},
                          "fp32": {"bf16": False, "fp16": False}}.get(f.text, {}))
            elif f.blank:
                t.pop(key, None)
            elif key in self._set_keys or f.value != specs[key].get("default"):
                t[key] = f.value
            else:
                t.pop(key, None)
        adv = self.query_one("#advanced", AdvancedFields)
        for key in adv.keys:
            t.pop(key, None)
        t.update(adv.result()[0])
        cfg.training = t

    # ------------------------------------------------------------------------------------ reactions
    def _field(self, key: str) -> Field:
        """The form's field of `key` (the current method's own field where it has one: beta, loss_type, ...)."""
        if any(k == key for k, _ in METHOD_COMMON.get(self._method, [])):
            return self.query_one(f"#f-{self._method}-{key}", Field)
        return self.query_one(f"#f-{key}", Field)

    @on(Field.Changed)
    def _changed(self) -> None:
        self._update()

    @on(Field.Focused)
    def _focused(self, event: Field.Focused) -> None:
        f = event.field
        if f.id == "adv-edit":
            return
        name = "training.bf16 / training.fp16" if f.key == "precision" else f"training.{f.key}"
        self.query_one("#help", Static).update(f.full_help(name))

    def _update(self) -> None:
        for strategy, steps in STEPS_OF.items():
            self._field(steps).disabled = self._field(strategy).text != "steps"
        self.query_one("#derived", Static).update(self._derived())
        self.recheck()

    def _number(self, key: str) -> Any:
        """The field's value; a blank box means the library default."""
        f = self._field(key)
        return specs_of(self._method)[key]["default"] if f.blank else f.value

    def _derived(self) -> str:
        bs, ga = self._number("per_device_train_batch_size"), self._number("gradient_accumulation_steps")
        if not (isinstance(bs, int) and bs > 0 and isinstance(ga, int) and ga > 0):
            return _("Effective batch: fix the batch size and accumulation first")
        eff = bs * ga
        head = _("Effective batch [b]{eff}[/] ({bs} per device × {ga} accumulation, on one device)").format(eff=eff, bs=bs, ga=ga)
        rows = train_rows(self.wizard.dataset_info, self.cfg)
        if rows is None:
            return head + "\n" + _("Steps per epoch: unknown until the dataset step")
        if rows == 0:
            return head + "\n[red]" + _("No training rows are left after the eval split") + "[/]"
        per_epoch = math.ceil(rows / eff)
        max_steps, epochs = self._number("max_steps"), self._number("num_train_epochs")
        if isinstance(max_steps, int) and max_steps > 0:
            total = ngettext("[b]{n}[/] step in total (max_steps; epochs ignored)",
                             "[b]{n}[/] steps in total (max_steps; epochs ignored)", max_steps).format(n=max_steps)
        elif isinstance(epochs, int | float) and epochs > 0:
            steps = math.ceil(epochs * per_epoch)
            # (1.5 epochs: plural; ngettext takes a whole number)
            n_epochs = ngettext("{n} epoch", "{n} epochs", 1 if epochs == 1 else 2).format(n=fmt(epochs))
            total = _("{epochs} = {steps} in total").format(
                epochs=n_epochs, steps=ngettext("[b]{n}[/] step", "[b]{n}[/] steps", steps).format(n=steps))
        else:
            total = _("total steps: fix the epochs first")
        n_rows = ngettext("{n} training row", "{n} training rows", rows).format(n=rows)
        n_per = ngettext("[b]{n}[/] step per epoch", "[b]{n}[/] steps per epoch", per_epoch).format(n=per_epoch)
        return f"{head}\n{n_rows} → {n_per}; {total}"

    # ----------------------------------------------------------------------------------------- paste
    def action_paste(self) -> None:
        self.app.push_screen(PasteDialog(self.cfg.model.task), self._pasted)

    @on(Button.Pressed, "#paste")
    def _paste_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_paste()

    def _pasted(self, found: list[Pasted] | None) -> None:
        if not found:
            return
        notes = self.query_one("#paste-notes", Static)
        notes.update(apply_pasted(self.cfg, found, "training", self.fill))
        notes.add_class("-shown")
        self.query_one("#training-body").scroll_home(animate=False)

    def fill(self, values: dict[str, Any]) -> None:
        """Put pasted values into the form; they count as set by the user."""
        common = {k for k, _ in self._common()}
        for key, value in values.items():
            if key in common:
                self._field(key).set_text(fmt(value))
                self._set_keys.add(key)
        if "bf16" in values or "fp16" in values:
            self._field("precision").set_text(_precision_of(values))
        self.query_one("#advanced", AdvancedFields).set_values(values)
        self._update()


def _precision_of(t: dict[str, Any]) -> str:
    if t.get("fp16"):
        return "fp16"
    if t.get("bf16"):
        return "bf16"
    if t.get("bf16") is False and t.get("fp16") is False:
        return "fp32"
    return "auto"


def train_rows(info: Any, cfg: Config) -> int | None:
    """Training rows after the eval split (as engine.data.pipeline.prepare splits), or None when not known yet."""
    rows = None
    for name in ("num_rows", "rows", "row_count"):
        v = info.get(name) if isinstance(info, dict) else getattr(info, name, None)
        if isinstance(v, int) and not isinstance(v, bool):
            rows = v
            break
    if rows is None:
        return None
    if cfg.dataset.max_rows:
        rows = min(rows, cfg.dataset.max_rows)
    size = cfg.dataset.eval_size
    n_eval = (int(size) if size >= 1 else max(1, round(size * rows))) if size else 0
    return max(rows - n_eval, 0)

