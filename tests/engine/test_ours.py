"""What is ours (DESIGN.md): --overwrite empties only a folder tunewiz marked as a run, and only of the files
tunewiz wrote; resume takes the newest complete checkpoint and sets a partial one aside; stop signals only the
process it started. No training here: folders and processes made by hand, in tmp dirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import launch, rundir, runs
from engine.errors import TunewizError


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_REGISTRY", str(tmp_path / "registry.jsonl"))


def checkpoint(run: Path, step: int, *, state: bool = True) -> Path:
    """A complete checkpoint as the Trainer writes it (real safetensors and torch files), small."""
    import torch
    from safetensors.torch import save_file

    cp = run / f"checkpoint-{step}"
    cp.mkdir(parents=True)
    save_file({"w": torch.zeros(64, 64)}, str(cp / "adapter_model.safetensors"))
    (cp / "adapter_config.json").write_text("{}")
    torch.save({"state": {0: torch.zeros(64, 64)}}, cp / "optimizer.pt")
    torch.save({"a": 1}, cp / "rng_state.pth")
    if state:
        (cp / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": 0.1 * step}))
    return cp


def a_run(path: Path, state: str = "finished") -> Path:
    """A run directory as `tunewiz run` leaves it (marked)."""
    launch.prepare_run_dir(path, overwrite=False, resume=False)
    rundir.update_status(path, state=state, versions={"tunewiz": "0"}, worker="python -m engine.train x")
    (path / "config.yaml").write_text("model: {}\n")
    (path / "events.jsonl").write_text(json.dumps({"v": 1, "type": "end", "state": state}) + "\n")
    (path / "stdout.log").write_text("log\n")
    checkpoint(path, 2)
    (path / "final").mkdir()
    (path / "final" / "adapter_model.safetensors").write_bytes(b"x")
    return path


# ------------------------------------------------------------------------------------ the mark
def test_a_new_run_directory_is_marked_with_a_run_id(tmp_path):
    run = tmp_path / "runs" / "new"
    launch.prepare_run_dir(run, overwrite=False, resume=False)
    mark = json.loads((run / rundir.MARKER).read_text())
    assert len(mark["tunewiz_run"]) == 32 and rundir.run_id(run) == mark["tunewiz_run"]
    assert rundir.mark(run) == mark["tunewiz_run"]  # kept, not replaced
    assert rundir.is_run_dir(run)


def test_the_own_names_cover_what_the_engine_writes():
    import importlib

    from engine import distributed, smoke

    try:  # the after-run evaluation's files, where it is there
        ev = importlib.import_module("engine.evaluate")
        after = [getattr(ev, k) for k in ("SPLIT", "RESULT", "ROWS") if hasattr(ev, k)]
    except ImportError:
        after = []
    for name in (*after, smoke.RESULT, distributed.ACCELERATE_CONFIG, "checkpoint-12", "partial-checkpoint-3-20260101-101010",
                 ".status.json.123.tmp", "config.tmp", rundir.MARKER):
        assert rundir.is_own_name(name), name
    for name in ("notes.txt", "src", "checkpoint-x", "checkpoint-3.bak", "data.csv", ".git"):
        assert not rundir.is_own_name(name), name


# ------------------------------------------------------------------------------------ --overwrite
def test_overwrite_empties_a_marked_run_of_its_own_files_only(tmp_path):
    run = a_run(tmp_path / "r")
    (run / "README.md").write_text("---\nlibrary_name: transformers\ntags:\n- generated_from_trainer\n- trl\n---\n# card\n")
    old_id = rundir.run_id(run)
    launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert sorted(os.listdir(run)) == [rundir.MARKER] and rundir.run_id(run) != old_id


def test_overwrite_refuses_a_run_holding_a_foreign_file_and_names_it(tmp_path):
    run = a_run(tmp_path / "r")
    (run / "notes.txt").write_text("mine")
    (run / "data").mkdir()
    before = sorted(os.listdir(run))
    with pytest.raises(TunewizError, match=r"will not delete it: it holds files tunewiz did not write: data/, notes.txt"):
        launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert sorted(os.listdir(run)) == before
    # the message without --overwrite does not suggest it
    with pytest.raises(TunewizError) as e:
        launch.prepare_run_dir(run, overwrite=False, resume=False)
    assert "add --overwrite" not in str(e.value) and "--overwrite will not delete it" in str(e.value)


def test_overwrite_keeps_an_exported_model_and_says_how_to_start_over(tmp_path, capsys):
    """A new user's finding: `tunewiz run ... --overwrite` deleted runs/x/export (the merged model `tunewiz export`
    made, 260 MB) without a word. It is refused now, naming it and how to keep it; `tunewiz rm` (which asks) still
    deletes the whole run."""
    from engine import cli

    run = a_run(tmp_path / "r")
    (run / rundir.EXPORT / "merged").mkdir(parents=True)
    (run / rundir.EXPORT / "merged" / "model.safetensors").write_bytes(b"weights")
    before = sorted(os.listdir(run))
    with pytest.raises(TunewizError) as e:
        launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert f"it holds {run / 'export'}/, the model exported from its run" in str(e.value)
    assert f"mv {run / 'export'} <elsewhere>" in str(e.value)
    assert sorted(os.listdir(run)) == before and (run / "export" / "merged" / "model.safetensors").exists()
    with pytest.raises(TunewizError) as e:  # without --overwrite: not offered
        launch.prepare_run_dir(run, overwrite=False, resume=False)
    assert "add --overwrite" not in str(e.value) and "--overwrite will not delete it" in str(e.value)
    with pytest.raises(OSError):
        rundir.clear(run)

    (run / rundir.EXPORT).rename(tmp_path / "kept-export")  # moved out, as the message says: starting over works
    launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert sorted(os.listdir(run)) == [rundir.MARKER] and (tmp_path / "kept-export" / "merged").is_dir()

    (run / rundir.EXPORT).mkdir()
    (run / "config.yaml").write_text("model: {}\n")
    rundir.update_status(run, state="finished")
    capsys.readouterr()
    assert cli.main(["rm", str(run), "--yes"]) == 0
    assert not run.exists()


def test_a_project_folder_with_a_config_yaml_is_not_a_run(tmp_path, monkeypatch):
    """The reported wipe: output_dir: . in a project folder holding a config.yaml."""
    project = tmp_path / "project"
    project.mkdir()
    for name, text in (("config.yaml", "mine: 1\n"), ("train.py", "print(1)\n"), ("status.json", "{}")):
        (project / name).write_text(text)
    monkeypatch.chdir(project)
    for target in (Path("."), project):
        with pytest.raises(TunewizError, match="will not delete it") as e:
            launch.prepare_run_dir(target, overwrite=True, resume=False)
        assert "current folder" in str(e.value)
        with pytest.raises(TunewizError) as e:
            launch.prepare_run_dir(target, overwrite=False, resume=False)
        assert "add --overwrite" not in str(e.value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TunewizError, match=r"not a tunewiz run directory \(no tunewiz-run.json\)") as e:
        launch.prepare_run_dir(project, overwrite=True, resume=False)
    with pytest.raises(TunewizError) as e:
        launch.prepare_run_dir(project, overwrite=False, resume=False)
    assert "--overwrite" not in str(e.value) and not rundir.is_run_dir(project)
    assert sorted(os.listdir(project)) == ["config.yaml", "status.json", "train.py"]


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(TunewizError, match="is a file, not a folder"):
            launch.prepare_run_dir(tmp_path / "f", overwrite=overwrite, resume=False)
    assert (tmp_path / "f").read_text() == "mine"


def test_a_folder_with_only_a_users_config_yaml_is_not_a_run(tmp_path):
    d = tmp_path / "exp"
    d.mkdir()
    (d / "config.yaml").write_text("mine: 1\n")
    with pytest.raises(TunewizError, match="not a tunewiz run directory"):
        launch.prepare_run_dir(d, overwrite=True, resume=False)
    assert (d / "config.yaml").read_text() == "mine: 1\n"


def test_overwrite_never_takes_the_current_folder_its_parents_home_or_root(tmp_path, monkeypatch):
    run = a_run(tmp_path / "r")
    inner = run / "checkpoint-2"
    monkeypatch.chdir(inner)  # the working folder inside the run: the run holds it
    assert rundir.overwrite_refusal(run) == "it holds the current folder"
    monkeypatch.chdir(run)
    assert rundir.overwrite_refusal(Path(".")) == "it is the current folder"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(run))
    assert rundir.overwrite_refusal(run) == "it is your home folder"
    monkeypatch.setenv("HOME", str(run / "final"))
    assert rundir.overwrite_refusal(run) == "it holds your home folder"
    assert rundir.overwrite_refusal(Path("/")) == "it is the root folder"
    with pytest.raises(TunewizError, match="will not delete it: it holds your home folder"):
        launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert (run / "final" / "adapter_model.safetensors").is_file()


def test_overwrite_removes_links_without_following_them(tmp_path):
    run = a_run(tmp_path / "r")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "weights.bin").write_text("keep")
    (run / "checkpoint-9").symlink_to(outside, target_is_directory=True)
    launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert (outside / "weights.bin").read_text() == "keep" and not (run / "checkpoint-9").exists()


def test_a_run_from_before_the_mark_is_ours_when_it_holds_only_tunewiz_files(tmp_path):
    run = a_run(tmp_path / "old")
    (run / rundir.MARKER).unlink()
    assert rundir.is_run_dir(run) and rundir.overwrite_refusal(run) is None
    (run / "notes.txt").write_text("mine")
    assert not rundir.is_run_dir(run)
    assert runs.find(str(run)) == run.resolve()  # still a run to read, attach and stop by its path
    assert rundir.overwrite_refusal(run) == "it holds files tunewiz did not write: notes.txt"
    (run / "notes.txt").unlink()
    launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert os.listdir(run) == [rundir.MARKER]


def test_a_running_run_is_never_overwritten(tmp_path):
    run = a_run(tmp_path / "r", state="running")
    rundir.update_status(run, pid=os.getpid())
    with pytest.raises(TunewizError, match="still running"):
        launch.prepare_run_dir(run, overwrite=True, resume=False)
    assert (run / "checkpoint-2").is_dir()


# ------------------------------------------------------------------------------------ checkpoints
def test_a_checkpoint_is_complete_only_with_its_state_and_intact_weights(tmp_path):
    assert rundir.checkpoint_problem(checkpoint(tmp_path, 1)) is None
    assert "no trainer_state.json" in rundir.checkpoint_problem(checkpoint(tmp_path, 2, state=False))
    cp = checkpoint(tmp_path, 3)
    (cp / "trainer_state.json").write_text('{"global_step": 3, "epo')
    assert "cut short" in rundir.checkpoint_problem(cp)
    for name in ("adapter_model.safetensors", "optimizer.pt"):
        cp = checkpoint(tmp_path, 10 + len(name))
        data = (cp / name).read_bytes()
        (cp / name).write_bytes(data[: len(data) // 2])
        assert rundir.checkpoint_problem(cp) == f"{name} is cut short"
    cp = checkpoint(tmp_path, 40)
    (cp / "adapter_model.safetensors").unlink()
    assert rundir.checkpoint_problem(cp) == "no model or adapter weights"
    cp = checkpoint(tmp_path, 41)
    (cp / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors"}}))
    assert "names missing shards: model-00002-of-00002.safetensors" in rundir.checkpoint_problem(cp)


def test_resume_takes_the_newest_complete_checkpoint_and_sets_the_partial_one_aside(tmp_path):
    run = a_run(tmp_path / "r", state="failed")
    checkpoint(run, 4)
    partial = checkpoint(run, 6, state=False)
    names = sorted(os.listdir(partial))
    assert rundir.last_checkpoint(run).name == "checkpoint-4"
    launch.check_resumable(run, {"max_steps": 10})
    launch.prepare_run_dir(run, overwrite=False, resume=True)
    assert [p.name for p in rundir.checkpoints(run)] == ["checkpoint-2", "checkpoint-4"]
    aside = list(run.glob("partial-checkpoint-6-*"))
    assert len(aside) == 1 and sorted(os.listdir(aside[0])) == names  # renamed, nothing deleted
    ev = [e for e in rundir.read_events(run)[0] if e["type"] == "set_aside"]
    assert ev == [{**ev[0], "checkpoint": "checkpoint-6", "moved_to": aside[0].name, "resume_from": "checkpoint-4"}]
    assert "no trainer_state.json" in ev[0]["problem"]
    assert "skipped checkpoint-6: incomplete" in (run / "stdout.log").read_text()
    assert "skipped checkpoint-6: incomplete" in launch.set_aside_line(ev[0])
    # the transformers' own choice agrees now, and its rotation never sees the set-aside folder
    from transformers.trainer_utils import get_last_checkpoint, sort_checkpoints

    assert Path(get_last_checkpoint(str(run))).name == "checkpoint-4"
    assert all("partial" not in p for p in sort_checkpoints(str(run), use_mtime=True))
    # the set-aside folder is tunewiz's: overwrite may clear it
    assert rundir.overwrite_refusal(run) is None


def test_resume_without_a_complete_checkpoint_says_why(tmp_path):
    run = a_run(tmp_path / "r", state="failed")
    import shutil

    shutil.rmtree(run / "checkpoint-2")
    checkpoint(run, 3, state=False)
    with pytest.raises(TunewizError, match=r"no complete checkpoint to resume from \(checkpoint-3 is incomplete: no trainer_state"):
        launch.prepare_run_dir(run, overwrite=False, resume=True)
    assert (run / "checkpoint-3").is_dir()  # left as it was


def test_a_resumed_run_from_before_the_mark_gets_marked(tmp_path):
    run = a_run(tmp_path / "old", state="failed")
    (run / rundir.MARKER).unlink()
    launch.prepare_run_dir(run, overwrite=False, resume=True)
    assert rundir.run_id(run)


def test_events_after_a_line_cut_by_a_kill_start_on_their_own_line(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"v": 1, "type": "log", "step": 1}\n{"v": 1, "type": "lo')
    log = rundir.EventLog(tmp_path)
    log.emit("start", step=1)
    log.close()
    events, _ = rundir.read_events(tmp_path)
    assert [e["type"] for e in events] == ["log", "start"]


# ------------------------------------------------------------------------------------ stop
@pytest.fixture
def foreign_sleep():
    p = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield p
    p.kill()
    p.wait()


def running_run(path: Path, **status) -> Path:
    """A status.json as it is on disk, written raw (a stale one, or one of a tunewiz before identities)."""
    path.mkdir(parents=True)
    rundir.write_json_atomic(path / "status.json", {"state": "running", "started": 1.0, "versions": {}, "world_size": 1, **status})
    (path / "events.jsonl").write_text(json.dumps({"v": 1, "type": "log", "step": 3}) + "\n")
    runs.register(path)
    return path


def alive(p: subprocess.Popen) -> bool:
    time.sleep(0.2)
    return p.poll() is None


def test_stop_refuses_a_foreign_process_that_took_the_pid(tmp_path, foreign_sleep):
    """The run's process was recorded at start; the pid now belongs to a `sleep` (a reused pid)."""
    pid = foreign_sleep.pid
    run = running_run(tmp_path / "r", pid=pid, pgid=pid,
                      process={"pid": pid, "started": time.time() - 3600, "cmdline": [sys.executable, "-m", "engine.train", "x"]})
    assert runs.summarize(run).state == "failed"  # readers do not take the sleep for the run
    for state in ("running", "stopping"):  # a first stop (SIGTERM), and a second (SIGKILL to the group)
        rundir.update_status(run, state=state, error=None)
        with pytest.raises(TunewizError, match=rf"the run's process is gone .*pid {pid} is now another process \(sleep 300\).*nothing was signalled"):
            launch.stop_run(run)
        assert alive(foreign_sleep)
        st = rundir.read_status(run)
        assert st["state"] == "failed" and "is now another process" in st["error"]
    with pytest.raises(TunewizError, match="not running"):
        launch.stop_run(run)
    assert alive(foreign_sleep)


