"""The review step: YAML, the equivalent command, memory estimate, diff, preflight warnings; saving a preset
(round trip, never overwriting unasked); launching (a used run directory offers choices; a real run
outlives the wizard); the launched screen following events.jsonl incrementally."""

import json
import os
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.content import Content
from textual.widgets import Button, Input, Select, Static, TabbedContent

from engine import config, presets, rundir
from engine.errors import TunewizError
from tests.conftest import PRESETS
from tui.app import TunewizApp
from tui.launching import repeat_command, run_dir_choices
from tui.screens.monitor import MonitorScreen
from tui.screens.presets import SavePresetScreen

SMOL = PRESETS / "smollm2-identity-lora.yaml"


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def at_review(app, pilot):
    await settle(app, pilot)
    app.goto("review")
    await settle(app, pilot)
    return app.screen


def text(screen, selector: str) -> str:
    """What a Static shows, as plain text (markup or a Rich renderable)."""
    shown = screen.query_one(selector, Static).content
    if isinstance(shown, str):
        return Content.from_markup(shown).plain
    if hasattr(shown, "plain"):
        return shown.plain
    console = Console(width=78, record=True)
    console.print(shown)
    return console.export_text()


def smol_app(**changes) -> TunewizApp:
    app = TunewizApp(config.load(SMOL), source=str(SMOL))
    app.cfg.training.update(changes)
    return app


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The test's own folder as the current one, with a user preset folder `mine` in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEWIZ_PRESETS", str(tmp_path / "mine"))
    return tmp_path


async def test_yaml_command_diff_and_warnings_of_a_changed_preset(here):
    app = smol_app(learning_rate=1e-3)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        assert text(screen, "#yaml") == config.dump(app.cfg).rstrip("\n")
        command = text(screen, "#command")
        assert "tunewiz run smollm2-identity-lora \\\n  --set training.learning_rate=0.001" in command
        assert "Changed from smollm2-identity-lora:\n  training.learning_rate: 0.0005 -> 0.001" in text(screen, "#diff")
        tabs = screen.query_one(TabbedContent)
        assert str(tabs.get_tab("tab-diff").label) == "Diff (1)"
        warnings = text(screen, "#warnings")
        assert "Every check passed" in warnings and "64 rows, format messages" in warnings
        assert str(tabs.get_tab("tab-warnings").label) == "Warnings"
        assert not screen.query_one("#next", Button).display  # Save and Launch end the wizard
        assert screen.query_one("#save", Button).display and screen.query_one("#launch", Button).display


async def test_the_tabs_are_one_key_away(here):
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        tabs = screen.query_one(TabbedContent)
        await pilot.press("right")  # the tab bar has the focus on arrival
        assert tabs.active == "tab-command"
        screen.query_one("#save", Button).focus()
        await pilot.press("ctrl+right", "ctrl+right")  # from anywhere on the step
        assert tabs.active == "tab-diff"
        await pilot.press("ctrl+left", "ctrl+left", "ctrl+left", "ctrl+left")
        assert tabs.active == "tab-warnings"  # around the end


async def test_the_back_button_goes_back_one_step(here):
    # The review's buttons had one handler that also passed Back on to the step's own: Back ran twice and the
    # second went on from the LoRA step before it was built (a crash).
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        screen.query_one("#back", Button).press()
        await settle(app, pilot)
        assert app.step == "lora"


async def test_without_a_preset_the_command_asks_for_a_save(here):
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        assert "not in a preset file yet" in text(screen, "#command")
        assert text(screen, "#diff") == "No change from tunewiz's defaults."


