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
    assert any(n.startswith("logging_dir was skipped: deprecated in transformers 5.0.0, removed in 5.15.0") for n in p.notes)


def test_trl_sft_config_renamed_max_seq_length():
    p = parse_call(TRL_SFT)
    assert p.kind == "training" and p.call == "SFTConfig"
    assert p.values == {"max_length": 512, "output_dir": "/tmp", "packing": True}
    assert any("max_seq_length was renamed to max_length (renamed in TRL 0.16.0, the old name removed in 0.20.0)" in n
               for n in p.notes)


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
    assert [p.call for p in found] == ["LoraConfig", "SFTConfig", "SFTTrainer"]
    trainer = found[2]
    assert trainer.values == {} and trainer.dataset == {}
    # args=sft_config names the SFTConfig call above (read on its own): nothing to say about it
    assert trainer.notes == ["model=model was skipped: tunewiz loads the model chosen on the Model step (model.name_or_path)",
                             "train_dataset=dataset was skipped: tunewiz loads, formats and tokenizes the data of the "
                             "Dataset step (dataset.path)"]
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
    with pytest.raises(TunewizError, match="found no TrainingArguments") as e:
        parse_call("trainer.train()")
    assert "SFTTrainer(...)" in e.value.problems[0].what


def test_a_whole_number_stays_whole_in_a_float_field():
    from engine import config, fields

    spec = fields.fields("training")["eval_steps"]  # a float field: a ratio or a step count
    assert repr(config.coerce("5", spec)) == "5" and repr(config.coerce("0.25", spec)) == "0.25"
    assert config.coerce("2e-4", fields.fields("training")["learning_rate"]) == 2e-4


# --------------------------------------------------------------------------------- placeholders, f-strings
TRL_DOCS_ELLIPSIS = """
training_args = SFTConfig(..., bf16=True)
other = TrainingArguments(output_dir=..., learning_rate=2e-5, target=[...])
"""


def test_ellipsis_is_a_placeholder_not_a_value():
    first, second = parse_calls(TRL_DOCS_ELLIPSIS)
    assert first.values == {"bf16": True}  # not output_dir: "Ellipsis"
    assert first.notes == ["... is a placeholder in the docs: nothing was read for it"]
    assert second.values == {"learning_rate": 2e-5}
    assert "output_dir=...: ... is a placeholder in the docs: nothing was read for it" in second.notes
    assert "target=[...]: ... is a placeholder in the docs: nothing was read for it" in second.notes


def test_an_f_string_without_placeholders_is_a_constant():
    p = parse_call('TrainingArguments(output_dir=f"out", run_name=f"{model_id}-sft", report_to=[f"none"])')
    assert p.values == {"output_dir": "out", "report_to": ["none"]}
    assert p.notes == ["run_name was skipped: f'{model_id}-sft' is computed when the code runs (only plain values are read); "
                       "type its value in the form"]


# ------------------------------------------------------------------------------------------- Seq2Seq
def test_seq2seq_options_say_what_tunewiz_does_instead():
    p = parse_call('Seq2SeqTrainingArguments(output_dir="t5", predict_with_generate=True, generation_max_length=128, '
                   'generation_num_beams=4, sortish_sampler=True, generation_config="gen.json")')
    assert p.values == {"output_dir": "t5"}
    notes = dict(n.split(" was skipped: ", 1) for n in p.notes)
    assert set(notes) == {"predict_with_generate", "generation_max_length", "generation_num_beams", "sortish_sampler",
                          "generation_config"}
    assert notes["predict_with_generate"] == ("a Seq2SeqTrainingArguments option (generate text during evaluation, for "
                                              "ROUGE/BLEU); tunewiz evaluates with the loss on the held-out rows (scoring "
                                              "generated text, for a finished run: not yet)")
    assert "train_sampling_strategy: group_by_length" in notes["sortish_sampler"]
    assert not any("has no such argument" in n for n in p.notes)


