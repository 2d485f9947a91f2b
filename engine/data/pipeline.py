"""The one data path: load -> format -> chat template -> tokenize -> mask labels -> truncate -> pack -> collate.

Training and the preview call these same functions; the trainer receives `Prepared.train` (minus the
bookkeeping columns that start with `_`) and the collator from `build_collator`, and a test checks
that it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import fields
from engine.data import chat, formats, load, preference
from engine.errors import Problem, TunewizError
from engine.i18n import N_, _, ngettext, pgettext

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
    method: str = "sft"  # model.method: sft, or a preference method (dpo, kto, orpo: engine/data/preference.py)
    conversational: bool = False  # preference rows are message lists (the chat template writes them)


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
    drop_rows: dict[str, list[int]] = field(default_factory=dict)  # reason -> the first source rows (_row) left out for it
    longest: int | None = None  # the longest training row in tokens, before rows were left out (dropped ones too)
    batch: int | None = None  # the micro-batch a preference method's rows were prepared for (KTO pairs neighbours in it)
    eval_drops: dict[str, int] = field(default_factory=dict)  # why held-out rows were left out of evaluation -> count
    places: load.RowPlaces | None = None  # where the source rows are in the user's files (messages name rows by it)


# Why a row is left out of training, and what to do about it (messages: shown as _(what), _(fix)).
DROPS = {
    "blank": (N_("were blank (an empty line or text)"), N_("nothing to do; remove blank lines to silence this")),
    "no answer": (N_("had no answer to train (no assistant turn, or only empty or weight-0 ones; an empty completion)"),
                  N_("check the format/columns: the responses may be missing or empty in the data")),
    "truncated": (N_("had their whole answer cut off by truncation"), N_("raise training.max_length (or shorten the prompts)")),
    "no text": (N_("had no text to classify (a null or empty cell)"), N_("fill in or remove those rows")),
    "masked": (N_("had every label -100 (pre-tokenized rows with no token to train)"),
               N_("check the labels column: -100 marks a token that is not trained; leave labels out to train every token")),
}
ROWS_SHOWN = 5  # source rows named per reason a row is left out


def row_list(rows: list[int], total: int | None = None, places: load.RowPlaces | None = None) -> str:
    """'chat.jsonl lines 3, 7, 12' (and how many more), for a message that names the rows; without `places`, 'source
    rows 3, 7, 12' (counted from 0, as loaded)."""
    rows = sorted(rows)  # the first found, in file order (a KTO run finds them in its shuffled order)
    if places is not None:
        return places.describe(rows, total, ROWS_SHOWN)
    more = (total if total is not None else len(rows)) - len(rows[:ROWS_SHOWN])
    shown = ", ".join(map(str, rows[:ROWS_SHOWN]))
    if more > 0:
        return _("source rows {rows} and {more} more").format(rows=shown, more=more)
    return ngettext("source row {rows}", "source rows {rows}", max(len(rows), 1)).format(rows=shown)


