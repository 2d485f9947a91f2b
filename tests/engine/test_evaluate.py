"""`tunewiz eval`: the run records its held-out rows, and the eval measures exactly those, tuned vs base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine import cli, config, evaluate
from engine.errors import TunewizError
from engine.train import load_tokenizer
from tests.conftest import PRESETS, REPO


def train(run: Path, preset: str, *sets: str) -> None:
    """A real run through `tunewiz run` (its own process, as a user starts it)."""
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(PRESETS / f"{preset}.yaml"),
                        "--set", f"training.output_dir={run}", "--set", "training.save_strategy=no",
                        "--set", "training.eval_strategy=no", "--set", "training.logging_steps=1", *(s for kv in sets for s in ("--set", kv))],
                       cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory):
    """The identity demo trained one step on a copy of its data, 6 rows held out."""
    tmp = tmp_path_factory.mktemp("identity")
    data = tmp / "identity.jsonl"
    shutil.copy(REPO / "engine" / "samples" / "identity.jsonl", data)
    run = tmp / "run"
    train(run, "smollm2-identity-lora", f"dataset.path={data}", "dataset.eval_size=6", "training.max_steps=1",
          "training.per_device_train_batch_size=4", "training.warmup_steps=0")
    return run, data


@pytest.mark.slow
def test_eval_measures_the_recorded_held_out_rows_tuned_against_base(identity_run, capsys):
    run, _ = identity_run
    split = json.loads((run / evaluate.SPLIT).read_text())
    assert len(split["rows"]) == 6 and split["source_rows"] == 64
    assert split["dataset"]["files"][0]["sha256"] and split["tokens_sha256"]
    # none of the recorded rows is a row the run trained on (the same data path, its train split)
    from engine.data import pipeline
    from engine.models import materialize, resolve

    cfg = config.load(run / "config.yaml")
    trained = set(pipeline.prepare(cfg, load_tokenizer(cfg, materialize(resolve(cfg.model.name_or_path))))
                  .train["_row"])
    assert trained and not trained & set(split["rows"]) and len(trained) + 6 == 64

    assert cli.main(["eval", str(run), "--rows", "3", "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "ROUGE-L" in out and "chrF" in out and "perplexity" in out
    result = json.loads((run / evaluate.RESULT).read_text())
    assert result["rows"] == 3 and result["rows_used"] == split["rows"][:3] and result["weights"] == "final"
    for who in ("base", "tuned"):
        m = result[who]
        assert m["loss"] > 0 and m["perplexity"] > 1 and 0 <= m["rougeL"] <= 1 and 0 <= m["chrf"] <= 100
        assert 0 <= m["exact_match"] <= 1 and m["new_tokens"] > 0 and m["tokens_per_s"] > 0
    assert result["tuned"]["loss"] != result["base"]["loss"]  # the adapter was on, then off: two models
    assert result["main"] == {"metric": "rougeL", "tuned": result["tuned"]["rougeL"], "base": result["base"]["rougeL"]}
    rows = [json.loads(line) for line in (run / evaluate.ROWS).read_text().splitlines()]
    assert [r["row"] for r in rows] == split["rows"][:3]
    src = [json.loads(line) for line in (REPO / "engine" / "samples" / "identity.jsonl").read_text().splitlines()]
    for r in rows:
        assert r["reference"] == src[r["row"]]["messages"][-1]["content"]
        assert r["prompt"].endswith("<|im_start|>assistant\n") and src[r["row"]]["messages"][-2]["content"] in r["prompt"]
        assert isinstance(r["base"], str) and isinstance(r["tuned"], str)
        assert r["place"] == f"{cfg.dataset.path}:{r['row'] + 1}"  # a copy of the sample: no blank line, row i is line i + 1
    # `tunewiz runs --json` carries the main metric
    from engine import runs

    runs.register(run)
    assert cli.main(["runs", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = next(r for r in listed if r["path"] == str(run))
    assert mine["eval"]["metric"] == "rougeL" and mine["eval"]["tuned"] == result["tuned"]["rougeL"]
    assert cli.main(["runs"]) == 0
    assert f"rougeL {result['tuned']['rougeL']:.3f}" in capsys.readouterr().out


@pytest.mark.slow
def test_eval_refuses_a_changed_dataset(identity_run):
    run, data = identity_run
    before = data.read_bytes()
    try:
        data.write_bytes(before.replace(b"Tunewiz Assistant", b"Other Assistant", 1))
        with pytest.raises(TunewizError, match="the dataset changed since the run"):
            evaluate.run_eval(run, rows=1, max_new_tokens=2)
    finally:
        data.write_bytes(before)


def test_eval_refuses_a_run_that_held_out_no_rows(tmp_path):
    cfg = config.from_dict({"dataset": {"path": "sample:identity", "eval_size": 0}, "training": {"output_dir": str(tmp_path)}})
    (tmp_path / evaluate.SPLIT).write_text(json.dumps({"v": 1, "eval_size": 0, "rows": [], "dataset": evaluate.dataset_identity(cfg)}))
    with pytest.raises(TunewizError, match=r"(?s)held out no rows.*dataset.eval_size"):
        evaluate.read_split(tmp_path, cfg)
    (tmp_path / evaluate.SPLIT).unlink()
    with pytest.raises(TunewizError, match=r"(?s)recorded no eval split.*dataset.eval_size"):
        evaluate.read_split(tmp_path, cfg)


def test_the_split_is_the_one_the_data_path_makes(smol_tok):
    from engine.data import pipeline

    cfg = config.from_dict({"dataset": {"path": "sample:identity", "eval_size": 0.1}, "training": {"seed": 7, "output_dir": "x"}})
    prepared = pipeline.prepare(cfg, smol_tok)
    assert sorted(evaluate.held_out_rows(64, 0.1, 7)) == sorted(prepared.eval["_row"])


def test_rouge_and_chrf_measure_korean_and_chinese():
    m, per_row = evaluate.text_metrics(["나는 학생이다", "我是学生"], ["나는 학생이다", "我是老师"])
    assert per_row[0] == 1.0 and per_row[1] == pytest.approx(0.5)  # rouge-score's own tokenizer gives 0 for both
    assert m["exact_match"] == 0.5 and 0 < m["chrf"] < 100


@pytest.mark.slow
def test_classifier_eval_reports_accuracy_f1_and_confusion_matrix(tmp_path, capsys):
    run = tmp_path / "cls"
    train(run, "minilm-sentiment-lora", "dataset.max_rows=80", "dataset.eval_size=16", "training.max_steps=3")
    assert cli.main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "macro F1" in out and "confusion matrix, tuned" in out and "randomly initialised" in out
    result = json.loads((run / evaluate.RESULT).read_text())
    assert result["task"] == "classification" and result["labels"] == ["negative", "positive"] and result["rows"] == 16
    for who in ("base", "tuned"):
        m = result[who]
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["f1_macro"] <= 1
        cm = m["confusion_matrix"]
        assert len(cm) == 2 and sum(map(sum, cm)) == 16
        assert m["accuracy"] == pytest.approx((cm[0][0] + cm[1][1]) / 16)
    assert result["main"]["metric"] == "accuracy"
    # the same rows as the trainer's own evaluation at the end of the run: the same numbers
    ends = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    trainer_eval = [e for e in ends if e["type"] == "eval"][-1]
    assert result["tuned"]["accuracy"] == pytest.approx(trainer_eval["accuracy"])
    assert result["tuned"]["loss"] == pytest.approx(trainer_eval["loss"], rel=1e-4)
    rows = [json.loads(line) for line in (run / evaluate.ROWS).read_text().splitlines()]
    split = json.loads((run / evaluate.SPLIT).read_text())
    assert [r["row"] for r in rows] == split["rows"] and {r["reference"] for r in rows} <= {"negative", "positive"}
    assert yaml.safe_load((run / "config.yaml").read_text())["dataset"]["eval_size"] == 16


def test_regression_and_class_metrics_come_from_scipy_and_scikit_learn():
    m = evaluate.regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0])
    assert m["mse"] == pytest.approx((0.25 + 0 + 0.25 + 1) / 4) and m["spearman"] == pytest.approx(1.0) and 0.9 < m["pearson"] < 1
    assert evaluate._finite(evaluate.regression_metrics([1.0, 2.0], [3.0, 3.0]))["pearson"] is None
    c = evaluate.class_metrics([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert c["accuracy"] == 0.5 and c["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert c["f1_macro"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)


TASK = """task: tunewiz_identity_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {rows}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
"""


@pytest.mark.slow
def test_lm_eval_tasks_run_offline_from_a_local_task_on_tuned_and_base(identity_run, tmp_path, capsys, monkeypatch):
    """`tunewiz eval RUN --tasks my_task.yaml`: lm-evaluation-harness's own loader (`hf`, with `peft=` for the
    adapter) scores a local multiple-choice task for the tuned and the base model."""
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, _ = identity_run
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in [
        {"question": "What is your name?", "choices": ["Tunewiz Assistant", "A teapot"], "label": 0},
        {"question": "What is the capital of France?", "choices": ["Berlin", "Paris"], "label": 1},
        {"question": "How many legs does a cat have?", "choices": ["Four", "Nine"], "label": 0}]))
    task = tmp_path / "identity_mc.yaml"
    task.write_text(TASK.format(rows=rows))
    assert cli.main(["eval", str(run), "--tasks", str(task), "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "tunewiz_identity_mc" in out and "acc" in out
    result = json.loads((run / evaluate.TASKS_RESULT).read_text())
    acc = result["results"]["tunewiz_identity_mc"]["acc"]
    assert set(acc) == {"base", "tuned"} and all(v in (0, 1 / 3, 2 / 3, 1) or 0 <= v <= 1 for v in acc.values())
    assert result["chat_template"] is True  # the trained template, applied as in training


def test_lm_eval_task_errors_are_located(identity_run, tmp_path, capsys):
    pytest.importorskip("lm_eval")
    run, _ = identity_run
    assert cli.main(["eval", str(run), "--tasks", str(tmp_path / "missing.yaml")]) == cli.EXIT_INPUT
    assert "no such task file" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("dataset_path: json\n")
    assert cli.main(["eval", str(run), "--tasks", str(tmp_path / "bad.yaml")]) == cli.EXIT_INPUT
    assert "defines no task" in capsys.readouterr().err
    assert cli.main(["eval", str(run), "--tasks", "no_such_task_xyz"]) == cli.EXIT_INPUT
    assert "unknown task 'no_such_task_xyz'" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_at_end_measures_the_held_out_rows_when_the_run_finishes(tmp_path):
    """evaluate.at_end: the run's last stage is `tunewiz eval`'s measurement; the foreground run prints its line."""
    run = tmp_path / "cls"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(PRESETS / "minilm-sentiment-lora.yaml"),
                        "--set", f"training.output_dir={run}", "--set", "training.save_strategy=no", "--set", "training.max_steps=2",
                        "--set", "dataset.max_rows=60", "--set", "dataset.eval_size=12", "--set", "evaluate.at_end=true",
                        "--set", "evaluate.rows=8"], cwd=REPO, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "held-out rows (8): accuracy tuned" in r.stdout, r.stdout
    result = json.loads((run / evaluate.RESULT).read_text())
    assert result["rows"] == 8 and result["held_out"] == 12 and result["main"]["metric"] == "accuracy"
    kinds = [json.loads(line)["type"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert kinds[-2:] == ["held_out", "end"]
    assert evaluate.summary(run)["tuned"] == result["main"]["tuned"]


def test_evaluate_at_end_without_held_out_rows_is_refused_before_the_run(tmp_path, capsys):
    rc = cli.main(["validate", "minilm-sentiment-lora", "--set", "dataset.eval_size=0", "--set", "evaluate.at_end=true",
                   "--set", "training.eval_strategy=no",
                   "--set", f"training.output_dir={tmp_path / 'x'}"])
    assert rc == cli.EXIT_INPUT and "evaluate.at_end" in capsys.readouterr().err
