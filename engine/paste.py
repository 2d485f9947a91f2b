"""Reading pasted tutorial code: `TrainingArguments(...)`, `SFTConfig(...)`, `LoraConfig(...)` calls, and a whole
`SFTTrainer(...)` / `Trainer(...)` cell, into preset keys.

The text is parsed with `ast` and values are read with `ast.literal_eval`: nothing pasted is ever
executed. Arguments from older releases are mapped to today's names (or explained when removed),
unknown ones get the nearest valid name, arguments tunewiz's own path does not read are explained with
what does the same there, and every value is checked by the same rules as the preset loader
(engine.config.check_library_section). No argument is dropped without a note.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from engine import config, fields
from engine.errors import TunewizError, did_you_mean
from engine.i18n import N_, _

# Class name -> preset section. Seq2SeqTrainingArguments shares every field we offer (its own: fields.SEQ2SEQ).
CALLS = {"TrainingArguments": "training", "Seq2SeqTrainingArguments": "training", "SFTConfig": "training",
         "LoraConfig": "lora"}
# Trainer classes: their keyword arguments are the script's objects; each is explained (SFTTrainer's old
# config arguments are read as SFTConfig fields). A trainer call gives a `training` Pasted.
TRAINERS = ("SFTTrainer", "Trainer", "Seq2SeqTrainer")
# The positional parameters of Trainer / SFTTrainer, in order.
TRAINER_POSITIONAL = ("model", "args", "data_collator", "train_dataset", "eval_dataset", "processing_class")
_TOKENIZER = N_("the tokenizer comes with the model (Model step); a chat template goes in model.chat_template")
_METRICS = N_("tunewiz evaluates with the loss on the held-out rows (accuracy and F1 for classification); "
              "custom metrics: not supported")
_OPTIMIZER = N_("set training.optim, learning_rate and lr_scheduler_type instead of optimizer objects")
# What tunewiz does instead of each trainer argument (translated where shown: _(TRAINER_ARGS[key])).
TRAINER_ARGS = {
    "model": N_("tunewiz loads the model chosen on the Model step (model.name_or_path)"),
    "model_init": N_("tunewiz loads the model chosen on the Model step (model.name_or_path)"),
    "train_dataset": N_("tunewiz loads, formats and tokenizes the data of the Dataset step (dataset.path)"),
    "eval_dataset": N_("tunewiz holds out dataset.eval_size of the rows for evaluation (Dataset step)"),
    "processing_class": _TOKENIZER,
    "tokenizer": N_("the tokenizer comes with the model (Model step); a chat template goes in model.chat_template "
                    "(SFTTrainer's tokenizer= became processing_class in TRL 0.12.0, removed in 0.16.0)"),
    "formatting_func": N_("a Python function is not read; for data in no known format, write dataset.template "
                          "{{prompt: '...{{column}}...', completion: '{{column}}'}} on the Dataset step"),
    "data_collator": N_("tunewiz builds the collator itself (padding, -100 labels, padding-free batches): the batches "
                        "the token preview shows"),
    "callbacks": N_("tunewiz adds its own (progress to events.jsonl, a clean stop); others: not supported"),
    "compute_metrics": _METRICS,
    "preprocess_logits_for_metrics": _METRICS,
    "compute_loss_func": N_("a custom loss is not supported (training.loss_type: nll or dft)"),
    "optimizers": _OPTIMIZER,
    "optimizer_cls_and_kwargs": _OPTIMIZER,
    "infinite": N_("an old SFTTrainer argument (endless packed iteration); the run's length is "
                   "training.num_train_epochs or max_steps"),
}
COMPLETION_ONLY = N_("DataCollatorForCompletionOnlyLM (deprecated in TRL 0.17.0, removed in 0.20.0) trains the answers "
                     "only: tunewiz does that by itself for prompt/completion and chat data "
                     "(training.completion_only_loss / assistant_only_loss)")
PLACEHOLDER = N_("... is a placeholder in the docs: nothing was read for it")
SECRET = N_("a token is never written to the preset: tunewiz reads it from the HF_TOKEN environment variable or "
            "`hf auth login`")


@dataclass
class Pasted:
    """One parsed call: its section (`training` or `lora`), the checked values, what was skipped or changed,
    and the values it implies for the dataset: section (`{"columns": {"text": "body"}}` from dataset_text_field)."""

    kind: str
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    call: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)


def parse_calls(text: str, task: str = "causal-lm") -> list[Pasted]:
    """Every known config or trainer call in the text, in source order; raises TunewizError on bad syntax or none found."""
    source = textwrap.dedent(text).strip()
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        where = _("pasted code, line {n}").format(n=e.lineno) if e.lineno else _("pasted code")
        raise TunewizError.at(where, _("not valid Python: {error}").format(error=e.msg),
                              _("paste the whole call, from TrainingArguments( to its closing parenthesis")) from None
    tree = _ConstantFStrings().visit(tree)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (_call_name(n) in CALLS or _call_name(n) in TRAINERS)]
    if not calls:
        raise TunewizError.at(_("pasted code"), _("found no TrainingArguments(...), SFTConfig(...), LoraConfig(...) or "
                                                  "SFTTrainer(...) call"),
                              _("paste the call itself, e.g. TrainingArguments(output_dir='out', learning_rate=2e-5)"))
    assigned = _assignments(tree)
    tree = _InlineValues(assigned).visit(tree)  # output_dir = "./results" ... TrainingArguments(output_dir=output_dir)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (_call_name(n) in CALLS or _call_name(n) in TRAINERS)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [_read_trainer(n, assigned, task) if _call_name(n) in TRAINERS else _read_call(n, task) for n in calls]


def parse_call(text: str, task: str = "causal-lm") -> Pasted:
    """The first call in the text (see parse_calls); later calls are named in its notes."""
    found = parse_calls(text, task)
    first = found[0]
    for other in found[1:]:
        first.notes.append(_("a second call, {call}(...), was not read here; paste it on its own").format(call=other.call))
    return first


def _call_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):  # transformers.TrainingArguments(...)
        return f.attr
    return ""


class _ConstantFStrings(ast.NodeTransformer):
    """f"out" (an f-string without placeholders) is the constant "out"; one with placeholders stays computed."""

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.values):
            return ast.copy_location(ast.Constant("".join(v.value for v in node.values)), node)
        return node


class _InlineValues(ast.NodeTransformer):
    """A variable read in the text whose assigned value is a plain literal (notebooks set `output_dir = "./results"`
    a few lines above the call) stands for that value; nothing is executed."""

    def __init__(self, assigned: dict[str, ast.expr]) -> None:
        self.values: dict[str, ast.expr] = {}
        for name, node in assigned.items():
            try:
                ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            self.values[name] = node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return ast.copy_location(self.values[node.id], node)
        return node


def _assignments(tree: ast.AST) -> dict[str, ast.expr]:
    """name -> the value last assigned to it in the text (`training_args = SFTConfig(...)`)."""
    out: dict[str, ast.expr] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out[node.target.id] = node.value
    return out


def _is_placeholder(node: ast.expr) -> bool:
    """A `...` anywhere in the value (`target_modules=[...]` too)."""
    return any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(node))


class _Reader:
    """Reads the keyword arguments of one call into checked section values, dataset values and notes."""

    def __init__(self, name: str, section: str, task: str) -> None:
        self.name, self.section, self.task = name, section, task
        self.specs = fields.fields(section)
        self.raw: dict[str, Any] = {}
        self.dataset: dict[str, Any] = {}
        self.notes: list[str] = []
        self.explicit: set[str] = set()

    def read(self, kw: ast.keyword) -> None:
        if kw.arg is None:
            self.notes.append(_("**{value} was skipped: its keys are not in the pasted text").format(value=_short(kw.value)))
            return
        key = given = kw.arg
        if _is_placeholder(kw.value):
            self.notes.append(f"{given}={_short(kw.value)}: {_(PLACEHOLDER)}")
            return
        if self.section == "training" and key in ("hub_token", "push_to_hub_token"):
            self.notes.append(_("{key} was skipped: {why}").format(key=given, why=_(SECRET)))
            return
        if self.section == "training" and key in fields.RESERVED:
            self._reserved(key, kw.value)
            return
        if self.section == "training" and key in fields.SEQ2SEQ and key not in self.specs:
            self.notes.append(_("{key} was skipped: {why}").format(key=key, why=fields.seq2seq_note(key)))
            return
        renamed = None
        if self.section == "training" and key in fields.RENAMED and key not in self.specs:
            new, why = fields.RENAMED[key]
            if new is None or new not in self.specs:
                self.notes.append(_("{key} was skipped: {why}").format(key=key, why=_(why)))
                return
            if new in self.explicit and new not in ("accelerator_config",):
                self.notes.append(_("{key} was skipped: it was renamed to {new} ({why}), which is also given").format(
                    key=key, new=new, why=_(why)))
                return
            renamed, key = (given, _(why)), new
        if key not in self.specs:
            if self.section == "lora" and key == "enabled":
                return
            hint = did_you_mean(key, self.specs)
            self.notes.append(_("{key} was skipped: {call} has no such argument").format(key=key, call=self.name)
                              + (f"; {hint}" if hint else ""))
            return
        try:
            value = _literal(kw.value, self.specs.get(key))
        except ValueError:
            computed = {"key": given, "value": _short(kw.value)}
            self.notes.append(
                _("{key} was skipped: {value} is computed when the code runs (only plain values are read); type its "
                  "value in the form as {new} (renamed: {why})").format(**computed, new=key, why=renamed[1]) if renamed else
                _("{key} was skipped: {value} is computed when the code runs (only plain values are read); type its "
                  "value in the form").format(**computed))
            return
        if renamed:
            old, why = renamed
            try:
                mapped = fields.renamed_value(old, value)
            except ValueError as e:
                self.notes.append(_("{old} was skipped: renamed to {new} ({why}); {error}").format(
                    old=old, new=key, why=why, error=e))
                return
            if mapped == value:
                self.notes.append(_("{old} was renamed to {new} ({why}); its value was kept as {new}").format(
                    old=old, new=key, why=why))
            else:
                self.notes.append(_("{old} was renamed to {new} ({why}); {old}={value!r} was written as {new}: {mapped!r}")
                                  .format(old=old, new=key, why=why, value=value, mapped=mapped))
            value = mapped
        if key in self.raw:
            if isinstance(self.raw[key], dict) and isinstance(value, dict):  # split_batches + dispatch_batches
                value = {**self.raw[key], **value}
            else:
                self.notes.append(_("{key} was given twice; the last value was kept").format(key=key))
        self.raw[key] = value

    def _reserved(self, key: str, node: ast.expr) -> None:
        """A field tunewiz's path does not read: dataset_text_field becomes dataset.columns; the others are explained."""
        try:
            value = _literal(node, None)
        except ValueError:
            value = None
        if key == "dataset_text_field" and isinstance(value, str) and value and value != "text":
            self.dataset.setdefault("columns", {})["text"] = value
            self.notes.append(_("dataset_text_field={value!r} was read as dataset.columns: {{text: {value}}} (tunewiz "
                                "prepares the data itself; saved for the Dataset step)").format(value=value))
            return
        what, _fix = fields.RESERVED[key]
        instead = re.sub(r"^remove it[:;]?\s*", "", fields.reserved_fix(key, value))
        if key == "model_init_kwargs":
            instead = _model_init_hints(node) or instead
        self.notes.append(_("{key} was skipped: it {what}").format(key=key, what=_(what)) + (f"; {instead}" if instead else ""))

    def pasted(self) -> Pasted:
        values, problems = config.check_library_section(self.section, self.raw, "pasted", task=self.task)
        for p in problems:
            key = p.where.removeprefix(f"pasted: {self.section}.")
            kept = _(" (kept: fix it in the form)") if key in values else _(" (skipped)")
            self.notes.append(f"{self.section}.{key}: {p.what}{kept}")
        return Pasted(self.section, values, self.notes, self.name, self.dataset)