# -------------------------------------------------------------------------------------- SFTTrainer cell
SFT_CELL = """
from datasets import load_dataset
from peft import LoraConfig
from trl import SFTTrainer

dataset = load_dataset("imdb", split="train")
trainer = SFTTrainer(
    "facebook/opt-350m",
    train_dataset=dataset,
    eval_dataset=dataset,
    dataset_text_field="review",
    max_seq_length=512,
    packing=True,
    dataset_num_proc=4,
    dataset_batch_size=1000,
    dataset_kwargs={"add_special_tokens": False},
    model_init_kwargs={"torch_dtype": torch.bfloat16, "attn_implementation": "flash_attention_2", "device_map": "auto"},
    tokenizer=tokenizer,
    formatting_func=formatting_prompts_func,
    data_collator=collator,
    callbacks=[MyCallback()],
    compute_metrics=compute_metrics,
    peft_config=LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM"),
    args=SFTConfig(output_dir="opt-sft", learning_rate=1e-4),
)
collator = DataCollatorForCompletionOnlyLM("### Answer:", tokenizer=tokenizer)
"""


def test_a_whole_sft_trainer_cell_is_read_or_explained():
    trainer, lora, args = parse_calls(SFT_CELL)
    assert (trainer.call, lora.call, args.call) == ("SFTTrainer", "LoraConfig", "SFTConfig")
    assert lora.values == {"r": 8, "lora_alpha": 16, "task_type": "CAUSAL_LM"}  # inline: read on its own
    assert args.values == {"output_dir": "opt-sft", "learning_rate": 1e-4}
    assert trainer.kind == "training"
    assert trainer.values == {"max_length": 512, "packing": True}
    assert trainer.dataset == {"columns": {"text": "review"}}
    notes = trainer.notes
    # no keyword dropped silently: each one that was not read has a note that names it
    for key in ("model", "train_dataset", "eval_dataset", "dataset_text_field", "max_seq_length", "dataset_num_proc",
                "dataset_batch_size", "dataset_kwargs", "model_init_kwargs", "tokenizer", "formatting_func", "data_collator",
                "callbacks", "compute_metrics"):
        assert any(n.startswith(key) for n in notes), key
    said = "\n".join(notes)
    assert notes[0].startswith("SFTTrainer(dataset_text_field=, max_seq_length=, packing=, dataset_num_proc=, ")
    assert "SFTConfig fields since TRL 0.9.3 (SFTTrainer stopped taking them in 0.13.0)" in notes[0]
    assert "model='facebook/opt-350m' was skipped: tunewiz loads the model chosen on the Model step (model.name_or_path); " \
           "choose facebook/opt-350m there" in said
    assert "choose imdb there" in said
    assert "dataset_text_field='review' was read as dataset.columns: {text: review}" in said
    assert "max_seq_length was renamed to max_length (renamed in TRL 0.16.0" in said
    assert "dataset_num_proc was skipped: it has no effect here: tunewiz prepares the data itself" in said
    assert "dataset_batch_size was skipped: deprecated in TRL 0.15.0, removed in 0.18.0" in said
    assert "dataset_kwargs was skipped: it is set by tunewiz" in said
    assert "model_init_kwargs was skipped: it has no effect here: tunewiz loads the model itself; set on the Model step: " \
           "model.dtype: bfloat16, model.attn_implementation: flash_attention_2 (device_map: tunewiz chooses it)" in said
    assert "the tokenizer comes with the model" in said and "processing_class in TRL 0.12.0, removed in 0.16.0" in said
    assert "write dataset.template" in said
    assert "DataCollatorForCompletionOnlyLM (deprecated in TRL 0.17.0, removed in 0.20.0)" in said
    assert "compute_metrics=compute_metrics was skipped: tunewiz evaluates with the loss" in said
    # the LoRA and SFTConfig calls inside are read on their own: nothing said about args= / peft_config=
    assert not any(n.startswith(("args", "peft_config")) for n in notes)