def make_plan(cfg: Config, tokenizer: Any, raw: Dataset) -> Plan:
    """Detect the format, pick the chat template and lengths; raises TunewizError before any tokenizing."""
    t = cfg.training
    fmt = formats.detect(raw.column_names, raw[0], cfg.dataset.format, cfg.dataset.columns, cfg.dataset.template,
                         cfg.model.task)
    template, source = chat.resolve_template(tokenizer, cfg.model.chat_template)
    conversation = fmt.shape == "chat" or (fmt.name == "prompt-completion" and isinstance(raw[0][fmt.columns["prompt"]], list))
    if conversation:
        chat.require_template(template, cfg.model.name_or_path, fmt.name)
        chat.check_syntax(template, cfg.model.chat_template, cfg.model.name_or_path)  # type: ignore[arg-type]
    if cfg.model.task == "causal-lm" and not getattr(tokenizer, "eos_token", None):
        raise no_eos(cfg.model.name_or_path)
    max_length = t.get("max_length", fields.default("max_length") if cfg.model.task == "causal-lm" else None)
    if cfg.model.task != "causal-lm":
        from engine.fields import CLASSIFIER_MAX_LENGTH

        limit = getattr(tokenizer, "model_max_length", CLASSIFIER_MAX_LENGTH)
        max_length = min(max_length or limit, limit if limit < 1_000_000 else CLASSIFIER_MAX_LENGTH)
    plan = Plan(fmt, cfg.model.task, template, source, max_length, t.get("truncation_mode", "keep_start"),
                train_prompt=t.get("assistant_only_loss") is False or t.get("completion_only_loss") is False,
                # a corpus packs its long documents whole (split over rows); conversations keep their structure (bfd)
                packing=bool(t.get("packing")), packing_strategy=t.get("packing_strategy") or
                ("bfd_split" if fmt.shape == "text" else "bfd"))
    if conversation and cfg.model.task == "causal-lm":
        _check_template_overhead(plan, tokenizer)
    if fmt.name == "classification":
        label = fmt.columns["label"]
        for role in ("text", "text_pair"):
            if fmt.columns.get(role) == label:
                raise TunewizError.at("dataset.columns.label", _("the label column is the {role} column ({label!r}): every "
                                                                 "text would be its own class").format(role=role, label=label),
                                      _("map dataset.columns.label to the column that holds the classes; columns are: "
                                        "{columns}").format(columns=", ".join(raw.column_names)))
        plan.regression = is_regression(raw, label)
        plan.label_names = [label] if plan.regression else label_names(raw, label, load.RowPlaces(cfg.dataset))
    return plan


def no_eos(model: str) -> TunewizError:
    return TunewizError.at("model.name_or_path", _("the tokenizer of {model} has no eos token, so the model could never "
                                                   "learn to stop").format(model=model),
                           _("use a causal language model whose tokenizer has an eos token (a chat or instruct model)"))


def _check_template_overhead(plan: Plan, tokenizer: Any) -> None:
    """max_length no longer than what the chat template writes before an answer (its system prompt, role markers):
    rows cut at the start keep no answer, and every row would be left out."""
    if plan.packing or plan.train_prompt or plan.max_length is None or plan.truncation_mode != "keep_start":
        return
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": ""}], chat_template=plan.template,
                                             tokenize=False, add_generation_prompt=True)
    except Exception:  # a template that refuses this conversation: the rows themselves tell
        return
    n = len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    if n >= plan.max_length:
        raise TunewizError.at("training.max_length", _("{max_length} tokens is shorter than what the chat template writes "
                                                       "before any answer: {n} tokens for an empty question (its system "
                                                       "prompt and role markers), so no answer would ever be trained")
                              .format(max_length=plan.max_length, n=n),
                              _("raise training.max_length well above {n} (room for the question and the answer), e.g. "
                                "{suggested}").format(n=n, suggested=max(512, 1 << (2 * n - 1).bit_length())))


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) or (isinstance(v, str) and _NUMBER.fullmatch(v) is not None)


def label_names(raw: Dataset, column: str, places: load.RowPlaces | None = None) -> list[str]:
    """Class names in id order: a ClassLabel's names, else the sorted distinct values. Refused: rows without a label,
    labels that mix numbers and words, one class, or a class per row (a text or id column mapped as the label)."""
    feat = raw.features.get(column)
    names = list(getattr(feat, "names", None) or [])
    col = raw[column]
    where = f"dataset.columns.label ({column})"
    missing = [i for i, v in enumerate(col) if v is None or (isinstance(v, str) and not v.strip())]
    if missing:
        raise TunewizError.at(where, _("{n} of {total} rows have no label ({rows})")
                              .format(n=len(missing), total=len(col), rows=row_list(missing, places=places)),
                              _("fill in or drop those rows"))
    values = set(col)
    if not names:
        kinds = [_is_number(v) for v in col]
        if any(kinds) and not all(kinds):
            numbers = sorted({str(v) for v, k in zip(col, kinds, strict=True) if k})
            words = sorted({str(v) for v, k in zip(col, kinds, strict=True) if not k})
            few_numbers = kinds.count(True) <= kinds.count(False)
            odd = [i for i, k in enumerate(kinds) if k == few_numbers]
            what = (_("the labels mix numbers ({numbers}) and words ({words}): they would train as {n} unrelated classes "
                      "(numbers in {rows})") if few_numbers else
                    _("the labels mix numbers ({numbers}) and words ({words}): they would train as {n} unrelated classes "
                      "(words in {rows})"))
            raise TunewizError.at(where, what.format(numbers=", ".join(numbers[:4]), words=", ".join(map(repr, words[:4])),
                                                     n=len(values), rows=row_list(odd, places=places)),
                                  _("use one kind of label in every row: class names (negative, positive) or class ids (0, 1)"))
        names = [str(v) for v in sorted(values, key=lambda v: (isinstance(v, str), v))]
    if len(values) < 2:
        raise TunewizError.at(where, _("only one class ({label}) in {n} rows").format(label=repr(names[0] if names else values),
                                                                                     n=len(raw)),
                              _("a classifier needs at least two classes: check the label column mapping, or the data"))
    if len(values) == len(col) >= UNIQUE_LABELS_MIN:
        raise TunewizError.at(where, _("{n} classes in {total} rows: every row has a label of its own, so nothing learned "
                                       "carries over to a new text (is {column!r} a text or id column?)")
                              .format(n=len(values), total=len(col), column=column),
                              _("map dataset.columns.label to the column that holds the classes; columns are: "
                                "{columns}").format(columns=", ".join(raw.column_names)))
    return names


