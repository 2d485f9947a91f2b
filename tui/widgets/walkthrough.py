"""The tokenizer walk-through: the steps a tokenizer takes on one text (engine.checks.tokenizer_walkthrough),
each with what it does, its pieces shown as text (a byte-level BPE's Ġ/Ã© as ␣/é) and, where a character
was split over tokens, why and what they spell together.

`readable_steps` runs beside the walk-through in the worker thread (it needs the tokenizer); `WalkThrough`
draws both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import Static

from engine.i18n import N_, _, pgettext
from engine.preview import show_token


def step_title(name: str) -> str:
    """A step's name (engine.checks.tokenizer_walkthrough's key) as the walk-through shows it, in the user's language."""
    titles = {
        "text": pgettext("walk-through step", "text"),
        "added tokens split out": pgettext("walk-through step", "added tokens split out"),
        "normalised": pgettext("walk-through step", "normalised"),
        "pre-tokenized": pgettext("walk-through step", "pre-tokenized"),
        "sub-word tokens": pgettext("walk-through step", "sub-word tokens"),
        "ids": pgettext("walk-through step", "ids"),
        "special tokens added": pgettext("walk-through step", "special tokens added"),
        "truncated": pgettext("walk-through step", "truncated"),
        "padded": pgettext("walk-through step", "padded"),
        "attention mask": pgettext("walk-through step", "attention mask"),
        "token type ids": pgettext("walk-through step", "token type ids"),
    }
    return titles.get(name, name)


def readable_steps(tokenizer: Any, steps: list[tuple[str, Any]]) -> dict[str, Any]:
    """The pre-tokenized and sub-word pieces as text (engine.preview.readable), `joined`: the runs of sub-word
    tokens that spell characters only together (engine.preview.joined), and `notes`: the steps' notes for this
    tokenizer's markers (marker_notes)."""
    from engine import preview

    added = set(tokenizer.get_added_vocab())

    def text(pieces: list[str]) -> list[str]:
        shown = preview.readable(tokenizer, pieces)
        return [p if p in added else s for p, s in zip(pieces, shown, strict=True)]

    out: dict[str, Any] = {}
    for name, value in steps:
        if name in ("pre-tokenized", "sub-word tokens"):
            out[name] = tuple(text(v) for v in value) if isinstance(value, tuple) else text(value)
    if "sub-word tokens" in out:
        out["joined"] = preview.joined(tokenizer, dict(steps)["sub-word tokens"])
    out["notes"] = marker_notes(tokenizer)
    return out


def marker_notes(tokenizer: Any) -> dict[str, str]:
    """The notes of the pre-tokenized and sub-word steps for this tokenizer's own markers (#14: "## = inside a word"
    was said of every tokenizer): WordPiece's ## (a piece that continues the word before), byte-level BPE's Ġ and
    SentencePiece's ▁ (a space before; both drawn as ␣); no marker named where the tokenizer has none."""
    from engine import preview

    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = getattr(backend, "model", None)
    prefix = getattr(model, "continuing_subword_prefix", None) or ""
    pieces = tokenizer.tokenize("a b")
    if type(model).__name__ == "WordPiece" and prefix:
        return {"pre-tokenized": _("cut into words at spaces and punctuation"),
                "sub-word tokens": _("vocabulary pieces ({prefix} = continues the word before)").format(prefix=prefix)}
    if preview._byte_map(tokenizer) is not None:
        return {"pre-tokenized": _("cut into words (␣ = a space before, written {mark} in the vocabulary)").format(mark="Ġ"),
                "sub-word tokens": _("vocabulary pieces (␣ = a space before, written {mark}; no mark = inside the "
                                     "word)").format(mark="Ġ")}
    if any(p.startswith("▁") for p in pieces):
        return {"pre-tokenized": _("cut into words (␣ = a space before, written {mark} in the vocabulary)").format(mark="▁"),
                "sub-word tokens": _("vocabulary pieces (␣ = a space before, written {mark}; no mark = inside the "
                                     "word)").format(mark="▁")}
    return {"pre-tokenized": _("cut into words"), "sub-word tokens": _("vocabulary pieces")}


