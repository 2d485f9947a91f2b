"""The wizard's start: the first screen paints before the config is validated (pydantic) and before any
heavy library; what was put off then happens, and a preset with problems still ends the wizard."""

import json
import subprocess
import sys

from textual.widgets import Input, Select, Static

from engine import config
from tests.conftest import PRESETS
from tui.app import TunewizApp


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_the_first_screen_needs_neither_pydantic_nor_a_heavy_library():
    # measured when the first screen has been painted (the moment the put-off work starts)
    code = """
import json, os, sys
from tui.app import TunewizApp
seen = {}
class Probe(TunewizApp):
    def _painted(self):
        seen["modules"] = [m for m in ("pydantic", "torch", "transformers", "trl", "peft", "datasets") if m in sys.modules]
        seen["model"] = self.screen.query_one("#model-ref").value
        self.exit()
Probe().run(headless=True, size=(80, 24))
print(json.dumps(seen))
sys.stdout.flush()
os._exit(0)  # the model step's workers wait for a paint that this probe never announces
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"modules": [], "model": "demo:smollm2-135m-instruct"}


async def test_without_a_preset_the_defaults_are_validated_after_the_first_paint():
    app = TunewizApp()
    assert app.peek_cfg() is None
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one("#model-ref", Input).value == config.DEFAULT_MODEL
        await settle(app, pilot)
        assert app.peek_cfg() is not None
        assert config.to_dict(app.cfg) == config.to_dict(config.load(None))
        assert app.loaded_preset is None and app.source is None
        assert "LlamaForCausalLM" in str(app.screen.query_one("#model-info", Static).render())


async def test_next_waits_until_the_first_model_is_checked():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.errors() == ["Model: still checking the model; a moment"]
        await settle(app, pilot)
        assert app.screen.errors() == []


async def test_a_preset_paints_its_model_as_written_and_is_validated_after():
    path = PRESETS / "minilm-sentiment-lora.yaml"
    app = TunewizApp(preset=path)
    assert app.peek_cfg() is None
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one("#model-ref", Input).value == "demo:minilm-l6"
        assert app.screen.query_one("#task", Select).value == "sequence-classification"
        await settle(app, pilot)
        assert config.to_dict(app.cfg) == config.to_dict(config.load(path))
        assert app.loaded_preset == config.to_dict(app.cfg) and app.source == str(path)
        assert "BertModel" in str(app.screen.query_one("#model-info", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "dataset"


async def test_a_preset_with_problems_ends_the_wizard_with_them(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name_or_path: demo:minilm-l6\ntraining:\n  learnig_rate: 0.1\n")
    app = TunewizApp(preset=bad)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
    assert app.return_code == 2
    assert "learnig_rate: unknown key; did you mean learning_rate?" in str(app.preset_error)


async def test_a_shipped_preset_with_a_typo_ends_the_wizard_with_it_not_a_traceback(tmp_path):
    """A new user's crash: the SFT preset with `learnig_rate` opened in the wizard. Two workers built the config at
    once, both imported trl for the unknown key (checked against the installed classes), and one saw a half-initialised
    trl ("module 'trl' has no attribute 'SFTConfig'"). The import waits for the wizard's warm-up now."""
    text = (PRESETS / "smollm2-identity-lora.yaml").read_text().replace("  learning_rate:", "  learnig_rate:")
    bad = tmp_path / "typo.yaml"
    bad.write_text(text)
    app = TunewizApp(preset=bad)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(600):  # the workers end with the app (waiting on them would see them cancelled)
            if not app.is_running:
                break
            await pilot.pause(0.05)
    assert app.return_code == 2
    assert "learnig_rate: unknown key; did you mean learning_rate?" in str(app.preset_error)


async def test_a_missing_preset_ends_the_wizard_before_the_first_screen(tmp_path):
    app = TunewizApp(preset=tmp_path / "nope.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert app.return_code == 2 and "no such preset file" in str(app.preset_error)
    assert not app.is_screen_installed("model")
