"""Reading datasets: local files and folders, hub datasets, bundled samples; bad files name the line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.data import tabular
from engine.errors import TunewizError, did_you_mean
from engine.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config import DatasetSection

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
SAMPLES = {
    "identity": ("identity.jsonl", N_("64 chats that teach a model its name (Tunewiz Assistant); messages format")),
    "sentiment": ("sentiment.csv", N_("240 review sentences labelled positive / negative; classification")),
    "preferences": ("preferences.jsonl", N_("48 questions: a short correct answer preferred over the demo model's own "
                                            "rambling one; DPO / ORPO pairs (KTO unpairs them)")),
}


def sample_for(task: str, method: str) -> str:
    """The bundled sample that fits a method: pairs for DPO / KTO / ORPO, labelled sentences for a classifier, chats
    (the default dataset) for SFT."""
    if task == "sequence-classification":
        return "sample:sentiment"
    return "sample:preferences" if method in ("dpo", "kto", "orpo") else "sample:identity"


BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".txt": "text"}
# "csv" files (and .txt files that are TSVs) are read by engine/data/tabular.py, not the datasets csv builder:
# it decides quoting from the file and accounts for every line
WHERE = "dataset.path"


def local_path(spec: str) -> Path | None:
    """The local file or folder a dataset path names (samples included), or None for a hub id."""
    if spec.startswith("sample:"):
        name = spec.removeprefix("sample:")
        if name not in SAMPLES:
            hint = did_you_mean(name, SAMPLES)
            raise TunewizError.at(WHERE, _("unknown sample {name!r}").format(name=name) + (f"; {hint}" if hint else ""),
                                  _("samples: {samples}").format(samples=", ".join("sample:" + s for s in SAMPLES)))
        return SAMPLES_DIR / SAMPLES[name][0]
    p = Path(spec).expanduser()
    if p.exists():
        return p
    if spec.startswith((".", "/", "~")) or Path(spec).suffix.lower() in BUILDERS or spec.count("/") != 1:
        raise TunewizError.at(WHERE, _("no such file or folder: {path}").format(path=spec),
                              _("check the path (relative paths start from the folder you run tunewiz in), or give a hub id "
                                "like tatsu-lab/alpaca"))
    return None


# Split names in file and folder names, as the datasets library reads them (data/train-0000.parquet, dev.tsv).
SPLIT_WORDS = {"train": ("train", "training"), "validation": ("validation", "valid", "val", "dev"),
               "test": ("test", "testing", "eval", "evaluation")}


def split_of(rel: Path) -> str | None:
    """The split a file's path names (train / validation / test), or None."""
    parts = set(re.split(r"[/\\_.\-\s]+", str(rel.with_suffix("")).lower()))
    return next((split for split, words in SPLIT_WORDS.items() if parts & set(words)), None)


def _split_files(p: Path, files: list[Path], split: str) -> list[Path]:
    """A folder whose files name splits (a hub download: train-*.parquet beside test-*.parquet) gives only the
    wanted split's files: training on the test files would be a silent mis-training."""
    found = {f: split_of(f.relative_to(p)) for f in files}
    if not any(s not in (None, "train") for s in found.values()):
        return files
    want = next((k for k, words in SPLIT_WORDS.items() if split.lower() in (k, *words)), split.lower())
    chosen = [f for f, s in found.items() if s == want]
    if not chosen:
        names = sorted({s for s in found.values() if s})
        raise TunewizError.at("dataset.split", _("{path} holds the splits {splits} and no {split!r} files")
                              .format(path=p, splits=", ".join(names), split=split),
                              _("set dataset.split to one of {splits}").format(splits=", ".join(names)))
    return chosen


