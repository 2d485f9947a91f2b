"""CSV and TSV files as they are really written: the dialect is decided from the file, every line is
accounted for, and a row that a stray quote would swallow is refused with its line numbers.

- A TSV (and a .txt whose lines all hold the same number of tabs, as NSMC's `ratings_test.txt`) is read
  without quote processing, each line one row, unless the file really quotes its fields (its header, or
  most cells, wrapped in quotes; or only a quoted reading gives every row the header's field count).
  GLUE's TSVs carry unbalanced `"` inside sentences: with default quoting a row is swallowed into the next.
- A CSV is read with standard quoting (RFC 4180); a quoted field that runs over lines that look like rows
  of their own is an unbalanced quote, refused with the lines.
- Cells are strings; an empty cell is None. Columns whose every value is a whole number / a number are
  typed int / float when the dataset is built (a float label column means regression).
- Text must be UTF-8 (a BOM is skipped); another encoding is refused with the line and the iconv fix,
  instead of being read as replacement characters.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import TunewizError
from engine.i18n import _

SNIFF_LINES = 200_000  # the dialect is decided from this many lines (the whole file, for most)
TXT_LINES = 2_000  # a .txt is a TSV when this many first lines agree (a corpus of long lines is not read whole)
FIELD_LIMIT = 1 << 30  # the csv module's default (128 KiB) refuses a long document as "field larger than field limit"
QUOTED = re.compile(r'^".*"$', re.S)
WRITTEN = re.compile(r'"(?:[^"]|"")*"')  # a field quoted by a CSV writer: inner quotes doubled


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is read, and why."""

    delimiter: str
    quoting: bool
    reason: str

    @property
    def name(self) -> str:
        return "tsv" if self.delimiter == "\t" else "csv"


BOMS = {b"\xff\xfe\x00\x00": "utf-32", b"\x00\x00\xfe\xff": "utf-32", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}


def encoding_problem(p: Path, limit: int | None = None) -> TunewizError | None:
    """A text file that is not UTF-8 (a UTF-16 / UTF-32 BOM, or bytes that do not decode), with its line and the
    command that converts it; None when it reads (a UTF-8 BOM is fine). `limit`: check only that many bytes."""
    with open(p, "rb") as fh:
        head = fh.read(4)
        for bom, name in BOMS.items():
            if head.startswith(bom):
                return TunewizError.at(f"{p}:1", _("{encoding} text (Windows' \"Unicode\"), not UTF-8").format(encoding=name.upper()),
                                       _("convert it: iconv -f {encoding} -t utf-8 {file} > utf8-{file} (or save it as UTF-8)")
                                       .format(encoding=name, file=p.name))
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line, read = 1, 0
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                line += chunk.count(b"\n", 0, e.start)
                return not_utf8(p, line, e.reason)
            line += chunk.count(b"\n")
            read += len(chunk)
            if limit is not None and read >= limit:
                break
    return None


def not_utf8(p: Path, line: int, why: str) -> TunewizError:
    """A line that does not decode as UTF-8, with the encoding it most likely is and the command that converts it."""
    try:
        with open(p, "rb") as fh:
            enc, name = guess_encoding(fh.read(1 << 20))
    except OSError:
        enc, name = "cp949", _("another encoding")
    return TunewizError.at(f"{p}:{line}", _("not UTF-8 text ({why}); it looks like {encoding}").format(why=why, encoding=name),
                           _("convert the file to UTF-8: iconv -f {encoding} -t utf-8 {file} > utf8-{file} (or save it as "
                             "UTF-8; cp949 is common for Korean files from Windows, cp1252 / latin1 for European ones)")
                           .format(encoding=enc, file=p.name))


def guess_encoding(head: bytes) -> tuple[str, str]:
    """(iconv name, description) of the encoding a text that is not UTF-8 most likely is: UTF-16 without a BOM
    (every other byte 0), Korean cp949 (decodes, with Hangul), else Windows-1252 / Latin-1 (decodes anything)."""
    sample = head[: 1 << 16]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return "utf-16le", _("UTF-16 (little-endian, no BOM)")
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return "utf-16be", _("UTF-16 (big-endian, no BOM)")
    for enc, name in (("cp949", _("Korean cp949 / EUC-KR")),):
        try:
            text = sample.decode(enc)
        except UnicodeDecodeError as e:
            try:
                text = sample[: e.start].decode(enc) if e.start > len(sample) - 4 else ""  # a character cut by the sample
            except UnicodeDecodeError:
                text = ""
        if sum(1 for c in text if "\uac00" <= c <= "\ud7a3") >= 2:
            return enc, name
    try:
        sample.decode("cp1252")
        return "cp1252", _("Windows-1252 / Latin-1 (Western European)")
    except UnicodeDecodeError:
        return "latin1", "Latin-1 (ISO-8859-1)"