def test_trainer_arguments_naming_variables():
    found = parse_calls("trainer = SFTTrainer(model=model, args=training_args, peft_config=peft_config, "
                        "processing_class=tok, train_dataset=ds)")
    notes = found[0].notes
    assert "args=training_args names a variable whose call is not in the pasted text: paste the TrainingArguments(...) / " \
           "Seq2SeqTrainingArguments(...) / SFTConfig(...) call that makes it too" in notes
    assert "peft_config=peft_config names a variable whose call is not in the pasted text: paste the LoraConfig(...) " \
           "call that makes it too" in notes
    assert any(n.startswith("processing_class=tok was skipped: the tokenizer comes with the model") for n in notes)
    # given in the same text, the variables are read as their own calls: nothing to say
    found = parse_calls("peft_config = LoraConfig(r=4)\ntraining_args = SFTConfig(seed=3)\n"
                        "trainer = SFTTrainer(model, training_args, peft_config=peft_config, train_dataset=ds)")
    assert [p.call for p in found] == ["LoraConfig", "SFTConfig", "SFTTrainer"]
    assert not any(n.startswith(("args", "peft_config")) for n in found[2].notes)
    assert found[2].notes[0].startswith("model=model was skipped")  # the positional model is named


def test_transformers_trainer_and_a_computed_peft_config():
    (p,) = parse_calls("Trainer(model=model, args=args, learning_rate=1e-4, optimizers=(opt, sched))")
    assert p.values == {}
    assert "learning_rate was skipped: Trainer has no such argument; it is a training argument: pass it in " \
           "TrainingArguments(...)" in p.notes
    assert any(n.startswith("optimizers=(opt, sched) was skipped: set training.optim") for n in p.notes)
    (p,) = parse_calls("SFTTrainer(model=m, peft_config=get_peft_config(model_args), packing=False)")
    assert p.values == {"packing": False}
    assert "peft_config=get_peft_config(model_args) was skipped: it is computed when the code runs; set the adapter " \
           "(LoRA step) in the form" in p.notes


def test_text_field_named_text_needs_no_mapping():
    p = parse_call('SFTConfig(dataset_text_field="text", dataset_num_proc=8)')
    assert p.values == {} and p.dataset == {}
    assert p.notes[0].startswith("dataset_text_field was skipped: it has no effect here: tunewiz prepares the data itself; "
                                 "a column named text is found by itself")


def test_config_fields_the_path_ignores_are_explained():
    p = parse_call('SFTConfig(eos_token="<|im_end|>", chat_template_path="t.jinja", trust_remote_code=True, '
                   'shuffle_dataset=True, eval_packing=False, pad_token="<pad>", learning_rate=1e-4)')
    assert p.values == {"learning_rate": 1e-4}
    notes = dict(n.split(" was skipped: ", 1) for n in p.notes)
    assert set(notes) == {"eos_token", "chat_template_path", "trust_remote_code", "shuffle_dataset", "eval_packing", "pad_token"}
    assert notes["trust_remote_code"].endswith("; set model.trust_remote_code: true")
    assert "model.chat_template" in notes["chat_template_path"] and "model.chat_template" in notes["eos_token"]


def test_a_hub_token_is_never_copied_into_the_preset():
    p = parse_call('TrainingArguments(push_to_hub=True, push_to_hub_token="hf_abc", hub_token="hf_abc")')
    assert p.values == {"push_to_hub": True}
    assert all("hf_abc" not in n for n in p.notes)
    assert p.notes[0] == ("push_to_hub_token was skipped: a token is never written to the preset: tunewiz reads it from "
                          "the HF_TOKEN environment variable or `hf auth login`")


