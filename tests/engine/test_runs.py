"""The run registry and the state readers derive (no training here: run directories written by hand)."""

import json
import os
import subprocess
import sys

import pytest

from engine import rundir, runs
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
        runs.stop(run)


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