def is_tabular(p: Path) -> bool:
    """A .csv or .tsv file, or a .txt file whose lines all hold the same number (>= 1) of tabs."""
    suffix = p.suffix.lower()
    return suffix in (".csv", ".tsv") or (suffix == ".txt" and txt_tabs(p) > 0)


def txt_tabs(p: Path) -> int:
    """The tab count shared by every non-blank line of a .txt file's head (0 when they differ or have none)."""
    counts = {line.count("\t") for line in _head_lines(p, TXT_LINES) if line.strip()}
    return counts.pop() if len(counts) == 1 else 0


def dialect(p: Path) -> Dialect:
    """Decide delimiter and quoting from the file's head (see the module docstring)."""
    suffix = p.suffix.lower()
    lines = [line for line in _head_lines(p) if line.strip()]
    if suffix == ".csv":
        delim = _csv_delimiter(lines)
        return Dialect(delim, True, "CSV with standard quoting" + ("" if delim == "," else f", {_NAMES[delim]}-separated"))
    via = "a .txt file whose lines all hold the same number of tabs: read as TSV" if suffix == ".txt" else "TSV"
    if not lines:
        return Dialect("\t", False, via)
    header = lines[0].split("\t")
    if all(QUOTED.match(h) for h in header):
        return Dialect("\t", True, f"{via} whose fields are quoted")
    if all(line.count("\t") == len(header) - 1 for line in lines):
        starts = [c for line in lines[1:] for c in line.split("\t") if c.startswith('"')]
        if starts and all(WRITTEN.fullmatch(c) for c in starts):
            return Dialect("\t", True, f"{via} whose quoted fields are written as a CSV writer does (\"a \"\"b\"\" c\")")
        return Dialect("\t", False, f"{via}, read as written (a \" is part of the text, as in GLUE's files)")
    if _consistent(lines, len(header)):
        return Dialect("\t", True, f"{via} whose quoted fields hold tabs or line breaks")
    return Dialect("\t", False, f"{via}, read as written")


_NAMES = {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}


def _csv_delimiter(lines: list[str]) -> str:
    """A .csv's delimiter: a comma, unless the header has none and every line has the same count of another
    (European spreadsheets write ';')."""
    if not lines or "," in lines[0]:
        return ","
    for d in (";", "\t", "|"):
        n = lines[0].count(d)
        if n and all(len(row) == n + 1 for row in csv.reader(lines[:200], delimiter=d)):
            return d
    return ","


def _consistent(lines: list[str], width: int) -> bool:
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="\t")
    return all(len(row) == width for row in reader if row)


def _head_lines(p: Path, limit: int = SNIFF_LINES) -> list[str]:
    out = []
    with open(p, encoding="utf-8-sig", errors="replace", newline="") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            out.append(line.rstrip("\r\n"))
    return out