def is_saved(p: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""
    return p.is_dir() and ((p / "state.json").is_file() or (p / "dataset_dict.json").is_file())


def load_saved(p: Path, split: str = "train") -> Dataset:
    """A saved dataset (memory-mapped, nothing copied); a DatasetDict gives the wanted split."""
    import datasets

    try:
        data = datasets.load_from_disk(str(p))
    except Exception as e:
        raise TunewizError.at(str(p), _("could not read the saved dataset: {error}")
                              .format(error=str(e).splitlines()[0] if str(e) else e),
                              _("check that the folder is a complete Dataset.save_to_disk() output")) from e
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise TunewizError.at("dataset.split", _("{path} holds the splits {splits} and no {split!r}")
                                  .format(path=p, splits=", ".join(data), split=split),
                                  _("set dataset.split to one of {splits}").format(splits=", ".join(data)))
        data = data[split]
    return data


def data_files(p: Path, split: str = "train") -> tuple[str, list[str]]:
    """(datasets builder, files) for a local file or a folder of files of one type (of the split, when the
    folder's file names name splits)."""
    if p.is_file():
        files = [p]
    else:
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in BUILDERS)
        if not files:
            raise TunewizError.at(WHERE, _("{path} holds no data files").format(path=p),
                                  _("put {types} files in it, or name one file").format(types=", ".join(BUILDERS)))
        files = _split_files(p, files, split or "train")
    suffixes = {f.suffix.lower() for f in files}
    if any(s not in BUILDERS for s in suffixes):
        odd = next(f.suffix for f in files if f.suffix.lower() not in BUILDERS)
        hint = _(" (save a spreadsheet as CSV: File > Save as > CSV UTF-8)") if odd.lower() in (".xlsx", ".xls", ".ods") else ""
        raise TunewizError.at(WHERE, _("{path}: unsupported file type {suffix!r}").format(path=p, suffix=odd),
                              _("supported: {types}").format(types=", ".join(BUILDERS)) + hint)
    builders = {"csv" if tabular.is_tabular(f) else BUILDERS[f.suffix.lower()] for f in files}
    if len(builders) > 1 or suffixes == {".csv", ".tsv"}:
        raise TunewizError.at(WHERE, _("{path} mixes file types ({types})").format(path=p, types=", ".join(sorted(suffixes))),
                              _("keep one type per folder"))
    return builders.pop(), [str(f) for f in files]


def load_dataset(ds: DatasetSection) -> Dataset:
    """The whole dataset as a `datasets.Dataset` (max_rows applied); raises TunewizError with the place."""
    import datasets

    p = local_path(ds.path)
    if p is not None and is_saved(p):
        data = load_saved(p, ds.split)
    elif p is not None:
        builder, files = data_files(p, ds.split)
        if builder != "parquet":
            for f in files:
                if problem := tabular.encoding_problem(Path(f)):
                    raise problem
        _check_not_empty(files, builder)
        if builder == "csv":
            data = load_tabular(files)
        else:
            # the json builder logs its own reading of a bad file first (pyarrow's words, another row number): a
            # failure here is explained by _explain_local, so that line is left out of the terminal
            json_log = logging.getLogger("datasets.packaged_modules.json.json")
            level = json_log.level
            json_log.setLevel(logging.CRITICAL)
            try:
                data = datasets.load_dataset(builder, data_files=files, split="train")
            except Exception as e:
                raise _explain_local(files, builder, e) from e
            finally:
                json_log.setLevel(level)
    else:
        data = _load_hub(ds)
    if len(data) == 0:
        raise TunewizError.at(WHERE, _("{path} has no rows").format(path=ds.path), _("check the file is not empty (or the split name)"))
    if ds.max_rows is not None and ds.max_rows < len(data):
        data = data.select(range(ds.max_rows))
    return data


