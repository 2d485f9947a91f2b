"""The run registry and the state readers derive (no training here: run directories written by hand)."""

import json
import os
import subprocess
import sys

import pytest

from engine import launch, rundir, runs
from engine.errors import TunewizError


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_REGISTRY", str(tmp_path / "registry.jsonl"))


def make_run(path, state, pid=None, events=()):
    path.mkdir(parents=True)
    rundir.update_status(path, state=state, pid=pid, started=1.0)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    runs.register(path)
    return path


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_registry_lists_each_run_once_and_finds_by_name(tmp_path):
    a = make_run(tmp_path / "a" / "exp1", "finished")
    b = make_run(tmp_path / "b" / "exp2", "finished")
    runs.register(a)
    assert runs.registered() == [b.resolve(), a.resolve()]
    assert runs.find("exp2") == b.resolve()
    assert runs.find(str(a)) == a.resolve()
    with pytest.raises(TunewizError, match="did you mean exp1"):
        runs.find("exp")


def test_process_gone_without_end_is_failed_with_a_cause(tmp_path):
    run = make_run(tmp_path / "r", "running", pid=dead_pid(), events=[{"type": "log", "step": 3, "loss": 1.5, "max_steps": 10}])
    s = runs.summarize(run)
    assert s.state == "failed" and "gone without an end event" in s.cause
    assert (s.step, s.max_steps, s.loss) == (3, 10, 1.5)


def test_process_gone_after_its_end_event_keeps_that_state(tmp_path):
    run = make_run(tmp_path / "r", "running", pid=dead_pid(), events=[{"type": "end", "state": "finished", "step": 5}])
    assert runs.summarize(run).state == "finished"


def test_live_process_is_running(tmp_path):
    run = make_run(tmp_path / "r", "running", pid=os.getpid())
    assert runs.summarize(run).state == "running"


def test_stop_refuses_a_run_that_is_not_running(tmp_path):
    run = make_run(tmp_path / "r", "finished", pid=dead_pid())
    with pytest.raises(TunewizError, match="not running"):
        launch.stop_run(run)


def test_tail_reads_only_the_end_of_a_long_history(tmp_path):
    run = tmp_path / "long"
    run.mkdir()
    with open(run / "events.jsonl", "w") as f:
        for i in range(200_000):
            f.write(json.dumps({"type": "log", "step": i, "loss": 1.0}) + "\n")
    events = runs.tail_events(run)
    assert events[-1]["step"] == 199_999 and len(events) < 2000


def test_resume_refuses_a_run_that_reached_its_end(tmp_path):
    from engine import launch

    cp = tmp_path / "checkpoint-3"
    cp.mkdir()
    (cp / "trainer_state.json").write_text(json.dumps({"global_step": 3, "epoch": 0.5}))
    (cp / "adapter_model.bin").write_bytes(b"weights")
    with pytest.raises(TunewizError, match="(?s)already at step 3.*max_steps=6"):
        launch.check_resumable(tmp_path, {"max_steps": 3})
    launch.check_resumable(tmp_path, {"max_steps": 5})
    (cp / "trainer_state.json").write_text(json.dumps({"global_step": 30, "epoch": 3.0}))
    with pytest.raises(TunewizError, match="(?s)finished all 3 epochs.*num_train_epochs=6"):
        launch.check_resumable(tmp_path, {"num_train_epochs": 3})


# ------------------------------------------------------------------------------ damaged run directories (issue #12)
DAMAGED_STATUS = {"binary": b"\x00\xff\xfe garbage \x80", "a JSON list": b"[1, 2, 3]", "cut short": b'{"state": "runn',
                  "wrong types": json.dumps({"state": 5, "pid": "12", "started": "yesterday", "error": ["x"]}).encode()}
DAMAGED_EVENTS = (b'{"v": 1, "type": "start", "step": 0, "max_steps": 4}\n'
                  b'\xff\xfe not utf-8 \x80\n'
                  b'[1, 2]\n'
                  b'"a string"\n'
                  b'{"v": 1, "type": "log", "step": "abc", "loss": "high"}\n'
                  b'{"v": 1, "type": "gpu", "gpus": [5, "x"]}\n'
                  b'{"v": 1, "type": "log", "step": 2, "max_steps": 4, "loss": 0.5, "time": 10}\n'
                  b'{"v": 1, "type": "log", "st')


