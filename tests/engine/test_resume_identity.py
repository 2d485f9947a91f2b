"""A resume continues the same training: what it may not change is compared with what the checkpoint was trained
with (issue #12), and secrets never reach a run's files."""

from __future__ import annotations

import pytest

from engine import config, launch, rundir
from engine.errors import TunewizError

PRESET = """model: {name_or_path: 'demo:minilm-l6', task: sequence-classification}
dataset: {path: DATA, format: classification}
lora: {r: 8, target_modules: [query, value]}
training: {output_dir: RUN, max_steps: 4}
"""


@pytest.fixture
def run(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
    run = tmp_path / "run"
    run.mkdir()
    rundir.mark(run)
    cfg = load(tmp_path)
    rundir.record_identity(run, launch.run_identity(cfg, ["neg", "pos"]))
    return run


def load(tmp_path, *sets: str) -> config.Config:
    p = tmp_path / "preset.yaml"
    p.write_text(PRESET.replace("DATA", str(tmp_path / "data.csv")).replace("RUN", str(tmp_path / "run")))
    return config.load(str(p), list(sets))


def test_the_same_settings_with_more_steps_resume(run, tmp_path):
    cfg = load(tmp_path, "training.max_steps=10", "training.learning_rate=1e-4", "lora.lora_dropout=0.1")
    launch.check_same_run(run, launch.run_identity(cfg, ["neg", "pos"]))


@pytest.mark.parametrize("sets, labels, named", [
    (["lora.r=4"], ["neg", "pos"], "lora.r: 8 -> 4"),
    (["lora.target_modules=[query, key, value]"], ["neg", "pos"], "lora.target_modules"),
    (["model.name_or_path=demo:smollm2-135m-instruct"], ["neg", "pos"], "model.name_or_path: demo:minilm-l6 -> demo:smollm2"),
    (["dataset.eval_size=0.5"], ["neg", "pos"], "dataset.eval_size: 0.1 -> 0.5"),
    (["lora.enabled=false"], ["neg", "pos"], "method: lora -> full fine-tune"),
    ([], ["neg", "neutral", "pos"], 'labels: ["neg", "pos"] -> ["neg", "neutral", "pos"]'),
], ids=["rank", "targets", "model", "eval-split", "method", "labels"])
def test_a_resume_with_other_settings_is_refused_naming_each(run, tmp_path, sets, labels, named):
    cfg = load(tmp_path, *sets)
    with pytest.raises(TunewizError) as e:
        launch.check_same_run(run, launch.run_identity(cfg, labels))
    text = str(e.value)
    assert "cannot resume" in text and named in text and "start a new run" in text, text


def test_the_same_file_with_other_rows_is_another_dataset(run, tmp_path):
    with open(tmp_path / "data.csv", "a") as f:
        f.write("a row added later,pos\n")
    with pytest.raises(TunewizError, match="dataset files: 1 file, sha256 .* -> 1 file, sha256"):
        launch.check_same_run(run, launch.run_identity(load(tmp_path), ["neg", "pos"]))


def test_a_run_from_before_identities_is_compared_with_its_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "data.csv").write_text("text,label\na,x\nb,y\n")
    launch.write_config(load(tmp_path), run, "test")
    launch.check_same_run(run, launch.run_identity(load(tmp_path, "training.max_steps=8"), ["x", "y"]))
    with pytest.raises(TunewizError, match="lora.r: 8 -> 16"):
        launch.check_same_run(run, launch.run_identity(load(tmp_path, "lora.r=16"), ["x", "y"]))


@pytest.mark.parametrize("how", ["preset", "--set"])
def test_a_hub_token_is_refused_and_never_written(tmp_path, capsys, monkeypatch, how):
    from engine import cli

    monkeypatch.chdir(tmp_path)
    secret = "hf_" + "x" * 34
    p = tmp_path / "p.yaml"
    body = "training: {output_dir: runs/secret-run, max_steps: 1}\n"
    p.write_text(body.replace("max_steps: 1", f"max_steps: 1, hub_token: {secret}") if how == "preset" else body)
    extra = ["--set", f"training.hub_token={secret}"] if how == "--set" else []
    assert cli.main(["run", str(p), *extra]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "training.hub_token" in err and "HF_TOKEN" in err and "hf auth login" in err and secret not in err
    assert not (tmp_path / "runs").exists()