class RowPlaces:
    """Where loaded rows are in the user's files, for messages that name rows: row i (0-based, as `_row` numbers the rows
    of `load_dataset`) is a line of a JSON Lines, CSV/TSV or text file ("chat.jsonl:12"), else a row counted from 1 of a
    parquet file, a JSON array, a saved or a hub dataset. Files are read only as far as the rows asked for, and only
    when a message names rows."""

    def __init__(self, ds: DatasetSection):
        self.spec = ds.path
        self.split = ds.split
        self._files: list[tuple[str, Path, str]] | None = None  # (name shown, path, how rows map: jsonl / csv / text / rows)
        self._lines: list[tuple[str, int]] = []  # the place of row i, (file name, line), read as far as needed
        self._reader: Iterator[tuple[str, int]] | None = None

    def _list(self) -> list[tuple[str, Path, str]]:
        if self._files is None:
            self._files = []
            try:
                p = local_path(self.spec)
                if p is not None and not is_saved(p):
                    builder, files = data_files(p, self.split)
                    for f in map(Path, files):
                        name = self.spec if self.spec.startswith("sample:") else str(f)
                        kind = "rows" if builder == "parquet" else "csv" if builder == "csv" else "text" \
                            if builder == "text" else "array" if _is_json_array(f) else "jsonl"
                        self._files.append((name, f, kind))
            except (TunewizError, OSError):
                self._files = []
        return self._files

    def _line_based(self) -> bool:
        files = self._list()
        return bool(files) and all(f[2] != "rows" for f in files)

    def _walk(self) -> Iterator[tuple[str, int]]:
        for name, f, kind in self._list():
            if kind == "csv":
                for number, _row in tabular.rows(f):
                    yield name, number
                continue
            if kind == "array":
                yield from ((name, n) for n in _array_item_lines(f))
                continue
            with open(f, encoding="utf-8-sig", errors="replace", newline=None) as fh:
                for n, line in enumerate(fh, 1):
                    if kind == "jsonl":
                        if line.strip():  # the json builder skips blank lines
                            yield name, n
                    else:  # the text builder: a row per line, blank ones included
                        yield from ((name, n) for _part in (line.splitlines() or [""]))

    def _line(self, row: int) -> tuple[str, int] | None:
        if self._reader is None:
            self._reader = self._walk()
        while len(self._lines) <= row:
            try:
                self._lines.append(next(self._reader))
            except (StopIteration, TunewizError, OSError):
                return None
        return self._lines[row]

    def _name(self) -> str:
        files = self._list()
        return files[0][0] if len(files) == 1 else self.spec

    def where(self, row: int) -> str:
        """One row's place as an error's location: 'chat.jsonl:12', else 'data.parquet row 13'."""
        if self._line_based() and (place := self._line(row)) is not None:
            return f"{place[0]}:{place[1]}"
        return ngettext("{name} row {rows}", "{name} rows {rows}", 1).format(name=self._name(), rows=row + 1)

    def describe(self, rows: list[int], total: int | None = None, shown: int = 5, short: bool = False) -> str:
        """Rows for a message: 'chat.jsonl lines 3, 9 and 2 more', 'a.jsonl:3, b.jsonl:7', 'data.parquet rows 4, 10'.
        `short`: file names without their folders (a screen's header line)."""
        more = (total if total is not None else len(rows)) - len(rows[:shown])
        places = [self._line(r) for r in rows[:shown]] if self._line_based() else []
        if short:
            places = [(_short(p[0]), p[1]) if p else None for p in places]
        if places and all(places):
            names = {p[0] for p in places if p}
            if len(names) == 1:
                lines = ", ".join(str(p[1]) for p in places if p)
                text = ngettext("{name} line {lines}", "{name} lines {lines}", len(places)).format(name=names.pop(), lines=lines)
            else:
                text = ", ".join(f"{p[0]}:{p[1]}" for p in places if p)
        else:
            text = ngettext("{name} row {rows}", "{name} rows {rows}", max(len(rows[:shown]), 1)).format(
                name=_short(self._name()) if short else self._name(), rows=", ".join(str(r + 1) for r in rows[:shown]))
        return _("{places} and {more} more").format(places=text, more=more) if more > 0 else text


def _array_item_lines(f: Path) -> Iterator[int]:
    """The line each item of a JSON array file starts on (a pretty-printed file: item 501 on line 2503)."""
    text = f.read_text(encoding="utf-8-sig", errors="replace")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    line, counted = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        yield line
        try:
            _item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return


def _short(name: str) -> str:
    """A file's name without its folders (a sample or a hub id as written)."""
    return name if name.startswith("sample:") or not Path(name).suffix else Path(name).name