@pytest.mark.parametrize("kind", DAMAGED_STATUS)
def test_runs_lists_every_run_when_one_has_damaged_files(tmp_path, capsys, kind):
    from engine import cli

    good = make_run(tmp_path / "good", "finished", events=[{"v": 1, "type": "log", "step": 3, "max_steps": 3, "loss": 0.25}])
    bad = make_run(tmp_path / "bad", "finished")
    (bad / "status.json").write_bytes(DAMAGED_STATUS[kind])
    (bad / "events.jsonl").write_bytes(DAMAGED_EVENTS)
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "0.2500" in out and "bad" in out
    assert cli.main(["runs", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["good"]["state"] == "finished" and rows["bad"]["step"] == 2
    assert runs.summarize(good).loss == 0.25


def test_registry_with_damaged_lines_still_lists_the_runs(tmp_path, capsys):
    run = make_run(tmp_path / "ok", "finished")
    with open(tmp_path / "registry.jsonl", "ab") as f:
        f.write(b'\xff\xfe\n[1]\n{"path": 5}\n{"path": null}\n{"pa')
    assert runs.registered() == [run]


def test_reader_skips_damaged_events_and_keeps_the_rest(tmp_path):
    from engine.monitor import RunReader

    (tmp_path / "events.jsonl").write_bytes(DAMAGED_EVENTS)
    (tmp_path / "status.json").write_bytes(DAMAGED_STATUS["binary"])
    reader = RunReader(tmp_path)
    view = reader.poll()
    assert view.step == 2 and view.loss == [(2, 0.5)]
    assert reader.skipped == 1  # the log whose step is "abc" (non-objects never reach the view; the GPU list is emptied)


def test_monitor_app_opens_a_run_with_damaged_files(tmp_path):
    import asyncio

    from tui.monitor_app import MonitorApp

    (tmp_path / "events.jsonl").write_bytes(DAMAGED_EVENTS)
    (tmp_path / "status.json").write_bytes(DAMAGED_STATUS["wrong types"])

    async def go():
        app = MonitorApp(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            assert app.is_running
        return app.return_code

    assert asyncio.run(go()) in (0, None)


def test_a_resumed_run_shows_one_history(tmp_path):
    """Steps 5-6 were logged, then a kill; the run resumed from checkpoint-4 and trained 5-6 again."""
    from engine.monitor import RunReader

    evs = [{"type": "start", "step": 0, "max_steps": 8}]
    evs += [{"type": "log", "step": i, "max_steps": 8, "loss": 1.0 / i} for i in range(1, 7)]
    evs += [{"type": "eval", "step": 6, "loss": 0.9}]
    evs += [{"type": "start", "step": 4, "max_steps": 8, "resumed": True}]
    evs += [{"type": "log", "step": i, "max_steps": 8, "loss": 2.0 / i} for i in range(5, 9)]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps({"v": 1, **e}) + "\n" for e in evs))
    view = RunReader(tmp_path).poll()
    assert [s for s, _ in view.loss] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert dict(view.loss)[5] == 2.0 / 5 and view.eval_loss == [] and view.resumed_at == [4]


def test_a_truncated_last_line_does_not_swallow_the_next_event(tmp_path):
    (tmp_path / "events.jsonl").write_bytes(b'{"v": 1, "type": "log", "step": 1}\n{"v": 1, "type": "log", "st')
    log = rundir.EventLog(tmp_path)
    log.emit("start", step=1, resumed=True)
    log.close()
    events, _ = rundir.read_events(tmp_path)
    assert [e["type"] for e in events] == ["log", "start"]


def test_stop_of_a_run_whose_status_was_deleted_writes_the_stop_file(tmp_path, capsys):
    from engine import cli

    run = make_run(tmp_path / "r", "running", pid=os.getpid())
    (run / "status.json").unlink()
    assert cli.main(["stop", str(run)]) == 0
    assert (run / "STOP").exists() and "STOP file" in capsys.readouterr().out


# ------------------------------------------------------------------------------ a full disk
def test_disk_full_is_recognised_through_the_libraries_wrappings(tmp_path):
    import errno

    assert rundir.is_disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    wrapped = RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" })")
    assert rundir.is_disk_full(wrapped, tmp_path)
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as e:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from e
    except RuntimeError as e:
        assert rundir.is_disk_full(e, tmp_path)
    assert not rundir.is_disk_full(ValueError("a bad value"), tmp_path)


def test_reserve_holds_real_blocks_and_is_given_back(tmp_path):
    rundir.reserve(tmp_path)
    p = tmp_path / rundir.RESERVE
    assert p.stat().st_size == rundir.RESERVE_BYTES and p.stat().st_blocks * 512 >= rundir.RESERVE_BYTES
    assert rundir.is_own_name(rundir.RESERVE)
    rundir.release(tmp_path)
    assert not p.exists()


def test_a_bare_name_means_the_run_of_this_folder_before_a_newer_one_elsewhere(tmp_path, monkeypatch):
    mine = make_run(tmp_path / "project" / "runs" / "demo", "finished")
    make_run(tmp_path / "other" / "runs" / "demo", "finished")  # registered later
    monkeypatch.chdir(tmp_path / "project")
    assert runs.find("demo") == mine
    monkeypatch.chdir(tmp_path)
    assert runs.find("demo") == tmp_path / "other" / "runs" / "demo"
