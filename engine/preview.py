"""The token preview: the rows the trainer receives, batch by batch, after the collator.

Built from the same `pipeline.prepare` and `pipeline.build_collator` as training, in dataset order:
batch k holds prepared rows [k*B, (k+1)*B) with B = per_device_train_batch_size, padded (or
flattened, padding-free) exactly as the collator does it. The Trainer's sampler shuffles which rows
meet in a batch; each batch is collated the same way.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.i18n import _

if TYPE_CHECKING:
    from engine.data import pipeline

# Tokenizers mark whitespace inside tokens: byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM) writes a space as
# Ġ, a newline as Ċ, a tab as ĉ; SentencePiece writes a space as ▁. Shown as visible symbols instead.
_SHOW = str.maketrans({"Ġ": "␣", "Ċ": "↵", "ĉ": "⇥", "▁": "␣", " ": "␣", "\n": "↵", "\t": "⇥"})


def show_token(token: str, limit: int | None = 18) -> str:
    """A token as a person reads it (the wizard's token chips, `tunewiz preview`): spaces, newlines and tabs
    made visible, an empty token as ∅, one longer than `limit` characters cut (None: never)."""
    s = token.translate(_SHOW) or "∅"
    return s if limit is None or len(s) <= limit else s[:limit - 1] + "…"


def _byte_map(tokenizer: Any) -> dict[str, int] | None:
    """A byte-level BPE's stand-in characters and the bytes they stand for; None for other tokenizers."""
    if tokenizer.convert_tokens_to_string(["Ġ"]) != " ":  # not byte-level
        return None
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {c: b for b, c in bytes_to_unicode().items()}


def readable(tokenizer: Any, tokens: list[str]) -> list[str]:
    """The tokens as text a person reads. A byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM) writes each byte as
    a stand-in character, so "é" is the token "Ã©": such tokens are turned back into their bytes and shown as
    text, and a token that holds only part of a character as its bytes (<C3>). Other tokenizers' tokens are
    already text."""
    to_byte = _byte_map(tokenizer)
    if to_byte is None:
        return list(tokens)
    out = []
    for tok in tokens:
        if tok is None or any(c not in to_byte for c in tok):
            out.append(tok)  # an added token written as text (<|im_start|> is ASCII: it maps to itself)
            continue
        raw = bytes(to_byte[c] for c in tok)
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append("".join(f"<{b:02X}>" if b >= 0x80 else chr(b) for b in raw))
    return out


def joined(tokenizer: Any, tokens: list[str]) -> list[list[Any]]:
    """Where a byte-level BPE split characters over tokens (a Hangul syllable is 3 UTF-8 bytes, often 2 or 3
    tokens): [start, end, text] for each shortest run of tokens, from one that ends inside a character, whose
    bytes together are whole characters, and the text they spell ("안"). Empty for other tokenizers."""
    to_byte = _byte_map(tokenizer)
    if to_byte is None:
        return []
    raw = [None if t is None or any(c not in to_byte for c in t) else bytes(to_byte[c] for c in t) for t in tokens]
    out: list[list[Any]] = []
    i = 0
    while i < len(raw):
        decoder = codecs.getincrementaldecoder("utf-8")()
        j, text = i, ""
        try:
            while j < len(raw) and raw[j] is not None:
                text += decoder.decode(raw[j])  # type: ignore[arg-type]
                j += 1
                if not decoder.getstate()[0]:  # no bytes left over: the run ends on a character's end
                    break
        except UnicodeDecodeError:
            j = i  # bytes that are no UTF-8 together (a row cut inside a character): shown one by one
        if j - i > 1 and not decoder.getstate()[0]:
            out.append([i, j, text])
            i = j
        else:
            i += 1
    return out


def text_row(row: dict[str, Any]) -> str:
    """A row of `rows` as one line of readable tokens for a terminal: tokens whose label is -100 (not
    trained) between dots; tokens that spell characters only together written as those characters with the
    tokens in brackets (안[<EC>|<95>|<88>]); a classification row ends with its label."""
    tokens = [show_token(t, limit=None) for t in row.get("shown", row["tokens"])]
    labels = row.get("labels")
    if not isinstance(labels, list):
        return " ".join(tokens) + _(" => label {label}").format(label=labels)

    def mark(piece: str, untrained: bool) -> str:
        return f"·{piece}·" if untrained else piece

    ends = {s: (e, text) for s, e, text in row.get("joined", [])}
    out, i = [], 0
    while i < len(tokens):
        e, text = ends.get(i, (i + 1, None))
        if text is None:
            out.append(mark(tokens[i], labels[i] == -100))
        else:
            untrained = [lab == -100 for lab in labels[i:e]]
            same = len(set(untrained)) == 1
            inner = "|".join(t if same else mark(t, u) for t, u in zip(tokens[i:e], untrained, strict=False))
            out.append(mark(f"{show_token(text, limit=None)}[{inner}]", same and untrained[0]))
        i = e
    return " ".join(out)


def batches(prepared: pipeline.Prepared, collator: Any, batch_size: int, start: int = 0, count: int = 1) -> Iterator[dict[str, Any]]:
    """Collated batches as lists (one dict per batch), starting at batch `start`."""
    from engine.data import pipeline

    ds = prepared.train
    inputs = pipeline.model_inputs(ds, prepared.plan.method)
    for b in range(start, start + count):
        lo, hi = b * batch_size, min(len(ds), (b + 1) * batch_size)
        if lo >= hi:
            return
        examples = [inputs[i] for i in range(lo, hi)]
        out = collator(examples)
        batch = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in out.items()}
        batch["_rows"] = ds[lo:hi]["_row"] if "_row" in ds.column_names else list(range(lo, hi))
        batch["_batch"] = b
        batch["_method"] = prepared.plan.method
        yield batch