# ------------------------------------------------------------------------------------ rename versions
@pytest.mark.parametrize("old, value, new, mapped, history", [
    ("evaluation_strategy", '"steps"', "eval_strategy", "steps", "deprecated in transformers 4.41.0, removed in 4.51.0"),
    ("max_seq_length", "512", "max_length", 512, "renamed in TRL 0.16.0, the old name removed in 0.20.0"),
    ("per_gpu_train_batch_size", "4", "per_device_train_batch_size", 4, "renamed in transformers 2.11.0, the old name removed in 5.0.0"),
    ("per_gpu_eval_batch_size", "4", "per_device_eval_batch_size", 4, "renamed in transformers 2.11.0, the old name removed in 5.0.0"),
    ("no_cuda", "True", "use_cpu", True, "renamed in transformers 4.32.0, the old name removed in 5.0.0"),
    ("push_to_hub_model_id", '"me/m"', "hub_model_id", "me/m", "deprecated in transformers 4.11.0, removed in 5.0.0"),
    ("warmup_ratio", "0.03", "warmup_steps", 0.03, "deprecated in transformers 5.0.0, removed in 5.15.0"),
    ("torchdynamo", '"inductor"', "torch_compile_backend", "inductor", "deprecated in transformers 4.26.0, removed in 5.0.0"),
    ("use_liger", "True", "use_liger_kernel", True, "deprecated in TRL 0.16.0, removed in 0.18.0"),
    # the new field takes another form: a plain True is mapped, and the note says so
    ("adafactor", "True", "optim", "adafactor", "removed in transformers 5.0.0"),
    ("include_inputs_for_metrics", "True", "include_for_metrics", ["inputs"], "deprecated in transformers 4.46.0, removed in 5.0.0"),
    ("group_by_length", "True", "train_sampling_strategy", "group_by_length", "removed in transformers 5.2.0"),
    ("tpu_metrics_debug", "True", "debug", "tpu_metrics_debug", "removed in transformers 5.0.0"),
    ("split_batches", "True", "accelerator_config", {"split_batches": True}, "deprecated in transformers 4.38.0, removed in 4.51.0"),
    ("dispatch_batches", "False", "accelerator_config", {"dispatch_batches": False}, "deprecated in transformers 4.38.0, removed in 4.51.0"),
])
def test_renamed_arguments_with_their_versions(old, value, new, mapped, history):
    p = parse_call(f"TrainingArguments({old}={value})")
    assert p.values == {new: mapped}
    assert p.notes[0].startswith(f"{old} was renamed to {new} ({history}")
    if mapped != eval(value):
        assert f"{old}={eval(value)!r} was written as {new}: {mapped!r}" in p.notes[0]


@pytest.mark.parametrize("old, value, history", [
    ("logging_dir", '"./logs"', "deprecated in transformers 5.0.0, removed in 5.15.0 (TensorBoard reads the TENSORBOARD_LOGGING_DIR"),
    ("fp16_opt_level", '"O1"', "removed in transformers 5.0.0 with apex AMP"),
    ("overwrite_output_dir", "True", "removed in transformers 5.0.0 without a deprecation; use `tunewiz run --overwrite`"),
    ("fp16_backend", '"amp"', "removed in transformers 5.0.0 (mixed precision is torch.amp only)"),
    ("half_precision_backend", '"amp"', "removed in transformers 5.0.0 (mixed precision is torch.amp only)"),
    ("use_mps_device", "True", "deprecated in transformers 4.31.0, removed in 5.0.0"),
    ("tpu_num_cores", "8", "removed in transformers 5.0.0 (the TPU_NUM_CORES environment variable"),
    ("push_to_hub_organization", '"org"', "deprecated in transformers 4.11.0, removed in 5.0.0: hub_model_id takes"),
    ("fsdp_min_num_params", "1000", "deprecated in transformers 4.27.0 (fsdp_config: {min_num_params: ...}), removed in 5.0.0"),
    ("fsdp_transformer_layer_cls_to_wrap", '"LlamaDecoderLayer"', "deprecated in transformers 4.27.0"),
    ("include_tokens_per_second", "True", "removed in transformers 5.0.0 (include_num_input_tokens_seen"),
    ("save_safetensors", "True", "removed in transformers 5.0.0: checkpoints are always safetensors"),
    ("use_legacy_prediction_loop", "True", "removed in transformers 5.0.0"),
    ("jit_mode_eval", "True", "removed in transformers 5.0.0"),
    ("past_index", "1", "removed in transformers 5.0.0"),
    ("ray_scope", '"last"', "removed in transformers 5.0.0 (the RAY_SCOPE environment variable"),
    ("mp_parameters", '""', "removed in transformers 5.0.0"),
    ("use_ipex", "True", "removed in transformers 4.57"),
    ("dataset_batch_size", "1000", "deprecated in TRL 0.15.0, removed in 0.18.0"),
    ("num_of_sequences", "1024", "deprecated in TRL 0.15.0, removed in 0.18.0"),
    ("chars_per_token", "3.6", "deprecated in TRL 0.15.0, removed in 0.18.0"),
])
def test_removed_arguments_with_their_versions(old, value, history):
    p = parse_call(f"SFTConfig({old}={value})")
    assert p.values == {}
    assert p.notes[0].startswith(f"{old} was skipped: {history}"), p.notes