def test_stop_refuses_an_unrecorded_process_whose_command_is_not_the_runs(tmp_path, foreign_sleep):
    """A run from before identities were recorded: the command line must be its recorded worker command."""
    run = running_run(tmp_path / "r", pid=foreign_sleep.pid, worker=f"{sys.executable} -m engine.train {tmp_path / 'r'}")
    with pytest.raises(TunewizError, match="the run's process is gone .*is not the run's process \\(sleep 300\\)"):
        launch.stop_run(run)
    assert alive(foreign_sleep) and rundir.read_status(run)["state"] == "failed"


@pytest.mark.parametrize("pid", [-1, 0, 1, "12", True])
def test_stop_never_signals_pid_minus_one_zero_or_init(tmp_path, pid):
    run = running_run(tmp_path / "r", pid=pid, pgid=pid, process={"pid": pid, "started": 0, "cmdline": []})
    with pytest.raises(TunewizError, match="the run's process is gone"):
        launch.stop_run(run)
    assert rundir.read_status(run)["state"] == "failed"
    assert launch.stop(run, force=True) == "gone"  # called directly, the signaller refuses too


def test_a_stop_before_the_pid_is_written_asks_by_the_stop_file_alone(tmp_path):
    run = running_run(tmp_path / "r")
    assert launch.stop_run(run) == "stopping" and (run / "STOP").exists()
    with pytest.raises(TunewizError, match="the run's process is gone"):  # the second stop finds nothing to kill
        launch.stop_run(run)


