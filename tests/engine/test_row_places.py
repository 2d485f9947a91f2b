"""Messages name rows where the user finds them: a line of their JSONL / CSV / text file (blank lines, multi-line CSV
cells and several files counted as the loaders count them), else a row counted from 1 (parquet, a JSON array).

Each place is checked against the loader itself: the row `datasets` / tunewiz loaded as row i is the one on the
line RowPlaces names."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from engine.data import load
from engine.schema import DatasetSection


def _section(path: str, **kw) -> DatasetSection:
    return DatasetSection(path=path, **kw)


def _line(path: Path, n: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[n - 1]


def test_jsonl_rows_are_named_by_their_line_blank_lines_skipped(tmp_path):
    p = tmp_path / "chat.jsonl"
    p.write_text('{"text": "a"}\n\n   \n{"text": "b"}\r\n{"text": "c"}\n\n{"text": "d"}', encoding="utf-8")
    ds = load.load_dataset(_section(str(p)))
    places = load.RowPlaces(_section(str(p)))

    for i in range(len(ds)):
        name, _, line = places.where(i).rpartition(":")
        assert name == str(p)
        assert json.loads(_line(p, int(line)))["text"] == ds[i]["text"]
    assert [places.where(i) for i in range(4)] == [f"{p}:1", f"{p}:4", f"{p}:5", f"{p}:7"]
    assert places.describe([1, 3]) == f"{p} lines 4, 7"
    assert places.describe([2]) == f"{p} line 5"
    assert places.describe([2], short=True) == "chat.jsonl line 5"  # a screen's header: the name without its folders


def test_csv_rows_count_the_header_and_multi_line_cells(tmp_path):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    w.writerows([["one", "pos"], ["two\nlines", "neg"], ["three", "pos"], ["", ""], ["five", "neg"]])
    p = tmp_path / "reviews.csv"
    p.write_text(buf.getvalue().replace("\r\n", "\n"), encoding="utf-8")
    ds = load.load_dataset(_section(str(p)))
    places = load.RowPlaces(_section(str(p)))

    for i in range(len(ds)):
        line = int(places.where(i).rpartition(":")[2])
        assert _line(p, line).lstrip('"').startswith((ds[i]["text"] or "").split("\n")[0]), (i, line)
    assert places.where(2) == f"{p}:5"  # the header, then a row over lines 3-4


def test_text_rows_are_lines_blank_ones_included(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("first\n\nthird\nfourth\n", encoding="utf-8")
    ds = load.load_dataset(_section(str(p)))
    places = load.RowPlaces(_section(str(p)))

    assert len(ds) == 4
    for i in range(len(ds)):
        assert _line(p, int(places.where(i).rpartition(":")[2])) == ds[i]["text"]


def test_a_folder_of_files_names_the_file_of_each_row(tmp_path):
    (tmp_path / "data").mkdir()
    a, b = tmp_path / "data" / "a.jsonl", tmp_path / "data" / "b.jsonl"
    a.write_text('{"text": "a1"}\n{"text": "a2"}\n', encoding="utf-8")
    b.write_text('\n{"text": "b1"}\n{"text": "b2"}\n', encoding="utf-8")
    ds = load.load_dataset(_section(str(tmp_path / "data")))
    places = load.RowPlaces(_section(str(tmp_path / "data")))

    assert ds["text"] == ["a1", "a2", "b1", "b2"]
    assert places.where(3) == f"{b}:3"
    assert places.describe([1, 2]) == f"{a}:2, {b}:2"


def test_a_json_arrays_rows_are_named_by_the_line_each_starts_on(tmp_path):
    """A pretty-printed alpaca file: its item 501 starts on line 2503 (a new user could not find 'row 501')."""
    arr = tmp_path / "rows.json"
    arr.write_text(json.dumps([{"text": t, "more": {"x": "]["}} for t in "abcd"], indent=2), encoding="utf-8")
    ds = load.load_dataset(_section(str(arr)))
    places = load.RowPlaces(_section(str(arr)))
    lines = arr.read_text().splitlines()
    for i in range(len(ds)):
        n = int(places.where(i).rpartition(":")[2])
        assert lines[n - 1].strip() == "{" and f'"text": "{ds[i]["text"]}"' in lines[n], (i, n)
    assert places.describe([0, 3]) == f"{arr} lines 2, 20"  # 6 lines an item
    one_line = tmp_path / "flat.json"
    one_line.write_text(json.dumps([{"text": t} for t in "abc"]), encoding="utf-8")
    assert load.RowPlaces(_section(str(one_line))).where(2) == f"{one_line}:1"


def test_rows_that_are_not_lines_count_from_one(tmp_path):
    import datasets

    pq = tmp_path / "rows.parquet"
    datasets.Dataset.from_dict({"text": list("abcdefgh")}).to_parquet(str(pq))
    places = load.RowPlaces(_section(str(pq)))
    assert places.where(0) == f"{pq} row 1"
    assert places.describe(list(range(7)), shown=5) == f"{pq} rows 1, 2, 3, 4, 5 and 2 more"


def test_a_hub_dataset_and_a_sample_are_named_as_written():
    assert load.RowPlaces(_section("tatsu-lab/alpaca")).where(9) == "tatsu-lab/alpaca row 10"
    places = load.RowPlaces(_section("sample:identity"))
    sample = load.SAMPLES_DIR / load.SAMPLES["identity"][0]
    assert places.where(4) == "sample:identity:5"
    assert json.loads(_line(sample, 5)) == load.load_dataset(_section("sample:identity"))[4]


def test_more_rows_than_the_file_holds_fall_back_to_row_numbers(tmp_path):
    p = tmp_path / "short.jsonl"
    p.write_text('{"text": "a"}\n', encoding="utf-8")
    assert load.RowPlaces(_section(str(p))).where(5) == f"{p} row 6"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_row_list_reads_in_both_languages(tmp_path, lang):
    from engine import i18n

    p = tmp_path / "chat.jsonl"
    p.write_text("".join(f'{{"text": "{i}"}}\n' for i in range(9)), encoding="utf-8")
    i18n.set_language(lang)
    try:
        text = load.RowPlaces(_section(str(p))).describe([0, 2, 4, 5, 6, 7], total=8)
    finally:
        i18n.set_language("en")
    assert text == {"en": f"{p} lines 1, 3, 5, 6, 7 and 3 more",
                    "ko": f"{p} 1, 3, 5, 6, 7번째 줄 외 3개"}[lang]