def _token_fields(row: dict[str, Any], ids: list[int], tokenizer: Any) -> dict[str, Any]:
    row["tokens"] = tokenizer.convert_ids_to_tokens(ids)
    row["shown"] = readable(tokenizer, row["tokens"])
    row["joined"] = joined(tokenizer, row["tokens"])
    row["input_ids"] = ids
    return row


def preference_rows(batch: dict[str, Any], tokenizer: Any) -> Iterator[dict[str, Any]]:
    """The sequences of a DPO / KTO / ORPO batch, as the collator made them: a pair's chosen and rejected sequence
    one after the other (DPO's batch holds every chosen sequence, then every rejected one), a KTO answer with its
    label (and the mismatched answer its KL term reads). `labels` shows which tokens the loss sees (-100 = not:
    the shared prompt and the padding), from the collator's completion_mask (DPO, KTO) or labels (ORPO)."""
    method, rows_of = batch.get("_method", "dpo"), batch["_rows"]
    if method == "orpo":
        n = len(batch["chosen_input_ids"])
        for j in range(n):
            for side in ("chosen", "rejected"):
                row = {"batch": batch["_batch"], "row_in_batch": j, "source_row": rows_of[j], "sequence": side}
                _token_fields(row, batch[f"{side}_input_ids"][j], tokenizer)
                row["attention_mask"] = batch[f"{side}_attention_mask"][j]
                row["labels"] = batch[f"{side}_labels"][j]
                yield row
        return
    ids, mask, seen = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    n = len(rows_of)
    parts = [(j, "chosen", j) for j in range(n)] + [(j, "rejected", n + j) for j in range(n)] if method == "dpo" else \
        [(j, "completion", j) for j in range(n)]
    parts.sort(key=lambda p: (p[0], p[2]))
    for j, side, k in parts:
        row = {"batch": batch["_batch"], "row_in_batch": k, "source_row": rows_of[j], "sequence": side}
        if method == "kto":
            row["desirable"] = bool(batch["label"][j])
        _token_fields(row, ids[k], tokenizer)
        row["attention_mask"] = mask[k]
        row["completion_mask"] = seen[k]
        row["labels"] = [t if c and a else -100 for t, c, a in zip(ids[k], seen[k], mask[k], strict=True)]
        yield row


def rows(batch: dict[str, Any], tokenizer: Any) -> Iterator[dict[str, Any]]:
    """One JSON-able dict per row of a collated batch: tokens, shown (as text), joined (characters split over
    tokens, see `joined`), input_ids, attention_mask, labels (and extras)."""
    if batch.get("_method", "sft") != "sft":
        yield from preference_rows(batch, tokenizer)
        return
    for j, ids in enumerate(batch["input_ids"]):
        row: dict[str, Any] = {"batch": batch["_batch"], "row_in_batch": j}
        if len(batch["input_ids"]) == len(batch["_rows"]):
            row["source_row"] = batch["_rows"][j]
        else:
            row["source_rows"] = batch["_rows"]
        row["tokens"] = tokenizer.convert_ids_to_tokens(ids)
        row["shown"] = readable(tokenizer, row["tokens"])
        row["joined"] = joined(tokenizer, row["tokens"])
        row["input_ids"] = ids
        for key in ("attention_mask", "token_type_ids", "position_ids", "labels"):
            if key in batch:
                row[key] = batch[key][j]
        yield row


def stats(prepared: pipeline.Prepared) -> dict[str, Any]:
    """Lengths, truncation and trained-token share over the training split."""
    from engine.data import pipeline

    ds = prepared.train
    out: dict[str, Any] = {"rows": len(ds), "dropped": dict(prepared.drops)}
    if "_full_len" in ds.column_names:
        full = ds["_full_len"]
        ml = prepared.plan.max_length
        out["max_length"] = ml
        out["truncated"] = sum(1 for n in full if ml is not None and n > ml)
        out["longest"] = max(full)
    if prepared.plan.method != "sft":
        from engine.data import preference

        lens = preference.lengths(prepared.plan.method, ds)
        ml = prepared.plan.max_length
        out.update({"max_length": ml, "longest": int(lens.max()) if len(lens) else 0,
                    "truncated": int((lens > ml).sum()) if ml else 0, "method": prepared.plan.method})
        return out
    if prepared.plan.task == "causal-lm":
        labels = ds["labels"]
        total = sum(len(lab) for lab in labels)
        trained = sum(1 for lab in labels for t in lab if t != pipeline.IGNORE)
        out["tokens"] = total
        out["trained_share"] = round(trained / total, 4) if total else 0.0
    return out