def test_stop_signals_the_recorded_process_and_a_second_stop_kills_its_group(tmp_path):
    p = subprocess.Popen(["sleep", "300"], start_new_session=True)
    q = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        run = running_run(tmp_path / "r", pid=p.pid, pgid=p.pid, process=rundir.process_identity(p.pid))
        assert runs.summarize(run).state == "running"
        assert launch.stop_run(run) == "stopping" and (run / "STOP").exists()
        assert p.wait(10) == -signal.SIGTERM
        run2 = running_run(tmp_path / "r2", pid=q.pid, pgid=q.pid, process=rundir.process_identity(q.pid))
        rundir.update_status(run2, state="stopping")
        assert launch.stop_run(run2) == "killed"
        assert q.wait(10) == -signal.SIGKILL
        assert rundir.read_status(run2)["state"] == "failed"
    finally:
        for x in (p, q):
            x.kill()
            x.wait()


def test_a_process_gone_after_its_end_event_takes_that_state(tmp_path):
    run = running_run(tmp_path / "r", pid=999_999_999)
    (run / "events.jsonl").write_text(json.dumps({"v": 1, "type": "end", "state": "stopped"}) + "\n")
    with pytest.raises(TunewizError, match="marked stopped"):
        launch.stop_run(run)
    assert rundir.read_status(run)["state"] == "stopped"


def test_a_pid_is_written_with_the_identity_of_its_process(tmp_path):
    p = subprocess.Popen(["sleep", "300"])
    try:
        st = rundir.update_status(tmp_path, pid=p.pid)
        # the command line may still be the parent's here (recorded between fork and exec): pid + start time decide
        assert st["process"]["pid"] == p.pid and st["process"]["started"] > 0
        assert rundir.run_process(st) == (p.pid, "")
    finally:
        p.kill()
        p.wait()
    assert rundir.run_process(rundir.read_status(tmp_path)) == (None, f"process {p.pid} has ended")
    assert rundir.update_status(tmp_path, pid=-1)["process"] is None


def test_identity_of_this_process_matches_proc(tmp_path):
    me = rundir.process_identity(os.getpid())
    assert me["cmdline"] == rundir._proc_identity(os.getpid())["cmdline"]
    assert abs(me["started"] - rundir._proc_identity(os.getpid())["started"]) < 0.5
    assert rundir.process_identity(-1) is None and rundir.process_identity(0) is None