async def test_memory_estimate_follows_the_gpu_and_says_how_to_fit(here):
    app = smol_app(per_device_train_batch_size=16, max_length=4096)
    app.cfg.training.pop("gradient_checkpointing")  # left to tunewiz: decided from the estimate
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        assert "total" in text(screen, "#memory") and "fits" not in text(screen, "#memory")  # CPU: no verdict
        gpu = screen.query_one("#gpu", Select)
        assert [v for _, v in gpu._options][-6:] == ["gpu:24", "gpu:40", "gpu:48", "gpu:80", "gpu:141", "cpu"]
        gpu.value = "gpu:24"
        await pilot.pause()
        memory = " ".join(text(screen, "#memory").split())
        # the fast defaults for a 24 GiB GPU, each with its reason and how to turn it off
        assert "Fast defaults tunewiz applies on this GPU" in memory
        assert "training.padding_free: true" in memory and "off: training.padding_free: false" in memory
        assert "lora.autocast_adapter_dtype: false" in memory
        assert "training.gradient_checkpointing: false" in memory and "fits 24 GiB" in memory
        # the data's real lengths arrive from the check worker (then the batch is measured, not assumed)
        for _ in range(300):
            if screen._lengths is not None:
                break
            await pilot.pause(0.1)
        assert screen._lengths is not None and "at the data's real lengths" in " ".join(text(screen, "#memory").split())
        # without the defaults, every row at 4,096 tokens, checkpointing off: the table says how to fit
        screen._lengths = None
        app.cfg.speed.auto = False
        app.cfg.training["gradient_checkpointing"] = False
        app.cfg.training["per_device_train_batch_size"] = 64
        screen.refresh_view()
        await pilot.pause()
        memory = " ".join(text(screen, "#memory").split())
        assert "speed.auto is false" in memory
        assert "does NOT fit 24 GiB" in memory
        assert "To fit: set training.gradient_checkpointing: true (about 30% slower, same result)" in memory
        assert "Memory: about" in text(screen, "#warnings")
        app.cfg.training["per_device_train_batch_size"] = 8
        gpu.value = "gpu:141"
        await pilot.pause()
        assert "fits 141 GiB" in text(screen, "#memory") and "To fit" not in text(screen, "#memory")


async def test_qlora_on_a_cpu_is_a_warning(here):
    app = smol_app()
    app.cfg.model.quantization = "4bit"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        warnings = text(screen, "#warnings")
        assert "problem(s) block the launch" in warnings and "needs a CUDA GPU" in warnings
        label = screen.query_one(TabbedContent).get_tab("tab-warnings").label  # not "Warnings": the run cannot start
        assert str(label).startswith("Problems (") and label.spans[0].style == "b red"


async def test_save_round_trips_and_never_overwrites_unasked(here):
    app = smol_app()
    original = config.to_dict(app.cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        app.cfg.training["learning_rate"] = 1e-4
        await pilot.press("ctrl+s")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, SavePresetScreen)
        assert modal.query_one("#save-folder", Input).value == "mine"
        modal.query_one("#save-name", Input).value = "my smol/x"
        await pilot.press("enter")
        await pilot.pause()
        assert "not a plain file name" in text(modal, "#save-message") and not (here / "mine").exists()
        modal.query_one("#save-name", Input).value = "my-smol"
        await pilot.press("enter")
        await settle(app, pilot)
        saved = here / "mine" / "my-smol.yaml"
        assert app.screen is screen and saved.is_file()
        loaded = config.to_dict(config.load(saved))
        assert loaded == config.to_dict(app.cfg) and loaded["training"]["learning_rate"] == 1e-4
        assert loaded["training"]["output_dir"] == "runs/my-smol"  # #14: not runs/smollm2-identity-lora
        for section, keys in original.items():  # every key of the preset survived
            assert not isinstance(keys, dict) or set(keys) <= set(loaded[section]), section
        assert config.header_comment(saved).startswith("demo:smollm2-135m-instruct (causal-lm), LoRA r=16")
        assert "Command: tunewiz run mine/my-smol.yaml" in config.header_comment(saved)
        assert "tunewiz run my-smol" in text(screen, "#command")  # by name: it is in the user's preset folder
        # a second save to the same name asks first
        app.cfg.training["learning_rate"] = 2e-4
        before = saved.read_text()
        await pilot.press("ctrl+s")
        await pilot.pause()
        modal = app.screen
        assert modal.query_one("#save-name", Input).value == "my-smol"
        await pilot.click("#save-ok")
        await pilot.pause()
        assert "already exists" in text(modal, "#save-message") and saved.read_text() == before
        assert str(modal.query_one("#save-ok", Button).label) == "Replace it"
        await pilot.pause(0.4)  # a Button ignores clicks during its 0.2 s pressed effect: a person's second click
        await pilot.click("#save-ok")
        await settle(app, pilot)
        assert app.screen is screen and config.load(saved).training["learning_rate"] == 2e-4