class WalkThrough(Static):
    """The tokenizer's steps on one text (engine.checks.tokenizer_walkthrough), each with what it does."""

    DEFAULT_CSS = """
    WalkThrough { height: auto; width: 1fr; }
    WalkThrough > .walk--step { text-style: bold; color: $accent; }
    WalkThrough > .walk--note { color: $text-muted; }
    WalkThrough > .walk--chip { background: $primary 45%; }
    WalkThrough > .walk--chip-alt { background: $primary 25%; }
    WalkThrough > .walk--special { background: $warning; color: $background; text-style: bold; }
    WalkThrough > .walk--dim { color: $text-disabled; }
    """
    COMPONENT_CLASSES = {"walk--step", "walk--note", "walk--chip", "walk--chip-alt", "walk--special", "walk--dim"}

    _shown: tuple[Any, ...] | None = None
    BYTES_NOTE = N_("byte-level BPE: a character outside the vocabulary is split into its UTF-8 bytes ({example}), each "
                    "a token or a few merged into one; together they spell the character:")
    EXAMPLES = 6  # groups spelled out under the sub-word tokens

    def restyle(self) -> None:
        """Redraw with the colours of now (the colours are blended on the background behind)."""
        if self._shown is not None:
            self.refresh()  # (drops the cached colours)
            self.show(*self._shown)

    def show(self, steps: list[tuple[str, Any]], notes: dict[str, str], special: Iterable[str], pad_id: int | None,
             shown: dict[str, Any] | None = None) -> None:
        """Draw the steps; special tokens are highlighted, padding dimmed. `shown` (from `readable_steps`) holds
        the pieces as text and the characters spelled by several tokens together."""
        special = list(special)
        shown = shown or {}
        self._shown = (steps, notes, special, pad_id, shown)
        self.steps = steps
        special = set(special)
        out = Text()
        for n, (name, value) in enumerate(steps, 1):
            if n > 1:
                out.append("\n")
            out.append(f"{n}. {step_title(name)}", self.get_component_rich_style("walk--step"))
            note = shown.get("notes", {}).get(name) or _(notes.get(name, ""))  # this tokenizer's markers first
            out.append(f" · {note}\n", self.get_component_rich_style("walk--note"))
            out.append_text(self._value(name, shown.get(name, value), special, pad_id, dict(steps)))
            if name == "sub-word tokens" and shown.get("joined"):
                out.append_text(self._joined(shown[name], shown["joined"]))
        self.update(out)

    def _joined(self, tokens: list[str], joined: list[list[Any]]) -> Text:
        """Why a character became several tokens, with the first few such groups spelled out."""
        st = self.get_component_rich_style
        seen: dict[str, str] = {}
        for s, e, text in joined:
            seen.setdefault(text, " ".join(show_token(t) for t in tokens[s:e]))
        chars = [t.strip() for t in seen if t.strip()] or list(seen)
        first = next((c for c in chars if len(c) == 1), chars[0])
        example = _("{char}: {n} bytes").format(char=first, n=len(first.encode()))
        out = Text("\n  " + _(self.BYTES_NOTE).format(example=example) + "\n  ", st("walk--note"))
        for n, (text, pieces) in enumerate(list(seen.items())[:self.EXAMPLES]):
            out.append(" · " if n else "")
            out.append(show_token(text, limit=None), "bold")
            out.append(f" = {pieces}")
        if len(seen) > self.EXAMPLES:
            out.append(" · " + _("(+{n} more)").format(n=len(seen) - self.EXAMPLES), st("walk--dim"))
        return out

    def _value(self, name: str, value: Any, special: set[str], pad_id: int | None, steps: dict[str, Any]) -> Text:
        st = self.get_component_rich_style
        if isinstance(value, tuple):  # a text pair: one line each
            return Text("\n").join(self._value(name, v, special, pad_id, steps) for v in value)
        if name in ("text", "normalised"):
            if name == "normalised" and value == steps.get("text"):
                return Text("  " + _("(unchanged: this tokenizer does not normalise)"), st("walk--dim"))
            return Text("  " + str(value).replace("\n", "↵"))
        if name in ("added tokens split out", "pre-tokenized", "sub-word tokens"):
            chips = Text("  ")
            for i, item in enumerate(value):
                piece, added = item if isinstance(item, tuple) else (item, item in special)
                chips.append(show_token(piece), st("walk--special") if added else st("walk--chip-alt" if i % 2 else "walk--chip"))
                chips.append(" ")
            return chips
        if name == "special tokens added":
            added = ", ".join(value["added"]) or _("none (the text already holds its markers)")
            return Text("  " + _("added: {tokens}").format(tokens=added) + "\n  " + " ".join(map(str, value["ids"])))
        if name == "truncated":
            return Text("  " + _("{n} tokens cut").format(n=value["removed"]) + "\n  " + " ".join(map(str, value["ids"])))
        if name == "padded":
            mask = steps.get("attention mask") or [1] * len(value)
            out = Text("  ")
            for v, m in zip(value, mask, strict=False):
                out.append(str(v), st("walk--dim") if m == 0 else "")
                out.append(" ")
            return out
        return Text("  " + " ".join(map(str, value)))
