"""Token chips: one collated row drawn as coloured chips (trained, -100, special, pad) with its ids,
attention mask and labels under each token, as compact chips, or as the rendered text. Tokens that spell
a character only together (a byte-level BPE splits a Hangul syllable into its UTF-8 bytes) keep their own
chips and values, with the character they spell drawn once under the group (╰─ 안 ─╯).

`token_row` turns a row of `engine.preview.rows` into a `TokenRow` (plain data, safe to build in a
worker thread); `TokenChips` lays it out for the width it has, so only the current example is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget

from engine.i18n import N_, _, pgettext
from engine.preview import show_token
from tui.widgets.walkthrough import WalkThrough

IGNORE = -100  # engine.data.pipeline.IGNORE; not imported, so the TUI never pulls in the data stack
VIEWS = ("grid", "chips", "text")
VIEW_NAMES = {"grid": N_("grid view"), "chips": N_("chips view"), "text": N_("text view")}  # (the legend's heading)
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
    joined: list[tuple[int, int, str]] = field(default_factory=list)  # tokens [start, end) spell text only together


def token_row(row: dict[str, Any], special_ids: Iterable[int], decode: Callable[[list[int]], str]) -> TokenRow:
    """Classify every token of a preview row and decode its text runs (no widgets: runs in a worker)."""
    special = set(special_ids)
    ids = list(row["input_ids"])
    mask, found = row.get("attention_mask"), row.get("labels")
    labels: list[int] = found if isinstance(found, list) else []
    per_token = isinstance(found, list)
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
    joined = [(s, e, t) for s, e, t in row.get("joined", []) if not any(s < k < e for k in starts)]
    inside = {k for s, e, _ in joined for k in range(s + 1, e)}  # never decoded apart: half a character is �
    text: list[tuple[str, str]] = []
    i = 0
    while i < len(ids):
        j = i
        while j < len(ids) and (j in inside or (kinds[j] == kinds[i] and (j == i or j not in starts))):
            j += 1
        if kinds[i] != "pad":
            text.append((("\n" if i in starts else "") + decode(ids[i:j]), kinds[i]))
        i = j
    return TokenRow(ids, [show_token(t) for t in row.get("shown", row["tokens"])], kinds, values, starts, text,
                    pad=kinds.count("pad"), per_token_labels=per_token, joined=joined)


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
            if isinstance(widget, (TokenChips, WalkThrough)):
                widget.restyle()


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
    TokenChips > .tokens--brace { color: $text-muted; }
    TokenChips > .tokens--joined { color: $text; text-style: bold; }
    """
    COMPONENT_CLASSES = {"tokens--trained", "tokens--trained-alt", "tokens--masked", "tokens--masked-alt",
                         "tokens--special", "tokens--special-masked", "tokens--pad", "tokens--gutter", "tokens--dim",
                         "tokens--boundary", "tokens--brace", "tokens--joined"}

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
            items = [("trained", _("{n} trained").format(n=len(real) - masked)),
                     ("masked", _("{n} -100 (not trained)").format(n=masked))]
        else:
            items = [("trained", pgettext("token preview", "{n} tokens").format(n=len(real) - special))]
        items += [("special", _("{n} special").format(n=special)), ("pad", _("{n} pad").format(n=row.pad))]
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

    def _spans(self, row: TokenRow, cells: list[tuple[str, str, list[str], int]], widths: list[int], sep: int,
               room: int) -> dict[int, tuple[int, str]]:
        """The groups of `row.joined` as cells: first cell -> (end cell, text); a group wider than a whole
        line (`room`) is left ungrouped, so it can wrap."""
        at = {start: n for n, (_, _, _, start) in enumerate(cells)}
        out = {}
        for s, e, text in row.joined:
            lo, hi = at.get(s), at.get(e, len(cells) if e == len(row.ids) else None)
            if lo is not None and hi == lo + e - s and sum(widths[lo:hi]) + sep * (hi - lo - 1) <= room:
                out[lo] = (hi, text)
        return out

    def _under(self, spans: list[tuple[int, int, str]], gutter: int) -> Text:
        """The line under a line of chips: each group's text over the width of its chips, as ╰─ 안 ─╯."""
        line = Text("text".ljust(gutter), self._style("gutter")) if gutter else Text()
        col = gutter
        brace = self._style("brace")
        for lo, w, text in spans:
            line.append(" " * (lo - col))
            shown = show_token(text, limit=None)
            room = w - cell_len(shown)
            if room >= 4:
                left = (room - 4) // 2
                line.append("╰" + "─" * left + " ", brace)
                line.append(shown, self._style("joined"))
                line.append(" " + "─" * (room - 4 - left) + "╯", brace)
            else:
                line.append(set_cell_size(" " * (max(room, 0) // 2) + shown, w), self._style("joined"))
            col = lo + w
        return line

    def _grid(self, row: TokenRow, width: int) -> list[Text]:
        names = [name for name, _ in row.values]
        gutter = max(len(name) for name in [*names, "text" if row.joined else ""]) + 1
        cells = self._cells(row)
        widths = [max(cell_len(chip), *(len(v) for v in vals)) for chip, _, vals, _ in cells]
        spans = self._spans(row, cells, widths, 1, width - gutter - 2)
        out: list[Text] = []
        group: list[Text] = []
        under: list[tuple[int, int, str]] = []  # (column, width, text) of the groups on this line
        used = width
        for cell_no, (chip, kind, vals, start) in enumerate(cells):
            w = widths[cell_no]
            mark = start in row.starts
            need = w + 1 + (2 if mark else 0)
            end, joined = spans.get(cell_no, (cell_no + 1, None))
            if used + need + sum(widths[cell_no + 1:end]) + (end - cell_no - 1) > width:  # a group stays on one line
                if group:
                    out.extend([*self._with_under(group, under, gutter), Text()])
                group = [Text("tok".ljust(gutter), self._style("gutter"))]
                group += [Text(n.ljust(gutter), self._style("gutter")) for n in names]
                used, under = gutter, []
            if mark:
                group[0].append("║ ", self._style("boundary"))
                for line in group[1:]:
                    line.append("  ")
            if joined is not None:
                under.append((used + (2 if mark else 0), sum(widths[cell_no:end]) + end - cell_no - 1, joined))
            group[0].append(chip + " " * (w - cell_len(chip)), self._style(kind, cell_no))
            group[0].append(" ")
            for line, name, v in zip(group[1:], names, vals, strict=True):
                dim = (name == "mask" and v.startswith("0")) or (name == "label" and v.startswith(str(IGNORE)))
                line.append(v.ljust(w), self._style("dim") if dim else "")
                line.append(" ")
            used += need
        out.extend(self._with_under(group, under, gutter))
        return out

    def _with_under(self, group: list[Text], under: list[tuple[int, int, str]], gutter: int) -> list[Text]:
        return [group[0], self._under(under, gutter), *group[1:]] if under else group

    def _chips(self, row: TokenRow, width: int) -> list[Text]:
        cells = self._cells(row)
        pieces = []
        for cell_no, (chip, kind, _vals, start) in enumerate(cells):
            piece = Text()
            if start in row.starts:
                piece.append("║", self._style("boundary"))
            piece.append(chip, self._style(kind, cell_no))
            pieces.append(piece)
        spans = self._spans(row, cells, [cell_len(chip) for chip, *_ in cells], 0, width - 1)
        lines: list[tuple[Text, list[tuple[int, int, str]]]] = [(Text(), [])]
        n = 0
        while n < len(pieces):
            end, joined = spans.get(n, (n + 1, None))
            line, under = lines[-1]
            if line.cell_len and line.cell_len + sum(p.cell_len for p in pieces[n:end]) > width:
                lines.append((Text(), []))
                line, under = lines[-1]
            lo = line.cell_len + pieces[n].cell_len - cell_len(cells[n][0])  # after a boundary mark
            for piece in pieces[n:end]:
                line.append_text(piece)
            if joined is not None:
                under.append((lo, line.cell_len - lo, joined))
            n = end
        return [out for line, under in lines for out in ([line, self._under(under, 0)] if under else [line])]

    def _text(self, row: TokenRow) -> Text:
        text = Text()
        for piece, kind in row.text:
            style = self._style(kind) if kind.startswith("special") else self._style("dim") if kind == "masked" else ""
            text.append(piece, style)
        if row.pad:
            text.append("\n" + _("(+{n} pad tokens, attention 0)").format(n=row.pad), self._style("pad"))
        return text
