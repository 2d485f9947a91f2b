"""`tunewiz run` in the foreground: `launch.follow` prints a run's events through the monitor's reader
(`monitor.watch`), the last ones written before the process exits included, from a resume's offset on."""
from __future__ import annotations

import io
import json
import time

from engine import launch, rundir


def append(run_dir, *events):
    with open(run_dir / rundir.EVENTS, "a") as f:
        for ev in events:
            f.write((ev if isinstance(ev, str) else json.dumps(ev)) + "\n")


class Process:
    """A training process seen from outside: each poll() lets it write its next batch of events; the last batch
    is written just before it exits, so the first poll that sees it gone comes after those events are on disk."""

    def __init__(self, run_dir, batches, returncode=0):
        self.run_dir, self.batches, self.code, self.returncode = run_dir, list(batches), returncode, None

    def poll(self):
        if self.batches:
            append(self.run_dir, *self.batches.pop(0))
        if not self.batches:
            self.returncode = self.code
        return self.returncode

    def wait(self):
        return self.code


def follow(run_dir, proc, offset=0):
    out = io.StringIO()
    state = launch.follow(run_dir, proc, out, offset)
    return state, out.getvalue()


def test_the_last_log_and_eval_lines_before_the_exit_are_printed(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    now = time.time()
    start = {"type": "start", "time": now, "step": 0, "train_rows": 40, "trainable_params": 1234, "device": "cpu"}
    batches = [[start, {"type": "log", "time": now + 1, "step": 1, "max_steps": 2, "loss": 2.5}],
               [{"type": "log", "time": now + 2, "step": 2, "max_steps": 2, "loss": 1.25},
                {"type": "eval", "time": now + 3, "step": 2, "loss": 1.5},
                {"type": "save", "time": now + 3, "step": 2, "checkpoint": "checkpoint-2"}]]
    rundir.update_status(tmp_path, state="finished")
    state, text = follow(tmp_path, Process(tmp_path, batches))
    assert state == "finished"
    lines = text.splitlines()
    assert lines[0] == "training: 40 rows, 1,234 trainable parameters on cpu"
    assert lines[1].startswith("step 1/2") and "loss 2.5000" in lines[1]
    assert lines[2].startswith("step 2/2") and "loss 1.2500" in lines[2]
    assert lines[3:] == ["eval: loss 1.5000", "saved checkpoint-2"]


def test_a_resumed_run_is_followed_from_where_its_history_ended(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    append(tmp_path, {"type": "eval", "time": 1.0, "step": 5, "loss": 9.0})  # the history it continues
    offset = launch.events_end(tmp_path)
    rundir.update_status(tmp_path, state="finished")
    _, text = follow(tmp_path, Process(tmp_path, [[{"type": "eval", "time": 2.0, "step": 6, "loss": 0.5}]]), offset)
    assert text.splitlines() == ["eval: loss 0.5000"]


def test_a_damaged_event_is_left_out_and_the_rest_printed(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    rundir.update_status(tmp_path, state="finished")
    batches = [["{not json", {"type": "log", "step": "three"}, {"type": "eval", "time": 1.0, "step": 3, "loss": "nan?"},
                {"type": "error", "time": 2.0, "message": "CUDA out of memory"}]]
    state, text = follow(tmp_path, Process(tmp_path, batches))
    assert text.splitlines() == ["error: CUDA out of memory"]
    assert state == "finished"


def test_a_process_killed_before_writing_its_end_is_failed_with_the_signal(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    rundir.update_status(tmp_path, state="running")
    state, _ = follow(tmp_path, Process(tmp_path, [[]], returncode=-9))
    assert state == "failed"
    assert "9" in str(rundir.read_status(tmp_path).get("error"))