UNIQUE_LABELS_MIN = 10  # a table this long with a class per row is a wrong mapping (a toy of 2-3 rows may do it)
_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


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
        enc, full_len = _encode_text(tokenizer, example["text"], example["text_pair"], plan.max_length)
        out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        out["labels"] = float(example["label"]) if plan.regression else plan.label_names.index(str(example["label"]))
        out["_full_len"] = full_len
        out["_drop"] = "" if example["text"].strip() else "no text"  # a null or empty text cell: nothing to classify
        return out
    flags: set[str] = set()
    if "input_ids" in example:
        ids, labels = _tokenized(example, tokenizer)
        return _truncate(ids, labels, plan, flags, empty="masked")
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


CUT_MARGIN = 16  # tokens past max_length kept when a long text is cut before its truncated tokenization


def _encode_text(tokenizer: Any, text: str, pair: str | None, max_length: int | None) -> tuple[Any, int]:
    """(the tokenizer's own truncated encoding, the untruncated length) with the long text tokenized whole once: a
    row longer than max_length is truncated by the tokenizer on its text cut a little past what is kept, and the
    kept ids are checked against the whole text's (a 20 MB document was tokenized whole twice)."""
    if not getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, pair, truncation=True, max_length=max_length)
        return enc, len(tokenizer(text, pair, verbose=False)["input_ids"])
    full = tokenizer(text, pair, verbose=False, return_offsets_mapping=True)
    n = len(full["input_ids"])
    if max_length is None or n <= max_length:
        return {k: v for k, v in full.items() if k != "offset_mapping"}, n
    parts, seq = [text, pair], full.sequence_ids(0)
    cut = list(parts)
    if getattr(tokenizer, "truncation_side", "right") == "right":
        where = [[i for i, s in enumerate(seq) if s == part] for part in (0, 1)]
        for part in (0, 1):
            # longest_first truncation weighs the two parts' lengths: a cut part stays the longer one
            keep = max(max_length, len(where[1 - part])) + CUT_MARGIN
            if parts[part] is not None and len(where[part]) > keep:
                cut[part] = parts[part][: full["offset_mapping"][where[part][keep]][0]]  # type: ignore[index]
    if cut[0] is not parts[0] and cut[1] is not parts[1]:
        cut = parts  # both long: which is longer decides longest_first, so both are given whole
    enc = tokenizer(cut[0], cut[1], truncation=True, max_length=max_length)
    if cut != parts:
        kept = enc.sequence_ids(0)
        for part in (0, 1):
            ids = [t for t, s in zip(enc["input_ids"], kept, strict=True) if s == part]
            whole = [t for t, s in zip(full["input_ids"], seq, strict=True) if s == part]
            if ids != whole[: len(ids)]:  # the cut changed a token it keeps (a word longer than the margin)
                return tokenizer(text, pair, truncation=True, max_length=max_length), n
    return enc, n