def _read_call(node: ast.Call, task: str) -> Pasted:
    name = _call_name(node)
    section = CALLS[name]
    reader = _Reader(name, section, task)
    keywords = list(node.keywords)
    args = list(node.args)
    for a in [a for a in args if isinstance(a, ast.Constant) and a.value is Ellipsis]:
        args.remove(a)
        reader.notes.append(_(PLACEHOLDER))
    if args and section == "training" and "output_dir" not in {k.arg for k in keywords}:
        # TrainingArguments("out", ...): output_dir is the first positional field
        keywords.insert(0, ast.keyword(arg="output_dir", value=args.pop(0)))
    for a in args:
        reader.notes.append(_("a positional argument ({value}) was skipped; write it as name=value").format(value=_short(a)))
    reader.explicit = {k.arg for k in keywords if k.arg}
    for kw in keywords:
        reader.read(kw)
    return reader.pasted()


def _read_trainer(node: ast.Call, assigned: dict[str, ast.expr], task: str) -> Pasted:
    """A trainer call: its config arguments (SFTTrainer's old max_seq_length=, packing=, ...) are read as training
    values; each of its objects (model=, train_dataset=, ...) is explained; args= and peft_config= name the calls
    read on their own."""
    name = _call_name(node)
    reader = _Reader(name, "training", task)
    keywords = []
    for i, a in enumerate(node.args):
        if isinstance(a, ast.Constant) and a.value is Ellipsis:
            reader.notes.append(_(PLACEHOLDER))
        elif i < len(TRAINER_POSITIONAL):
            keywords.append(ast.keyword(arg=TRAINER_POSITIONAL[i], value=a))
        else:
            reader.notes.append(_("a positional argument ({value}) was skipped; write it as name=value").format(value=_short(a)))
    keywords += node.keywords
    reader.explicit = {k.arg for k in keywords if k.arg}
    moved = []
    for kw in keywords:
        key, value = kw.arg, kw.value
        if key is None:
            reader.notes.append(_("**{value} was skipped: its keys are not in the pasted text").format(value=_short(value)))
        elif _is_placeholder(value):
            reader.notes.append(f"{key}={_short(value)}: {_(PLACEHOLDER)}")
        elif key == "args":
            reader.notes += _named_call_note(key, value, assigned, ("TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig"),
                                             _("the training arguments"))
        elif key == "peft_config":
            reader.notes += _named_call_note(key, value, assigned, ("LoraConfig",), _("the adapter (LoRA step)"))
        elif key in TRAINER_ARGS:
            reader.notes.append(_("{key}={value} was skipped: {why}").format(
                key=key, value=_short(value), why=_trainer_arg_note(key, value, assigned)))
        elif name == "SFTTrainer" and (key in reader.specs or key in fields.RENAMED or key in fields.RESERVED):
            moved.append(key)
            reader.read(kw)
        elif key in reader.specs:
            reader.notes.append(_("{key} was skipped: {call} has no such argument; it is a training argument: pass it "
                                  "in TrainingArguments(...)").format(key=key, call=name))
        else:
            hint = did_you_mean(key, list(TRAINER_ARGS) + ["args", "peft_config"])
            reader.notes.append(_("{key} was skipped: {call} has no such argument").format(key=key, call=name)
                                + (f"; {hint}" if hint else ""))
    if moved:
        reader.notes.insert(0, _("{call}: SFTConfig fields since TRL 0.9.3 (SFTTrainer stopped taking them in 0.13.0); "
                                 "read as training values").format(call=f"{name}({'=, '.join(moved)}=)"))
    return reader.pasted()


