"""Words and numbers as tunewiz prints them: durations, counted nouns, columns measured in terminal cells (Hangul
takes two), and English messages kept in files shown in the user's language."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from engine.i18n import _


def duration(s: float) -> str:
    """Seconds as 12m05s, or 3h07m from an hour on (progress lines, the monitor, the smoke test's ETA)."""
    s = int(s)
    if s >= 3600:
        return _("{hours}h{minutes:02d}m").format(hours=s // 3600, minutes=s % 3600 // 60)
    return _("{minutes}m{seconds:02d}s").format(minutes=s // 60, seconds=s % 60)


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """`1 step`, `2 steps`, `1,200 steps`: English only (a message shown to the user counts with
    engine.i18n.ngettext, which a translation can word in its own way)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


# ------------------------------------------------------------------------------------ terminal cells
def cells(text: str) -> int:
    """How many terminal cells `text` takes: wide (Hangul, CJK) and fullwidth characters two, combining marks none."""
    n = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def clip(text: str, width: int) -> str:
    """`text` cut to `width` cells, with … as its last cell when it was cut."""
    if cells(text) <= width:
        return text
    out, used = "", 0
    for ch in text:
        w = cells(ch)
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + "…"


def ljust(text: str, width: int) -> str:
    """`text` padded with spaces to `width` cells (as f"{text:width}" does for narrow characters)."""
    return text + " " * max(0, width - cells(text))


def rjust(text: str, width: int) -> str:
    """`text` padded on the left to `width` cells (f"{text:>width}")."""
    return " " * max(0, width - cells(text)) + text


# ------------------------------------------------------------------------------------ kept English, shown translated
@lru_cache(maxsize=256)
def _pattern(template: str) -> re.Pattern[str]:
    parts, seen = [], set()
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


def translated(text: str, templates: Iterable[str]) -> str:
    """An English message that tunewiz keeps as data (status.json's error, an event, `--json`) made from one of
    `templates` (N_() constants whose fields have no format spec), in the user's language; its fields are looked
    up the same way (a message inside a message). Any other text comes back as it is."""
    templates = tuple(templates)
    for template in templates:
        m = _pattern(template).fullmatch(text)
        if m:
            return _(template).format(**{k: translated(v, templates) for k, v in m.groupdict().items()})
    return text


def wrap(text: str, width: int, indent: str = "", subsequent: str = "") -> str:
    """textwrap.fill by terminal cells: a line of Hangul (two cells a character) wraps where it reaches `width`
    cells, not `width` characters. Text of narrow characters only is wrapped by textwrap itself."""
    import textwrap

    if cells(text) == len(text):
        return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=subsequent)
    lines: list[str] = []
    line, fresh = indent, True  # fresh: nothing but the indent on this line yet
    for word in text.split():
        sep = "" if fresh else " "
        if cells(line + sep + word) > width and not fresh and cells(subsequent + word) <= width:
            lines.append(line)
            line, sep = subsequent, ""
        while cells(line + sep + word) > width and len(word) > 1:  # longer than a line: cut it by cells
            head = ""
            for ch in word:
                if cells(line + sep + head + ch) > width:
                    break
                head += ch
            if not head and not sep and line in (indent, subsequent):
                head = word[0]  # not even one character fits after the indent: one a line, never none
            lines.append(line + sep + head)
            word, line, sep = word[len(head):], subsequent, ""
        line, fresh = line + sep + word, False
    lines.append(line)
    return "\n".join(lines)
