"""peek / count_rows: the head of a file without loading it, the same rows and counts the loader gives,
and malformed input named by file and line."""

import json
import time

import pytest

from engine import config
from engine.data import formats, load, peek
from engine.errors import TunewizError
from tests.conftest import shared

SHARED = ["alpaca_en_demo.json", "alpaca_zh_demo.json", "identity.json", "glaive_toolcall_en_demo.json",
          "c4_demo.jsonl", "chat_messages.jsonl", "wiki_demo.txt", "mrpc_dev.csv"]


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    path = tmp_path_factory.mktemp("huge") / "huge.jsonl"
    path.write_text("".join(f'{{"prompt": "question {i}", "completion": "answer {i}"}}\n' for i in range(1_000_000)))
    return path


def test_head_of_a_million_line_file_comes_at_once(huge):
    start = time.perf_counter()
    names, rows = peek.peek(str(huge), n=50)
    assert time.perf_counter() - start < 0.5  # counting the lines takes seconds
    assert names == ["prompt", "completion"]
    assert len(rows) == 50 and rows[49] == {"prompt": "question 49", "completion": "answer 49"}
    assert peek.count_rows(str(huge)) == 1_000_000


def test_counting_stops_when_asked(huge):
    assert peek.count_rows(str(huge), should_stop=lambda: True) is None


@pytest.mark.parametrize("name", SHARED)
def test_shared_datasets_match_the_loader(name):
    """Same columns, row count and first rows (as far as CSV strings go) as the loader training uses."""
    path = shared(name)
    names, rows = peek.peek(path, n=5)
    data = load.load_dataset(config.DatasetSection(path=path))
    assert names == data.column_names
    assert peek.count_rows(path) == len(data)
    if not name.endswith(".csv"):
        assert rows == [data[i] for i in range(min(5, len(data)))]
    task = "sequence-classification" if name.endswith(".csv") else "causal-lm"
    assert formats.detect(names, rows[0], task=task) == formats.detect(data.column_names, data[0], task=task)


def test_samples_and_folders(tmp_path):
    assert peek.peek("sample:identity")[0] == ["messages"] and peek.count_rows("sample:identity") == 64
    names, rows = peek.peek("sample:sentiment", n=3)
    assert names == ["text", "label"] and len(rows) == 3 and peek.count_rows("sample:sentiment") == 240
    for i in range(3):
        (tmp_path / f"part{i}.jsonl").write_text("".join(json.dumps({"text": f"{i}-{j}"}) + "\n" for j in range(4)))
    names, rows = peek.peek(str(tmp_path), n=6)
    assert [r["text"] for r in rows] == ["0-0", "0-1", "0-2", "0-3", "1-0", "1-1"]
    assert peek.count_rows(str(tmp_path)) == 12


def test_csv_tsv_and_parquet(tmp_path):
    (tmp_path / "a.tsv").write_text("text\tlabel\nfine, really\tpos\n\tneg\n")
    assert peek.peek(str(tmp_path / "a.tsv")) == (["text", "label"], [{"text": "fine, really", "label": "pos"},
                                                                       {"text": None, "label": "neg"}])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [f"t{i}" for i in range(500)], "label": list(range(500))}), tmp_path / "a.parquet",
                   row_group_size=100)
    names, rows = peek.peek(str(tmp_path / "a.parquet"), n=3)
    assert names == ["text", "label"] and rows[2] == {"text": "t2", "label": 2}
    assert peek.count_rows(str(tmp_path / "a.parquet")) == 500


@pytest.mark.parametrize(("text", "line", "what"), [
    ('{"a": 1}\n{"a": 2,}\n', 2, "not valid JSON"),
    ('{"a": 1}\n\n[1, 2]\n', 3, "a JSON list where an object was expected"),
], ids=["syntax", "not-an-object"])
def test_bad_jsonl_names_the_line(tmp_path, text, line, what):
    p = tmp_path / "bad.jsonl"
    p.write_text(text)
    with pytest.raises(TunewizError) as e:
        peek.peek(str(p))
    assert e.value.problems[0].where == f"{p}:{line}" and what in e.value.problems[0].what
    assert str(load.find_bad_json(p)) == str(e.value)  # the loader's own words


def test_bad_line_past_the_head_is_found_by_the_count(tmp_path):
    p = tmp_path / "late.jsonl"
    p.write_text("".join(json.dumps({"text": str(i)}) + "\n" for i in range(200)) + "{oops\n")
    assert len(peek.peek(str(p))[1]) == 50
    with pytest.raises(TunewizError, match=f"{p}:201"):
        peek.count_rows(str(p))


@pytest.mark.parametrize(("text", "line"), [
    ('[\n {"a": 1},\n {"a": 2,},\n {"a": 3}\n]\n', 3),
    ("[\n" + ",\n".join(json.dumps({"t": "x" * 100}) for _ in range(3000)) + ',\n{"t": "y" ]\n', 3002),  # past a buffer
    ('[{"a": 1},\n "x"]', 2),
    ('[{"a": 1},', 1),
], ids=["syntax", "deep", "not-an-object", "unclosed"])
def test_bad_json_array_names_the_line(tmp_path, text, line):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(TunewizError) as e:
        peek.count_rows(str(p))
    assert e.value.problems[0].where == f"{p}:{line}"


def test_json_array_streams_the_same_rows(tmp_path):
    rows = [{"i": i, "text": "é" * (i % 300), "nested": [{"a": [i]}]} for i in range(2000)]
    p = tmp_path / "rows.json"
    p.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    assert peek.peek(str(p), n=2000)[1] == rows
    assert peek.count_rows(str(p)) == 2000


@pytest.mark.parametrize(("name", "text", "what"), [
    ("empty.jsonl", "\n\n", "has no rows"),
    ("header.csv", "text,label\n", "has no rows"),
    ("ragged.csv", "text,label\na,b\nc\n", "1 fields where the header has 2"),
    ("notes.md", "# hi\n", "unsupported file type"),
])
def test_other_bad_files(tmp_path, name, text, what):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(TunewizError, match=what):
        peek.peek(str(p))


def test_missing_path_and_unknown_sample():
    with pytest.raises(TunewizError, match="no such file or folder"):
        peek.peek("./nothing.jsonl")
    with pytest.raises(TunewizError, match="did you mean identity"):
        peek.peek("sample:identiy")


def test_hub_id_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TunewizError) as e:
        peek.peek_hub("nobody-here/no-such-dataset")
    p = e.value.problems[0]
    assert p.where == "dataset.path" and "could not load hub dataset 'nobody-here/no-such-dataset'" in p.what
    assert "hf download --repo-type dataset nobody-here/no-such-dataset" in p.fix
