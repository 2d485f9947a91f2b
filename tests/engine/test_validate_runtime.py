"""`tunewiz validate` refuses what used to pass it and fail seconds later in the run (after the weights loaded),
and prints the data's findings (rows left out, what was found) that `run` and `preview` print too."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.engine.test_bad_input import (  # noqa: F401
    EXIT_INPUT,
    _isolated,
    assert_input_error,
    assert_no_run,
    preset,
    tunewiz,
)

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def test_a_regex_target_that_matches_no_layer(tmp_path, capsys):
    p = preset("lora:\n  target_modules: '.*\\.(query|value)'\n")
    rc, err = tunewiz(capsys, "validate", p)
    assert_input_error(rc, err, "lora.target_modules", "matches no linear layer", "q_proj")
    assert_no_run(tmp_path)


def test_a_regex_target_that_matches_is_valid(capsys):
    rc, _ = tunewiz(capsys, "validate", preset("lora:\n  target_modules: '.*\\.(q_proj|v_proj)'\n"))
    assert rc == 0


def test_a_broken_regex_target(capsys):
    rc, err = tunewiz(capsys, "validate", preset("lora:\n  target_modules: '.*(q_proj'\n"))
    assert_input_error(rc, err, "lora.target_modules", "not a valid regular expression")


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed here")
@pytest.mark.parametrize("optim", ["adamw_8bit", "paged_adamw_8bit", "adamw_bnb_8bit", "paged_lion_32bit"])
def test_an_optimizer_whose_package_is_missing(tmp_path, capsys, optim):
    rc, err = tunewiz(capsys, "validate", preset(f"training:\n  optim: {optim}\n"))
    assert_input_error(rc, err, "training.optim", f"{optim} needs the bitsandbytes package", "pip install bitsandbytes")
    assert_no_run(tmp_path)


@pytest.mark.parametrize(("optim", "pkg"), [("adamw_torch_4bit", "torchao"), ("galore_adamw", "galore-torch"),
                                            ("schedule_free_adamw", "schedulefree"), ("lomo", "lomo-optim")])
def test_other_optimizers_name_their_package(capsys, optim, pkg):
    module = {"torchao": "torchao", "galore-torch": "galore_torch", "schedulefree": "schedulefree", "lomo-optim": "lomo_optim"}[pkg]
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{pkg} is installed here")
    rc, err = tunewiz(capsys, "validate", preset(f"training:\n  optim: {optim}\n"))
    assert_input_error(rc, err, "training.optim", f"pip install {pkg}")


def test_a_causal_lm_task_type_on_a_classifier(tmp_path, capsys):
    p = preset("model:\n  name_or_path: demo:minilm-l6\n  task: sequence-classification\n"
               "dataset:\n  path: sample:sentiment\nlora:\n  task_type: CAUSAL_LM\n")
    rc, err = tunewiz(capsys, "validate", p)
    assert_input_error(rc, err, "lora.task_type", "CAUSAL_LM contradicts model.task sequence-classification",
                       "classifier head untrained", "remove lora.task_type")
    assert_no_run(tmp_path)


def test_a_seq_cls_task_type_on_a_causal_lm(capsys):
    rc, err = tunewiz(capsys, "validate", preset("lora:\n  task_type: SEQ_CLS\n"))
    assert_input_error(rc, err, "lora.task_type", "SEQ_CLS contradicts model.task causal-lm")


def test_the_matching_task_type_is_fine(capsys):
    rc, _ = tunewiz(capsys, "validate", preset("lora:\n  task_type: CAUSAL_LM\n"))
    assert rc == 0


def test_validate_prints_rows_left_out_and_why(tmp_path, capsys):
    from engine import cli

    rows = [{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A."}]},
            {"messages": [{"role": "user", "content": "only a question"}]},
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""},
                          {"role": "user", "content": "?"}, {"role": "assistant", "content": "Yes."}]},
            {"messages": [{"role": "user", "content": "empty answer only"}, {"role": "assistant", "content": ""}]}]
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = preset("dataset:\n  path: chat.jsonl\n  eval_size: 0\n")
    capsys.readouterr()
    assert cli.main(["validate", p]) == 0
    out = capsys.readouterr().out
    assert "2 rows had no answer to train" in out and "were left out of training (chat.jsonl lines 2, 4)" in out
    # the row left out for its empty answer is told once (a new user saw it again as "1 rows have an empty ...")
    assert "1 rows have an empty assistant turn: it is not trained" in out


def test_validate_and_preview_print_the_same_findings(tmp_path, capsys):
    (tmp_path / "poem.txt").write_text((REAL / "tinyshakespeare_input_head60.txt").read_text())
    p = preset("dataset:\n  path: poem.txt\n  eval_size: 0\n")
    from engine import cli

    for command in ("validate", "preview"):
        capsys.readouterr()
        assert cli.main([command, p]) == 0
        out = capsys.readouterr().out
        assert "15 rows were blank (an empty line or text) and were left out of training" in out, out


@pytest.mark.parametrize("section", ["model", "dataset", "training", "lora", "launch"])
def test_a_section_that_is_not_a_mapping_is_a_located_problem(capsys, section):
    rc, err = tunewiz(capsys, "validate", preset(f"{section}: foo\n"))
    assert_input_error(rc, err, f"preset.yaml: {section}")


def test_values_that_defeat_the_run_are_warned_by_validate(capsys):
    from engine import cli

    p = preset("training:\n  fp16: true\n  warmup_steps: 1000\n  logging_steps: 200\n  save_steps: 100\n"
               "  per_device_train_batch_size: 1\n  gradient_accumulation_steps: 64\n  num_train_epochs: 1\n")
    capsys.readouterr()
    assert cli.main(["validate", p]) == 0  # valid: warnings, not problems
    out = capsys.readouterr().out
    for needle in ("warmup_steps 1000 >= the run's 1 optimizer step", "logging_steps 200 > the run's 1 optimizer step",
                   "save_steps 100 > the run's 1 optimizer step", "fp16: true on a machine without a CUDA GPU",
                   "holds all 58 rows: each epoch is one optimizer step", "fix: gradient_accumulation_steps: 5"):
        assert needle in out, out


def test_lora_left_at_trls_learning_rate_and_a_warmup_share_that_takes_the_whole_run_are_warned(capsys):
    """New-user findings: a LoRA preset with no learning_rate trains at TRL's 2e-5 (a full fine-tuning rate: LoRA barely
    moves); warmup_steps 0.1 on a 1-step run rounds up to one warm-up step, so that step trains at learning rate 0."""
    from engine import cli

    p = preset("training:\n  max_steps: 1\n  warmup_steps: 0.1\n")
    capsys.readouterr()
    assert cli.main(["validate", p]) == 0
    out = capsys.readouterr().out
    assert "learning_rate is not set: TRL's default 2e-05 is a full fine-tuning rate" in out and "learning_rate: 2e-4" in out
    assert "warmup_steps 0.1 is a share of the run, and of its 1 optimizer step it takes them all" in out, out
    p = preset("training:\n  max_steps: 20\n  warmup_steps: 0.1\n  learning_rate: 2.0e-4\n")
    assert cli.main(["validate", p]) == 0
    assert "warning" not in capsys.readouterr().out


def test_a_sensible_preset_has_no_run_warnings(capsys):
    from engine import cli

    capsys.readouterr()
    assert cli.main(["validate", "smollm2-identity-lora"]) == 0
    assert "warning" not in capsys.readouterr().out


@pytest.mark.parametrize(("key", "real"), [("lora.rank", "r"), ("lora.alpha", "lora_alpha"), ("lora.dropout", "lora_dropout"),
                                           ("training.lr", "learning_rate"), ("training.epochs", "num_train_epochs"),
                                           ("training.batch_size", "per_device_train_batch_size"),
                                           ("training.cutoff_len", "max_length")])
def test_common_short_names_point_to_the_real_field(capsys, key, real):
    rc, err = tunewiz(capsys, "validate", preset("version: 1\n"), "--set", f"{key}=8")
    assert_input_error(rc, err, f"--set {key}", f"did you mean {real}?")
