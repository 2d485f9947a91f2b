"""The library fields a preset may set, read from a snapshot of the installed libraries.

`training:` keys are `trl.SFTConfig` fields (a superset of `transformers.TrainingArguments`) and
`lora:` keys are `peft.LoraConfig` fields. Importing those libraries takes seconds, so the names,
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
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("fields.json")

# Names that tutorials still use, with today's name (or None when removed) and what to do instead.
RENAMED: dict[str, tuple[str | None, str]] = {
    "evaluation_strategy": ("eval_strategy", "renamed in transformers 4.46"),
    "max_seq_length": ("max_length", "renamed in TRL 0.20"),
    "per_gpu_train_batch_size": ("per_device_train_batch_size", "renamed in transformers 3"),
    "per_gpu_eval_batch_size": ("per_device_eval_batch_size", "renamed in transformers 3"),
    "no_cuda": ("use_cpu", "renamed in transformers 4.34 (use_cpu: true)"),
    "push_to_hub_token": ("hub_token", "renamed in transformers 4.8"),
    "warmup_ratio": ("warmup_steps", "removed in transformers 5: a float warmup_steps below 1 is a ratio"),
    "fp16_opt_level": (None, "removed in transformers 5 with apex AMP; use bf16: true or fp16: true"),
    "fp16_backend": (None, "removed; use bf16: true or fp16: true"),
    "logging_dir": (None, "removed in transformers 5; logs go to the run directory (events.jsonl)"),
    "overwrite_output_dir": (None, "removed in transformers 5; use `tunewiz run --overwrite`"),
    "tokenizer": (None, "not a config field; tunewiz passes the model's tokenizer as processing_class"),
}
# Real fields that tunewiz sets itself; a preset may not.
RESERVED: dict[str, str] = {
    "dataset_kwargs": "tunewiz prepares the dataset itself (see the dataset: section)",
}


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
    return out


def library_classes() -> dict[str, type]:
    """The installed classes behind each section (imports the libraries: seconds)."""
    from peft import LoraConfig
    from transformers import TrainingArguments
    from trl import SFTConfig

    return {"training": SFTConfig, "training_base": TrainingArguments, "lora": LoraConfig}


def build_snapshot() -> dict[str, Any]:
    """Read the fields from the installed libraries."""
    import peft
    import transformers
    import trl

    classes = library_classes()
    base = set(describe(classes["training_base"]))
    training = describe(classes["training"])
    for name, spec in training.items():
        spec["source"] = "TrainingArguments" if name in base else "SFTConfig"
    return {
        "versions": {"transformers": transformers.__version__, "trl": trl.__version__, "peft": peft.__version__},
        "training": training,
        "lora": describe(classes["lora"]),
    }


@functools.cache
def snapshot() -> dict[str, Any]:
    """The shipped snapshot."""
    return json.loads(SNAPSHOT.read_text())


def fields(section: str) -> dict[str, dict[str, Any]]:
    """Field specs of `training` or `lora`."""
    return snapshot()[section]


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