def _origin(node: ast.expr, assigned: dict[str, ast.expr]) -> ast.expr:
    """The value a variable was assigned in the text (one step), else the node itself."""
    if isinstance(node, ast.Name) and node.id in assigned:
        return assigned[node.id]
    return node


def _named_call_note(key: str, node: ast.expr, assigned: dict[str, ast.expr], classes: tuple[str, ...], what: str) -> list[str]:
    """args= / peft_config=: nothing to say when the call is in the text (it is read on its own)."""
    origin = _origin(node, assigned)
    if _call_name(origin) in classes:
        return []
    if isinstance(node, ast.Name):
        return [_("{key}={name} names a variable whose call is not in the pasted text: paste the {calls} call that "
                  "makes it too").format(key=key, name=node.id, calls=" / ".join(c + "(...)" for c in classes))]
    if isinstance(node, ast.Constant) and node.value is None:
        return []
    return [_("{key}={value} was skipped: it is computed when the code runs; set {what} in the form").format(
        key=key, value=_short(node), what=what)]


def _trainer_arg_note(key: str, node: ast.expr, assigned: dict[str, ast.expr]) -> str:
    origin = _origin(node, assigned)
    if key == "data_collator" and "DataCollatorForCompletionOnlyLM" in (_call_name(origin), _name_of(origin)):
        return _(COMPLETION_ONLY)
    note = _(TRAINER_ARGS[key]).format()
    choose = _("; choose {name} there")
    if key in ("model", "model_init") and isinstance(origin, ast.Constant) and isinstance(origin.value, str):
        note += choose.format(name=origin.value)
    elif key == "model" and _call_name(origin) == "from_pretrained" and origin.args and isinstance(origin.args[0], ast.Constant):
        note += choose.format(name=origin.args[0].value)
    elif key in ("train_dataset", "eval_dataset"):
        source = origin.value if isinstance(origin, ast.Subscript) else origin  # load_dataset(...)["train"]
        if _call_name(source) == "load_dataset" and source.args and isinstance(source.args[0], ast.Constant):
            note += choose.format(name=source.args[0].value) if key == "train_dataset" else ""
    return note


