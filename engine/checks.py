"""What the token preview says about the prepared data: checks that fire with a suggested fix, a text
length histogram, and a step-by-step walk through what the tokenizer does to one text.

Everything here reads the output of `pipeline.prepare` (the one data path) and the real tokenizer;
nothing re-implements tokenizing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.data import pipeline
from engine.i18n import N_, _, ngettext, pgettext

IGNORE = pipeline.IGNORE


# What chat.conversation found in rows that are kept: (what, fix, level).
FLAGS = {
    "empty answer": (N_("have an empty assistant turn: it is not trained (it would teach an empty reply)"),
                     N_("fill in or remove empty answers in the data"), "warning"),
    "ends without answer": (N_("end on a user (or tool) turn after the last answer: those turns are left out, as nothing in "
                               "them is trained"), N_("nothing to do; end each conversation on the answer to silence this"),
                            "notice"),
    "tool calls as text": (N_("make tool calls, and the chat template has no tool-call syntax: the calls are written into "
                              "the assistant's text as <tool_call>{...}</tool_call> and trained so"),
                           N_("use a model whose template supports tools (Qwen2.5, Llama 3.1+), or set model.chat_template "
                              "to one that writes tool_calls"), "warning"),
    "reasoning as text": (N_("carry reasoning, and the chat template has no reasoning_content: it is written before the "
                             "answer as <think>...</think> and trained so"),
                          N_("use a reasoning model's template (Qwen3, DeepSeek-R1) to train it the model's own way"), "notice"),
    "tools in system": (N_("offer tools, and the chat template cannot show them: they are described in the system turn"),
                        N_("use a model whose template supports tools, or set model.chat_template"), "notice"),
}


@dataclass(frozen=True)
class Check:
    """One finding about the data: how many rows it touches, what it means, and what to do."""

    name: str
    count: int
    message: str
    fix: str
    level: str = "warning"  # warning | notice (a notice needs no action)


def lengths(prepared: pipeline.Prepared) -> list[int]:
    """Token length of every training row before truncation (after packing: the packed block lengths)."""
    ds = prepared.train
    if "_full_len" in ds.column_names:
        return list(ds["_full_len"])
    if prepared.plan.method != "sft":  # a pair: its longer sequence
        return [int(n) for n in pipeline.lengths(ds)]
    return [len(ids) for ids in ds["input_ids"]]


def _default_system_prompt(tokenizer: Any, template: str | None) -> str | None:
    """The system text a template inserts into a conversation that has none (SmolLM2's does), or None."""
    if not template:
        return None
    probe = "tunewiz-probe-7d1c"
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": probe}], chat_template=template, tokenize=False)
    except Exception:
        return None
    before = text.split(probe, 1)[0]
    idx = before.find("system")
    if idx < 0:
        return None
    found = before[idx + len("system"):]
    for marker in (getattr(tokenizer, "eos_token", None) or "", "<|im_end|>", "<|eot_id|>", "\n<|"):
        if marker and marker in found:
            found = found.split(marker, 1)[0]
    found = found.strip(" \n:")
    return found[:120] or None


def preference_checks(prepared: pipeline.Prepared, tokenizer: Any) -> list[Check]:
    """DPO / KTO / ORPO data: rows left out (same answers, empty answers, prompts that fill max_length, answers that
    differ only after it), sequences the collator cuts, prompts the template renders differently alone."""
    from engine.data import preference

    plan, ds = prepared.plan, prepared.train
    out: list[Check] = []
    ml = plan.max_length
    for reason, n in prepared.drops.items():
        what, fix = preference.DROPS[reason]
        rows = prepared.drop_rows.get(reason)
        message = ngettext("{n} row {what} and was left out of training", "{n} rows {what} and were left out of training",
                           n).format(n=f"{n:,}", what=_(what))
        out.append(Check(f"dropped: {reason}", n, message + (f" ({pipeline.row_list(rows, n, prepared.places)})" if rows else ""), _(fix)))
    out += held_out_checks(prepared, preference.DROPS)
    lens = preference.lengths(plan.method, ds)
    cut = int((lens > ml).sum()) if ml is not None and len(lens) else 0
    if cut:
        out.append(Check("truncated", cut, _("{cut} of {rows} rows have a sequence (prompt + answer) longer than max_length "
                                             "{max_length}: the collator cuts it ({mode}), so the end of the answer is not "
                                             "compared").format(cut=cut, rows=len(lens), max_length=ml,
                                                                mode=plan.truncation_mode),
                         _("raise training.max_length to {longest} (the longest) to keep every answer whole").format(
                             longest=int(lens.max()))))
    if plan.method in ("dpo", "kto") and plan.conversational and len(ds):
        split = _prompt_split(ds[0], tokenizer, plan.method)
        if split:
            out.append(Check("prompt re-rendered", 0, _("the chat template renders a prompt alone differently from the "
                                                        "prompt before its answer; trl starts the answer where they diverge, "
                                                        "leaving {split!r} out of the prompt the model trains on").format(
                                                            split=split),
                             _("use a chat template that renders the prompt the same way in both cases "
                               "(model.chat_template)"), level="notice"))
    return out


def held_out_checks(prepared: pipeline.Prepared, table: dict[str, tuple[str, str]]) -> list[Check]:
    """Held-out rows left out of evaluation, for the same reasons training rows are (eval loss and `tunewiz eval` then
    measure fewer rows than dataset.eval_size says)."""
    out = []
    for reason, n in prepared.eval_drops.items():
        what, fix = table.get(reason, (reason, ""))
        message = ngettext("{n} held-out row {what} and was left out of evaluation",
                           "{n} held-out rows {what} and were left out of evaluation", n).format(n=f"{n:,}", what=_(what))
        out.append(Check(f"held out: {reason}", n, message, _(fix) if fix else "", level="notice"))
    return out


def _prompt_split(row: dict[str, Any], tokenizer: Any, method: str) -> str:
    """What trl's common-prefix rule leaves out of the first row's prompt ("" when the prompt is a prefix)."""
    try:
        alone = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    except Exception:
        return ""
    kept = row["prompt_ids"]
    return tokenizer.decode(alone[len(kept):]) if len(kept) < len(alone) else ""


def data_checks(prepared: pipeline.Prepared, tokenizer: Any) -> list[Check]:
    """The checks that fire on this prepared data, worst first."""
    if prepared.plan.method != "sft":
        return preference_checks(prepared, tokenizer)
    ds, plan = prepared.train, prepared.plan
    out: list[Check] = []
    ml = plan.max_length
    full = list(ds["_full_len"]) if "_full_len" in ds.column_names else []
    longest = max(prepared.longest or 0, max(full) if full else 0)  # rows left out for truncation count too
    raise_fix = _("raise training.max_length to {longest} (the longest row) to keep every row whole").format(longest=longest)
    for reason, n in prepared.drops.items():
        what, fix = _(pipeline.DROPS[reason][0]), _(pipeline.DROPS[reason][1])
        if reason == "truncated":
            what, fix = _("had their whole answer cut off by truncation to {max_length} tokens").format(max_length=ml), raise_fix
        rows = prepared.drop_rows.get(reason)
        out.append(Check(f"dropped: {reason}", n, ngettext("{n} row {what} and was left out of training",
                                                           "{n} rows {what} and were left out of training", n).format(n=n, what=what)
                         + (f" ({pipeline.row_list(rows, n, prepared.places)})" if rows else ""), fix,
                         level="notice" if reason == "blank" else "warning"))
    out += held_out_checks(prepared, pipeline.DROPS)
    for flag, n in prepared.flags.items():
        what, fix, level = FLAGS[flag]
        out.append(Check(flag, n, _("{n} rows {what}").format(n=n, what=_(what)), _(fix), level=level))
    per_token = plan.task == "causal-lm" and "labels" in ds.column_names
    eos_id = getattr(tokenizer, "eos_token_id", None)
    text = plan.format.shape == "text"
    truncated = sum(1 for n in full if ml is not None and n > ml)
    if text:  # a corpus: its long documents are cut, not answers; packing with bfd_split keeps every token
        raise_fix = _("set training.packing: true (documents are split into {max_length}-token pieces and every token is "
                      "trained), or raise training.max_length (the longest row has {longest} tokens)").format(
                          max_length=ml, longest=longest)
    limit = getattr(tokenizer, "model_max_length", None)
    if plan.task != "causal-lm" and limit and longest > ml and ml >= min(limit, 512):  # type: ignore[operator]
        raise_fix = _("nothing in the preset: {max_length} tokens is all the model reads; a long-context encoder (e.g. "
                      "ModernBERT) reads more, or split long texts").format(max_length=ml)
    if per_token and eos_id is not None and len(ds):
        if not any(eos_id in [t for t in labels if t != IGNORE] for labels in ds["labels"]):
            cut_all = truncated == len(full) and len(full) > 0
            out.append(Check("eos never trained", len(ds),
                             _("no row trains the eos token {eos!r}: the model would never learn to stop").format(
                                 eos=tokenizer.eos_token)
                             + (_(" (every row is cut at max_length {max_length}, so no row keeps its end)").format(
                                 max_length=ml) if cut_all else ""),
                             raise_fix if cut_all else _("use a chat template whose assistant turns end with the eos token "
                                                         "(model.chat_template), or raise training.max_length if the ends "
                                                         "are cut off")))
    if per_token and full and ml is not None and not text:
        cut = _cut_turns(ds, ml, eos_id, plan.truncation_mode)
        if cut:
            out.append(Check("answers cut", cut,
                             _("{n} rows end in the middle of a trained answer: truncation at {max_length} tokens cut "
                               "it").format(n=cut, max_length=ml),
                             raise_fix))
    if truncated:
        share = truncated / len(full)
        out.append(Check("truncated", truncated,
                         _("{n} of {rows} rows ({share:.1%}) are longer than max_length {max_length} and were truncated "
                           "({mode})").format(n=truncated, rows=len(full), share=share, max_length=ml,
                                              mode=plan.truncation_mode), raise_fix))
    if prepared.packing_cut:
        rows, lost = prepared.packing_cut  # type: ignore[assignment]
        out.append(Check("cut by packing", rows, _(  # type: ignore[arg-type]
            "{n} rows are longer than max_length {max_length}, and packing ({strategy}) cuts them there: {lost:,} of "
            "their tokens are never trained").format(n=rows, max_length=ml, strategy=plan.packing_strategy, lost=lost),
            _("set training.packing_strategy: bfd_split (the overflow is packed into other rows), or raise "
              "training.max_length")))
    placeholders = _placeholders(ds, tokenizer) if per_token else 0
    if placeholders:
        out.append(Check("placeholders", placeholders,
                         _("{n} rows train unfilled placeholders such as {{{{name}}}}: the file is a template to fill in "
                           "first (LLaMA-Factory's identity.json is one)").format(n=placeholders),
                         _("replace them in the file, e.g. sed -i 's/{{name}}/Ava/g; s/{{author}}/Acme/g' FILE")))
    default_system = _default_system_prompt(tokenizer, plan.template) if plan.format.shape == "chat" else None
    if default_system:
        out.append(Check("default system prompt", 0,
                         _("the chat template adds its own system turn when a conversation has none: {system!r}").format(
                             system=default_system),
                         _("add a system message to your data (dataset format messages/sharegpt/alpaca system column) if "
                           "the model should learn another one; it is not trained either way"), level="notice"))
    out += language_checks(ds, tokenizer)
    pad, eos = getattr(tokenizer, "pad_token", None), getattr(tokenizer, "eos_token", None)
    if plan.task == "causal-lm" and eos is not None and (pad is None or pad == eos):
        out.append(Check("pad is eos", 0,
                         _("pad token = eos token {eos!r}: fine, tunewiz builds the labels itself, so real eos tokens "
                           "stay trained and only padding is masked").format(eos=eos),
                         pgettext("fix", "nothing to do"), level="notice"))
    return out


ENGLISH = ("Fine-tuning adapts a pretrained language model to a task with a small set of examples. The tokenizer "
           "splits every sentence into pieces from its vocabulary, and each piece becomes an id the model looks up.")
UNK_SHARE = 0.01  # a share of [UNK] tokens above this is words lost
COST_RATIO = 3.0  # tokens a character, this many times English's, is a language the vocabulary hardly covers


def language_checks(ds: Any, tokenizer: Any, rows: int = 256) -> list[Check]:
    """Whether the tokenizer can read the data's language: its share of unknown tokens, and the tokens it spends a
    character against what it spends on English (a vocabulary without the language splits it into bytes or jamo)."""
    if not len(ds) or "input_ids" not in ds.column_names:
        return []
    unk = getattr(tokenizer, "unk_token_id", None)
    special = set(getattr(tokenizer, "all_special_ids", []) or []) - {unk}
    n_tok = n_unk = n_char = 0
    for ids in ds.select(range(min(len(ds), rows)))["input_ids"]:
        real = [t for t in ids if t not in special]
        n_tok += len(real)
        n_unk += sum(1 for t in real if t == unk) if unk is not None else 0
        n_char += len(tokenizer.decode([t for t in real if t != unk], skip_special_tokens=True).replace(" ##", ""))
    out: list[Check] = []
    name = getattr(tokenizer, "unk_token", None) or pgettext("token preview", "unknown")
    fix = _("use a model whose vocabulary covers the language of the data (for a classifier, a multilingual encoder such "
            "as xlm-roberta-base, or one made for the language, e.g. klue/bert-base for Korean)")
    if n_tok and n_unk / n_tok > UNK_SHARE:
        out.append(Check("unknown tokens", n_unk, _("{share:.1%} of the tokens are {name}: the tokenizer's vocabulary does "
                                                    "not have those words, so the model never sees them (they are lost, not "
                                                    "learned)").format(share=n_unk / n_tok, name=name), fix))
    english = tokenizer(ENGLISH, add_special_tokens=False)["input_ids"]
    base = len(english) / len(ENGLISH)
    if n_char and base and (n_tok / n_char) / base >= COST_RATIO:
        per_char = n_tok / n_char
        out.append(Check("language cost", n_tok, _("the tokenizer spends {per_char:.1f} tokens a character on this text, "
                                                   "{ratio:.0f}x what it spends on English: its vocabulary hardly covers the "
                                                   "language (words split into bytes or letters), so the model knows little "
                                                   "of it and every row costs more").format(per_char=per_char,
                                                                                            ratio=per_char / base),
                         _("{fix}; a multilingual model (e.g. Qwen2.5) for chat").format(fix=fix)))
    return out


PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_]\w*\s*\}\}")


