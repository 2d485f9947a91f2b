"""Format detection (with its reason) on the real datasets users bring, and conversion to chat."""

import json

import pytest

from engine import config
from engine.data import formats, load
from engine.errors import TunewizError
from tests.conftest import shared


def detect(path, **ds):
    raw = load.load_dataset(config.DatasetSection(path=path, **ds))
    return raw, formats.detect(raw.column_names, raw[0], ds.get("format", "auto"), ds.get("columns"), None,
                               "sequence-classification" if path.endswith(".csv") else "causal-lm")


@pytest.mark.parametrize(("name", "fmt", "columns"), [
    ("alpaca_en_demo.json", "alpaca", {"instruction": "instruction", "output": "output", "input": "input"}),
    ("glaive_toolcall_en_demo.json", "sharegpt", {"conversations": "conversations", "tools": "tools"}),
    ("chat_messages.jsonl", "messages", {"messages": "messages"}),
    ("c4_demo.jsonl", "text", {"text": "text"}),
    ("wiki_demo.txt", "text", {"text": "text"}),
    ("mrpc_dev.csv", "classification", {"text": "sentence1", "text_pair": "sentence2", "label": "label"}),
])
def test_detects_shared_datasets(name, fmt, columns):
    _, f = detect(shared(name))
    assert f.name == fmt
    assert f.columns == columns
    assert f.reason  # always says why


def test_sharegpt_tool_turns_become_chat():
    raw, f = detect(shared("glaive_toolcall_en_demo.json"))
    row = next(r for r in raw if any(t["from"] == "function_call" for t in r["conversations"]))
    ex = formats.canonical(row, f)
    roles = [m["role"] for m in ex["messages"]]
    assert "tool" in roles and roles.count("assistant") >= 2
    assert isinstance(ex["tools"], list) and ex["tools"][0]["name"]


def test_alpaca_input_joins_instruction():
    f = formats.Format("alpaca", {"instruction": "instruction", "input": "input", "output": "output", "system": "system"}, "")
    ex = formats.canonical({"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be brief"}, f)
    assert ex["messages"] == [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Translate\nbonjour"},
                              {"role": "assistant", "content": "hello"}]


def test_prompt_completion_and_template(tmp_path):
    p = tmp_path / "qa.jsonl"
    p.write_text("\n".join(json.dumps({"q": f"question {i}", "a": f"answer {i}"}) for i in range(3)))
    raw = load.load_dataset(config.DatasetSection(path=str(p)))
    with pytest.raises(TunewizError, match="could not tell the format"):
        formats.detect(raw.column_names, raw[0])
    f = formats.detect(raw.column_names, raw[0], "prompt-completion", {"prompt": "q", "completion": "a"})
    assert formats.canonical(raw[0], f) == {"prompt": "question 0", "completion": "answer 0"}
    f = formats.detect(raw.column_names, raw[0], template={"prompt": "### Q: {q}\n### A: ", "completion": "{a}"})
    assert formats.canonical(raw[1], f) == {"prompt": "### Q: question 1\n### A: ", "completion": "answer 1"}
    with pytest.raises(TunewizError, match=r"\{qq\} is not a column; did you mean q"):
        formats.detect(raw.column_names, raw[0], template={"prompt": "{qq}", "completion": "{a}"})


def test_tokenized_data_passes_through(tmp_path):
    p = tmp_path / "tok.jsonl"
    p.write_text(json.dumps({"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]}) + "\n")
    raw = load.load_dataset(config.DatasetSection(path=str(p)))
    f = formats.detect(raw.column_names, raw[0])
    assert f.name == "tokenized"
    assert formats.canonical(raw[0], f) == {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}


def test_folder_of_parquet_and_tsv(tmp_path):
    import datasets

    d = tmp_path / "pq"
    d.mkdir()
    datasets.Dataset.from_list([{"text": "a b"}, {"text": "c d"}]).to_parquet(str(d / "part0.parquet"))
    datasets.Dataset.from_list([{"text": "e f"}]).to_parquet(str(d / "part1.parquet"))
    assert len(load.load_dataset(config.DatasetSection(path=str(d)))) == 3
    t = tmp_path / "x.tsv"
    t.write_text("sentence\tlabel\nit was good, really\tpos\nbad\tneg\n")
    raw = load.load_dataset(config.DatasetSection(path=str(t)))
    assert raw[0] == {"sentence": "it was good, really", "label": "pos"}


def test_samples_are_bundled():
    for name in load.SAMPLES:
        raw = load.load_dataset(config.DatasetSection(path=f"sample:{name}"))
        assert len(raw) >= 48