def _tokenized(example: dict[str, Any], tokenizer: Any) -> tuple[list[int], list[int]]:
    """A pre-tokenized row's ids and labels, checked: lengths that agree, ids of this tokenizer's vocabulary."""
    ids = list(example["input_ids"])
    labels = list(example["labels"]) if example.get("labels") is not None else list(ids)
    if len(labels) != len(ids):
        raise ValueError(_("labels has {labels} entries and input_ids {ids}: each token needs its label "
                           "(-100 = not trained)").format(labels=len(labels), ids=len(ids)))
    vocab = len(tokenizer)
    for name, values, allowed in (("input_ids", ids, ()), ("labels", labels, (IGNORE,))):
        bad = next((t for t in values if not isinstance(t, int) or not (0 <= t < vocab or t in allowed)), None)
        if bad is not None:
            raise ValueError((_("{name} holds {bad!r}, outside the tokenizer's vocabulary (ids 0 to {last}, or -100): was "
                                "the data tokenized with another tokenizer?") if allowed else
                              _("{name} holds {bad!r}, outside the tokenizer's vocabulary (ids 0 to {last}): was the data "
                                "tokenized with another tokenizer?")).format(name=name, bad=bad, last=vocab - 1))
    return ids, labels


def _truncate(ids: list[int], labels: list[int], plan: Plan, flags: set[str], empty: str = "no answer") -> dict[str, Any]:
    n = len(ids)
    had_answer = any(t != IGNORE for t in labels)
    if plan.max_length is not None and n > plan.max_length and not plan.packing:
        sl = slice(None, plan.max_length) if plan.truncation_mode == "keep_start" else slice(-plan.max_length, None)
        ids, labels = ids[sl], labels[sl]
    drop = ("blank" if "blank" in flags else empty if not had_answer else
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
        if plan.format.name == "tokenized" and (mask := row.get("attention_mask")) is not None:
            n = len(row[plan.format.columns["input_ids"]])
            if len(mask) != n:  # the collator makes its own mask, but a row whose columns disagree is broken
                raise ValueError(_("attention_mask has {mask} entries and input_ids {ids}: they must be as long")
                                 .format(mask=len(mask), ids=n))
        return encode(formats.canonical(row, plan.format), plan, tokenizer)
    except TunewizError:
        raise
    except Exception as e:
        raise RowError(row.get("_row"), _("could not be prepared: {error}").format(error=e),
                       _("fix or remove that row (dataset.max_rows limits the rows read)")) from e


class RowError(TunewizError):
    """A row that could not be read or prepared, raised inside `Dataset.map` by its row number (`_row`); `located`
    names its place in the user's files (RowPlaces) once the map has failed."""

    def __init__(self, row: int | None, what: str, fix: str):
        self.row, self.what, self.fix = row, what, fix
        super().__init__(Problem(f"dataset row {row}", what, fix))

    def located(self, places: load.RowPlaces | None) -> TunewizError:
        if places is None or self.row is None:
            return self
        return TunewizError.at(places.where(self.row), self.what, self.fix)


def tokenize(raw: Dataset, plan: Plan, tokenizer: Any, places: load.RowPlaces | None = None) -> Dataset:
    """Encode every row; keeps `_row` (source row number) and `_full_len` for the preview. A row that cannot be
    prepared is named by its place (`places`)."""
    keep = {"_row"}
    try:
        return raw.map(_encode_row, fn_kwargs={"plan": plan, "tokenizer": tokenizer, "code": code_version()},
                       remove_columns=[c for c in raw.column_names if c not in keep], desc="Tokenizing")
    except RowError as e:
        raise e.located(places) from e.__cause__


def split(raw: Dataset, cfg: Config) -> tuple[Dataset, Dataset | None]:
    """(training rows, held-out rows) by dataset.eval_size and training.seed; `_row` numbers the source rows."""
    raw = raw.add_column("_row", list(range(len(raw))))
    seed = int(cfg.training.get("seed", 42))
    size = cfg.dataset.eval_size
    if not size:
        return raw, None
    n_eval = int(size) if size >= 1 else max(1, round(size * len(raw)))
    if n_eval >= len(raw):
        raise TunewizError.at("dataset.eval_size", _("{size} leaves no training rows out of {n}").format(size=f"{size:g}", n=len(raw)),
                              _("use a smaller eval_size, or 0"))
    parts = raw.train_test_split(test_size=n_eval, seed=seed)
    return parts["train"], parts["test"]


def prepare(cfg: Config, tokenizer: Any, raw: Dataset | None = None, args: Any = None) -> Prepared:
    """Load (unless given), split, tokenize, drop untrainable rows, pack: exactly what training uses. `args`: the
    trainer's config (a preference method's data is prepared with it; built from cfg when not given)."""
    raw = load.load_dataset(cfg.dataset) if raw is None else raw
    if cfg.model.method != "sft" and cfg.model.task == "causal-lm":
        return _prepare_preference(cfg, tokenizer, raw, args)
    plan = make_plan(cfg, tokenizer, raw)
    places = load.RowPlaces(cfg.dataset)
    raw, eval_raw = split(raw, cfg)
    train = tokenize(raw, plan, tokenizer, places)
    before = len(train)
    drops: dict[str, int] = {}
    flags: dict[str, int] = {}
    drop_rows: dict[str, list[int]] = {}
    longest = max(train["_full_len"], default=None) if "_full_len" in train.column_names else None
    if "_drop" in train.column_names:  # causal LM and classification rows can be left out (each with its reason)
        found_flags = train["_flags"] if "_flags" in train.column_names else [""] * before
        for row, reason, found in zip(train["_row"], train["_drop"], found_flags, strict=True):
            if reason:
                drops[reason] = drops.get(reason, 0) + 1
                if len(rows := drop_rows.setdefault(reason, [])) < ROWS_SHOWN:
                    rows.append(row)
                continue  # a row left out is told once, by its reason (its empty answer is why it has none)
            for flag in filter(None, found.split(",")):
                flags[flag] = flags.get(flag, 0) + 1
        train = train.filter(_kept, desc="Dropping rows with no trained token")
        if len(train) == 0:
            why = "; ".join(pgettext("rows left out", "{n} {what}").format(n=n, what=_(DROPS[r][0])) for r, n in drops.items())
            raise TunewizError.at("dataset", (_("none of the {n} rows has a token to train: {why}") if plan.task == "causal-lm" else
                                              _("none of the {n} rows has a text to classify: {why}")).format(n=before, why=why),
                                  _(DROPS[max(drops, key=drops.get)][1]) if drops else _("check the format/columns"))  # type: ignore[arg-type]
    evald = tokenize(eval_raw, plan, tokenizer, places) if eval_raw is not None else None
    eval_drops: dict[str, int] = {}
    if evald is not None and "_drop" in evald.column_names:
        for reason in filter(None, evald["_drop"]):
            eval_drops[reason] = eval_drops.get(reason, 0) + 1
        evald = evald.filter(_kept)
    packing_cut = None
    if plan.packing and plan.packing_strategy == "bfd" and plan.max_length:
        over = [n - plan.max_length for n in train["_full_len"] if n > plan.max_length]
        packing_cut = (len(over), sum(over)) if over else None
    if plan.packing:
        train = pack(train, plan)
        evald = pack(evald, plan) if evald is not None else None
    return Prepared(plan, train, evald, source_rows=before + (len(eval_raw) if eval_raw is not None else 0),
                    dropped=sum(drops.values()), drops=drops, flags=flags, packing_cut=packing_cut, drop_rows=drop_rows,
                    longest=longest, eval_drops=eval_drops, places=places)


# ------------------------------------------------------------------------------------------ preference methods
def preference_plan(cfg: Config, tokenizer: Any, raw: Dataset) -> Plan:
    """The plan of DPO / KTO / ORPO data: its format, the chat template when the rows are conversations."""
    method, t = cfg.model.method, cfg.training
    fmt = preference.detect(raw.column_names, raw[0], method, cfg.dataset.format, cfg.dataset.columns)
    template, source = chat.resolve_template(tokenizer, cfg.model.chat_template)
    if not getattr(tokenizer, "eos_token", None):
        raise no_eos(cfg.model.name_or_path)
    try:
        first = preference.canonical(raw[0], fmt)
    except ValueError as e:
        raise TunewizError.at(load.RowPlaces(cfg.dataset).where(0), _("could not be read as {format} data: {error}").format(format=fmt.name, error=e),
                              _("check dataset.columns")) from e
    conversational = isinstance(first["prompt"], list)
    if conversational:
        chat.require_template(template, cfg.model.name_or_path, fmt.name)
        chat.check_syntax(template, cfg.model.chat_template, cfg.model.name_or_path)  # type: ignore[arg-type]
    max_length = t.get("max_length", fields.default("max_length", method=method))
    return Plan(fmt, "causal-lm", template, source, max_length, t.get("truncation_mode", "keep_start"), method=method,
                conversational=conversational)


def _canonical_pref(row: dict[str, Any], fmt: formats.Format) -> dict[str, Any]:
    try:
        out = preference.canonical(row, fmt)
    except TunewizError:
        raise
    except Exception as e:
        raise RowError(row.get("_row"), _("could not be read as {format} data: {error}").format(format=fmt.name, error=e),
                       _("fix or remove that row (dataset.max_rows limits the rows read)")) from e
    answers = [out["chosen"], out["rejected"]] if "chosen" in out else [out["completion"]]
    drop = "no answer" if any(preference.empty_answer(a) for a in answers) else \
        "same answer" if "chosen" in out and out["chosen"] == out["rejected"] else ""
    # written under new names: a source column of the same name would lend its type (the loader's Json type reads "5" as 5)
    return {**{f"_new_{k}": v for k, v in out.items()}, "_drop": drop}


def _unpair(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Pairs as KTO rows: the chosen answer desirable, the rejected one not (as trl's unpair_preference_dataset)."""
    n = len(batch["prompt"])
    out: dict[str, list[Any]] = {"prompt": batch["prompt"] * 2, "completion": batch["chosen"] + batch["rejected"],
                                 "label": [True] * n + [False] * n}
    for k in batch:
        if k not in ("prompt", "chosen", "rejected"):
            out[k] = batch[k] * 2
    return out


def _prepare_preference(cfg: Config, tokenizer: Any, raw: Dataset, args: Any) -> Prepared:
    """DPO / KTO / ORPO: canonical rows, split, TRL's own tokenization, rows that train nothing left out (named)."""
    plan = preference_plan(cfg, tokenizer, raw)
    method = plan.method
    if args is None:
        from engine import build

        args = build.training_args(cfg, build.resolve_training(cfg, build.hardware()))
    if plan.template:
        tokenizer.chat_template = plan.template  # TRL renders with the tokenizer's template: the one of the plan
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_raw, eval_raw = split(raw, cfg)
    seed = int(cfg.training.get("seed", 42))

    places = load.RowPlaces(cfg.dataset)

    def canon(ds: Dataset) -> Dataset:
        try:
            out = ds.map(_canonical_pref, fn_kwargs={"fmt": plan.format},
                         remove_columns=[c for c in ds.column_names if c != "_row"], desc="Reading preference rows")
        except RowError as e:
            raise e.located(places) from e.__cause__
        out = out.rename_columns({c: c.removeprefix("_new_") for c in out.column_names if c.startswith("_new_")})
        if method == "kto" and "chosen" in out.column_names:
            out = out.map(_unpair, batched=True, remove_columns=["chosen", "rejected"],
                          desc="Unpairing (chosen = desirable, rejected = not)")
        if method == "kto":
            out = out.shuffle(seed=seed)  # KTO draws its batches in order (its KL pairs neighbours): mixed once here
        return out

    train_c = canon(train_raw)
    before = len(train_c)
    drops: dict[str, int] = {}
    drop_rows: dict[str, list[int]] = {}

    def note(reason: str, row: int) -> None:
        drops[reason] = drops.get(reason, 0) + 1
        if len(rows := drop_rows.setdefault(reason, [])) < ROWS_SHOWN:
            rows.append(row)

    for row, reason in zip(train_c["_row"], train_c["_drop"], strict=True):
        if reason:
            note(reason, row)
    train_c = train_c.filter(_kept).remove_columns("_drop")
    train = preference.tokenize(method, train_c, tokenizer, args, "train") if len(train_c) else train_c
    if len(train) < len(train_c):  # TRL left out rows whose prompt fills max_length
        kept = set(train["_row"])
        for row in train_c["_row"]:
            if row not in kept:
                note("truncated", row)
    if len(train):
        reasons = [preference.drop_reason(method, r, plan.max_length, plan.truncation_mode)
                   for r in train.select_columns([c for c in preference.TOKEN_COLUMNS[method] if c in train.column_names])]
        for row, reason in zip(train["_row"], reasons, strict=True):
            if reason:
                note(reason, row)
        if any(reasons):
            train = train.select([i for i, r in enumerate(reasons) if not r])
    if len(train) == 0:
        why = "; ".join(pgettext("rows left out", "{n} {what}").format(n=n, what=_(preference.DROPS[r][0])) for r, n in drops.items())
        raise TunewizError.at("dataset", _("none of the {n} rows can be trained: {why}").format(n=before, why=why),
                              _(preference.DROPS[max(drops, key=drops.get)][1]) if drops else _("check the format/columns"))  # type: ignore[arg-type]
    evald = None
    eval_drops: dict[str, int] = {}
    if eval_raw is not None:
        ev = canon(eval_raw)
        for reason in filter(None, ev["_drop"]):
            eval_drops[reason] = eval_drops.get(reason, 0) + 1
        ev = ev.filter(_kept).remove_columns("_drop")
        evald = preference.tokenize(method, ev, tokenizer, args, "eval") if len(ev) else None
        if evald is not None and len(evald) < len(ev):  # TRL left out rows whose prompt fills max_length
            eval_drops["truncated"] = eval_drops.get("truncated", 0) + len(ev) - len(evald)
    return Prepared(plan, train, evald, source_rows=len(raw), dropped=sum(drops.values()), drops=drops,
                    drop_rows=drop_rows, longest=int(preference.lengths(method, train).max()),
                    batch=args.per_device_train_batch_size, eval_drops=eval_drops, places=places)


def _kept(row: dict[str, Any]) -> bool:
    return not row["_drop"]


def drop_lines(prepared: Prepared) -> list[str]:
    """One line per reason rows were left out of training, with the fix (for validate, preview and run)."""
    table = DROPS if prepared.plan.method == "sft" else preference.DROPS
    return [_("{n} of {total} rows left out ({rows}): they {what}; {fix}").format(
        n=n, total=prepared.source_rows, rows=row_list(prepared.drop_rows.get(r, []), n, prepared.places), what=_(table[r][0]),
        fix=_(table[r][1]))
        for r, n in prepared.drops.items()]


def pack(ds: Dataset, plan: Plan) -> Dataset:
    """TRL's own packing (best-fit decreasing by default) into max_length blocks."""
    from trl.data_utils import pack_dataset

    if plan.max_length is None:
        raise TunewizError.at("training.max_length", _("packing needs a max_length"), _("set training.max_length, e.g. 1024"))
    return pack_dataset(ds.select_columns(["input_ids", "labels"]), plan.max_length, plan.packing_strategy, {})


def lengths(ds: Dataset, method: str = "sft") -> Any:
    """Token count of each row (numpy array), read from the arrow column without decoding the rows; a preference
    row counts its longest sequence."""
    import numpy as np
    import pyarrow.compute as pc

    if "input_ids" not in ds.column_names:  # preference rows (their columns say which method's)
        return preference.lengths(preference.method_of(ds.column_names), ds)
    col = ds.select_columns(["input_ids"]).with_format("arrow")[:]["input_ids"]  # respects filter()'s indices
    return np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False), dtype=np.int64)


def model_inputs(ds: Dataset, method: str = "sft") -> Dataset:
    """The columns the trainer receives (bookkeeping columns dropped)."""
    if method != "sft":
        return preference.model_inputs(method, ds)
    return ds.select_columns([c for c in ds.column_names if c in MODEL_COLUMNS])


def padding_free(args: Any) -> bool:
    """TRL's rule: padding-free when asked, or when packing best-fit (bfd)."""
    return bool(getattr(args, "padding_free", False) or (getattr(args, "packing", False)
                and getattr(args, "packing_strategy", "") in {"bfd", "bfd_split"}))


def build_collator(task: str, args: Any, tokenizer: Any, method: str = "sft") -> Any:
    """The collator the trainer uses: TRL's for causal LM (prebuilt labels; a preference method's own), transformers'
    for classification."""
    if task == "causal-lm" and method != "sft":
        return preference.collator(method, args, tokenizer)
    if task == "causal-lm":
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=padding_free(args),
                                               pad_to_multiple_of=args.pad_to_multiple_of)
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)
