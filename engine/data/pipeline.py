"""The one data path: load -> format -> chat template -> tokenize -> mask labels -> truncate -> pack -> collate.

Training and the preview call these same functions; the trainer receives `Prepared.train` (minus the
bookkeeping columns that start with `_`) and the collator from `build_collator`, and a test checks
that it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.data import chat, formats, load
from engine.errors import TunewizError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config import Config

IGNORE = -100
MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels", "seq_lengths")


@dataclass
class Plan:
    """What was decided about the data before tokenizing: format, template, lengths, label names."""

    format: formats.Format
    task: str
    template: str | None
    template_source: str
    max_length: int | None
    truncation_mode: str = "keep_start"
    train_prompt: bool = False  # assistant_only_loss / completion_only_loss set to false: train every token
    label_names: list[str] = field(default_factory=list)
    packing: bool = False
    packing_strategy: str = "bfd"
    regression: bool = False  # a float label column: one output, MSE loss (label_names = [the column])


@dataclass
class Prepared:
    """Tokenized splits, ready for the trainer, and what happened on the way."""

    plan: Plan
    train: Dataset
    eval: Dataset | None
    source_rows: int
    dropped: int  # training rows left out (the sum of `drops`)
    drops: dict[str, int] = field(default_factory=dict)  # why training rows were left out (DROPS) -> count
    packing_cut: tuple[int, int] | None = None  # rows longer than max_length that packing (bfd) cut, tokens lost
    flags: dict[str, int] = field(default_factory=dict)  # what was found in kept rows (chat.conversation's flags) -> count


# Why a row is left out of training, and what to do about it.
DROPS = {
    "blank": ("were blank (an empty line or text)", "nothing to do; remove blank lines to silence this"),
    "no answer": ("had no answer to train (no assistant turn, or only empty or weight-0 ones; an empty completion)",
                  "check the format/columns: the responses may be missing or empty in the data"),
    "truncated": ("had their whole answer cut off by truncation", "raise training.max_length (or shorten the prompts)"),
}


def make_plan(cfg: Config, tokenizer: Any, raw: Dataset) -> Plan:
    """Detect the format, pick the chat template and lengths; raises TunewizError before any tokenizing."""
    t = cfg.training
    fmt = formats.detect(raw.column_names, raw[0], cfg.dataset.format, cfg.dataset.columns, cfg.dataset.template,
                         cfg.model.task)
    template, source = chat.resolve_template(tokenizer, cfg.model.chat_template)
    if fmt.shape == "chat" or (fmt.name == "prompt-completion" and isinstance(raw[0][fmt.columns["prompt"]], list)):
        chat.require_template(template, cfg.model.name_or_path, fmt.name)
    if cfg.model.task == "causal-lm" and not getattr(tokenizer, "eos_token", None):
        raise TunewizError.at("model.name_or_path", f"the tokenizer of {cfg.model.name_or_path} has no eos token, so the model could never learn to stop",
                              "use a causal language model whose tokenizer has an eos token (a chat or instruct model)")
    max_length = t.get("max_length", 1024 if cfg.model.task == "causal-lm" else None)
    if cfg.model.task != "causal-lm":
        limit = getattr(tokenizer, "model_max_length", 512)
        max_length = min(max_length or limit, limit if limit < 1_000_000 else 512)
    plan = Plan(fmt, cfg.model.task, template, source, max_length, t.get("truncation_mode", "keep_start"),
                train_prompt=t.get("assistant_only_loss") is False or t.get("completion_only_loss") is False,
                # a corpus packs its long documents whole (split over rows); conversations keep their structure (bfd)
                packing=bool(t.get("packing")), packing_strategy=t.get("packing_strategy") or
                ("bfd_split" if fmt.shape == "text" else "bfd"))
    if fmt.name == "classification":
        plan.regression = is_regression(raw, fmt.columns["label"])
        plan.label_names = [fmt.columns["label"]] if plan.regression else label_names(raw, fmt.columns["label"])
    return plan


def label_names(raw: Dataset, column: str) -> list[str]:
    """Class names in id order: a ClassLabel's names, else the sorted distinct values. One class is an error."""
    feat = raw.features.get(column)
    names = list(getattr(feat, "names", None) or [])
    values = set(raw[column])
    if None in values:
        raise TunewizError.at(f"dataset.columns.label ({column})", "some rows have no label", "fill in or drop those rows")
    if not names:
        names = [str(v) for v in sorted(values, key=lambda v: (isinstance(v, str), v))]
    if len(values) < 2:
        raise TunewizError.at(f"dataset.columns.label ({column})", f"only one class ({names[0] if names else values!r}) in {len(raw)} rows",
                              "a classifier needs at least two classes: check the label column mapping, or the data")
    return names


