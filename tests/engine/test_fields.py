"""The preset's training:/lora: keys are the installed libraries' own field names."""

from engine import fields


def test_snapshot_matches_installed_libraries():
    # An upgrade that renames, removes or retypes a field fails here: regenerate with
    # `python -m engine.fields --write` and review what changed.
    live = fields.build_snapshot()
    shipped = fields.snapshot()
    for section in ("training", "lora"):
        assert set(live[section]) == set(shipped[section]), f"{section} field names changed"
        for name, spec in live[section].items():
            assert spec["kind"] == shipped[section][name]["kind"], f"{section}.{name} changed kind"


def test_keys_the_presets_and_docs_use_exist():
    training = fields.fields("training")
    for key in ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                "max_steps", "lr_scheduler_type", "warmup_steps", "max_length", "packing", "padding_free", "bf16",
                "eval_strategy", "save_strategy", "logging_steps", "seed", "output_dir", "gradient_checkpointing"):
        assert key in training, key
    lora = fields.fields("lora")
    for key in ("r", "lora_alpha", "lora_dropout", "target_modules", "bias", "modules_to_save", "use_dora"):
        assert key in lora, key


def test_renamed_arguments_are_really_gone():
    training = fields.fields("training")
    for old, (new, _) in fields.RENAMED.items():
        assert old not in training, f"{old} exists again: drop it from RENAMED"
        if new:
            assert new in training, new


def test_help_text_comes_from_the_library():
    assert "learning rate" in fields.fields("training")["learning_rate"]["help"].lower()
    assert fields.fields("training")["lr_scheduler_type"]["kind"] == "choice"
    assert "cosine" in fields.fields("training")["lr_scheduler_type"]["choices"]
