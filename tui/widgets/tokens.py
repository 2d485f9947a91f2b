"""Token chips: one collated row drawn as coloured chips (trained, -100, special, pad) with its ids,
attention mask and labels under each token, as compact chips, or as the rendered text; and the
tokenizer walk-through of one text, step by step.

`token_row` turns a row of `engine.preview.rows` into a `TokenRow` (plain data, safe to build in a
worker thread); `TokenChips` lays it out for the width it has, so only the current example is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from engine.preview import show_token

IGNORE = -100  # engine.data.pipeline.IGNORE; not imported, so the TUI never pulls in the data stack
VIEWS = ("grid", "chips", "text")
PAD_RUN = 4  # a run of more pad tokens than this is drawn as one chip with a count


@dataclass
class TokenRow:
    """What the chips draw for one row: display tokens, their kind, and the value rows under them."""

    ids: list[int]
    tokens: list[str]
    kinds: list[str]  # trained | masked | special | special-masked | pad
    values: list[tuple[str, list[int]]]  # (gutter name, one value per token): id, mask, type, pos, label
    starts: set[int] = field(default_factory=set)  # where a packed sequence starts (padding-free rows)
    text: list[tuple[str, str]] = field(default_factory=list)  # the rendered text as (piece, kind)
    pad: int = 0
    per_token_labels: bool = True


def token_row(row: dict[str, Any], special_ids: Iterable[int], decode: Callable[[list[int]], str]) -> TokenRow:
    """Classify every token of a preview row and decode its text runs (no widgets: runs in a worker)."""
    special = set(special_ids)
    ids = list(row["input_ids"])
    mask, labels = row.get("attention_mask"), row.get("labels")
    per_token = isinstance(labels, list)
    kinds = []
    for i, t in enumerate(ids):
        masked = per_token and labels[i] == IGNORE
        if mask is not None and mask[i] == 0:
            kinds.append("pad")
        elif t in special:
            kinds.append("special-masked" if masked else "special")
        else:
            kinds.append("masked" if masked else "trained")
    values: list[tuple[str, list[int]]] = [("id", ids)]
    if mask is not None:
        values.append(("mask", list(mask)))
    if any(row.get("token_type_ids") or []):
        values.append(("type", list(row["token_type_ids"])))
    pos = row.get("position_ids")
    if pos is not None:
        values.append(("pos", list(pos)))
    if per_token:
        values.append(("label", list(labels)))
    starts = {i for i, p in enumerate(pos or []) if p == 0 and i > 0}
    text: list[tuple[str, str]] = []
    i = 0
    while i < len(ids):
        j = i
        while j < len(ids) and kinds[j] == kinds[i] and (j == i or j not in starts):
            j += 1
        if kinds[i] != "pad":
            text.append((("\n" if i in starts else "") + decode(ids[i:j]), kinds[i]))
        i = j
    return TokenRow(ids, [show_token(t) for t in row.get("shown", row["tokens"])], kinds, values, starts, text,
                    pad=kinds.count("pad"), per_token_labels=per_token)


class RowScroll(VerticalScroll, inherit_bindings=False):
    """A vertical scroll that leaves left/right to the screen (they step through the examples)."""

    BINDINGS = [Binding(k, a, show=False) for k, a in (("up", "scroll_up"), ("down", "scroll_down"), ("home", "scroll_home"),
                                                       ("end", "scroll_end"), ("pageup", "page_up"), ("pagedown", "page_down"))]

    def on_focus(self) -> None:
        self.call_after_refresh(self._restyle)

    def on_blur(self) -> None:
        self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        # the pane is tinted while it has focus (app.tcss): redraw what was coloured on the old background
        for widget in self.query("TokenChips, WalkThrough"):
            widget.restyle()  # type: ignore[attr-defined]


class TokenChips(Widget):
    """One row of tokens, drawn as a grid (chip over id, mask, label), compact chips, or text."""

    DEFAULT_CSS = """
    TokenChips { height: auto; width: 1fr; }
    TokenChips > .tokens--trained { background: $primary 45%; color: $text; }
    TokenChips > .tokens--trained-alt { background: $primary 20%; color: $text; }
    TokenChips > .tokens--masked { background: $surface-lighten-1; color: $text-disabled; }
    TokenChips > .tokens--masked-alt { background: $surface-lighten-3; color: $text-disabled; }
    TokenChips > .tokens--special { background: $warning; color: $background; text-style: bold; }
    TokenChips > .tokens--special-masked { background: $warning 35%; color: $text-warning; }
    TokenChips > .tokens--pad { background: $error 15%; color: $text-disabled; text-style: italic; }
    TokenChips > .tokens--gutter { color: $text-muted; text-style: bold; }
    TokenChips > .tokens--dim { color: $text-disabled; }
    TokenChips > .tokens--boundary { color: $accent; text-style: bold; }
    """
    COMPONENT_CLASSES = {"tokens--trained", "tokens--trained-alt", "tokens--masked", "tokens--masked-alt",
                         "tokens--special", "tokens--special-masked", "tokens--pad", "tokens--gutter", "tokens--dim",
                         "tokens--boundary"}

    view: reactive[str] = reactive("grid", layout=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row: TokenRow | None = None
        self._cache: dict[tuple[int, str], list[Text]] = {}

    def show(self, row: TokenRow | None) -> None:
        """Draw another row."""
        self.row = row
        self._cache.clear()
        self.refresh(layout=True)

    def watch_view(self) -> None:
        self._cache.clear()

    def restyle(self) -> None:
        """Redraw with the colours of now (the chips' colours are blended on the background behind them)."""
        self._cache.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width))

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return len(self._lines(width))

    def legend(self) -> Text:
        """Sample chips that say what each colour means, with how many tokens of the row are of each."""
        row = self.row
        out = Text()
        if row is None:
            return out
        real = [k for k in row.kinds if k != "pad"]
        special = sum(1 for k in real if k.startswith("special"))
        if row.per_token_labels:
            masked = sum(1 for k in real if k in ("masked", "special-masked"))
            items = [("trained", f"{len(real) - masked} trained"), ("masked", f"{masked} -100 (not trained)")]
        else:
            items = [("trained", f"{len(real) - special} tokens")]
        items += [("special", f"{special} special"), ("pad", f"{row.pad} pad")]
        for kind, label in items:
            out.append(f" {label} ", self._style(kind))
            out.append(" ")
        return out

    # -------------------------------------------------------------------------------------- layout
    def _style(self, kind: str, i: int = 0) -> Style:
        alt = "-alt" if i % 2 and kind in ("trained", "masked") else ""
        return self.get_component_rich_style(f"tokens--{kind}{alt}")

    def _lines(self, width: int) -> list[Text]:
        width = max(width, 20)
        key = (width, self.view)
        if key not in self._cache:
            row = self.row
            if row is None:
                lines: list[Text] = []
            elif self.view == "text":
                lines = list(self._text(row).wrap(self.app.console, width))
            elif self.view == "chips":
                lines = self._chips(row, width)
            else:
                lines = self._grid(row, width)
            self._cache[key] = lines
        return self._cache[key]

    def _cells(self, row: TokenRow) -> list[tuple[str, str, list[str], int]]:
        """(chip text, kind, value strings, first token index); long pad runs become one counted cell."""
        cells = []
        i = 0
        while i < len(row.ids):
            j = i + 1
            if row.kinds[i] == "pad":
                while j < len(row.ids) and row.kinds[j] == "pad":
                    j += 1
            n = j - i
            if n > PAD_RUN:
                vals = [f"{v[i]}×{n}" if len(set(v[i:j])) == 1 else f"{v[i]}…{v[j - 1]}" for _, v in row.values]
                cells.append((f"{row.tokens[i]}×{n}", "pad", vals, i))
            else:
                j = i + 1
                cells.append((row.tokens[i], row.kinds[i], [str(v[i]) for _, v in row.values], i))
            i = j
        return cells

    def _grid(self, row: TokenRow, width: int) -> list[Text]:
        gutter = max(len(name) for name, _ in row.values) + 1
        names = [name for name, _ in row.values]
        out: list[Text] = []
        group: list[Text] = []
        used = width
        for cell_no, (chip, kind, vals, start) in enumerate(self._cells(row)):
            w = max(cell_len(chip), *(len(v) for v in vals))
            mark = start in row.starts
            need = w + 1 + (2 if mark else 0)
            if used + need > width:
                if group:
                    out.extend([*group, Text()])
                group = [Text("tok".ljust(gutter), self._style("gutter"))]
                group += [Text(n.ljust(gutter), self._style("gutter")) for n in names]
                used = gutter
            if mark:
                group[0].append("║ ", self._style("boundary"))
                for line in group[1:]:
                    line.append("  ")
            group[0].append(chip + " " * (w - cell_len(chip)), self._style(kind, cell_no))
            group[0].append(" ")
            for line, name, v in zip(group[1:], names, vals, strict=True):
                dim = (name == "mask" and v.startswith("0")) or (name == "label" and v.startswith(str(IGNORE)))
                line.append(v.ljust(w), self._style("dim") if dim else "")
                line.append(" ")
            used += need
        out.extend(group)
        return out

    def _chips(self, row: TokenRow, width: int) -> list[Text]:
        out: list[Text] = [Text()]
        for cell_no, (chip, kind, _, start) in enumerate(self._cells(row)):
            piece = Text()
            if start in row.starts:
                piece.append("║", self._style("boundary"))
            piece.append(chip, self._style(kind, cell_no))
            if out[-1].cell_len and out[-1].cell_len + piece.cell_len > width:
                out.append(Text())
            out[-1].append_text(piece)
        return out

    def _text(self, row: TokenRow) -> Text:
        text = Text()
        for piece, kind in row.text:
            style = self._style(kind) if kind.startswith("special") else self._style("dim") if kind == "masked" else ""
            text.append(piece, style)
        if row.pad:
            text.append(f"\n(+{row.pad} pad tokens, attention 0)", self._style("pad"))
        return text


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

    def restyle(self) -> None:
        """Redraw with the colours of now (the colours are blended on the background behind)."""
        if self._shown is not None:
            self.refresh()  # (drops the cached colours)
            self.show(*self._shown)

    def show(self, steps: list[tuple[str, Any]], notes: dict[str, str], special: Iterable[str], pad_id: int | None) -> None:
        """Draw the steps; special tokens are highlighted, padding dimmed."""
        special = list(special)
        self._shown = (steps, notes, special, pad_id)
        self.steps = steps
        special = set(special)
        out = Text()
        for n, (name, value) in enumerate(steps, 1):
            if n > 1:
                out.append("\n")
            out.append(f"{n}. {name}", self.get_component_rich_style("walk--step"))
            out.append(f" · {notes.get(name, '')}\n", self.get_component_rich_style("walk--note"))
            out.append_text(self._value(name, value, special, pad_id, dict(steps)))
        self.update(out)

    def _value(self, name: str, value: Any, special: set[str], pad_id: int | None, steps: dict[str, Any]) -> Text:
        st = self.get_component_rich_style
        if isinstance(value, tuple):  # a text pair: one line each
            return Text("\n").join(self._value(name, v, special, pad_id, steps) for v in value)
        if name in ("text", "normalised"):
            if name == "normalised" and value == steps.get("text"):
                return Text("  (unchanged: this tokenizer does not normalise)", st("walk--dim"))
            return Text("  " + str(value).replace("\n", "↵"))
        if name in ("added tokens split out", "pre-tokenized", "sub-word tokens"):
            chips = Text("  ")
            for i, item in enumerate(value):
                piece, added = item if isinstance(item, tuple) else (item, item in special)
                chips.append(show_token(piece), st("walk--special") if added else st("walk--chip-alt" if i % 2 else "walk--chip"))
                chips.append(" ")
            return chips
        if name == "special tokens added":
            added = ", ".join(value["added"]) or "none (the text already holds its markers)"
            return Text(f"  added: {added}\n  " + " ".join(map(str, value["ids"])))
        if name == "truncated":
            return Text(f"  {value['removed']} tokens cut\n  " + " ".join(map(str, value["ids"])))
        if name == "padded":
            mask = steps.get("attention mask") or [1] * len(value)
            out = Text("  ")
            for v, m in zip(value, mask, strict=False):
                out.append(str(v), st("walk--dim") if m == 0 else "")
                out.append(" ")
            return out
        return Text("  " + " ".join(map(str, value)))