def _is_json_array(f: Path) -> bool:
    """A .json file holding one JSON array (its rows are not lines)."""
    with open(f, encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith("[")


def _load_hub(ds: DatasetSection) -> Dataset:
    import datasets

    from engine.models import hub_offline

    hub_offline()  # no network: offline from the cache at once (one connect), not after ~30 s of retries (#14)
    try:
        return datasets.load_dataset(ds.path, ds.name, split=ds.split)
    except Exception as e:
        raise hub_error(ds.path, e) from e


def hub_error(path: str, e: Exception) -> TunewizError:
    """A hub dataset that did not load, told the same way by training (_load_hub) and the dataset step (peek.peek_hub)."""
    from engine.models import hub_offline, hub_unreachable, offline_reason

    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if hub_offline():
        return TunewizError.at(WHERE, _("could not load hub dataset {path!r} ({error}); the hub is offline ({why})")
                               .format(path=path, error=msg, why=offline_reason()),
                               _("check the id, or download it where there is internet: hf download --repo-type dataset "
                                 "{path} (then unset HF_HUB_OFFLINE), or use a local file").format(path=path)
                               if hub_unreachable() is None else
                               _("connect this machine to the internet, or copy the dataset into its Hugging Face cache (hf "
                                 "download --repo-type dataset {path} where there is internet), or use a local file")
                               .format(path=path))
    if "offline" in msg.lower() or "connect" in msg.lower():
        return TunewizError.at(WHERE, _("could not load hub dataset {path!r} ({error})").format(path=path, error=msg),
                               _("check the id and the network, or download it where there is internet: hf download "
                                 "--repo-type dataset {path}, or use a local file").format(path=path))
    return TunewizError.at(WHERE, _("could not load hub dataset {path!r}: {error}").format(path=path, error=msg),
                           _("check the id, the config name (dataset.name) and the split (dataset.split)"))


def _check_not_empty(files: list[str], builder: str) -> None:
    """An empty file (or one of blank lines, or a CSV header alone) is 'no rows', not a loader error."""
    if builder == "parquet":
        return
    for f in files:
        with open(f, encoding="utf-8-sig", errors="replace") as fh:
            lines = (line for line in fh if line.strip())
            if builder == "csv":
                next(lines, None)  # the header
            if next(lines, None) is not None:
                return
    raise no_rows(files)


def no_rows(files: list[str]) -> TunewizError:
    """The files hold no data rows (the loader's and the dataset step's words)."""
    names = files[0] if len(files) == 1 else f"{len(files)} files in {Path(files[0]).parent}"  # a place: as written
    tabular_files = any(Path(f).suffix.lower() in (".csv", ".tsv") for f in files)
    return TunewizError.at(names, _("has no rows"), _("add data rows (a CSV needs rows below its header line)") if tabular_files
                           else _("add data rows (JSON Lines: one JSON object a line)"))


def load_tabular(files: list[str]) -> Dataset:
    """CSV/TSV files as one Dataset, read by engine/data/tabular.py: every line accounted for, numbers typed."""
    import datasets

    records: list[dict[str, Any]] = []
    header: list[str] | None = None
    for f in files:
        p = Path(f)
        d = tabular.dialect(p)
        cols = tabular.header_of(p, d)
        if header is not None and cols != header:
            raise TunewizError.at(f, _("its columns ({columns}) differ from {first}'s ({header})")
                                  .format(columns=", ".join(cols), first=files[0], header=", ".join(header)),
                                  _("give the files of a folder the same header line"))
        header = cols
        records += [row for _, row in tabular.rows(p, d)]
    assert header is not None
    return datasets.Dataset.from_dict(tabular.columns_typed(records, header))


def _explain_local(files: list[str], builder: str, err: Exception) -> TunewizError:
    """Turn a loader failure into the file and line at fault."""
    if builder == "json":
        for f in files:
            problem = find_bad_json(Path(f))
            if problem:
                return problem
    msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return TunewizError.at(files[0], _("could not read the {builder} data: {error}").format(builder=builder, error=msg),
                           _("check that every row has the same columns with the same types"))


def json_lines(p: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL file, one at a time; a bad line raises TunewizError naming file:line (the one reader of
    JSONL rows: the dataset step's head and `find_bad_json` share its messages)."""
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                # a line break ending the line inside a string: a string left open (the next line starts a new row)
                # or a row split over two lines by a raw line break (the next line goes on with it)
                unclosed = False
                if e.msg.startswith("Invalid control character") and e.pos >= len(line.rstrip("\r\n")):
                    nxt = next(fh, "")
                    unclosed = not nxt.strip() or nxt.lstrip().startswith("{")
                # an error met only in the line's own line break (a row cut short) is at the end of the line's text
                column = e.colno if e.lineno == 1 else len(line.rstrip("\r\n")) + 1
                raise bad_json(f"{p}:{n}", e.msg, line[e.pos:e.pos + 1], column, jsonl=True, unclosed=unclosed) from None
            if not isinstance(row, dict):
                raise TunewizError.at(f"{p}:{n}", _("a JSON {type} where an object was expected").format(type=type(row).__name__),
                                      _('each line must be an object like {{"text": "..."}}').format())
            yield row


def find_bad_json(path: Path) -> TunewizError | None:
    """The first malformed line of a JSONL file (or the JSON error of a JSON file), else None."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            return bad_json(f"{path}:{e.lineno}", e.msg, text[e.pos:e.pos + 1], e.colno, jsonl=False)
        return _check_rows(path, rows)
    try:
        for _ in json_lines(path):
            pass
    except TunewizError as e:
        return e
    return None


def _check_rows(path: Path, rows: Any) -> TunewizError | None:
    if not isinstance(rows, list):
        return TunewizError.at(str(path), _("the JSON file is not a list of rows"), _("use a JSON array of objects, or JSON Lines"))
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            return TunewizError.at(f"{path}: row {i}",
                                   _("a JSON {type} where an object was expected").format(type=type(row).__name__), "")
    return None


# What Python's json messages mean in a data file, and what to do (its own words end in "at", for its ": line 1 column 50");
# the explanations are messages with no fields (a brace doubled), shown with _(...).format().
JSON_ERRORS = (
    ("Unterminated string", N_("a string that is not closed"),
     N_("close it with a double quote; a line break inside a string is written \\n")),
    ("Expecting property name", N_("a key not in double quotes, or a comma before }}"),
     N_("JSON puts keys and strings in double quotes ('single' quotes are Python's) and has no comma before }} or ]")),
    ("Expecting ',' delimiter", N_("a missing comma, or a double quote inside a string that ends it early"),
     N_('put a comma between the items; a double quote inside a string is written \\"')),
    ("Expecting ':' delimiter", N_("a key without a ':' after it"), N_('write "key": value')),
    ("Expecting value", N_("a value that is missing or is not JSON (a trailing comma, True / None, 'single' quotes)"),
     N_('values are "strings" in double quotes, numbers, true, false, null, [lists] and {{objects}}')),
    ("Invalid \\uXXXX escape", N_("a \\u not followed by 4 hex digits"), N_("write \\u00e9-style escapes, or the character itself")),
    ("Invalid \\escape", N_("a backslash that starts no JSON escape (a Windows path, a regular expression)"),
     N_("write a backslash as \\\\ (C:\\\\data), or use /")),
)
RAW_CHARACTERS = {"\t": (N_("a raw tab"), "\\t"), "\n": (N_("a raw line break"), "\\n"), "\r": (N_("a raw carriage return"), "\\r")}


def bad_json(where: str, msg: str, char: str, column: int, jsonl: bool, unclosed: bool = False) -> TunewizError:
    """A JSON decoding error told as a located problem with its likely cause and fix: `msg` is Python's (e.msg),
    `char` the character at the error, `column` 1-based; `jsonl`: a JSON Lines file (one row a line); `unclosed`: the
    line ends inside a string and the next line starts a new row (a missing closing quote, not a raw line break)."""
    what, fix = msg.removesuffix(" at"), ""
    if unclosed:
        msg = "Unterminated string"
    if msg.startswith("Invalid control character"):
        code = ord(char or chr(0))
        named = RAW_CHARACTERS.get(char)
        raw = _(named[0]) if named else _("a raw control character (U+{code:04X})").format(code=code)
        escaped = named[1] if named else f"\\u{code:04x}"
        split = jsonl and char == "\n"
        what = (_("{raw} inside a string, which splits the row over two lines") if split else
                _("{raw} inside a string")).format(raw=raw)
        fix = (_("write it as {escaped} inside the string (json.dumps does); a JSON Lines row is one line") if split else
               _("write it as {escaped} inside the string (json.dumps does)")).format(escaped=escaped)
    elif jsonl and msg == "Extra data":
        what, fix = _("more than one JSON value on the line"), _("one object a line; a file holding one JSON array is named .json")
    else:
        what, fix = next(((_(w).format(), _(f).format()) for start, w, f in JSON_ERRORS if msg.startswith(start)), (what, fix))
    fix = _("{fix}; or delete that line").format(fix=fix) if fix and jsonl else \
        fix or (_("fix or delete that line") if jsonl else _("fix that line"))
    return TunewizError.at(where, _("not valid JSON at column {column}: {what}").format(column=column, what=what), fix)