@pytest.mark.parametrize("code, note", [
    ("adafactor=False", "adafactor was skipped: renamed to optim (removed in transformers 5.0.0); False was the default: nothing to set"),
    ("group_by_length=flag", "group_by_length was skipped: flag is computed when the code runs (only plain values are "
                             "read); type its value in the form as train_sampling_strategy (renamed: removed in transformers 5.2.0)"),
    ("include_inputs_for_metrics=1", "include_inputs_for_metrics was skipped: renamed to include_for_metrics (deprecated in "
                                     "transformers 4.46.0, removed in 5.0.0); its value 1 has no plain equivalent; write "
                                     "include_for_metrics (e.g. include_for_metrics: [inputs])"),
    ("warmup_ratio=1.5", "warmup_ratio was skipped: renamed to warmup_steps"),
])
def test_a_value_of_another_form_is_explained_not_mapped(code, note):
    p = parse_call(f"TrainingArguments({code})")
    assert p.values == {}
    assert p.notes[0].startswith(note), p.notes


def test_split_and_dispatch_batches_merge_into_one_accelerator_config():
    p = parse_call("TrainingArguments(split_batches=True, dispatch_batches=False)")
    assert p.values == {"accelerator_config": {"split_batches": True, "dispatch_batches": False}}
    assert not any("given twice" in n for n in p.notes)


def test_gradient_checkpointing_is_not_renamed():
    p = parse_call("TrainingArguments(gradient_checkpointing=True)")
    assert p.values == {"gradient_checkpointing": True} and p.notes == []


def test_values_set_in_variables_above_the_call_are_read():
    """The Llama-2 QLoRA notebook style: plain values in variables, then TrainingArguments(output_dir=output_dir, ...)."""
    text = '''
output_dir = "./results"
num_train_epochs = 1
learning_rate = 2e-4
target_modules = ["q_proj", "v_proj"]
run_name = make_name()
training_arguments = TrainingArguments(output_dir=output_dir, num_train_epochs=num_train_epochs,
                                       learning_rate=learning_rate, run_name=run_name, evaluate_during_training=True)
peft_config = LoraConfig(r=64, target_modules=target_modules)
'''
    training, lora = parse_calls(text)
    assert training.values == {"output_dir": "./results", "num_train_epochs": 1, "learning_rate": 2e-4, "eval_strategy": "steps"}
    assert any("run_name was skipped" in n and "computed" in n for n in training.notes)  # a call stays computed
    assert any("evaluate_during_training=True was written as eval_strategy: 'steps'" in n for n in training.notes)
    assert lora.values == {"r": 64, "target_modules": ["q_proj", "v_proj"]}
