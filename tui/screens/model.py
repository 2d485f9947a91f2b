"""Step 1: the model. Bundled demos, models in the local HF cache, or a typed hub id / path / .gguf;
a worker inspects the choice (no weights loaded) and shows what it is, or what is wrong with it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from engine import fieldhelp, fields
from engine.defaults import Method, Task
from engine.i18n import N_, _, pgettext
from tui import heavy
from tui.messages import ModelInspected
from tui.step import StepScreen

if TYPE_CHECKING:
    from engine.config import Config

# The one method choice: its value is model.task for SFT and classification, model.method for the preference methods
# (which train a causal LM). Each with its one line, and the data it needs under the select.
TASKS = [(N_("SFT: learn to write the answers (chat, instructions, text)"), "causal-lm"),
         (N_("DPO: prefer the chosen answer over the rejected one (pairs)"), "dpo"),
         (N_("KTO: learn from answers labelled good or bad (no pairs)"), "kto"),
         (N_("ORPO: pairs, with no reference model (SFT + preference)"), "orpo"),
         (N_("Classification: text to a label (sequence-classification)"), "sequence-classification")]
METHOD_HELP = {  # (fits 80 columns: the data it needs, and the trl config that training: follows)
    "causal-lm": N_("data: chat, instruction/answer, prompt/completion, text · SFTConfig"),
    "dpo": N_("data: pairs (prompt, chosen, rejected) · ref: the base · DPOConfig"),
    "kto": N_("data: prompt, completion, label (true = desirable) · KTOConfig"),
    "orpo": N_("data: pairs (prompt, chosen, rejected) · no reference · ORPOConfig"),
    "sequence-classification": N_("data: a text column and a label column · TrainingArguments"),
}
PREFERENCE = ("dpo", "kto", "orpo")


class ChoicesListed(Message):
    """The demos and the models in the HF cache, as options of the list (from a worker)."""

    def __init__(self, options: list[Option]) -> None:
        super().__init__()
        self.options = options


def task_of(choice: str) -> Task:
    """model.task of a method choice."""
    return "sequence-classification" if choice == "sequence-classification" else "causal-lm"


def method_of(choice: str) -> Method:
    """model.method of a method choice."""
    return METHOD_OF.get(choice, "sft")


METHOD_OF: dict[str, Method] = {"dpo": "dpo", "kto": "kto", "orpo": "orpo"}


class ModelScreen(StepScreen):
    STEP = "model"
    CSS_PATH = "model.tcss"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+o", "open_preset", N_("Load preset"))]

    def compose_body(self) -> ComposeResult:
        # the first screen: it paints before the config is validated (see TunewizApp.first_model)
        ref, task = self.wizard.first_model()
        with Vertical(id="model-body"):
            with Horizontal(classes="row"):
                yield Label(_("Model"), classes="field-label")
                yield Input(ref, placeholder=_("hub id (Qwen/Qwen2.5-0.5B-Instruct), folder, .gguf, or demo:NAME"), id="model-ref",
                            tooltip=fieldhelp.text("model.name_or_path"))  # tunewiz's help on the field (mouse over it)
            with Horizontal(classes="row"):
                yield Label(_("Method"), classes="field-label")
                yield Select([(_(label), value) for label, value in TASKS], value=task, allow_blank=False, id="task",
                             tooltip=fieldhelp.text("model.method"))
            yield Static(_(METHOD_HELP.get(task, "")), id="method-help", markup=False)
            yield Label(_("Bundled demos and models in your Hugging Face cache (Enter picks one):"), classes="hint")
            yield OptionList(id="choices")
            yield Static("", id="model-info")

    def on_mount(self) -> None:
        self._info: Any = None
        self._error: str | None = None
        self._inspecting = True  # until the first load has started the inspection: Next waits
        self.list_choices()

    def on_screen_resume(self) -> None:
        # (runs before StepScreen's handler, which then loads the config as for every step)
        if self.wizard.entering == self.STEP and self.wizard.peek_cfg() is None:
            # the first screen, before the config is validated (in a worker, after the first paint)
            self.wizard.entering = None
            self._fill(*self.wizard.first_model())

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        from tui.app import choice_of

        self._fill(cfg.model.name_or_path, choice_of(cfg.model.task, cfg.model.method))

    def _fill(self, name_or_path: str, task: str) -> None:
        ref = self.query_one("#model-ref", Input)
        if ref.value != name_or_path:
            ref.value = name_or_path
        self.query_one("#task", Select).value = task
        if self._info is None or self._info.ref != name_or_path:
            self.inspect(name_or_path)

    def errors(self) -> list[str]:
        if not self.query_one("#model-ref", Input).value.strip():
            return [_("Model: type a hub id, a folder or a .gguf file, or pick one from the list")]
        if self._inspecting:
            return [_("Model: still checking the model; a moment")]
        if self._error:
            return [_("Model: {error}").format(error=self._error)]
        return []

    def store(self, cfg: Config) -> None:
        ref = self.query_one("#model-ref", Input).value.strip()
        choice = str(self.query_one("#task", Select).value)
        if ref != cfg.model.name_or_path:
            cfg.model.chat_template = None
        cfg.model.name_or_path = ref
        method = method_of(choice)
        if method != cfg.model.method:
            dropped = drop_other_method_keys(cfg, method)
            if dropped:
                self.notify(_("{keys}: not a {config} field, left out of training:").format(
                    keys=", ".join(dropped), config=fields.CONFIG_NAMES[method]), title=_("Method changed"))
        cfg.model.task, cfg.model.method = task_of(choice), method
        self._fit_sample(cfg)
        self.wizard.model_info = self._info

    def _fit_sample(self, cfg: Config) -> None:
        """A bundled sample that does not fit the method (chats under DPO, pairs under SFT, chats for a classifier) is
        swapped for the one that does, with its own format; the user's own data is never changed."""
        from engine.data import load

        ds = cfg.dataset
        want = load.sample_for(cfg.model.task, cfg.model.method)
        if not ds.path.startswith("sample:") or ds.path == want:
            return
        ds.path, ds.format, ds.columns, ds.template = want, "auto", {}, None
        self.notify(_("The dataset is now {sample}: {about}").format(
            sample=want, about=_(load.SAMPLES[want.removeprefix("sample:")][1])), title=_("Sample data"))

    # -------------------------------------------------------------------------------------- choices
    @work(thread=True, exclusive=True, group="model-list")
    def list_choices(self) -> None:
        self.wizard.wait_painted()
        from engine import models

        options = [Option(f"demo:{name}  [dim]{_(demo.about)}[/]", id=f"demo:{name}") for name, demo in models.DEMOS.items()]
        for row in models.list_cached_models():
            size = _("{gb:.2f} GB, in the HF cache").format(gb=row["size_bytes"] / 1e9)
            options.append(Option(f"{row['repo_id']}  [dim]{size}[/]", id=row["repo_id"]))
        self.post_message(ChoicesListed(options))

    @on(ChoicesListed)
    def _show_choices(self, message: ChoicesListed) -> None:
        box = self.query_one("#choices", OptionList)
        box.clear_options()
        box.add_options(message.options)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        box = event.widget
        if isinstance(box, OptionList) and box.highlighted is None and box.option_count:
            box.highlighted = 0  # a visible cursor row as soon as the list has focus (Enter picks it)

    @on(OptionList.OptionSelected, "#choices")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        ref = str(event.option.id)
        self.query_one("#model-ref", Input).value = ref
        self.inspect(ref)

    @on(Input.Submitted, "#model-ref")
    def _typed(self, event: Input.Submitted) -> None:
        self.inspect(event.value.strip())

    @on(Input.Changed, "#model-ref")
    def _editing(self, event: Input.Changed) -> None:
        if self._info is not None and event.value.strip() != self._info.ref:
            self._info = None
            self._error = None
            self.query_one("#model-info", Static).update("[dim]" + _("Press Enter to check this model.") + "[/]")

    @on(Select.Changed, "#task")
    def _task_changed(self, event: Select.Changed) -> None:
        self.query_one("#method-help", Static).update(_(METHOD_HELP.get(str(event.value), "")))
        if self._info is not None and self._info.task != task_of(str(event.value)):
            self.inspect(self.query_one("#model-ref", Input).value.strip())

    # ------------------------------------------------------------------------------------ inspection
    def inspect(self, ref: str) -> None:
        if not ref:
            return
        self._inspecting = True
        self._error = None
        message = "[dim]" + _("Checking {ref} (config and tokenizer only, no weights)...").format(ref=ref) + "[/]"
        try:
            from engine import models

            if models.needs_conversion(models.resolve(ref)):
                message = "[dim]" + _("Converting {ref}'s GGUF file into a trainable folder (once, about a minute; "
                                      "later starts take seconds)...").format(ref=ref) + "[/]"
        except Exception:  # the worker reports what is wrong with the reference
            pass
        self.query_one("#model-info", Static).update(message)
        self._inspect(ref, task_of(str(self.query_one("#task", Select).value)))

    @work(thread=True, exclusive=True, group="inspect")
    def _inspect(self, ref: str, task: str) -> None:
        from engine.errors import TunewizError
        from engine.inspect import inspect_model

        worker = get_current_worker()
        self.wizard.wait_painted()
        try:
            trust_remote_code = self.cfg.model.trust_remote_code  # (the first time: waits for the validated config)
        except TunewizError:
            return  # the preset the wizard opened has problems: it closes and prints them
        try:
            heavy.ready()
            info = inspect_model(ref, trust_remote_code=trust_remote_code, task=_task_for(ref, task))
            inspected = ModelInspected(ref, info, None)
        except TunewizError as e:
            p = e.problems[0]
            inspected = ModelInspected(ref, None, p.what + "\n  " + _("fix: {fix}").format(fix=p.fix) if p.fix else p.what)
        except Exception as e:  # a broken download, an unreadable file: still shown, never a crash
            inspected = ModelInspected(ref, None, f"{type(e).__name__}: {e}")
        if not worker.is_cancelled:
            self.post_message(inspected)

    @on(ModelInspected)
    def _show_info(self, message: ModelInspected) -> None:
        ref, info, error = message.ref, message.info, message.error
        if self.query_one("#model-ref", Input).value.strip() != ref:
            return  # the user has moved on
        self._inspecting = False
        self._info, self._error = info, error
        box = self.query_one("#model-info", Static)
        if error:
            box.update("[b red]" + _("Cannot use {ref}").format(ref=ref) + f"[/]\n{error}")
            return
        if info.task != task_of(str(self.query_one("#task", Select).value)):
            self.query_one("#task", Select).value = info.task  # (a causal LM comes back as SFT)
        template = pgettext("chat template", "yes") if info.has_chat_template else \
            "[yellow]" + pgettext("chat template", "no") + "[/] " + _("(chat data will need model.chat_template)")
        box.update("\n".join((
            _("{architecture} ({model_type}), {parameters} parameters, {dtype}").format(
                architecture=f"[b]{info.architecture}[/]", model_type=info.model_type, parameters=_count(info.parameters),
                dtype=_(info.dtype)),
            _("context {context} tokens, vocabulary {vocabulary}, chat template: {template}").format(
                context=info.context_length or "?", vocabulary=info.vocab_size or "?", template=template),
            _("task: {task}; {n} kinds of linear layers ({names})").format(
                task=info.task, n=len(info.linears), names=", ".join(lin.name for lin in info.linears[:8])),
        )))
        self.show_problems([])

    # --------------------------------------------------------------------------------------- presets
    def action_open_preset(self) -> None:
        from tui.screens.presets import PresetsScreen

        def chosen(path: str | None) -> None:
            if path:
                self.wizard.load_preset(Path(path))

        self.app.push_screen(PresetsScreen(), chosen)


def drop_other_method_keys(cfg: Config, method: str) -> list[str]:
    """The method changed: `training:` keys that the new method's trl config does not have are left out (beta of DPO
    under SFT would stop the run); returns their names."""
    table = fields.fields(fields.section_of("training", method))
    dropped = [k for k in cfg.training if k not in table and fields.methods_with(k)]
    if dropped:
        cfg.training = {k: v for k, v in cfg.training.items() if k not in dropped}
    return dropped


def _task_for(ref: str, task: str) -> str | None:
    """The demos know their task; for others the selected task decides how the model is built."""
    from engine import models

    if ref.startswith("demo:") and ref.removeprefix("demo:") in models.DEMOS:
        return models.DEMOS[ref.removeprefix("demo:")].task
    return task


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"
