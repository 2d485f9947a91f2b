"""The presets picker: ctrl+o on the model step lists shipped and own presets with their header, Enter
loads one (every section replaced), Escape changes nothing, and the review then diffs against it."""

import shutil
from pathlib import Path

from textual.content import Content
from textual.widgets import OptionList, Static

from engine import presets
from tests.conftest import PRESETS
from tui.app import TunewizApp
from tui.screens.presets import PresetsScreen


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def mine(tmp_path, monkeypatch) -> Path:
    """A user preset folder (relative to the test's folder, so paths on screen do not depend on tmp)."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my-smol.yaml").write_text("# My SmolLM2 run [with brackets], on my chats.\n# Hardware: my laptop\n"
                                         "version: 1\nmodel:\n  name_or_path: demo:smollm2-135m-instruct\n")
    monkeypatch.setenv("TUNEWIZ_PRESETS", str(folder))
    return folder


async def open_presets(app, pilot) -> OptionList:
    await settle(app, pilot)
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(app.screen, PresetsScreen)
    return app.screen.query_one("#preset-list", OptionList)


def plain(box: OptionList, i: int) -> str:
    return Content.from_markup(str(box.get_option_at_index(i).prompt)).plain


def index_of(box: OptionList, name: str) -> int:
    return next(i for i in range(box.option_count) if (box.get_option_at_index(i).id or "").endswith(f"/{name}.yaml"))


async def test_ctrl_o_lists_presets_with_headers_and_enter_loads_one(tmp_path, monkeypatch):
    folder = mine(tmp_path, monkeypatch)
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        box = await open_presets(app, pilot)
        text = "\n".join(plain(box, i) for i in range(box.option_count))
        assert "minilm-sentiment-lora" in text and "all-MiniLM-L6-v2 becomes a positive / negative review classifier" in text
        assert "Yours (mine)" in text and "My SmolLM2 run [with brackets], on my chats." in text
        assert box.get_option_at_index(index_of(box, "my-smol")).id == str(folder / "my-smol.yaml")
        box.highlighted = index_of(box, "minilm-sentiment-lora")
        await pilot.pause()
        assert "Hardware: any CPU" in str(app.screen.query_one("#preset-header", Static).render())
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.step == "model"
        assert app.cfg.model.name_or_path == "demo:minilm-l6" and app.cfg.model.task == "sequence-classification"
        assert app.source and app.source.endswith("presets/minilm-sentiment-lora.yaml")
        # the review diffs the current choices against the preset just loaded
        app.cfg.training["learning_rate"] = 3e-4
        app.goto("review")
        await settle(app, pilot)
        diff = str(app.screen.query_one("#diff", Static).render())
        assert "Changed from minilm-sentiment-lora:" in diff and "training.learning_rate: 0.001 -> 0.0003" in diff


async def test_escape_changes_nothing_and_headers_cannot_be_picked(tmp_path, monkeypatch):
    mine(tmp_path, monkeypatch)
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        box = await open_presets(app, pilot)
        assert box.get_option_at_index(0).disabled and box.highlighted == 1
        seen = set()
        for _ in range(box.option_count):
            await pilot.press("down")
            seen.add(box.highlighted)
        assert not any(box.get_option_at_index(i).disabled for i in seen)  # headings are skipped
        assert index_of(box, "my-smol") in seen
        await pilot.press("escape")
        await pilot.pause()
        assert app.step == "model" and app.source is None and app.cfg.model.name_or_path == "demo:smollm2-135m-instruct"


async def test_a_broken_preset_is_reported_and_nothing_is_loaded(tmp_path, monkeypatch):
    folder = mine(tmp_path, monkeypatch)
    (folder / "broken.yaml").write_text("# Broken on purpose\nmodel:\n  name_or_pth: x\n")
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        box = await open_presets(app, pilot)
        box.highlighted = index_of(box, "broken")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.source is None and app.cfg.model.name_or_path == "demo:smollm2-135m-instruct"
        assert any("name_or_pth" in n.message for n in app._notifications)


async def test_empty_user_folder_says_how_to_fill_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TunewizApp(preset_dir=tmp_path / "empty")
    async with app.run_test(size=(80, 24)) as pilot:
        box = await open_presets(app, pilot)
        last = box.get_option_at_index(box.option_count - 1)
        assert last.disabled and "the Review step saves one" in plain(box, box.option_count - 1)
        assert plain(box, box.option_count - 2) == "Yours (empty)"


def presets_list_snapshot(snap_compare, tmp_path, monkeypatch) -> bool:
    """The presets dialog over a fixed set of shipped presets and yours, the third highlighted (both languages)."""
    mine(tmp_path, monkeypatch)
    shipped = tmp_path / "shipped"  # a fixed set: presets added later do not change this picture
    shipped.mkdir()
    for name in ("minilm-sentiment-lora", "qwen2.5-7b-instruct-qlora-24gb", "smollm2-identity-lora"):
        shutil.copy(PRESETS / f"{name}.yaml", shipped)
    monkeypatch.setattr(presets, "SHIPPED_DIR", shipped)

    async def run_before(pilot):
        await open_presets(pilot.app, pilot)
        pilot.app.screen.query_one("#preset-list", OptionList).highlighted = 2
        await pilot.pause()

    return snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_presets_list(snap_compare, tmp_path, monkeypatch):
    assert presets_list_snapshot(snap_compare, tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------------- Korean
def test_snapshot_presets_list_ko(korean, snap_compare, tmp_path, monkeypatch):
    assert presets_list_snapshot(snap_compare, tmp_path, monkeypatch)


def test_snapshot_save_preset_ko(korean, snap_compare, tmp_path, monkeypatch):
    from engine import config
    from tui.screens.presets import SavePresetScreen

    folder = mine(tmp_path, monkeypatch)
    smol = PRESETS / "smollm2-identity-lora.yaml"

    async def run_before(pilot):
        await settle(pilot.app, pilot)  # the model step's inspection shows behind the dialog
        pilot.app.screen.set_focus(None)  # and no blinking input cursor
        pilot.app.push_screen(SavePresetScreen(pilot.app.cfg.model_copy(deep=True), "my-smol", Path("mine")))
        await pilot.pause()
        pilot.app.screen.query_one("#save-ok").press()  # my-smol.yaml exists: it asks before replacing it
        await pilot.pause()
        pilot.app.screen.set_focus(None)
        await pilot.pause()

    assert snap_compare(TunewizApp(config.load(smol), source=str(smol), preset_dir=folder), terminal_size=(80, 24),
                        run_before=run_before)


async def test_presets_dialog_in_korean(korean, tmp_path, monkeypatch):
    mine(tmp_path, monkeypatch)
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        box = await open_presets(app, pilot)
        assert plain(box, 0) == "tunewiz 기본 제공" and "내 프리셋 (mine)" in plain(box, box.option_count - 2)
        assert "프리셋 불러오기" in str(app.screen.query_one("#presets-title").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.name == "model"