def is_regression(raw: Dataset, column: str) -> bool:
    """A float label column with a value that is not a whole number (STS-B's 3.8) is a score to predict, not classes."""
    dtype = getattr(raw.features.get(column), "dtype", "")
    if not str(dtype).startswith("float"):
        return False
    return any(v is not None and v != int(v) for v in raw[column])


def encode(example: dict[str, Any], plan: Plan, tokenizer: Any) -> dict[str, Any]:
    """One canonical example -> input_ids, labels (-100 where not trained), its untruncated length, why it is left
    out (`_drop`: a key of DROPS, or "") and what was found in it (`_flags`, comma-separated)."""
    if "label" in example:
        enc = tokenizer(example["text"], example["text_pair"], truncation=True, max_length=plan.max_length)
        full = tokenizer(example["text"], example["text_pair"], verbose=False)["input_ids"]
        out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        out["labels"] = float(example["label"]) if plan.regression else plan.label_names.index(str(example["label"]))
        out["_full_len"] = len(full)
        return out
    flags: set[str] = set()
    if "input_ids" in example:
        ids = list(example["input_ids"])
        labels = list(example["labels"]) if example.get("labels") is not None else list(ids)
        return _truncate(ids, labels, plan, flags)
    if "messages" in example:
        msgs, tools, flags = chat.conversation(example["messages"], example.get("tools"), plan.template or "")
        text, spans = chat.render(tokenizer, msgs, tools, plan.template or "")
    else:
        eos = tokenizer.eos_token
        if "text" in example:
            if not example["text"].strip():
                flags.add("blank")
            text = example["text"] if example["text"].endswith(eos) else example["text"] + eos
            spans = [(0, len(text))]
        else:
            completion = example["completion"] if example["completion"].endswith(eos) else example["completion"] + eos
            text = example["prompt"] + completion
            spans = [(len(example["prompt"]), len(text))] if example["completion"].strip() else []
    if plan.train_prompt and "blank" not in flags:
        spans = [(0, len(text))]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = enc["input_ids"]
    labels = [t if any(s <= a < e for s, e in spans) else IGNORE for t, (a, _) in zip(ids, enc["offset_mapping"], strict=True)]
    return _truncate(ids, labels, plan, flags)


def _truncate(ids: list[int], labels: list[int], plan: Plan, flags: set[str]) -> dict[str, Any]:
    n = len(ids)
    had_answer = any(t != IGNORE for t in labels)
    if plan.max_length is not None and n > plan.max_length and not plan.packing:
        sl = slice(None, plan.max_length) if plan.truncation_mode == "keep_start" else slice(-plan.max_length, None)
        ids, labels = ids[sl], labels[sl]
    drop = ("blank" if "blank" in flags else "no answer" if not had_answer else
            "truncated" if not any(t != IGNORE for t in labels) else "")
    return {"input_ids": ids, "labels": labels, "_full_len": n, "_drop": drop,
            "_flags": ",".join(sorted(flags - {"blank", "no answer"}))}


def code_version() -> str:
    """A hash of the data path's own source (engine/data/*.py). The datasets cache keys a map by the function and
    its arguments, not by the code it calls: without this, rows tokenized by an older tunewiz would be reused."""
    import hashlib

    global _CODE_VERSION
    if _CODE_VERSION is None:
        h = hashlib.sha256()
        for f in sorted(Path(__file__).parent.glob("*.py")):
            h.update(f.read_bytes())
        _CODE_VERSION = h.hexdigest()[:16]
    return _CODE_VERSION


_CODE_VERSION: str | None = None


def _encode_row(row: dict[str, Any], plan: Plan, tokenizer: Any, code: str = "") -> dict[str, Any]:
    try:
        return encode(formats.canonical(row, plan.format), plan, tokenizer)
    except TunewizError:
        raise
    except Exception as e:
        raise TunewizError.at(f"dataset row {row.get('_row')}", f"could not be prepared: {e}",
                              "fix or remove that row (dataset.max_rows limits the rows read)") from e


def tokenize(raw: Dataset, plan: Plan, tokenizer: Any) -> Dataset:
    """Encode every row; keeps `_row` (source row number) and `_full_len` for the preview."""
    keep = {"_row"}
    out = raw.map(_encode_row, fn_kwargs={"plan": plan, "tokenizer": tokenizer, "code": code_version()},
                  remove_columns=[c for c in raw.column_names if c not in keep], desc="Tokenizing")
    return out