def _name_of(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


# model_init_kwargs keys -> the model: section key that does the same
_MODEL_KEYS = {"torch_dtype": "dtype", "dtype": "dtype", "attn_implementation": "attn_implementation",
               "trust_remote_code": "trust_remote_code", "revision": "revision"}


def _model_init_hints(node: ast.expr) -> str:
    """model_init_kwargs={...}: the model: section values that do the same, from the pasted dict."""
    if isinstance(node, ast.Dict):
        items = [(k.value if isinstance(k, ast.Constant) else None, v) for k, v in zip(node.keys, node.values, strict=True)]
    elif _call_name(node) == "dict":
        items = [(k.arg, k.value) for k in node.keywords]
    else:
        return ""
    sets, other = [], []
    for k, v in items:
        if k in _MODEL_KEYS:
            value = v.attr if isinstance(v, ast.Attribute) else v.value if isinstance(v, ast.Constant) else None
            sets.append(f"model.{_MODEL_KEYS[k]}: {str(value).lower() if isinstance(value, bool) else value}"
                        if value is not None else f"model.{_MODEL_KEYS[k]}")
        elif k in ("quantization_config", "load_in_4bit", "load_in_8bit"):
            sets.append("model.quantization: 4bit" if k == "load_in_4bit" else "model.quantization: 8bit" if k == "load_in_8bit"
                        else "model.quantization (4bit or 8bit)")
        elif k is not None:
            other.append(str(k))
    out = _("set on the Model step: {values}").format(values=", ".join(sets)) if sets else \
        _("use the Model step (model.dtype, model.attn_implementation, ...)")
    if other:
        out += " (" + (_("{keys}: tunewiz chooses it") if len(other) == 1 else _("{keys}: tunewiz chooses them")).format(
            keys=", ".join(other)) + ")"
    return out


def _literal(node: ast.expr, spec: dict[str, Any] | None) -> Any:
    """A plain value; enum members (IntervalStrategy.EPOCH, TaskType.CAUSAL_LM) become their string."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and spec and spec.get("kind") == "choice":
        return _enum_value(node.attr, spec)
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("not a literal") from None
    return _plain(value)


def _enum_value(value: Any, spec: dict[str, Any]) -> Any:
    if isinstance(value, str) and value not in spec.get("choices", []):
        for guess in (value.lower(), value.upper()):
            if guess in spec["choices"]:
                return guess
    return value


def _plain(value: Any) -> Any:
    """Tuples and sets become lists, as YAML writes them."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."