def rows(p: Path, d: Dialect | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every data row; raises TunewizError naming file:line for a row that is not one."""
    d = d or dialect(p)
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))  # a long document is one cell, not a quote error
    with open(p, "rb") as raw:
        fh = _Lines(raw, p)
        reader = csv.reader(fh, delimiter=d.delimiter, quoting=csv.QUOTE_MINIMAL if d.quoting else csv.QUOTE_NONE)
        try:
            header = next(reader, None)
            if not header:
                raise TunewizError.at(str(p), _("the file is empty"),
                                      _("a {kind} needs a header line with column names").format(kind=d.name.upper()))
            header = _named(p, [h.strip() for h in header])
            start = reader.line_num + 1
            ends: set[str] = set()  # last-column values of one-line rows (labels, usually)
            for row in reader:
                first, last = start, reader.line_num
                start = last + 1
                if not row or row == [""]:
                    continue
                if d.quoting and last > first:
                    _check_span(p, d, fh.lines_between(first, last), first, last, len(header), ends)
                elif len(ends) <= 50:
                    ends.add(row[-1].strip())
                if len(row) != len(header):
                    fix = (_("quote fields that contain the delimiter or line breaks (\"a, b\")") if d.quoting else
                           _("each line is one row: check for a tab inside a field, or a missing one"))
                    raise TunewizError.at(f"{p}:{first}", _("{n} fields where the header has {header} ({cells})")
                                          .format(n=len(row), header=len(header), cells="; ".join(_short(c) for c in row[:4])), fix)
                yield first, {k: (v if v != "" else None) for k, v in zip(header, row, strict=True)}
        except csv.Error as e:
            raise TunewizError.at(f"{p}:{reader.line_num}", _("not a valid {kind} line ({error})").format(kind=d.name.upper(), error=e),
                                  _("check the quotes on that line")) from None


def _named(p: Path, header: list[str]) -> list[str]:
    """The header with pandas' unnamed index column named `index` (df.to_csv() writes ',text,label'), checked."""
    if len(header) > 1 and header[0] == "" and all(header[1:]):
        header = ["index", *header[1:]]
    _check_header(p, header)
    return header


def _check_header(p: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for i, h in enumerate(header, 1):
        if not h or h[0].isdigit():
            raise TunewizError.at(f"{p}:1", _("column {i} of the first line is {name!r}, not a column name: the file seems "
                                              "to have no header line").format(i=i, name=h),
                                  _("add a header line naming the columns (e.g. sentence<TAB>label) as the file's first line"))
        if h in seen:
            raise TunewizError.at(f"{p}:1", _("two columns are named {name!r}").format(name=h), _("give each column its own name"))
        seen.add(h)


def _check_span(p: Path, d: Dialect, lines: list[str], first: int, last: int, width: int, ends: set[str]) -> None:
    """A quoted field over several lines is fine, unless the lines inside it look like rows of their own: the
    header's field count and a last cell like the one-line rows' (a label); with three or more columns, the
    field count alone."""
    rowlike = []
    for i, line in enumerate(lines[1:-1]):
        cells = line.split(d.delimiter)
        if len(cells) == width and (cells[-1].strip() in ends if len(ends) <= 50 else False) or (width >= 3 and len(cells) >= width):
            rowlike.append(first + 1 + i)
    if rowlike:
        raise TunewizError.at(f"{p}:{first}", _("a quote opened on line {first} runs to line {last}, so lines {lines} (which "
                                                "look like rows of their own) would become part of one field: an "
                                                "unbalanced \" in the text")
                              .format(first=first, last=last, lines=", ".join(map(str, rowlike[:5]))),
                              _('double a quote inside a quoted field (""), or quote the whole field; a TSV whose quotes are '
                                "text is read as written when no field is wrapped in quotes"))


def _short(cell: str) -> str:
    cell = cell.replace("\n", "\\n")
    return repr(cell if len(cell) <= 30 else cell[:27] + "...")


class _Lines:
    """Iterates a file's lines, decoded one by one for csv.reader (so a line that is not UTF-8 is named exactly),
    keeping a window of recent lines (for spans)."""

    def __init__(self, fh: Any, p: Path) -> None:
        self.fh, self.p, self.n = fh, p, 0
        self.recent: dict[int, str] = {}

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = next(self.fh)
        self.n += 1
        try:
            line = raw.decode("utf-8-sig" if self.n == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise not_utf8(self.p, self.n, _("{reason} at byte {byte} of the line").format(reason=e.reason, byte=e.start + 1)) from None
        self.recent[self.n] = line
        self.recent.pop(self.n - 10_000, None)
        return line

    def lines_between(self, first: int, last: int) -> list[str]:
        return [self.recent.get(i, "").rstrip("\r\n") for i in range(first, last + 1)]


def columns_typed(records: list[dict[str, Any]], header: list[str]) -> dict[str, list[Any]]:
    """Column -> values, with a column of whole numbers as int and of numbers as float (empty cells stay None)."""
    out: dict[str, list[Any]] = {}
    for h in header:
        values = [r.get(h) for r in records]
        present = [v for v in values if v is not None]
        if present and all(_INT.fullmatch(v) for v in present):
            out[h] = [int(v) if v is not None else None for v in values]
        elif present and all(_FLOAT.fullmatch(v) for v in present):
            out[h] = [float(v) if v is not None else None for v in values]
        else:
            out[h] = values
    return out


_INT = re.compile(r"\s*[+-]?\d{1,18}\s*")
_FLOAT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def header_of(p: Path, d: Dialect | None = None) -> list[str]:
    """The header's column names."""
    d = d or dialect(p)
    with open(p, encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=d.delimiter, quoting=csv.QUOTE_MINIMAL if d.quoting else csv.QUOTE_NONE)
        return _named(p, [h.strip() for h in next(reader, [])])
