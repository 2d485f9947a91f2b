"""The library fields a preset may set, read from a snapshot of the installed libraries.

`training:` keys are the fields of the method's trl config (`SFTConfig`, `DPOConfig`, `KTOConfig`, or
`ORPOConfig` from `trl.experimental`; each a superset of `transformers.TrainingArguments`) and `lora:`
keys are `peft.LoraConfig` fields. Importing those libraries takes seconds, so the names,
kinds, defaults and help texts live in `fields.json`, written by `python -m engine.fields --write`
and pinned against the installed libraries by a test: an upgrade that renames a field fails there.
A key missing from the snapshot is still checked against the installed class before it is refused,
so a newer library's new field is accepted.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.i18n import N_, _

SNAPSHOT = Path(__file__).with_name("fields.json")
# what a classifier reads when its tokenizer names no limit (BERT-style encoders: 512 positions; not a library field)
CLASSIFIER_MAX_LENGTH = 512

# Names that tutorials still use, with today's name (None when nothing replaces it) and the history (the
# versions were checked against the release wheels): "<old> was renamed to <new> (<why>)". Where today's
# field takes another form of value, NEW_FORM says how a plain value maps. The history is shown translated (_(why)).
RENAMED: dict[str, tuple[str | None, str]] = {
    # transformers.TrainingArguments
    "evaluation_strategy": ("eval_strategy", N_("deprecated in transformers 4.41.0, removed in 4.51.0")),
    "per_gpu_train_batch_size": ("per_device_train_batch_size", N_("renamed in transformers 2.11.0, the old"
                                                                   " name removed in 5.0.0")),
    "per_gpu_eval_batch_size": ("per_device_eval_batch_size", N_("renamed in transformers 2.11.0, the old "
                                                                 "name removed in 5.0.0")),
    "no_cuda": ("use_cpu", N_("renamed in transformers 4.32.0, the old name removed in 5.0.0")),
    "push_to_hub_token": ("hub_token", N_("deprecated in transformers 4.11.0, removed in 5.0.0")),
    "push_to_hub_model_id": ("hub_model_id", N_("deprecated in transformers 4.11.0, removed in 5.0.0")),
    "push_to_hub_organization": (None, N_("deprecated in transformers 4.11.0, removed in 5.0.0: "
                                          "hub_model_id takes the organization in the name (hub_model_id: "
                                          "org/name)")),
    "warmup_ratio": ("warmup_steps", N_("deprecated in transformers 5.0.0, removed in 5.15.0: a "
                                        "warmup_steps below 1 is a ratio")),
    "logging_dir": (None, N_("deprecated in transformers 5.0.0, removed in 5.15.0 (TensorBoard reads the "
                             "TENSORBOARD_LOGGING_DIR environment variable); tunewiz logs to the run "
                             "directory (events.jsonl)")),
    "fp16_opt_level": (None, N_("removed in transformers 5.0.0 with apex AMP; mixed precision is bf16: true"
                                " or fp16: true")),
    "fp16_backend": (None, N_("removed in transformers 5.0.0 (mixed precision is torch.amp only); use bf16:"
                              " true or fp16: true")),
    "half_precision_backend": (None, N_("removed in transformers 5.0.0 (mixed precision is torch.amp only);"
                                        " use bf16: true or fp16: true")),
    "overwrite_output_dir": (None, N_("removed in transformers 5.0.0 without a deprecation; use `tunewiz "
                                      "run --overwrite`")),
    "use_mps_device": (None, N_("deprecated in transformers 4.31.0, removed in 5.0.0: an Apple GPU (MPS) is"
                                " used automatically")),
    "tpu_num_cores": (None, N_("removed in transformers 5.0.0 (the TPU_NUM_CORES environment variable "
                               "replaces it)")),
    "tpu_metrics_debug": ("debug", N_("removed in transformers 5.0.0")),
    "include_inputs_for_metrics": ("include_for_metrics", N_("deprecated in transformers 4.46.0, removed in"
                                                             " 5.0.0")),
    "dispatch_batches": ("accelerator_config", N_("deprecated in transformers 4.38.0, removed in 4.51.0")),
    "split_batches": ("accelerator_config", N_("deprecated in transformers 4.38.0, removed in 4.51.0")),
    "torchdynamo": ("torch_compile_backend", N_("deprecated in transformers 4.26.0, removed in 5.0.0")),
    "fsdp_min_num_params": (None, N_("deprecated in transformers 4.27.0 (fsdp_config: {min_num_params: "
                                     "...}), removed in 5.0.0; tunewiz shards with launch.strategy: fsdp, "
                                     "one unit per decoder layer")),
    "fsdp_transformer_layer_cls_to_wrap": (None, N_("deprecated in transformers 4.27.0 (fsdp_config: "
                                                    "{transformer_layer_cls_to_wrap: ...}), removed in "
                                                    "5.0.0; tunewiz shards with launch.strategy: fsdp, one "
                                                    "unit per decoder layer")),
    "include_tokens_per_second": (None, N_("removed in transformers 5.0.0 (include_num_input_tokens_seen "
                                           "counts tokens); tunewiz sets include_num_input_tokens_seen: "
                                           "non_padding and the monitor shows tokens/s")),
    "adafactor": ("optim", N_("removed in transformers 5.0.0")),
    "save_safetensors": (None, N_("removed in transformers 5.0.0: checkpoints are always safetensors")),
    "group_by_length": ("train_sampling_strategy", N_("removed in transformers 5.2.0")),
    "evaluate_during_training": ("eval_strategy", N_("transformers 3's switch, later evaluation_strategy, "
                                                     "now eval_strategy")),
    "use_legacy_prediction_loop": (None, N_("removed in transformers 5.0.0")),
    "jit_mode_eval": (None, N_("removed in transformers 5.0.0")),
    "past_index": (None, N_("removed in transformers 5.0.0")),
    "ray_scope": (None, N_("removed in transformers 5.0.0 (the RAY_SCOPE environment variable replaces it)")),
    "mp_parameters": (None, N_("removed in transformers 5.0.0 (SageMaker model parallelism)")),
    "use_ipex": (None, N_("removed in transformers 4.57 (Intel Extension for PyTorch)")),
    # trl.SFTConfig
    "max_seq_length": ("max_length", N_("renamed in TRL 0.16.0, the old name removed in 0.20.0")),
    "dataset_batch_size": (None, N_("deprecated in TRL 0.15.0, removed in 0.18.0; tunewiz prepares the data"
                                    " itself: nothing to set")),
    "num_of_sequences": (None, N_("deprecated in TRL 0.15.0, removed in 0.18.0; packing fills blocks of "
                                  "training.max_length tokens")),
    "chars_per_token": (None, N_("deprecated in TRL 0.15.0, removed in 0.18.0; packing fills blocks of "
                                 "training.max_length tokens")),
    "use_liger": ("use_liger_kernel", N_("deprecated in TRL 0.16.0, removed in 0.18.0")),
    "tokenizer": (None, N_("not a config field: SFTTrainer(tokenizer=) became processing_class in TRL "
                           "0.12.0 (removed in 0.16.0); tunewiz uses the model's own tokenizer")),
}

# Renamed arguments whose new field takes another form of value: old -> (what a plain True becomes,
# what a preset writes instead). Another value is explained, not mapped.
NEW_FORM: dict[str, tuple[Any, str]] = {
    "adafactor": ("adafactor", "optim: adafactor"),
    "include_inputs_for_metrics": (["inputs"], "include_for_metrics: [inputs]"),
    "group_by_length": ("group_by_length", "train_sampling_strategy: group_by_length"),
    "evaluate_during_training": ("steps", "eval_strategy: steps"),
    "tpu_metrics_debug": ("tpu_metrics_debug", "debug: tpu_metrics_debug"),
    "dispatch_batches": ({"dispatch_batches": True}, "accelerator_config: {dispatch_batches: true}"),
    "split_batches": ({"split_batches": True}, "accelerator_config: {split_batches: true}"),
}


def renamed_value(old: str, value: Any) -> Any:
    """The value for today's field of a renamed argument; raises ValueError (what to write instead) when it
    cannot be mapped. A same-form rename keeps the value."""
    if old == "warmup_ratio":
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1:
            return value
        raise ValueError(_("a ratio of {value!r} is not below 1; write warmup_steps as a step count (a value below 1 is a "
                           "ratio)").format(value=value))
    if old not in NEW_FORM:
        return value
    true_means, instead = NEW_FORM[old]
    if value is True:
        return true_means
    if old in ("dispatch_batches", "split_batches") and value is False:
        return {old: False}
    if value is False or value is None:
        raise ValueError(_("{value} was the default: nothing to set").format(value=value))
    raise ValueError(_("its value {value!r} has no plain equivalent; write {key} (e.g. {example})").format(
        value=value, key=instead.split(":")[0], example=instead))


def renamed_fix(old: str, section: str = "training") -> str:
    """The fix line for a renamed argument in a preset."""
    new, _why = RENAMED[old]
    if new is None:
        return _("remove it")
    if old in NEW_FORM:
        return _("write {setting} instead").format(setting=f"{section}.{NEW_FORM[old][1]}")
    if old == "warmup_ratio":
        return _("write {key} instead (the same value: below 1 it is a ratio of the training steps)").format(
            key=f"{section}.warmup_steps")
    return _("write {setting} instead").format(setting=f"{section}.{new}")


# Short names people type (other tools' names) for the libraries' fields: the hint names the real field.
ALIASES: dict[str, dict[str, str]] = {
    "lora": {"rank": "r", "lora_r": "r", "alpha": "lora_alpha", "dropout": "lora_dropout", "targets": "target_modules"},
    "training": {"lr": "learning_rate", "epochs": "num_train_epochs", "num_epochs": "num_train_epochs",
                 "batch_size": "per_device_train_batch_size", "train_batch_size": "per_device_train_batch_size",
                 "micro_batch_size": "per_device_train_batch_size", "eval_batch_size": "per_device_eval_batch_size",
                 "grad_accum": "gradient_accumulation_steps", "gradient_accumulation": "gradient_accumulation_steps",
                 "warmup": "warmup_steps", "max_seq_len": "max_length", "sequence_len": "max_length", "cutoff_len": "max_length",
                 "steps": "max_steps"},
}
# SFTConfig fields a preset may not set, as (what is wrong, what does the same). tunewiz tokenizes the data
# itself (SFTTrainer gets dataset_kwargs {skip_prepare_dataset: true}, so its own data preparation never
# runs) and hands SFTTrainer the loaded model and its tokenizer, so these are never read, or would change the
# saved tokenizer after the data was made with another. The wizard hides them.
# Each text is marked for the catalog (N_) and translated where it is shown.
RESERVED: dict[str, tuple[str, str]] = {
    "dataset_kwargs": (N_("is set by tunewiz: it passes {skip_prepare_dataset: true}, as it prepares the data itself"),
                       N_("remove it; the dataset: section says how the data is read")),
    "dataset_text_field": (N_("has no effect here: tunewiz prepares the data itself"),
                           N_("name the text column with dataset.columns: {text: <column>}")),
    "dataset_num_proc": (N_("has no effect here: tunewiz prepares the data itself"), N_("remove it: nothing is needed")),
    "eval_packing": (N_("has no effect here: tunewiz prepares the data itself (it packs the eval split exactly when "
                        "training.packing is true)"),
                     N_("remove it; training.packing packs both splits")),
    "shuffle_dataset": (N_("has no effect here: tunewiz prepares the data itself (rows are tokenized in file order)"),
                        N_("remove it: the Trainer already draws the rows in a new random order every epoch (training.seed)")),
    "pad_token": (N_("has no effect here: tunewiz prepares the data itself: its collator pads with the tokenizer's pad "
                     "token (the eos token when it has none), and padding is never trained (label -100)"),
                  N_("remove it: nothing is needed (TRL deprecates it too)")),
    "eos_token": (N_("has no effect here: tunewiz prepares the data itself, with the tokenizer's own eos token, before "
                     "SFTTrainer would swap it: the saved tokenizer would name an eos token the rows never ended with"),
                  N_("remove it: chat rows end with what the chat template writes (model.chat_template), text and "
                     "completion rows with the tokenizer's eos token")),
    "chat_template_path": (N_("has no effect here: tunewiz prepares the data itself with the chat template of the model "
                              "step, before SFTTrainer would swap it: the saved tokenizer would carry a template the "
                              "model was not trained on"),
                           N_("set model.chat_template: <a .jinja file or the template text> (the token preview shows it)")),
    "model_init_kwargs": (N_("has no effect here: tunewiz loads the model itself"),
                          N_("use the model: section (model.dtype, model.attn_implementation, model.trust_remote_code, "
                             "model.revision, model.quantization)")),
    "trust_remote_code": (N_("has no effect here: tunewiz loads the model and its tokenizer itself"),
                          N_("set model.trust_remote_code: true")),
}

# Reserved for every method (the others are SFTConfig's data options, which the preference trainers do not have or
# which tunewiz sets itself there: their data is prepared by trl's own code, see engine/data/preference.py)
RESERVED_ALL = {"model_init_kwargs", "trust_remote_code", "pad_token"}

# TrainingArguments fields that hold a secret: a run writes its settings into files (config.yaml, status.json,
# each checkpoint's training_args.bin), so they are refused wherever they are given (issue #12)
SECRETS: dict[str, tuple[str, str]] = {
    "hub_token": (N_("is a secret, and a run writes its settings into files (config.yaml, each checkpoint's "
                     "training_args.bin): tunewiz never takes a token from a preset or --set"),
                  N_("remove it: the Hub token is read from the environment (HF_TOKEN) or your login (hf auth login)")),
}


def reserved_fix(key: str, value: Any = None) -> str:
    """The fix line for a reserved key, with the value where it helps (dataset_text_field: body)."""
    if key == "dataset_text_field" and isinstance(value, str) and value:
        if value == "text":
            return _("remove it: a column named text is found by itself (dataset.columns: {text: text} names it)")
        return _("name the text column with dataset.columns: {{text: {column}}}").format(column=value)
    return _(RESERVED[key][1])


# Seq2SeqTrainingArguments fields (not SFTConfig/TrainingArguments ones): what each does there.
SEQ2SEQ: dict[str, str] = {
    "predict_with_generate": N_("generate text during evaluation, for ROUGE/BLEU"),
    "generation_max_length": N_("the length of the text generated during evaluation"),
    "generation_num_beams": N_("the beam count of the text generated during evaluation"),
    "generation_config": N_("the generation settings of the evaluation"),
    "sortish_sampler": N_("batches of rows of similar length"),
}


def seq2seq_note(key: str) -> str:
    """A Seq2SeqTrainingArguments option, and what tunewiz does instead."""
    if key == "sortish_sampler":
        return _("a Seq2SeqTrainingArguments option ({does}); here that is train_sampling_strategy: group_by_length "
                 "(padding-free batches waste no padding at all)").format(does=_(SEQ2SEQ[key]))
    return _("a Seq2SeqTrainingArguments option ({does}); tunewiz evaluates with the loss on the held-out rows (scoring "
             "generated text, for a finished run: not yet)").format(does=_(SEQ2SEQ[key]))


def _kind(tp: Any) -> dict[str, Any]:
    """Reduce a dataclass field type to a kind the preset loader can check without the library."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        out: dict[str, Any] = {"optional": len(inner) < len(args)}
        kinds = [_kind(a) for a in inner]
        names = {k["kind"] for k in kinds}
        choices = sorted({c for k in kinds for c in k.get("choices", [])})
        if names <= {"str", "choice"} and choices:
            return {**out, "kind": "choice", "choices": choices}
        if len(names) == 1:
            return {**kinds[0], **out}
        if names == {"int", "float"}:
            return {**out, "kind": "float"}
        return {**out, "kind": "any"}
    if origin is typing.Literal:
        return {"kind": "choice", "choices": sorted(str(a) for a in args)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"kind": "choice", "choices": sorted(str(m.value) for m in tp)}
    if tp is bool:
        return {"kind": "bool"}
    if tp is int:
        return {"kind": "int"}
    if tp is float:
        return {"kind": "float"}
    if tp is str:
        return {"kind": "str"}
    if origin in (list, tuple) or tp in (list, tuple):
        return {"kind": "list"}
    if origin is dict or tp is dict:
        return {"kind": "dict"}
    return {"kind": "any"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if value is dataclasses.MISSING:
        return None
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def describe(cls: type) -> dict[str, dict[str, Any]]:
    """Name -> {kind, default, help, ...} for every init field of a library config dataclass."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        out[f.name] = {
            **_kind(hints.get(f.name, Any)),
            "default": _jsonable(default),
            "help": " ".join(str(f.metadata.get("help", "")).split()),
        }
        if f.metadata.get("choices") and out[f.name]["kind"] == "str":  # trl writes a str field's values here
            out[f.name].update(kind="choice", choices=sorted(str(c) for c in f.metadata["choices"]))
    return out


# model.method -> the trl config class whose fields `training:` takes, and its snapshot table
CONFIG_NAMES = {"sft": "SFTConfig", "dpo": "DPOConfig", "kto": "KTOConfig", "orpo": "ORPOConfig"}
TABLES = {"sft": "training", "dpo": "training:dpo", "kto": "training:kto", "orpo": "training:orpo"}


def section_of(section: str, method: str = "sft") -> str:
    """The snapshot table of a preset section: `training` follows model.method."""
    return TABLES.get(method, "training") if section == "training" else section


def methods_with(key: str) -> list[str]:
    """The methods whose training config has `key` (for the hint on a key of another method)."""
    return [m for m, table in TABLES.items() if key in snapshot().get(table, {})]


def method_config(method: str) -> type:
    """The installed trl config class of a method (ORPO's lives in trl.experimental in TRL 1.x)."""
    if method == "orpo":
        import os

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig
    import trl

    return getattr(trl, CONFIG_NAMES[method])


# Called before the libraries are imported here: a program that imports them in another thread sets it to wait for
# that thread (the wizard: tui/heavy.py), as two threads importing trl at once see half-initialised modules
# ("module 'trl' has no attribute 'SFTConfig'", from a preset with an unknown key opened in the wizard)
before_import: Callable[[], None] | None = None


def library_classes() -> dict[str, type]:
    """The installed classes behind each section (imports the libraries: seconds)."""
    if before_import is not None:
        before_import()
    from peft import LoraConfig
    from transformers import TrainingArguments

    out = {TABLES[m]: method_config(m) for m in TABLES}
    return {**out, "training_base": TrainingArguments, "lora": LoraConfig}


def build_snapshot() -> dict[str, Any]:
    """Read the fields from the installed libraries."""
    import peft
    import transformers
    import trl

    classes = library_classes()
    base = set(describe(classes["training_base"]))
    out: dict[str, Any] = {"versions": {"transformers": transformers.__version__, "trl": trl.__version__, "peft": peft.__version__}}
    for method, table in TABLES.items():
        described = describe(classes[table])
        for name, spec in described.items():
            spec["source"] = "TrainingArguments" if name in base else CONFIG_NAMES[method]
        if method == "dpo" and "loss_type" in described:
            import re

            spec = described["loss_type"]
            spec["one_or_list"] = True  # DPOConfig.__post_init__ turns one name into a list
            spec["choices"] = sorted(set(re.findall(r"`'([a-z0-9_]+)'`", spec["help"])))  # the names its help lists
        out[table] = described
    out["lora"] = describe(classes["lora"])
    return out


@functools.cache
def snapshot() -> dict[str, Any]:
    """The shipped snapshot."""
    return json.loads(SNAPSHOT.read_text())


def fields(section: str) -> dict[str, dict[str, Any]]:
    """Field specs of a snapshot table: `training` (SFTConfig), `training:dpo`, `training:kto`, `training:orpo`, `lora`."""
    return snapshot()[section]


def default(key: str, section: str = "training", method: str = "sft") -> Any:
    """A library field's default, from the snapshot (per_device_train_batch_size 8, max_length 1024, ...): the
    number the libraries use when a preset leaves the key out, written once instead of in every module."""
    return fields(section_of(section, method))[key]["default"]


@functools.cache
def installed_field_names(section: str) -> frozenset[str]:
    """Field names of the installed class (imports it): the fallback for keys newer than the snapshot."""
    try:
        cls = library_classes()[section]
    except ImportError:
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(cls) if f.init)


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m engine.fields --write", file=sys.stderr)
        return 2
    SNAPSHOT.write_text(json.dumps(build_snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