def _placeholders(ds: Any, tokenizer: Any, rows: int = 256) -> int:
    """Rows (of the first `rows`) whose trained tokens hold a {{name}}-style placeholder."""
    n = 0
    sample = ds.select(range(min(len(ds), rows)))
    for ids, labels in zip(sample["input_ids"], sample["labels"], strict=True):
        trained = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE]
        if trained and PLACEHOLDER.search(tokenizer.decode(trained)):
            n += 1
    return n


def _cut_turns(ds: Any, max_length: int, eos_id: int | None, mode: str) -> int:
    """Truncated rows whose kept end is a trained token that is not eos (an answer cut mid-way); approximate."""
    n = 0
    for full_len, ids, labels in zip(ds["_full_len"], ds["input_ids"], ds["labels"], strict=True):
        if full_len <= max_length or not labels:
            continue
        i = -1 if mode == "keep_start" else 0
        if labels[i] != IGNORE and ids[i] != eos_id:
            n += 1
    return n


def length_histogram(values: list[int], bins: int = 6, width: int = 16, limit: int | None = None) -> list[str]:
    """Text histogram, one line per bin: range, bar, count; bins past `limit` (max_length) end with ' cut'."""
    if not values:
        return [_("(no rows)")]
    lo, hi = min(values), max(values)
    step = max(1, -(-(hi - lo + 1) // bins))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, (v - lo) // step)] += 1
    while counts and counts[-1] == 0:  # a narrow range needs fewer bins
        counts.pop()
    top = max(counts)
    digits = len(str(lo + step * len(counts) - 1))
    lines = []
    for i, c in enumerate(counts):
        a, b = lo + i * step, lo + (i + 1) * step - 1
        bar = "█" * round(width * c / top) if c else ""
        mark = " " + pgettext("token preview", "cut") if limit is not None and b > limit else ""
        lines.append(f"{a:>{digits}}-{b:<{digits}} {bar:<{width}} {c}{mark}")
    return lines


# ------------------------------------------------------------------------------------- walk-through
STEP_NOTES = {  # (N_: translated where shown, the walk-through)
    "text": N_("what the tokenizer is given"),
    "added tokens split out": N_("special tokens are matched first, never split"),
    "normalised": N_("cleaned up; an uncased model lower-cases"),
    "pre-tokenized": N_("cut into words (Ġ/␣ = a space before)"),
    "sub-word tokens": N_("vocabulary pieces (## = in a word, ␣ = space before)"),
    "ids": N_("each token's row in the embedding table"),
    "special tokens added": N_("the model's markers around the text"),
    "truncated": N_("cut to max_length"),
    "padded": N_("filled to a common length with the pad id"),
    "attention mask": N_("1 = a real token, 0 = padding (ignored)"),
    "token type ids": N_("which text of the pair a token is in"),
}


def tokenizer_walkthrough(tokenizer: Any, text: str, text_pair: str | None = None, max_length: int | None = None,
                          add_special_tokens: bool = True, pad_to: int | None = None) -> list[tuple[str, Any]]:
    """The steps the (fast) tokenizer takes on a text, each as (step, value), using its real backend."""
    texts = [text] if text_pair is None else [text, text_pair]
    steps: list[tuple[str, Any]] = [("text", text if text_pair is None else (text, text_pair))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    splits = [_split_added(tokenizer, t) for t in texts]
    if any(is_added for parts in splits for _, is_added in parts):
        steps.append(("added tokens split out", _one(splits, text_pair)))
    normalizer = getattr(backend, "normalizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    normalised = [[(p if added or normalizer is None else normalizer.normalize_str(p), added) for p, added in parts]
                  for parts in splits]
    # always shown, so a newcomer sees that a cased byte-level model keeps the text as it is
    steps.append(("normalised", _one(["".join(p for p, _ in parts) for parts in normalised], text_pair)))
    if pre is not None:
        pieces = [[w for p, added in parts for w in ([p] if added else [w for w, _ in pre.pre_tokenize_str(p)])]
                  for parts in normalised]
        steps.append(("pre-tokenized", _one(pieces, text_pair)))
    tokens = tokenizer.tokenize(text, pair=text_pair) if text_pair is not None else tokenizer.tokenize(text)
    steps.append(("sub-word tokens", tokens))
    steps.append(("ids", tokenizer.convert_tokens_to_ids(tokens)))
    full = tokenizer(text, text_pair, add_special_tokens=add_special_tokens, return_special_tokens_mask=True)
    try:  # a fast tokenizer knows which tokens came from no text: the ones its post-processor added
        added_at = [s is None for s in full.sequence_ids()]
    except ValueError:  # a slow one only marks special tokens (those typed in the text too)
        added_at = [bool(m) for m in full["special_tokens_mask"]] if add_special_tokens else [False] * len(full["input_ids"])
    added = [tok for tok, a in zip(tokenizer.convert_ids_to_tokens(full["input_ids"]), added_at, strict=True) if a]
    steps.append(("special tokens added", {"ids": list(full["input_ids"]), "added": added}))
    enc = full
    if max_length is not None and len(full["input_ids"]) > max_length:
        enc = tokenizer(text, text_pair, add_special_tokens=add_special_tokens, truncation=True, max_length=max_length)
        steps.append(("truncated", {"ids": list(enc["input_ids"]), "removed": len(full["input_ids"]) - len(enc["input_ids"])}))
    n = len(enc["input_ids"])
    target = pad_to if pad_to is not None else (n // 8 + 1) * 8
    ids, mask = list(enc["input_ids"]), list(enc.get("attention_mask", [1] * n))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if target > n and pad_id is not None:
        extra = target - n
        left = getattr(tokenizer, "padding_side", "right") == "left"
        ids = [pad_id] * extra + ids if left else ids + [pad_id] * extra
        mask = [0] * extra + mask if left else mask + [0] * extra
        if tokenizer.pad_token_id is not None:  # the tokenizer's own padding must agree with the shown one
            real = tokenizer.pad({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]},
                                 padding="max_length", max_length=target)
            ids, mask = list(real["input_ids"]), list(real["attention_mask"])
    steps.append(("padded", ids))
    steps.append(("attention mask", mask))
    if text_pair is not None and "token_type_ids" in enc:
        steps.append(("token type ids", list(enc["token_type_ids"])))
    return steps


def source_text(prepared: pipeline.Prepared, raw: Any, tokenizer: Any, row: dict[str, Any]) -> tuple[str, str | None]:
    """The text the tokenizer was given for a preview row: the source text (pair), the chat as templated,
    else the row decoded (padding dropped; padding-free: its first sequence)."""
    from engine.data import chat, formats

    plan = prepared.plan
    if "source_row" in row and "_row" in prepared.train.column_names:
        ex = formats.canonical(raw[row["source_row"]], plan.format)
        if "label" in ex:
            return ex["text"], ex["text_pair"]
        if "messages" in ex:
            return chat.render(tokenizer, ex["messages"], ex.get("tools"), plan.template or "")[0], None
    ids = list(row["input_ids"])
    if row.get("attention_mask") is not None:
        ids = [t for t, m in zip(ids, row["attention_mask"], strict=True) if m]
    starts = [i for i, p in enumerate(row.get("position_ids") or []) if p == 0 and i > 0]
    ids = ids[: starts[0]] if starts else ids
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False), None


def _one(values: list[Any], text_pair: str | None) -> Any:
    return values[0] if text_pair is None else tuple(values)


def _split_added(tokenizer: Any, text: str) -> list[tuple[str, bool]]:
    """The text cut around added tokens (as the tokenizer matches them: longest first), flagged added or not."""
    vocab = sorted((t for t in tokenizer.get_added_vocab() if t), key=len, reverse=True)
    if not vocab:
        return [(text, False)]
    parts: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer("|".join(map(re.escape, vocab)), text):
        if m.start() > pos:
            parts.append((text[pos:m.start()], False))
        parts.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], False))
    return parts
