"""A quick look at a dataset without loading it: the first rows of a local file (read from its head, so
a file of millions of rows answers at once), its row count (a separate, slower pass that also finds a
malformed line anywhere in the file), and the head of a hub dataset (streamed).

Rows come back as the loader (engine/data/load.py) would give them, close enough for format detection
(engine/data/formats.detect) and a preview table: JSON values as parsed, CSV cells as strings (an empty
cell is None), a .txt line as {"text": line}. Malformed input raises TunewizError naming file:line, in
the words of load.find_bad_json.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data import load, tabular
from engine.errors import TunewizError
from engine.i18n import _

Rows = list[dict[str, Any]]
# A JSONL file up to this size is parsed line by line while counting (so a bad line far down is found);
# a larger one only has its lines counted, and the loader reports a bad line at training time.
CHECK_LIMIT = 256 * 2**20
CHUNK = 2**16
MAX_JSON_ROW = 64 * 2**20  # a JSON array element larger than this is taken to be malformed, not truncated


@dataclass
class DatasetInfo:
    """What the dataset step found: the source, its first rows, the detected format and the row count."""

    path: str
    columns: list[str]
    rows: Rows
    format: str | None = None
    reason: str = ""
    format_columns: dict[str, str] = field(default_factory=dict)
    row_count: int | None = None
    name: str | None = None
    split: str = "train"


def peek(path_or_sample: str, n: int = 50, split: str = "train") -> tuple[list[str], Rows]:
    """(column names, first n rows) of a local file, folder or sample, reading only the head."""
    saved = _saved(path_or_sample, split)
    if saved is not None:
        return list(saved.column_names), [dict(r) for r in saved.select(range(min(n, len(saved))))]
    files = _files(path_or_sample, split)
    for f in files[:1]:  # the head only: this answers at once; count_rows checks every byte
        if Path(f).suffix.lower() != ".parquet" and (problem := tabular.encoding_problem(Path(f), limit=CHUNK * 16)):
            raise problem
    rows: Rows = []
    for f in files:
        rows += list(itertools.islice(_rows(Path(f)), n - len(rows)))
        if len(rows) >= n:
            break
    if not rows:
        raise load.no_rows(files)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns), rows


def count_rows(path_or_sample: str, should_stop: Callable[[], bool] = lambda: False, split: str = "train") -> int | None:
    """Rows in a local file, folder or sample (None if should_stop() turned true); raises on a malformed row."""
    saved = _saved(path_or_sample, split)
    if saved is not None:
        return len(saved)
    total = 0
    for f in _files(path_or_sample, split):
        p = Path(f)
        kind = _kind(p)
        if kind != "parquet" and (problem := tabular.encoding_problem(p)):
            raise problem
        if kind == "parquet":
            total += _parquet_count(p)
            continue
        if kind == "jsonl" and p.stat().st_size > CHECK_LIMIT:
            rows: Iterator[Any] = _nonblank_lines(p)
        elif kind == "txt":
            rows = _lines(p)
        else:
            rows = _rows(p)
        for i, _row in enumerate(rows, 1):
            if i % 1000 == 0 and should_stop():
                return None
            total += 1
    return total


def peek_hub(path: str, name: str | None = None, split: str = "train", n: int = 50) -> tuple[list[str], Rows, int | None]:
    """(column names, first n rows, row count or None) of a hub dataset, streamed."""
    import datasets

    from engine.models import hub_offline

    hub_offline()  # no network: offline from the cache at once (one connect), not after ~30 s of retries (#14)
    try:
        ds = datasets.load_dataset(path, name, split=split, streaming=True)
        rows = [dict(r) for r in itertools.islice(ds, n)]
    except Exception as e:
        raise load.hub_error(path, e) from e
    if not rows:
        raise TunewizError.at(load.WHERE, _("{path} has no rows").format(path=path), _("check the split name (dataset.split)"))
    columns = list(ds.features) if ds.features else list(dict.fromkeys(k for r in rows for k in r))
    splits = getattr(ds.info, "splits", None) or {}
    count = splits[split].num_examples if split in splits and splits[split].num_examples else None
    return columns, rows, count


# --------------------------------------------------------------------------------------------- files
def _files(spec: str, split: str = "train") -> list[str]:
    p = load.local_path(spec)
    if p is None:
        raise TunewizError.at(load.WHERE, _("{path} is not a local file or folder").format(path=spec),
                              _("hub datasets are read with peek_hub"))
    return load.data_files(p, split)[1]


def _saved(spec: str, split: str) -> Any:
    p = load.local_path(spec)
    return load.load_saved(p, split) if p is not None and load.is_saved(p) else None


def _kind(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix == ".json":
        with open(p, encoding="utf-8-sig", errors="replace") as fh:
            head = fh.read(CHUNK).lstrip()
        return "array" if head.startswith("[") else "jsonl"
    if suffix == ".txt":
        return "csv" if tabular.is_tabular(p) else "txt"
    return {".jsonl": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}[suffix]


def _rows(p: Path) -> Iterator[dict[str, Any]]:
    kind = _kind(p)
    if kind == "jsonl":
        return load.json_lines(p)
    if kind == "array":
        return _json_array(p)
    if kind == "csv":
        return _csv_rows(p)
    if kind == "txt":
        return ({"text": line} for line in _lines(p))
    return _parquet_rows(p)


def _lines(p: Path) -> Iterator[str]:
    # what the datasets text builder gives: every line, blank ones included, without its line break
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


def _nonblank_lines(p: Path) -> Iterator[bytes]:
    with open(p, "rb") as fh:
        yield from (line for line in fh if line.strip())


def _json_array(p: Path) -> Iterator[dict[str, Any]]:
    """The elements of a JSON array file, decoded one at a time from a growing buffer."""
    decoder = json.JSONDecoder()
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        buf, pos, lines_before, col_before, eof = "", 0, 0, 0, False

        def fill(size: int = CHUNK) -> bool:
            nonlocal buf, pos, lines_before, col_before, eof
            lines_before += buf.count("\n", 0, pos)
            col_before = _column(buf, pos, col_before)
            chunk = fh.read(size)
            buf, pos, eof = buf[pos:] + chunk, 0, not chunk
            return bool(chunk)

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not fill():
                    return buf[pos] if pos < len(buf) else ""

        def fail(at: int, what: str) -> TunewizError:
            line = lines_before + buf.count("\n", 0, at) + 1
            return load.bad_json(f"{p}:{line}", what, buf[at:at + 1], _column(buf, at, col_before) + 1, jsonl=False)

        def not_object(at: int, row: Any) -> TunewizError:
            line = lines_before + buf.count("\n", 0, at) + 1
            return TunewizError.at(f"{p}:{line}", _("a JSON {type} where an object was expected").format(type=type(row).__name__),
                                   _('each element of the array must be an object like {{"text": "..."}}').format())

        if skip_ws() != "[":
            raise fail(pos, _("expected '[' at the start of a JSON array"))
        pos += 1
        if skip_ws() == "]":
            return
        while True:
            skip_ws()
            size = CHUNK
            while True:
                try:
                    row, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as e:
                    # the element may only be cut off by the end of the buffer: read more and try again
                    if eof or len(buf) - pos > MAX_JSON_ROW:
                        raise fail(e.pos, e.msg) from None
                    size *= 2
                    fill(size)
            if not isinstance(row, dict):
                raise not_object(pos, row)
            pos = end
            yield row
            sep = skip_ws()
            if sep == "]":
                return
            if sep != ",":
                raise fail(pos, "Expecting ',' delimiter" if sep else _("the array is not closed with ']'"))
            pos += 1


def _column(buf: str, at: int, col_before: int) -> int:
    """0-based column of buf[at] in the file; col_before is the column where buf starts."""
    start = buf.rfind("\n", 0, at) + 1
    return at - start + (col_before if start == 0 else 0)


def _csv_rows(p: Path) -> Iterator[dict[str, Any]]:
    """Rows typed in blocks as the loader types whole columns (numbers as int / float), so the head looks as loaded."""
    rows = (row for _, row in tabular.rows(p))
    while block := list(itertools.islice(rows, 64)):
        typed = tabular.columns_typed(block, list(block[0]))
        yield from ({k: typed[k][i] for k in typed} for i in range(len(block)))


def _parquet_count(p: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(p).metadata.num_rows
    except Exception as e:
        raise bad_parquet(p, e) from e


def bad_parquet(p: Path, e: Exception) -> TunewizError:
    return TunewizError.at(str(p), _("could not read the parquet data: {error}").format(error=e),
                           _("check that it is a complete parquet file"))


def _parquet_rows(p: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=64):
            yield from batch.to_pylist()
    except Exception as e:  # a truncated or foreign file: pyarrow's reason, with the file
        raise bad_parquet(p, e) from e
