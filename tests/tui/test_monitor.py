"""The monitor, fed recorded run directories (running, finished, failed with OOM) and a live file."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from engine import rundir
from engine.monitor import RunReader
from tui.screens.monitor import MonitorScreen

RECORDED = Path(__file__).resolve().parents[1] / "data" / "runs"


def recorded(tmp_path, name, live=False, fresh=True):
    """A copy of a recorded run directory; `live` makes its process this test's own (so it reads as running),
    `fresh` moves its event times so the last one is now (the gaps between them stay as recorded)."""
    d = tmp_path / "sentiment"
    shutil.copytree(RECORDED / name, d)
    if live:
        rundir.update_status(d, pid=os.getpid())
        if fresh:
            events = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
            shift = time.time() - events[-1]["time"]
            (d / "events.jsonl").write_text("".join(json.dumps({**e, "time": e["time"] + shift}) + "\n" for e in events))
    return d


class Host(App):
    def __init__(self, run_dir, interval=0.0):
        super().__init__()
        self.run_dir, self.interval = run_dir, interval

    def on_mount(self):
        self.push_screen(MonitorScreen(self.run_dir, interval=self.interval))


def text(app, wid):
    return str(app.screen.query_one(wid, Static).render())


async def test_finished_run_shows_its_whole_history(tmp_path):
    app = Host(recorded(tmp_path, "finished"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = app.screen.reader.view
        assert view.state == "finished" and view.step == 24 and len(view.loss) == 24 and len(view.eval_loss) == 3
        assert "step 24/24" in text(app, "#mon-eta")
        metrics = text(app, "#mon-metrics")
        assert "eval accuracy" in metrics and "eval f1" in metrics


async def test_running_run_follows_new_events_from_its_offset(tmp_path):
    run = recorded(tmp_path, "running", live=True)
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.reader.view.state == "running" and screen.reader.view.step == 14
        assert "GPU0  97% 31.4/140G 61C 512.3W" in text(app, "#mon-system")
        offset = screen.reader._events_offset
        with open(run / "events.jsonl", "a") as f:
            f.write(json.dumps({"v": 1, "type": "log", "time": 2e9, "step": 15, "max_steps": 24, "loss": 0.5,
                                "learning_rate": 1e-4, "grad_norm": 1.0, "epoch": 1.25}) + "\n")
            f.write('{"v": 1, "type": "log", "step": 16')  # half-written line: waits for its end
        screen.refresh_view()
        await pilot.pause()
        assert screen.reader.view.step == 15 and "step 15/24" in text(app, "#mon-eta")
        assert screen.reader._events_offset > offset
        with open(run / "events.jsonl", "a") as f:
            f.write(', "loss": 0.4, "max_steps": 24}\n')
        screen.refresh_view()
        assert screen.reader.view.step == 16


async def test_failed_oom_run_names_the_cause_and_the_fix(tmp_path):
    app = Host(recorded(tmp_path, "failed-oom"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        alerts = text(app, "#mon-alerts")
        assert "Failed:" in alerts and "CUDA out of memory" in alerts
        assert "likely cause: out of memory" in alerts and "per_device_train_batch_size" in alerts


async def test_process_gone_without_end_reads_failed(tmp_path):
    run = recorded(tmp_path, "running")  # pid 999999: no such process
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.reader.view.state == "failed"
        assert "gone without an end event" in text(app, "#mon-alerts")


async def test_injected_reader_drives_the_panels(tmp_path):
    class FakeReader:
        def __init__(self):
            self.inner = RunReader(recorded(tmp_path, "running", live=True))
            self.view = self.inner.view

        def poll(self):
            view = self.inner.poll()
            view.add({"type": "log", "step": 15, "max_steps": 24, "loss": None, "nonfinite": ["loss"], "grad_norm": 1.0}, live=True)
            return view

    class FakeHost(App):
        def on_mount(self):
            self.push_screen(MonitorScreen(tmp_path, reader=FakeReader(), interval=0))

    app = FakeHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "loss is NaN or inf at step 15" in text(app, "#mon-alerts")


@pytest.mark.parametrize("name", ["running", "finished", "failed-oom"])
def test_snapshot_monitor(snap_compare, tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = recorded(tmp_path, name, live=name == "running")
    assert snap_compare(Host(run, interval=0), terminal_size=(80, 24))


async def test_stop_key_signals_the_run_and_a_second_press_kills_it(tmp_path):
    import subprocess
    import sys
    import time

    run = recorded(tmp_path, "running")
    # a stand-in training process in its own session that ignores the first SIGTERM (as the trainer does
    # until the end of its step)
    proc = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, lambda *a: None); time.sleep(60)"],
                            start_new_session=True)
    try:
        time.sleep(0.3)
        rundir.update_status(run, pid=proc.pid, pgid=proc.pid)
        app = Host(run)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert rundir.read_status(run)["state"] == "stopping" and proc.poll() is None
            app.screen.refresh_view()
            await pilot.press("s")
            await pilot.pause()
            assert proc.wait(timeout=10) == -9
            assert rundir.read_status(run)["state"] == "failed"
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_no_progress_for_long_is_an_alert(tmp_path):
    run = recorded(tmp_path, "running", live=True, fresh=False)  # its last event is long ago
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "no progress for over 10 minutes" in text(app, "#mon-alerts")


# The warnings a CPU run of minilm-sentiment-lora / smollm2-identity-lora wrote into stdout.log (transformers 5)
LIBRARY_NOISE = [
    "/venv/lib/python3.11/site-packages/transformers/training_args.py:1541: FutureWarning: `gradient_checkpointing` is "
    "deprecated and will be removed in v6. Use `activation_checkpointing` instead.",
    '  warnings.warn(f"`{old}` is deprecated and will be removed in v6. Use `{new}` instead.", FutureWarning)',
    "/venv/lib/python3.11/site-packages/transformers/modeling_utils.py:3314: FutureWarning: `is_gradient_checkpointing` "
    "is deprecated and will be removed in v6. Use `is_activation_checkpointing` instead.",
    "  warnings.warn(",
]


async def test_the_log_pane_leaves_out_the_libraries_rename_warnings_and_keeps_following(tmp_path):
    """#14: every run's log pane opened on transformers' FutureWarnings; stdout.log keeps them. And past 200 lines
    (the reader's tail) the pane went on showing new lines."""
    from textual.widgets import Log

    run = recorded(tmp_path, "running", live=True)
    other = "/x/foo.py:3: FutureWarning: `max_length` is not used by this model"  # not a known rename: shown
    with open(run / "stdout.log", "a") as f:
        f.write("\n".join([*LIBRARY_NOISE[:2], "first real line", LIBRARY_NOISE[2]]) + "\n")
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        log = screen.query_one("#mon-log", Log)
        with open(run / "stdout.log", "a") as f:  # the source line of the last warning comes with a later read
            f.write("\n".join([LIBRARY_NOISE[3], other, "  an indented line of the run's own"]) + "\n")
        screen.refresh_view()
        await pilot.pause()
        shown = list(log.lines)
        assert "first real line" in shown and other in shown and "  an indented line of the run's own" in shown
        assert not any("deprecated and will be removed" in line or "warnings.warn(" in line for line in shown)
        assert all(line in (run / "stdout.log").read_text() for line in LIBRARY_NOISE)
        for batch in range(3):  # 3 x 150 lines: the reader's tail holds 200
            with open(run / "stdout.log", "a") as f:
                f.write("".join(f"line {batch}-{i}\n" for i in range(150)))
            screen.refresh_view()
            await pilot.pause()
            assert log.lines[-1] == f"line {batch}-149"


@pytest.mark.slow
async def test_e_evaluates_a_finished_run_on_its_held_out_rows(tmp_path):
    """A real classifier run (16 rows held out): e measures tuned vs base (engine.evaluate, in a worker), shows
    the table, and the metrics panel keeps the main metric."""
    from tests.engine.test_evaluate import train
    from tui.screens.monitor import EvalResult

    run = tmp_path / "cls"
    train(run, "minilm-sentiment-lora", "dataset.max_rows=80", "dataset.eval_size=16", "training.max_steps=2")
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        monitor = app.screen
        assert "accuracy tuned" not in text(app, "#mon-metrics")
        await pilot.press("e")
        t0 = time.time()
        while not isinstance(app.screen, EvalResult):
            assert time.time() - t0 < 300 and (monitor.evaluating or isinstance(app.screen, EvalResult)), "the evaluation ended without a result"
            await pilot.pause(0.2)
        table = str(app.screen.query_one("#eval-table", Static).render())
        assert "16 held-out rows" in table and "accuracy" in table and "confusion matrix, tuned" in table
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is monitor and "accuracy tuned" in text(app, "#mon-metrics") and "accuracy base" in text(app, "#mon-metrics")
    assert (run / "eval.json").is_file()


async def test_e_on_a_live_run_or_one_without_a_result_says_why(tmp_path):
    run = recorded(tmp_path, "running", live=True)
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert not app.screen.evaluating
        assert any("still going" in str(n.message) for n in app._notifications)


async def test_a_dpo_run_plots_its_rewards_beside_the_loss(tmp_path):
    """A recorded DPO run (presets/smollm2-concise-dpo.yaml on CPU): TRL's reward margin and accuracy are plotted with
    the loss, and the side panel lists the chosen / rejected rewards."""
    run = recorded(tmp_path, "dpo-finished")
    app = Host(run, interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        metrics = text(app, "#mon-metrics")
        assert "reward margin" in metrics and "0.8598" in metrics and "reward acc" in metrics
        view = RunReader(run).poll()
        assert len(view.rewards["rewards/margins"]) == 15 and view.rewards["rewards/accuracies"][-1] == (15, 1.0)


async def test_e_on_a_dpo_run_says_at_once_that_it_is_not_measured(tmp_path):
    """A new user's finding: e on a DPO run said "Evaluating ..." and then failed; now it says why at once."""
    from tests.conftest import PRESETS

    run = recorded(tmp_path, "dpo-finished")
    shutil.copy(PRESETS / "smollm2-concise-dpo.yaml", run / "config.yaml")
    (run / "final").mkdir()
    (run / "final" / "adapter_config.json").write_text("{}")
    (run / "final" / "adapter_model.safetensors").write_bytes(b"")  # a result to find (never loaded: refused first)
    app = Host(run, interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
        assert any("dpo runs are not measured on their held-out rows yet" in m for m in said), said
        assert not any(m.startswith("Evaluating") for m in said) and not app.screen.evaluating


def test_preference_alerts():
    """Margins exploding, accuracy stuck at 0.5, the chosen answers collapsing: each is said once with its fix."""
    from engine.monitor import RunView

    def view_of(logs):
        v = RunView(Path("."))
        for i, extra in enumerate(logs, 1):
            v.add({"type": "log", "step": i, "loss": 0.69, **extra}, live=True)
        return {a.kind: a for a in v.alerts}

    stuck = view_of([{"rewards/accuracies": 0.5, "rewards/margins": 0.001, "rewards/chosen": 0.0}] * 20)
    assert set(stuck) == {"accuracy-stuck"} and "learning_rate" in stuck["accuracy-stuck"].fix
    assert not view_of([{"rewards/accuracies": 0.5, "rewards/margins": 0.001}] * 19)
    runaway = view_of([{"rewards/margins": 25.0, "rewards/accuracies": 1.0, "rewards/chosen": -6.0}])
    assert set(runaway) == {"margins-exploding", "chosen-collapsing"} and "beta" in runaway["margins-exploding"].fix
    assert "loss_type: [sigmoid, sft]" in runaway["chosen-collapsing"].fix
    assert not view_of([{"rewards/margins": 0.86, "rewards/accuracies": 1.0, "rewards/chosen": 0.33}] * 30)


# ------------------------------------------------------------------------------------------------- Korean (#18)
@pytest.mark.parametrize("name", ["running", "finished", "failed-oom", "dpo-finished"])
def test_snapshot_monitor_ko(snap_compare, tmp_path, name, monkeypatch, korean):
    monkeypatch.chdir(tmp_path)
    run = recorded(tmp_path, name, live=name == "running")
    assert snap_compare(Host(run, interval=0), terminal_size=(80, 24))


async def test_a_failure_cause_and_its_fix_are_said_in_korean(tmp_path, korean):
    app = Host(recorded(tmp_path, "failed-oom"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        alerts = text(app, "#mon-alerts")
        assert "실패:" in alerts and "CUDA out of memory" in alerts  # the error itself is the library's own
        assert "예상 원인: 메모리 부족" in alerts and "per_device_train_batch_size를 낮추거나" in alerts
        assert "실패" in text(app, "#mon-title") and "스텝 14/24" in text(app, "#mon-eta")
        assert app.screen.active_bindings["r"].binding.description == "재개"


def test_health_alerts_are_said_in_korean(korean):
    from engine.monitor import RunView

    v = RunView(Path("."))
    v.add({"type": "log", "step": 15, "max_steps": 24, "loss": None, "nonfinite": ["loss"], "grad_norm": 1.0}, live=True)
    (alert,) = v.alerts
    assert alert.message == "스텝 15에서 loss 값이 NaN 또는 inf입니다" and alert.fix.endswith("bf16을 쓰세요")
