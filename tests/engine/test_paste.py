"""Pasted tutorial code fills preset keys without ever running it."""

from __future__ import annotations

import pytest

from engine import config
from engine.errors import TunewizError
from engine.paste import parse_call, parse_calls

HF_COURSE = '''
from transformers import TrainingArguments

training_args = TrainingArguments("test-trainer", evaluation_strategy="epoch")
'''

HF_COURSE_LONG = '''
    args = TrainingArguments(
        output_dir="bert-finetuned-mrpc",
        evaluation_strategy="epoch",  # evaluate once per epoch
        learning_rate=2e-5,
        per_device_train_batch_size=16,
        num_train_epochs=3,
        weight_decay=0.01,
        logging_dir="./logs",
        push_to_hub=False,
    )
'''

TRL_SFT = '''
from trl import SFTConfig, SFTTrainer

sft_config = SFTConfig(
    max_seq_length=512,
    output_dir="/tmp",
    packing=True,
)
trainer = SFTTrainer(model, train_dataset=dataset, args=sft_config)
'''

PEFT_LORA = '''
from peft import LoraConfig, TaskType

peft_config = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=["q_proj", "v_proj"],
    lora_dropout=0.05,
    bias="none",
    task_type="CAUSAL_LM",
)
'''


def test_hf_course_training_arguments():
    p = parse_call(HF_COURSE)
    assert p.kind == "training" and p.call == "TrainingArguments"
    assert p.values == {"output_dir": "test-trainer", "eval_strategy": "epoch"}
    assert any("evaluation_strategy was renamed to eval_strategy" in n for n in p.notes)


def test_indented_multiline_call_with_comments_and_removed_argument():
    p = parse_call(HF_COURSE_LONG)
    assert p.values == {"output_dir": "bert-finetuned-mrpc", "eval_strategy": "epoch", "learning_rate": 2e-5,
                        "per_device_train_batch_size": 16, "num_train_epochs": 3, "weight_decay": 0.01, "push_to_hub": False}
    assert any(n.startswith("logging_dir was skipped: removed in transformers 5") for n in p.notes)


def test_trl_sft_config_renamed_max_seq_length():
    p = parse_call(TRL_SFT)
    assert p.kind == "training" and p.call == "SFTConfig"
    assert p.values == {"max_length": 512, "output_dir": "/tmp", "packing": True}
    assert any("max_seq_length was renamed to max_length (renamed in TRL 0.20)" in n for n in p.notes)


def test_sft_options_are_skipped_for_classification():
    p = parse_call(TRL_SFT, task="sequence-classification")
    assert "packing" not in p.values and p.values["max_length"] == 512
    assert any("training.packing" in n and "does not apply" in n for n in p.notes)


def test_peft_lora_config():
    p = parse_call(PEFT_LORA)
    assert p.kind == "lora" and p.notes == []
    assert p.values == {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.05,
                        "bias": "none", "task_type": "CAUSAL_LM"}
    # what a paste gives is a valid preset section
    cfg = config.from_dict({"lora": p.values})
    assert cfg.lora["target_modules"] == ["q_proj", "v_proj"]


def test_enum_members_sets_and_module_prefix():
    p = parse_call("transformers.TrainingArguments(lr_scheduler_type=SchedulerType.COSINE, report_to=('none',))")
    assert p.values == {"lr_scheduler_type": "cosine", "report_to": ["none"]}
    p = parse_call('LoraConfig(task_type=TaskType.CAUSAL_LM, target_modules={"v_proj", "q_proj"})')
    assert p.values == {"task_type": "CAUSAL_LM", "target_modules": ["q_proj", "v_proj"]}


def test_both_calls_of_a_script_are_found_in_order():
    found = parse_calls(PEFT_LORA + TRL_SFT)
    assert [p.call for p in found] == ["LoraConfig", "SFTConfig"]
    assert any("SFTConfig(...)" in n for n in parse_call(PEFT_LORA + TRL_SFT).notes)


def test_unknown_key_names_the_nearest():
    p = parse_call("TrainingArguments(learnig_rate=1e-4, warmup_ratio=0.1)")
    assert p.values == {"warmup_steps": 0.1}
    assert any(n.startswith("learnig_rate was skipped") and "did you mean learning_rate?" in n for n in p.notes)
    assert any(n.startswith("warmup_ratio was renamed to warmup_steps") for n in p.notes)


def test_bad_values_are_checked_like_a_preset():
    p = parse_call('TrainingArguments(learning_rate="abc", per_device_train_batch_size=2.5, lr_scheduler_type="cosin", '
                   'learning_rate=-1)')
    assert p.values == {"learning_rate": -1}  # kept so the form shows it as wrong
    notes = "\n".join(p.notes)
    assert "training.learning_rate: must be greater than 0 (got -1) (kept" in notes
    assert "training.per_device_train_batch_size: 2.5 is not a whole number (skipped)" in notes
    assert "did you mean cosine?" in notes
    assert "learning_rate was given twice" in notes


def test_code_is_never_executed(monkeypatch):
    import os

    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a) or 0)
    monkeypatch.setattr(os, "getpid", lambda: called.append("getpid") or 1)
    p = parse_call('import os\nargs = TrainingArguments(output_dir=os.system("rm -rf /"), seed=__import__("os").getpid(),\n'
                   '    run_name=f"{model}-sft", learning_rate=lr, num_train_epochs=1)')
    assert called == []
    assert p.values == {"num_train_epochs": 1}
    skipped = [n.split(" was skipped")[0] for n in p.notes]
    assert skipped == ["output_dir", "seed", "run_name", "learning_rate"]
    assert "os.system('rm -rf /') is computed when the code runs" in p.notes[0]


def test_syntax_error_names_the_line():
    with pytest.raises(TunewizError) as e:
        parse_call('TrainingArguments(\n    output_dir="out",\n    learning_rate=2e-5\n    seed=1,\n)')
    assert e.value.problems[0].where == "pasted code, line 3"
    assert "not valid Python" in e.value.problems[0].what


def test_no_call_found():
    with pytest.raises(TunewizError, match="found no TrainingArguments"):
        parse_call("trainer.train()")


def test_a_whole_number_stays_whole_in_a_float_field():
    from engine import config, fields

    spec = fields.fields("training")["eval_steps"]  # a float field: a ratio or a step count
    assert repr(config.coerce("5", spec)) == "5" and repr(config.coerce("0.25", spec)) == "0.25"
    assert config.coerce("2e-4", fields.fields("training")["learning_rate"]) == 2e-4
