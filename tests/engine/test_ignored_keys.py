"""SFTConfig fields that tunewiz's own path never reads are refused at validate time, each with what does the
same here; Seq2Seq-only options and renamed arguments whose value changed form say what to write.

tunewiz tokenizes the data itself (SFTTrainer gets dataset_kwargs {skip_prepare_dataset: true}) and hands
SFTTrainer the loaded model and its tokenizer: SFTTrainer's data preparation and model loading never run.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from engine import cli, config, fields  # noqa: E402
from engine.errors import TunewizError  # noqa: E402

EXIT_INPUT = 2

# Every SFTConfig field (beyond TrainingArguments) that tunewiz's path does read, and where.
USED = {
    "max_length": "engine/data/pipeline.py make_plan (truncation, packing blocks)",
    "packing": "pipeline.make_plan / pack",
    "packing_strategy": "pipeline.pack",
    "padding_free": "pipeline.build_collator / speed.py; SFTTrainer's collator when padding-free",
    "truncation_mode": "pipeline._truncate",
    "assistant_only_loss": "pipeline.make_plan (train_prompt); not passed on (build.HANDLED_HERE)",
    "completion_only_loss": "pipeline.make_plan (train_prompt); not passed on (build.HANDLED_HERE)",
    "pad_to_multiple_of": "pipeline.build_collator",
    "activation_offloading": "SFTTrainer (training loop)",
    "loss_type": "SFTTrainer.compute_loss",
    "router_aux_loss_coef": "SFTTrainer.compute_loss (MoE models)",
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def validate(capsys, text: str, *extra: str) -> tuple[int, str]:
    with open("preset.yaml", "w", encoding="utf-8") as f:
        f.write(text)
    capsys.readouterr()
    rc = cli.main(["validate", "preset.yaml", *extra])
    return rc, capsys.readouterr().err


def assert_refused(rc: int, err: str, *needles: str) -> None:
    assert rc == EXIT_INPUT, f"exit code {rc}, stderr:\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in the message:\n{err}"
    assert "Traceback" not in err, err


def test_every_sft_field_is_either_read_or_refused():
    # A new TRL field fails here until someone reads the code and decides: USED or fields.RESERVED.
    sft = {k for k, spec in fields.fields("training").items() if spec.get("source") == "SFTConfig"}
    assert set(fields.RESERVED) <= sft, set(fields.RESERVED) - sft
    assert set(USED) <= sft, set(USED) - sft
    assert sft - set(USED) - set(fields.RESERVED) == set()
    assert not set(USED) & set(fields.RESERVED)


@pytest.mark.parametrize("key, value, fix", [
    # data preparation: tunewiz tokenizes and packs the rows itself
    ("dataset_text_field", "body", "dataset.columns: {text: body}"),
    ("dataset_num_proc", "4", "nothing is needed"),
    ("eval_packing", "false", "training.packing packs both splits"),
    ("shuffle_dataset", "true", "new random order every epoch"),
    ("pad_token", "'<pad>'", "padding is never trained"),
])
def test_data_preparation_keys(capsys, key, value, fix):
    rc, err = validate(capsys, f"training:\n  {key}: {value}\n")
    assert_refused(rc, err, f"training.{key}", "has no effect here: tunewiz prepares the data itself", fix)


def test_a_text_field_named_text_needs_nothing(capsys):
    rc, err = validate(capsys, "training:\n  dataset_text_field: text\n")
    assert_refused(rc, err, "training.dataset_text_field", "a column named text is found by itself")


@pytest.mark.parametrize("key, value, fix", [
    ("model_init_kwargs", "{torch_dtype: bfloat16}", "model.dtype, model.attn_implementation, model.trust_remote_code, "
                                                     "model.revision, model.quantization"),
    ("trust_remote_code", "true", "set model.trust_remote_code: true"),
])
def test_model_loading_keys(capsys, key, value, fix):
    rc, err = validate(capsys, f"training:\n  {key}: {value}\n")
    assert_refused(rc, err, f"training.{key}", "tunewiz loads the model", fix)


@pytest.mark.parametrize("key, value, needle, fix", [
    ("eos_token", "'<|im_end|>'", "the rows never ended with", "model.chat_template"),
    ("chat_template_path", "chat.jinja", "a template the model was not trained on", "set model.chat_template"),
])
def test_tokenizer_swaps_after_the_data_was_made(capsys, key, value, needle, fix):
    rc, err = validate(capsys, f"training:\n  {key}: {value}\n")
    assert_refused(rc, err, f"training.{key}", "tunewiz prepares the data itself", needle, fix)


def test_dataset_kwargs_is_set_by_tunewiz(capsys):
    rc, err = validate(capsys, "training:\n  dataset_kwargs: {skip_prepare_dataset: false}\n")
    assert_refused(rc, err, "training.dataset_kwargs", "is set by tunewiz", "skip_prepare_dataset")


def test_seq2seq_options(capsys):
    rc, err = validate(capsys, "training:\n  predict_with_generate: true\n  sortish_sampler: true\n")
    assert_refused(rc, err, "training.predict_with_generate", "a Seq2SeqTrainingArguments option", "ROUGE/BLEU",
                   "tunewiz evaluates with the loss", "training.sortish_sampler", "train_sampling_strategy: group_by_length")


@pytest.mark.parametrize("old, value, fix", [
    ("adafactor", "true", "write training.optim: adafactor instead"),
    ("include_inputs_for_metrics", "true", "write training.include_for_metrics: [inputs] instead"),
    ("group_by_length", "true", "write training.train_sampling_strategy: group_by_length instead"),
    ("split_batches", "true", "write training.accelerator_config: {split_batches: true} instead"),
    ("no_cuda", "true", "write training.use_cpu instead"),
    ("use_liger", "true", "write training.use_liger_kernel instead"),
    ("save_safetensors", "true", "remove it"),
])
def test_renamed_arguments_say_the_new_form(capsys, old, value, fix):
    rc, err = validate(capsys, f"training:\n  {old}: {value}\n")
    assert_refused(rc, err, f"training.{old}", "from an older release", fields.RENAMED[old][1], fix)


def test_a_set_is_blamed_for_an_ignored_key(capsys):
    rc, err = validate(capsys, "training:\n  learning_rate: 1.0e-4\n", "--set", "training.dataset_text_field=body")
    assert_refused(rc, err, "--set training.dataset_text_field", "dataset.columns: {text: body}")


def test_all_ignored_keys_are_reported_at_once():
    with pytest.raises(TunewizError) as e:
        config.from_dict({"training": {"dataset_num_proc": 2, "model_init_kwargs": {}, "eos_token": "</s>"}})
    assert [p.where for p in e.value.problems] == ["preset: training.dataset_num_proc", "preset: training.model_init_kwargs",
                                                   "preset: training.eos_token"]


def test_gradient_checkpointing_is_still_accepted():
    # deprecated in transformers 5.23 for activation_checkpointing, but it works and tunewiz's code reads it
    assert config.from_dict({"training": {"gradient_checkpointing": False}}).training == {"gradient_checkpointing": False}