async def test_launch_into_a_used_run_directory_offers_the_choices(here):
    run_dir = here / "runs" / "used"
    (run_dir / "checkpoint-3").mkdir(parents=True)
    (run_dir / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3}')  # a complete checkpoint
    (run_dir / "checkpoint-3" / "adapter_model.bin").write_bytes(b"weights")
    rundir.update_status(run_dir, state="finished", pid=None)
    app = smol_app(output_dir=str(run_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.screen is screen
        message = text(screen, "#launch-msg")
        assert "Not launched" in message and "runs/used: this run directory is already in use" in message
        assert "Resume: go on from its last checkpoint" in message
        assert [b.id for b in screen.query("#launch-choices Button") if b.display] == ["choice-new", "choice-overwrite", "choice-resume"]
        assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint-3", "status.json"]  # nothing touched


async def test_the_choices_take_the_keys_and_a_refused_resume_is_shown_whole(here):
    """#14: the used-directory prompt's buttons take the focus (Enter, arrows work at once); a Resume with other
    settings than the checkpoint's is refused by the engine, and its whole message (each difference and the fix)
    shows at 80x24 with the choices still in view, Resume no longer among them."""
    from engine import launch

    run_dir = here / "runs" / "used"
    (run_dir / "checkpoint-3").mkdir(parents=True)
    rundir.mark(run_dir)
    (run_dir / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3}')
    (run_dir / "checkpoint-3" / "adapter_model.bin").write_bytes(b"weights")
    rundir.update_status(run_dir, state="finished", pid=None)
    app = smol_app(output_dir=str(run_dir))
    other = app.cfg.model_copy(deep=True)
    other.dataset.path, other.lora["r"], other.training["seed"] = "sample:sentiment", 4, 7
    rundir.record_identity(run_dir, launch.run_identity(other, None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.focused is screen.query_one("#choice-new", Button)
        await pilot.press("right", "right")
        assert app.focused is screen.query_one("#choice-resume", Button)
        await pilot.press("enter")
        await settle(app, pilot)
        message = text(screen, "#launch-msg")
        assert "cannot resume: its checkpoint was trained with other settings" in message
        for line in ("dataset.path: sample:sentiment -> sample:identity", "lora.r: 4 -> 16", "training.seed (the eval split): 7 -> 42",
                     "only steps, rates, logging and saving may change"):
            assert line in message
        assert [b.id for b in screen.query("#launch-choices Button") if b.display] == ["choice-new", "choice-overwrite"]
        assert app.focused is screen.query_one("#choice-new", Button)
        box, scroll, msg = (screen.query_one(s) for s in ("#launch-box", "#launch-scroll", "#launch-msg"))
        assert scroll.region.contains_region(msg.region) and box.region.contains_region(scroll.region)  # not cut
        assert box.region.contains_region(screen.query_one("#launch-choices").region)
        assert (run_dir / "checkpoint-3" / "adapter_model.bin").read_bytes() == b"weights"


async def test_a_run_directory_holding_foreign_files_is_never_offered_for_overwrite(here):
    run_dir = here / "runs" / "used"
    run_dir.mkdir(parents=True)
    rundir.mark(run_dir)  # a run tunewiz made, where the user has put a file of their own
    rundir.update_status(run_dir, state="finished", pid=None)
    (run_dir / "my-notes.txt").write_text("mine")
    app = smol_app(output_dir=str(run_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert [b.id for b in screen.query("#launch-choices Button") if b.display] == ["choice-new"]
        assert "Overwrite" not in text(screen, "#launch-msg")
        assert (run_dir / "my-notes.txt").read_text() == "mine"


def test_snapshot_review_yaml(snap_compare, here):
    async def run_before(pilot):
        await at_review(pilot.app, pilot)

    assert snap_compare(smol_app(), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_review_memory(snap_compare, here):
    async def run_before(pilot):
        screen = await at_review(pilot.app, pilot)
        screen.query_one("#gpu", Select).value = "gpu:24"
        screen.query_one(TabbedContent).active = "tab-memory"
        await pilot.pause()

    assert snap_compare(smol_app(), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_save_modal(snap_compare, here):
    async def run_before(pilot):
        await at_review(pilot.app, pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(smol_app(), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow
async def test_a_launched_run_outlives_the_wizard(here):
    app = smol_app(max_steps=1, num_train_epochs=1, save_strategy="no", eval_strategy="no")
    app.cfg.dataset.eval_size = 0
    async with app.run_test(size=(80, 24)) as pilot:
        await at_review(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen), text(app.screen, "#launch-msg")  # the monitor opens on the run
        run_dir = screen.run_dir
        assert run_dir.parent == Path("runs") and rundir.read_status(run_dir)["pid"]
        command = rundir.read_status(run_dir)["command"]
        assert "tunewiz run smollm2-identity-lora" in command and "--detach" in command
        await pilot.press("q")
    assert not app.is_running
    status = {}
    for _ in range(240):
        status = rundir.read_status(run_dir)
        if status.get("state") in ("finished", "failed"):
            break
        time.sleep(0.5)
    assert status.get("state") == "finished", (run_dir / rundir.STDOUT).read_text()[-2000:]
    assert (run_dir / rundir.FINAL).is_dir()
    assert json.loads((run_dir / rundir.STATUS).read_text())["command"].startswith("tunewiz run smollm2-identity-lora")
    assert presets.display_path(run_dir).startswith("runs/")


@pytest.mark.slow
async def test_the_smoke_test_measures_a_few_real_steps_of_these_choices(here):
    app = smol_app(num_train_epochs=2)
    app.cfg.dataset.eval_size = 0
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        screen.smoke_steps = 2
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.screen is screen  # the wizard stays on the review: the smoke test is not the run
        message = " ".join(text(screen, "#launch-msg").split())
        assert "Smoke test (measured on this machine, its folder deleted: it saves nothing)" in message, message
        assert "(2 optimizer steps)" in message and "full run: 16 steps" in message  # 64 rows x 2 epochs / 8
        smoke_dir = Path(app.cfg.training["output_dir"] + "-smoke")
        assert not smoke_dir.exists() and not [p for p in here.rglob("*") if p.is_file()]  # #14: nothing left behind
        assert not Path(app.cfg.training["output_dir"]).exists()  # the run itself has not started
        memory = " ".join(text(screen, "#memory").split())
        assert "Measured by the smoke test of these choices" in memory and "peak memory of the process" in memory
        app.cfg.training["learning_rate"] = 1e-3  # other choices: that measurement is no longer theirs
        screen.refresh_view()
        assert "Measured by the smoke test" not in text(screen, "#memory")
        assert not screen.query_one("#launch-box").display  # #14: the old result went with it


async def wait_for(pilot, cond, seconds=120.0):
    for _ in range(int(seconds * 10)):
        if cond():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
async def test_a_running_smoke_test_is_cancelled_by_esc_and_stopped_by_launch(here, monkeypatch):
    """#14: while it ran, Launch, a second smoke test and Esc did nothing and said nothing."""
    import tui.launching

    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen._smoke_run is not None)
        smoke_dir = screen._smoke_run
        assert "esc cancels it; Launch stops it and launches the run" in text(screen, "#launch-msg")
        assert screen.query_one("#choice-cancel", Button).display
        keys = {k.key: k for k in screen.query("FooterKey")}
        assert "ctrl+t" not in keys and keys["escape"].region.right <= 80  # the footer fits: esc is read, not cut off
        await pilot.press("escape")
        assert "stopping it" in text(screen, "#launch-msg")
        await wait_for(pilot, lambda: not screen._smoking)
        assert "Smoke test cancelled" in text(screen, "#launch-msg") and not smoke_dir.exists()

        launched = []
        monkeypatch.setattr(tui.launching, "start_run", lambda *a: launched.append(a) or (
            Path("x"), None, [], TunewizError.at("launch", "not in this test"), ()))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen._smoke_run is not None)
        await pilot.press("ctrl+r")
        assert "then the launch starts" in text(screen, "#launch-msg")
        await wait_for(pilot, lambda: bool(launched))
        await settle(app, pilot)
        assert "not in this test" in text(screen, "#launch-msg") and not smoke_dir.exists()


@pytest.mark.parametrize("lang", ["en", "ko"])
async def test_the_footer_fits_80_columns_while_a_smoke_test_runs(here, lang, request):
    """The esc key that cancels a smoke test was drawn past column 80 (in English and Korean): ^t gives it room."""
    if lang == "ko":
        request.getfixturevalue("korean")
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        keys = {k.key: k for k in screen.query("FooterKey")}
        assert "ctrl+t" in keys and "escape" not in keys
        screen._smoke_started = True  # what Smoke test sets while it checks, starts, runs and stops
        screen.refresh_bindings()
        await pilot.pause()
        keys = {k.key: k for k in screen.query("FooterKey")}
        assert set(keys) >= {"ctrl+n", "ctrl+p", "ctrl+q", "ctrl+s", "ctrl+r", "ctrl+right", "escape"}
        assert max(k.region.right for k in keys.values()) <= 80, {k: v.region for k, v in keys.items()}
        cancelled = []
        screen.action_cancel_smoke = lambda: cancelled.append("cancel")  # ^t, hidden, still cancels (a second press)
        await pilot.press("ctrl+t")
        assert cancelled == ["cancel"]


def test_the_recorded_command_and_the_choices_for_a_used_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.load(SMOL)
    assert repeat_command(cfg, None, Path("runs/x"), "resume") == ["tunewiz", "run", "runs/x/config.yaml", "--resume", "--detach"]
    base = (str(SMOL), config.to_dict(cfg))
    cfg.training["max_steps"] = 3
    assert repeat_command(cfg, base, Path("runs/x"), "new") == [
        "tunewiz", "run", "smollm2-identity-lora", "--set", "training.max_steps=3", "--detach"]
    del cfg.training["seed"]  # --set cannot remove a key: the run's own config.yaml repeats it
    assert repeat_command(cfg, base, Path("runs/x"), "overwrite")[2:] == ["runs/x/config.yaml", "--overwrite", "--detach"]
    live = tmp_path / "live"
    live.mkdir()
    rundir.update_status(live, state="running", pid=os.getpid())
    problem = TunewizError.at(str(live), "a training process is still running in it")
    assert run_dir_choices(problem, live) == (problem, ("new",))
    other = TunewizError.at("model.name_or_path", "no such model")
    assert run_dir_choices(other, live) == (other, ())


async def test_values_that_defeat_the_run_are_warnings_not_every_check_passed(here):
    """A pasted blog's values on the 58-row demo: warm-up and logging longer than the run, an epoch of one step."""
    app = smol_app(warmup_steps=1000, logging_steps=200, per_device_train_batch_size=1, gradient_accumulation_steps=64,
                   num_train_epochs=1, max_steps=-1)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        warnings = text(screen, "#warnings")
        assert "Every check passed" not in warnings and "3 warning(s)" in warnings, warnings
        assert "warmup_steps 1000 >= the run's 1 optimizer step" in warnings
        assert "logging_steps 200 > the run's 1 optimizer step" in warnings
        assert "each epoch is one optimizer step" in warnings
        assert str(screen.query_one(TabbedContent).get_tab("tab-warnings").label) == "Warnings (3)"


async def test_the_command_tab_says_what_comes_after_the_run(here):
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        command = text(screen, "#command")
        for after in ("tunewiz chat smollm2-identity-lora", "tunewiz eval smollm2-identity-lora",
                      "tunewiz export smollm2-identity-lora --merge"):
            assert after in command, command


async def test_validate_the_review_the_preset_header_and_the_run_show_one_memory_estimate(here):
    """#14: one run had four memory figures: validate / run (every row at max_length, "at most"), the review (the
    data's lengths over 1,000 draws, not the run's), the preset header (whichever the review had then) and the run's
    own (the data's lengths over its steps, which the smoke test compares its measured peak with). Now one function
    with the same inputs (engine.speed.for_data), each saying what it assumes."""
    from engine import estimate, preflight
    from engine.train import build_trainer

    app = smol_app(max_steps=3, per_device_train_batch_size=4)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        for _ in range(300):
            if screen._lengths is not None:
                break
            await pilot.pause(0.1)
        assert screen.query_one("#gpu", Select).value == "cpu"
        review = screen._render_memory()
        memory = " ".join(text(screen, "#memory").split())
        header = review.hardware_line()
    basis = "estimate at the data's real lengths: the largest of the run's 3 micro-batches"
    assert review.basis() == basis and basis[0].upper() + basis[1:] in memory and estimate.gib(review.total) in memory
    assert header == f"about {estimate.gib(review.total)} on CPU (tunewiz {basis})"
    checked = preflight.check(app.cfg)
    assert checked.speed.estimate.total == review.total
    line = next(x for x in checked.summary() if x.startswith("memory"))
    assert line.startswith(f"memory    about {review.total / 1024**3:.1f} GiB a device ({basis};")
    _, _, started = build_trainer(app.cfg, here / "run", [])  # the training process: what a smoke test compares with
    assert started["estimate_gib"] == round(review.total / 1024**3, 2)


async def test_review_shows_the_method_in_the_yaml_diff_and_command(here):
    app = smol_app()
    app.cfg.model.method = "dpo"
    app.cfg.dataset.path, app.cfg.dataset.format, app.cfg.dataset.max_rows = "sample:preferences", "auto", 16
    app.cfg.training.update({"beta": 0.2, "max_steps": 2})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        assert "method: dpo" in text(screen, "#yaml")
        assert "--set model.method=dpo" in text(screen, "#command") and "--set training.beta=0.2" in text(screen, "#command")
        assert "model.method: sft -> dpo" in text(screen, "#diff")
        # the SFT preset's learning rate carried over to DPO is said (new-user finding), and nothing else
        warnings = text(screen, "#warnings")
        assert "1 warning(s)" in warnings and "learning_rate 0.0005 is far above what DPO with LoRA uses" in warnings


# ------------------------------------------------------------------------------------------------ Korean (#18)
def korean_app() -> TunewizApp:
    """A changed preset (a diff) whose warm-up outlasts the run (a warning), for the Korean screens."""
    return smol_app(learning_rate=1e-3, warmup_steps=1000)


@pytest.mark.parametrize("tab", ["yaml", "command", "memory", "diff", "warnings"])
def test_snapshot_review_ko(snap_compare, here, korean, tab):
    async def run_before(pilot):
        screen = await at_review(pilot.app, pilot)
        if tab == "memory":
            screen.query_one("#gpu", Select).value = "gpu:24"
        screen.query_one(TabbedContent).active = f"tab-{tab}"
        await pilot.pause()

    assert snap_compare(korean_app(), terminal_size=(80, 24), run_before=run_before)


async def test_the_review_speaks_korean(here, korean):
    from engine import smoke
    from tui.screens.review import SmokeEnded

    app = korean_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        tabs = screen.query_one(TabbedContent)
        assert [str(tabs.get_tab(f"tab-{key}").label) for key in ("yaml", "command", "memory", "diff", "warnings")] == [
            "YAML", "명령", "메모리", "변경 (2)", "경고 (1)"]
        assert [str(screen.query_one(f"#{b}", Button).label) for b in ("back", "save", "smoke", "launch")] == [
            "이전", "프리셋으로 저장", "스모크 테스트", "실행"]
        warnings = text(screen, "#warnings")
        assert warnings.startswith("경고 1개: 실행은 할 수 있지만 먼저 읽어 보세요")
        assert "  경고      warmup_steps 1000 >= 실행 전체의 옵티마이저 24스텝" in warnings  # the label column, in cells
        assert "  모델      demo:smollm2-135m-instruct (causal-lm)" in warnings
        assert "  데이터셋  sample:identity: 64행" in warnings
        assert "같은 실행을 화면 없이 하려면 (이 폴더에서):" in text(screen, "#command")
        assert "smollm2-identity-lora에서 바뀐 값:" in text(screen, "#diff")
        memory = " ".join(text(screen, "#memory").split())
        assert "가중치" in memory and "합계" in memory and "데이터의 실제 길이로 본 추정치" in memory
        screen.query_one("#gpu", Select).value = "gpu:24"
        await pilot.pause()
        memory = " ".join(text(screen, "#memory").split())
        assert "24 GiB에 들어감 (95% 사용 가능)" in memory and "이 GPU에서 tunewiz가 적용하는 빠른 기본값" in memory
        assert "training.padding_free: true - 행을 패딩 토큰 없이 이어 붙입니다" in memory
        # a smoke test's result: in the launch box and in the memory table
        res = {"micro_batches": 10, "steps": 10, "accumulation": 1, "full_steps": 24, "full_micro_batches": 24,
               "warmup_micro_batches": 3, "warmup_s": 1.5, "step_s": 0.21, "tokens_per_s": 5123.0, "eta_s": 6.4,
               "device": "cpu", "peak_gib": 1.7, "estimate_gib": 1.6}
        screen.post_message(SmokeEnded(config.dump(app.cfg), res, ["스모크 테스트", *smoke.lines(res)]))
        await pilot.pause()
        launch = text(screen, "#launch-msg")
        assert "마이크로배치 10개 실행 (옵티마이저 10스텝)" in launch and "전체 실행: 24스텝, 이 속도로 약 0분 06초" in launch
        assert "이 설정의 스모크 테스트 측정값:" in " ".join(text(screen, "#memory").split())


async def test_the_preset_header_stays_english_in_korean(here, korean):
    """A saved preset's header is a file tunewiz writes: English whatever the language."""
    app = smol_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await at_review(app, pilot)
        header = screen._render_memory().hardware_line()
    assert header.startswith("about ") and " on CPU (tunewiz estimate " in header, header
