"""The training step: fields from the config, checked as you type, derived numbers, Advanced, paste."""

import functools

import pytest
from textual.widgets import Input, Label, OptionList, Static, TextArea

from engine import config, fieldhelp, i18n, inspect
from tui.app import TunewizApp
from tui.widgets.advanced import AdvancedFields
from tui.widgets.field import Field
from tui.widgets.paste_dialog import PasteDialog

HF_COURSE = '''from transformers import TrainingArguments

training_args = TrainingArguments("test-trainer", evaluation_strategy="epoch")
'''

_inspect = functools.cache(inspect.inspect_model)


@pytest.fixture(autouse=True)
def inspect_once(monkeypatch):
    """The model step inspects the model on every start; the answer is the same, so compute it once."""
    monkeypatch.setattr(inspect, "inspect_model", _inspect)


async def open_training(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    app.goto("training")
    await pilot.pause()
    await pilot.pause()
    assert app.step == "training"
    return app.screen


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_fields_load_from_the_config():
    cfg = config.from_dict({"training": {"learning_rate": 1e-4, "per_device_train_batch_size": 4, "bf16": True,
                                         "eval_strategy": "steps", "eval_steps": 5}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        assert s.query_one("#f-learning_rate", Field).text == "0.0001"
        assert s.query_one("#f-per_device_train_batch_size", Field).text == "4"
        assert s.query_one("#f-logging_steps", Field).text == "10"  # library default
        assert s.query_one("#f-precision", Field).text == "bf16"
        assert s.query_one("#f-eval_strategy", Field).text == "steps"
        assert not s.query_one("#f-eval_steps", Field).disabled
        assert s.query_one("#f-save_steps", Field).disabled is False  # save_strategy defaults to steps
        assert "the initial learning rate" in text(s, "#f-learning_rate .field-help").lower()
        assert s.errors() == []


async def test_bad_learning_rate_is_shown_inline_and_blocks_next():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        box = s.query_one("#f-learning_rate Input", Input)
        box.focus()
        box.value = ""
        await pilot.press(*"abc")
        await pilot.pause()
        assert text(s, "#f-learning_rate .field-error") == "training.learning_rate: 'abc' is not a number"
        assert "training.learning_rate" in text(s, "#help")  # full help of the focused field
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "training"
        assert "training.learning_rate" in text(s, "#problems")
        box.value = "-1"
        await pilot.pause()
        assert s.errors() == ["training.learning_rate: must be greater than 0 (got -1)"]  # as typed
        assert "must be greater than 0" in text(s, "#problems")  # the blocked Next's line follows the field
        box.value = "2e-4"
        await pilot.pause()
        assert s.errors() == [] and text(s, "#problems") == ""  # fixed: no stale problem left
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "lora"
        assert app.cfg.training == {"learning_rate": 2e-4}  # only what the user set


async def test_back_with_a_bad_value_says_the_changes_were_not_kept():
    """Back is always open, and a value that cannot be stored is named, not dropped silently (a new user's finding)."""
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        before = app.cfg.training.get("learning_rate")
        box = s.query_one("#f-learning_rate Input", Input)
        box.focus()
        box.value = "-1"
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.step == "preview" and app.cfg.training.get("learning_rate") == before
        said = [n.message for n in app._notifications]
        assert any(m.startswith("this step's changes were not kept: training.learning_rate: must be greater than 0")
                   for m in said), said


async def test_paste_of_the_hf_course_snippet_fills_the_form_and_explains():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, PasteDialog)
        app.screen.query_one(TextArea).text = "TrainingArguments(\n  output_dir='x',\n  seed=1\n  lr=2)"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PasteDialog)  # a syntax error keeps the dialog open, with its line
        assert "pasted code, line 3: not valid Python" in str(app.screen.query_one("#paste-error", Static).render())
        app.screen.query_one(TextArea).text = HF_COURSE
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is s
        assert s.query_one("#f-eval_strategy", Field).text == "epoch"
        assert s.query_one("#f-output_dir", Field).text == "test-trainer"
        notes = text(s, "#paste-notes")
        assert "evaluation_strategy was renamed to eval_strategy (deprecated in transformers 4.41.0, removed in 4.51.0)" in notes
        s.store(app.cfg)
        assert app.cfg.training == {"eval_strategy": "epoch", "output_dir": "test-trainer"}
        assert config.from_dict(config.to_dict(app.cfg)).training == app.cfg.training


SFT_CELL = '''trainer = SFTTrainer(
    model,
    train_dataset=dataset,
    dataset_text_field="review",
    max_seq_length=256,
    dataset_num_proc=4,
    args=SFTConfig(output_dir="opt-sft", learning_rate=1e-4),
)'''


async def test_paste_of_an_sft_trainer_cell_fills_training_and_saves_the_text_column():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        app.screen.query_one(TextArea).text = SFT_CELL
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is s
        assert s.query_one("#f-learning_rate", Field).text == "0.0001"
        assert s.query_one("#f-output_dir", Field).text == "opt-sft"
        notes = text(s, "#paste-notes")
        assert "SFTTrainer: filled max_length" in notes
        assert "SFTTrainer: dataset.columns.text: review was saved for the Dataset step" in notes
        assert "dataset_num_proc was skipped: it has no effect here" in notes
        assert app.cfg.dataset.columns == {"text": "review"}
        s.store(app.cfg)
        assert app.cfg.training == {"max_length": 256, "output_dir": "opt-sft", "learning_rate": 1e-4}


async def test_eval_strategy_needs_an_eval_split():
    cfg = config.from_dict({"dataset": {"eval_size": 0}, "training": {"eval_strategy": "epoch"}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        assert any(p.startswith("training.eval_strategy: epoch needs held-out rows") for p in s.errors())


async def test_derived_numbers():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        assert "Steps per epoch: unknown until the dataset step" in text(s, "#derived")
        app.dataset_info = {"num_rows": 64}  # eval_size 0.1 holds out 6 rows, as the pipeline does
        s.query_one("#f-per_device_train_batch_size Input", Input).value = "4"
        s.query_one("#f-gradient_accumulation_steps Input", Input).value = "2"
        await pilot.pause()
        derived = text(s, "#derived")
        assert "Effective batch 8 (4 per device × 2 accumulation" in derived
        assert "58 training rows → 8 steps per epoch; 3.0 epochs = 24 steps in total" in derived
        s.query_one("#f-max_steps Input", Input).value = "10"
        await pilot.pause()
        assert "10 steps in total (max_steps; epochs ignored)" in text(s, "#derived")
        # #14: "1 steps", "1 epochs"
        s.query_one("#f-max_steps Input", Input).value = "1"
        await pilot.pause()
        assert "[b]1[/] step in total" not in text(s, "#derived") and "1 step in total" in text(s, "#derived")
        s.query_one("#f-max_steps Input", Input).value = "-1"
        s.query_one("#f-per_device_train_batch_size Input", Input).value = "64"
        s.query_one("#f-num_train_epochs Input", Input).value = "1"
        await pilot.pause()
        assert "→ 1 step per epoch; 1 epoch = 1 step in total" in text(s, "#derived")
        s.query_one("#f-gradient_accumulation_steps Input", Input).value = "0"
        await pilot.pause()
        assert "fix the batch size" in text(s, "#derived")
        assert "training.gradient_accumulation_steps: must be greater than 0 (got 0)" in s.errors()


async def test_precision_advanced_and_store_round_trip():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        s.query_one("#f-precision", Field).set_text("fp32")
        adv = s.query_one("#advanced", AdvancedFields)
        adv.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        s.query_one("#adv-filter", Input).value = "weight_decay"
        await pilot.pause()
        listing = s.query_one("#adv-list", OptionList)
        assert listing.option_count == 1 and listing.get_option_at_index(0).id == "weight_decay"
        listing.focus()
        await pilot.press("enter")  # Enter on a field moves to its editor
        await pilot.pause()
        editor = s.query_one("#adv-edit Input", Input)
        assert editor.has_focus
        await pilot.press(*"x")
        await pilot.pause()
        assert "training.weight_decay: 'x' is not a number" in s.errors()
        editor.value = "0.01"
        await pilot.pause()
        assert s.errors() == []
        assert "1 set" in str(adv.title)
        await pilot.press("enter")  # back to the list, which shows the value
        await pilot.pause()
        assert listing.has_focus and "weight_decay = [b]0.01" in str(listing.get_option_at_index(0).prompt)
        s.store(app.cfg)
        assert app.cfg.training == {"bf16": False, "fp16": False, "weight_decay": 0.01}
        assert config.from_dict(config.to_dict(app.cfg)).training == app.cfg.training


async def test_classification_offers_no_sft_only_fields():
    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": "sample:sentiment"}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        keys = s.query_one("#advanced", AdvancedFields).keys
        assert "packing" not in keys and "assistant_only_loss" not in keys
        assert "weight_decay" in keys
        assert s.query_one("#f-max_length", Field).text == "1024"  # shared with classification


def test_snapshot_training_step(snap_compare):
    async def run_before(pilot):
        app = pilot.app
        app.dataset_info = {"num_rows": 64}
        await open_training(app, pilot)

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_training_step_ko(snap_compare, korean):
    """In Korean at 80x24, the learning rate focused: the help pane shows tunewiz's newcomer help in Korean, then the
    library's own help (English); the line beside each field is the newcomer help's first sentence."""
    async def run_before(pilot):
        app = pilot.app
        app.dataset_info = {"num_rows": 64}
        s = await open_training(app, pilot)
        s.query_one("#f-learning_rate Input", Input).focus()
        await pilot.pause()

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


async def test_focused_field_shows_the_newcomer_help_then_the_library_help():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        s.query_one("#f-learning_rate Input", Input).focus()
        await pilot.pause()
        assert text(s, "#help") == ("training.learning_rate: " + fieldhelp.HELP["training.learning_rate"]
                                    + "\nThe initial learning rate for AdamW.")
        # English keeps the library's first sentence beside the field
        assert text(s, "#f-learning_rate .field-help") == "The initial learning rate for AdamW."


async def test_korean_labels_help_and_numbers(korean):
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset_info = {"num_rows": 64}
        s = await open_training(app, pilot)
        assert str(s.query_one("#f-learning_rate Label", Label).render()) == "학습률"
        assert text(s, "#f-learning_rate .field-help") == "한 번에 가중치를 바꾸는 크기입니다."
        assert s.query_one("#f-eval_steps Input", Input).placeholder == "설정 안 됨"
        assert "유효 배치 8 (장치당 8 × 누적 1, 장치 1개 기준)" in text(s, "#derived")
        assert "학습 행 58개 → 에폭당 8스텝; 3.0에폭 = 총 24스텝" in text(s, "#derived")
        box = s.query_one("#f-learning_rate Input", Input)
        box.focus()
        await pilot.pause()
        help_text = text(s, "#help")
        assert help_text.startswith("training.learning_rate: 한 번에 가중치를 바꾸는 크기입니다. LoRA는 2e-4")
        assert help_text.endswith("\nThe initial learning rate for AdamW.")  # the library's help stays English
        box.value = "-1"
        await pilot.pause()
        assert s.errors() and all(p.startswith("training.learning_rate:") for p in s.errors())
        app.cfg.dataset.eval_size = 0
        s.query_one("#f-eval_strategy", Field).set_text("epoch")
        await pilot.pause()
        assert any("데이터셋 단계에서 평가 크기를 정하거나" in p for p in s.errors())


async def test_every_field_shows_korean_help_for_each_method(korean):
    """Each field of the form (SFT, DPO, KTO, ORPO) has newcomer help, shown in Korean beside it."""
    for method in ("sft", "dpo", "kto", "orpo"):
        cfg = config.from_dict({"model": {"method": method},
                                "dataset": {"path": "sample:identity" if method == "sft" else "sample:preferences"}})
        app = TunewizApp(cfg)
        async with app.run_test(size=(80, 24)) as pilot:
            s = await open_training(app, pilot)
            shown = [f for f in s.query(Field) if f.id != "adv-edit" and f.display and f.parent.display]
            assert len(shown) == len(s._common()), method
            for f in shown:
                assert f.newcomer, f"{f.key} ({method}) has no newcomer help"
                assert text(s, f"#{f.id} .field-help") == fieldhelp.first_sentence(i18n._(f.newcomer)) != f.newcomer


DPO_PRESET = "presets/smollm2-concise-dpo.yaml"


async def test_dpo_shows_and_checks_the_dpo_config_fields():
    cfg = config.load(DPO_PRESET)
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        assert s.query_one("#m-dpo").display and not s.query_one("#m-kto").display
        beta = s.query_one("#f-dpo-beta", Field)
        assert beta.text == "0.1" and s.query_one("#f-dpo-loss_type", Field).text == "sigmoid"
        assert "deviation from the reference model" in text(s, "#f-dpo-beta .field-help")  # DPOConfig's own help
        assert "truncated from the left or right" in s.query_one("#f-max_length", Field).help  # DPOConfig's max_length
        adv = s.query_one("#advanced", AdvancedFields)
        assert {"label_smoothing", "precompute_ref_log_probs", "f_divergence_type"} <= set(adv.keys)
        assert "packing" not in adv.keys and "beta" not in adv.keys  # an SFTConfig field; beta has its own box
        beta.set_text("x")
        await pilot.pause()
        assert any(p.startswith("training.beta:") for p in s.errors())
        beta.set_text("0.2")
        s.query_one("#f-dpo-loss_type", Field).set_text("ipo")
        await pilot.pause()
        assert s.errors() == []
        s.store(app.cfg)
        assert app.cfg.training["beta"] == 0.2 and app.cfg.training["loss_type"] == "ipo"
        config.check_library_section("training", app.cfg.training, "t", method="dpo")
        assert config.from_dict(config.to_dict(app.cfg)).training == app.cfg.training


async def test_kto_fields_and_back_to_sft():
    cfg = config.from_dict({"model": {"method": "kto"}, "dataset": {"path": "sample:preferences"}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_training(app, pilot)
        assert s.query_one("#m-kto").display and not s.query_one("#m-dpo").display
        w = s.query_one("#f-kto-desirable_weight", Field)
        assert w.text == "1.0" and "unequal number of desirable" in w.help
        assert s.query_one("#f-kto-loss_type", Field).choices == [("apo_zero_unpaired", "apo_zero_unpaired"), ("kto", "kto")]
        w.set_text("1.5")
        await pilot.pause()
        s.store(app.cfg)
        assert app.cfg.training == {"desirable_weight": 1.5}
        # SFT again: no preference fields, the form's errors ignore them
        app.cfg.model.method = "sft"
        s.load(app.cfg)
        await pilot.pause()
        assert not s.query_one("#m-kto").display and "packing" in s.query_one("#advanced", AdvancedFields).keys
