"""Leaving the wizard (#14): ctrl+q asks before unsaved choices are lost; after a launch the terminal names the
run and how to watch it; `r` on a finished run's monitor starts nothing and says how to train on."""

from pathlib import Path

from textual.widgets import Button

from engine import config, rundir
from tests.conftest import PRESETS
from tests.tui.test_monitor import Host, recorded
from tui import cli
from tui.app import TunewizApp
from tui.screens.presets import SavePresetScreen
from tui.screens.quit import QuitScreen

SMOL = PRESETS / "smollm2-identity-lora.yaml"


def smol_app() -> TunewizApp:
    return TunewizApp(config.load(SMOL), source=str(SMOL))


async def test_ctrl_q_without_changes_quits_at_once():
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_ctrl_q_with_unsaved_changes_asks_and_cancel_keeps_them():
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.cfg.training["learning_rate"] = 1e-3
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen) and app.is_running
        assert "training.learning_rate: 0.0005 -> 0.001" in str(app.screen.query_one("#quit-changes").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.screen.name == "model" and app.cfg.training["learning_rate"] == 1e-3
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.click("#quit-quit")
        await pilot.pause()
        assert not app.is_running


async def test_ctrl_q_twice_quits_without_saving():
    """The dialog's legend says ctrl+q quits without saving: the app's own ctrl+q (a priority binding) must not swallow
    the second press (a new user's finding: the dialog stayed open)."""
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.cfg.training["learning_rate"] = 1e-3
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def change_then_save_from_the_quit_dialog(app, pilot) -> None:
    """An unsaved change, ctrl+q, then the quit dialog's Save preset: the save dialog is up."""
    app.cfg.training["learning_rate"] = 1e-3
    await pilot.press("ctrl+q")
    await pilot.pause()
    app.screen.query_one("#quit-save", Button).press()
    await pilot.pause()
    assert isinstance(app.screen, SavePresetScreen)


async def test_save_preset_from_the_quit_dialog_then_quits(tmp_path):
    app = TunewizApp(config.load(SMOL), source=str(SMOL), preset_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await change_then_save_from_the_quit_dialog(app, pilot)
        app.screen.query_one("#save-ok", Button).press()
        await pilot.pause()
        assert not app.is_running
    assert config.load(tmp_path / "smollm2-identity-lora.yaml").training["learning_rate"] == 1e-3


async def test_save_from_the_quit_dialog_on_the_dataset_steps_file_picker_quits_cleanly(tmp_path, monkeypatch):
    """A new user's crash: the dataset step with its file tree shown, ctrl+q, Save preset, Enter: the step resumed while
    the app was closing and mounted its file tree into a picker no longer attached (MountError)."""
    from textual.widgets import Select

    monkeypatch.chdir(tmp_path)
    app = TunewizApp(config.load(SMOL), source=str(SMOL), preset_dir=tmp_path / "mine")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.goto("dataset")
        await pilot.pause()
        app.screen.query_one("#kind", Select).value = "file"
        await pilot.pause()
        await change_then_save_from_the_quit_dialog(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code in (None, 0)
    assert config.load(tmp_path / "mine" / "smollm2-identity-lora.yaml").training["learning_rate"] == 1e-3


def test_after_a_launch_the_terminal_names_the_run_and_attach(tmp_path, monkeypatch, capsys):
    run = recorded(tmp_path, "running", live=True)
    monkeypatch.setattr(TunewizApp, "run", lambda self: setattr(self, "launched", run))
    assert cli.wizard(str(SMOL)) == 0
    out = capsys.readouterr().out
    assert f"run {run.name} keeps running" in out and f"tunewiz attach {run.name}" in out


async def test_r_on_a_finished_run_starts_nothing_and_says_how_to_train_on(tmp_path, monkeypatch):
    import engine.launch

    started = []
    monkeypatch.setattr(engine.launch, "resume", lambda *a, **k: started.append(a))
    app = Host(recorded(tmp_path, "finished"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        shown = " ".join(str(n.message) for n in app._notifications)
        assert "Resuming" not in shown and "has finished: there is nothing to resume" in shown
        assert "tunewiz resume sentiment --set training.max_steps=48" in shown
    assert not started and not (Path(tmp_path / "sentiment") / rundir.STOP).exists()


# ---------------------------------------------------------------------------------------------- Korean
def test_snapshot_quit_dialog_ko(korean, snap_compare):
    async def run_before(pilot):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()  # the model step's inspection shows behind the dialog
        pilot.app.screen.set_focus(None)  # and no blinking input cursor
        await pilot.pause()
        cfg = pilot.app.cfg
        cfg.training["learning_rate"], cfg.training["num_train_epochs"], cfg.training["seed"] = 1e-3, 5, 7
        cfg.lora["r"], cfg.dataset.eval_size = 32, 0.2
        await pilot.press("ctrl+q")
        await pilot.pause()
        pilot.app.screen.set_focus(None)
        await pilot.pause()

    assert snap_compare(smol_app(), terminal_size=(80, 24), run_before=run_before)


async def test_quit_dialog_in_korean(korean):
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for key, value in {"learning_rate": 1e-3, "num_train_epochs": 5, "seed": 7, "max_steps": 9}.items():
            app.cfg.training[key] = value
        app.cfg.lora["r"] = 32
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert "그 밖에 1개" in str(app.screen.query_one("#quit-changes").render())
        assert str(app.screen.query_one("#quit-quit", Button).label) == "저장하지 않고 종료"
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.screen.name == "model"


def test_after_a_launch_the_terminal_names_the_run_in_korean(korean, tmp_path, monkeypatch, capsys):
    run = recorded(tmp_path, "running", live=True)
    monkeypatch.setattr(TunewizApp, "run", lambda self: setattr(self, "launched", run))
    assert cli.wizard(str(SMOL)) == 0
    out = capsys.readouterr().out
    assert f"{run.name} 실행은 계속 진행됩니다 (" in out and f"보기: tunewiz attach {run.name}" in out
