"""The LoRA step: method, LoRA numbers checked as you type, targets from the model's layers, counts, QLoRA."""

import functools
import importlib.util

import pytest
from textual.widgets import Input, RadioButton, SelectionList, Static, TextArea

from engine import config, fieldhelp, i18n, inspect
from tui.app import TunewizApp
from tui.widgets.field import Field
from tui.widgets.targets import TargetPicker

_inspect = functools.cache(inspect.inspect_model)

PEFT_LORA = '''peft_config = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=["q_proj", "v_proj"],
    lora_dropout=0.05,
    bias="none",
    task_type="CAUSAL_LM",
)'''


@pytest.fixture(autouse=True)
def inspect_once(monkeypatch):
    """The model is inspected by the model step and again here; the answer is the same, so compute it once."""
    monkeypatch.setattr(inspect, "inspect_model", _inspect)


async def open_lora(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    app.goto("lora")
    await pilot.pause()
    await app.workers.wait_for_complete()  # the layers (app.model_info is None here) and the QLoRA check
    await pilot.pause()
    assert app.step == "lora"
    return app.screen


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_counts_for_smollm2_all_linear_and_attention_only():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        assert app.model_info is None  # the screen inspected the model itself, in a worker
        assert s.query_one("#m-lora", RadioButton).value
        assert s.query_one("#f-r", Field).text == "16" and s.query_one("#f-lora_alpha", Field).text == "32"
        box = s.query_one("#targets", SelectionList)
        assert sorted(box.selected) == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
        # the number the real trainer reported for this model (peft's print_trainable_parameters)
        assert "Trainable: 4,884,480 of 139,399,488 parameters (3.50%)" in text(s, "#trainable")
        s.query_one("#pick-attention").press()
        await pilot.pause()
        assert sorted(box.selected) == ["k_proj", "o_proj", "q_proj", "v_proj"]
        assert "Trainable: 1,843,200 of" in text(s, "#trainable")
        box.focus()
        box.highlighted = 0  # down_proj
        await pilot.press("space")
        await pilot.pause()
        assert s.query_one("#picker", TargetPicker).targets == ["down_proj", "k_proj", "o_proj", "q_proj", "v_proj"]
        s.query_one("#f-r Input", Input).value = "8"
        await pilot.pause()
        assert f"Trainable: {(1_843_200 + 16 * (1536 + 576) * 30) // 2:,} of" in text(s, "#trainable")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "review"
        assert app.cfg.lora["target_modules"] == ["down_proj", "k_proj", "o_proj", "q_proj", "v_proj"]
        assert app.cfg.lora["r"] == 8 and app.cfg.model.quantization == "none"
        assert app.model_info is not None and app.model_info.ref == "demo:smollm2-135m-instruct"
        assert config.from_dict(config.to_dict(app.cfg)).lora == app.cfg.lora


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
async def test_qlora_is_disabled_with_the_reason_on_a_machine_without_cuda():
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes"):
        pytest.skip("this machine can run QLoRA")
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        assert s.query_one("#m-qlora", RadioButton).disabled
        reason = text(s, "#qlora-reason")
        assert "QLoRA is unavailable: " in reason
        assert ("no CUDA GPU here" in reason) if not torch.cuda.is_available() else ("bitsandbytes is not installed" in reason)


async def test_bad_numbers_are_shown_inline_and_block_next():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        for key, bad in (("r", "0"), ("lora_alpha", "-1"), ("lora_dropout", "1.5")):
            s.query_one(f"#f-{key} Input", Input).value = bad
        await pilot.pause()
        assert s.errors() == ["lora.r: must be greater than 0 (got 0)", "lora.lora_alpha: must be greater than 0 (got -1)",
                              "lora.lora_dropout: must be in [0, 1) (got 1.5)"]
        assert text(s, "#f-r .field-error") == "lora.r: must be greater than 0 (got 0)"
        assert text(s, "#trainable") == "Trainable parameters: fix r first"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "lora" and "lora.r" in text(s, "#problems")
        s.query_one("#f-r Input", Input).value = "abc"
        await pilot.pause()
        assert text(s, "#f-r .field-error") == "lora.r: 'abc' is not a number"
        s.query_one("#targets", SelectionList).deselect_all()
        await pilot.pause()
        assert "lora.target_modules: no layer is ticked; tick some, or press All linear" in s.errors()
        # full fine-tuning trains every weight; the LoRA numbers do not matter then
        s.query_one("#m-full", RadioButton).value = True
        await pilot.pause()
        assert s.errors() == []
        assert text(s, "#trainable") == "Trainable: all 134,515,008 parameters (100%)"


async def test_full_fine_tuning_and_a_preset_qlora_store():
    cfg = config.from_dict({"model": {"quantization": "4bit"}, "lora": {"r": 64, "target_modules": ["q_proj", "nope"]}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        assert s.query_one("#m-qlora", RadioButton).value  # kept from the preset, and said why it cannot run here
        assert "QLoRA cannot run on this machine" in text(s, "#qlora-reason")
        assert any("nope is not a linear layer of demo:smollm2-135m-instruct" in p for p in s.errors())
        s.query_one("#pick-all").press()
        await pilot.pause()
        assert s.errors() == []
        s.store(app.cfg)
        assert app.cfg.model.quantization == "4bit" and app.cfg.lora["target_modules"] == "all-linear"
        s.query_one("#m-full", RadioButton).value = True
        await pilot.pause()
        assert s.query_one("#f-r", Field).disabled
        s.store(app.cfg)
        assert app.cfg.lora["enabled"] is False and app.cfg.model.quantization == "none"
        again = config.from_dict(config.to_dict(app.cfg))
        assert again.lora == app.cfg.lora and not again.lora_enabled


async def test_paste_a_peft_lora_config():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        app.screen.query_one(TextArea).text = PEFT_LORA
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert s.query_one("#f-r", Field).text == "8" and s.query_one("#f-lora_dropout", Field).text == "0.05"
        assert sorted(s.query_one("#targets", SelectionList).selected) == ["q_proj", "v_proj"]
        assert "LoraConfig: filled r, lora_alpha, target_modules" in text(s, "#paste-notes")
        s.store(app.cfg)
        assert app.cfg.lora == {"enabled": True, "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                                "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
        assert config.from_dict(config.to_dict(app.cfg)).lora == app.cfg.lora


async def test_classifier_head_is_trained_in_full_not_targeted():
    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": "sample:sentiment"}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        box = s.query_one("#targets", SelectionList)
        assert sorted(box.selected) == ["dense", "key", "query", "value"]  # peft's all-linear leaves the head out
        assert "(head: trained in full)" in str(box.get_option_at_index(0).prompt)  # classifier
        prompts = [str(box.get_option_at_index(i).prompt) for i in range(box.option_count)]
        # BERT's `dense` layers come in three shapes (384->384, 384->1536, 1536->384): not shown as one
        assert any(p.startswith("dense") and "3 shapes ×19" in p for p in prompts), prompts
        assert any(p.startswith("query") and "384→384 ×6" in p for p in prompts), prompts
        s.query_one("#pick-attention").press()
        await pilot.pause()
        # q/k/v: 3 names x 6 layers x r=16 x (384 + 384), plus the head copy peft trains (384 x 2 + 2)
        assert f"Trainable: {3 * 6 * 16 * 768 + 770:,} of" in text(s, "#trainable")


def test_snapshot_lora_step(snap_compare):
    async def run_before(pilot):
        await open_lora(pilot.app, pilot)

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_lora_step_ko(snap_compare, korean):
    """In Korean at 80x24, rank r focused: its newcomer help in Korean, then peft's own help."""
    async def run_before(pilot):
        s = await open_lora(pilot.app, pilot)
        s.query_one("#f-r Input", Input).focus()
        await pilot.pause()

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


async def test_korean_lora_step(korean):
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        assert str(s.query_one("#m-full", RadioButton).label) == "전체 파인튜닝"
        assert "학습 대상: 파라미터 139,399,488개 중 4,884,480개 (3.50%)" in text(s, "#trainable")
        for key in ("r", "lora_alpha", "lora_dropout", "bias"):
            f = s.query_one(f"#f-{key}", Field)
            assert f.newcomer and text(s, f"#f-{key} .field-help") == fieldhelp.first_sentence(i18n._(f.newcomer))
        s.query_one("#f-lora_alpha Input", Input).focus()
        await pilot.pause()
        assert text(s, "#help") == "lora.lora_alpha: " + i18n._(fieldhelp.HELP["lora.lora_alpha"]) + "\nLora alpha."
        s.query_one("#method").focus()  # the method choice and the target list have newcomer help too
        await pilot.pause()
        assert text(s, "#help").startswith("lora.enabled: LoRA는")
        s.query_one("#targets").focus()
        await pilot.pause()
        assert text(s, "#help").startswith("lora.target_modules: LoRA를 붙일 층입니다.")
        assert "List of module names" in text(s, "#help")
        s.query_one("#targets", SelectionList).deselect_all()
        await pilot.pause()
        assert s.errors() == ["lora.target_modules: 체크한 층이 없습니다. 층을 체크하거나 모든 선형 층을 누르세요"]


def glyphs(screen, selector: str) -> list[str]:
    """The character inside each toggle's box, as a terminal without colour shows it."""
    from textual.widgets import RadioButton

    widget = screen.query_one(selector)
    if isinstance(widget, SelectionList):
        return [list(widget.render_line(y))[1].text for y in range(widget.option_count)]
    return [b._button.plain[1] for b in widget.query(RadioButton)]


async def test_on_and_off_read_without_colour():
    """#14: every method radio drew `▐●▌` and every target checkbox `▐X▌`, told apart by colour alone."""
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_lora(app, pilot)
        assert glyphs(s, "#method") == [" ", "●", " "]  # LoRA of full / LoRA / QLoRA
        s.query_one("#pick-attention").press()
        await pilot.pause()
        box = s.query_one("#targets", SelectionList)
        names = [box.get_option_at_index(i).value for i in range(box.option_count)]
        assert [names[i] for i, g in enumerate(glyphs(s, "#targets")) if g == "X"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
        assert glyphs(s, "#targets").count(" ") == len(names) - 4