def prepare(cfg: Config, tokenizer: Any, raw: Dataset | None = None) -> Prepared:
    """Load (unless given), split, tokenize, drop untrainable rows, pack: exactly what training uses."""
    raw = load.load_dataset(cfg.dataset) if raw is None else raw
    plan = make_plan(cfg, tokenizer, raw)
    raw = raw.add_column("_row", list(range(len(raw))))
    seed = int(cfg.training.get("seed", 42))
    size = cfg.dataset.eval_size
    eval_raw = None
    if size:
        n_eval = int(size) if size >= 1 else max(1, round(size * len(raw)))
        if n_eval >= len(raw):
            raise TunewizError.at("dataset.eval_size", f"{size} leaves no training rows out of {len(raw)}", "use a smaller eval_size, or 0")
        split = raw.train_test_split(test_size=n_eval, seed=seed)
        raw, eval_raw = split["train"], split["test"]
    train = tokenize(raw, plan, tokenizer)
    before = len(train)
    drops: dict[str, int] = {}
    flags: dict[str, int] = {}
    if plan.task == "causal-lm":
        for reason, found in zip(train["_drop"], train["_flags"], strict=True):
            if reason:
                drops[reason] = drops.get(reason, 0) + 1
            for flag in filter(None, found.split(",")):
                flags[flag] = flags.get(flag, 0) + 1
        train = train.filter(_kept, desc="Dropping rows with no trained token")
        if len(train) == 0:
            why = "; ".join(f"{n} {DROPS[r][0]}" for r, n in drops.items())
            raise TunewizError.at("dataset", f"none of the {before} rows has a token to train: {why}",
                                  DROPS[max(drops, key=drops.get)][1] if drops else "check the format/columns")
    evald = tokenize(eval_raw, plan, tokenizer) if eval_raw is not None else None
    if evald is not None and plan.task == "causal-lm":
        evald = evald.filter(_kept)
    packing_cut = None
    if plan.packing and plan.packing_strategy == "bfd" and plan.max_length:
        over = [n - plan.max_length for n in train["_full_len"] if n > plan.max_length]
        packing_cut = (len(over), sum(over)) if over else None
    if plan.packing:
        train = pack(train, plan)
        evald = pack(evald, plan) if evald is not None else None
    return Prepared(plan, train, evald, source_rows=before + (len(eval_raw) if eval_raw is not None else 0),
                    dropped=sum(drops.values()), drops=drops, flags=flags, packing_cut=packing_cut)


def _kept(row: dict[str, Any]) -> bool:
    return not row["_drop"]


def drop_lines(prepared: Prepared) -> list[str]:
    """One line per reason rows were left out of training, with the fix (for validate, preview and run)."""
    return [f"{n} of {prepared.source_rows} rows left out: they {DROPS[r][0]}; {DROPS[r][1]}" for r, n in prepared.drops.items()]


def pack(ds: Dataset, plan: Plan) -> Dataset:
    """TRL's own packing (best-fit decreasing by default) into max_length blocks."""
    from trl.data_utils import pack_dataset

    if plan.max_length is None:
        raise TunewizError.at("training.max_length", "packing needs a max_length", "set training.max_length, e.g. 1024")
    return pack_dataset(ds.select_columns(["input_ids", "labels"]), plan.max_length, plan.packing_strategy, {})


def lengths(ds: Dataset) -> Any:
    """Token count of each row (numpy array), read from the arrow column without decoding the rows."""
    import numpy as np
    import pyarrow.compute as pc

    col = ds.select_columns(["input_ids"]).with_format("arrow")[:]["input_ids"]  # respects filter()'s indices
    return np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False), dtype=np.int64)


def model_inputs(ds: Dataset) -> Dataset:
    """The columns the trainer receives (bookkeeping columns dropped)."""
    return ds.select_columns([c for c in ds.column_names if c in MODEL_COLUMNS])


def padding_free(args: Any) -> bool:
    """TRL's rule: padding-free when asked, or when packing best-fit (bfd)."""
    return bool(getattr(args, "padding_free", False) or (getattr(args, "packing", False)
                and getattr(args, "packing_strategy", "") in {"bfd", "bfd_split"}))


def build_collator(task: str, args: Any, tokenizer: Any) -> Any:
    """The collator the trainer uses: TRL's for causal LM (prebuilt labels), transformers' for classification."""
    if task == "causal-lm":
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=padding_free(args),
                                               pad_to_multiple_of=args.pad_to_multiple_of)
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)
