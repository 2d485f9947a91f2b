"""Faults with real processes (issue #12): a checkpoint cut short by a kill, a `stop` aimed at a process that
is not the run's, `--overwrite` aimed at a folder that is not a run. Each through the `tunewiz` command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.test_run import events, status, tunewiz, wait_for

pytestmark = pytest.mark.slow

CLS = ["--set", "training.eval_strategy=no", "--set", "training.save_strategy=steps", "--set", "training.save_steps=1",
       "--set", "training.logging_steps=1"]


@pytest.fixture(autouse=True)
def no_stray_training(tmp_path):
    """A failing test must not leave a detached training process behind (only processes this test started)."""
    yield
    from engine import rundir

    for st in tmp_path.rglob("status.json"):
        status_ = rundir.read_status(st.parent)
        pid, _ = rundir.run_process(status_)
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)


def test_resume_skips_checkpoints_cut_short_and_says_so(tmp_path):
    """What a kill -9 inside a save leaves (the Trainer writes trainer_state.json last), and a weights file cut
    short: resume continues from the newest complete checkpoint and keeps the partial ones aside."""
    run = tmp_path / "cls"
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.max_steps=2", "--set", "training.save_total_limit=null",
                "--set", f"training.output_dir={run}", *CLS, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p.name for p in run.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    shutil.copytree(run / "checkpoint-2", run / "checkpoint-3")
    (run / "checkpoint-3" / "trainer_state.json").unlink()  # killed before the state was written
    shutil.copytree(run / "checkpoint-2", run / "checkpoint-4")
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    (run / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({**state, "global_step": 4}))
    weights = run / "checkpoint-4" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a disk that filled up
    files3 = sorted(os.listdir(run / "checkpoint-3"))

    r = tunewiz("resume", str(run), "--set", "training.max_steps=4", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed cls from checkpoint-2" in r.stdout
    assert "skipped checkpoint-3: incomplete, no trainer_state.json" in r.stdout
    assert "skipped checkpoint-4: incomplete, adapter_model.safetensors is cut short" in r.stdout
    assert "resuming from checkpoint-2" in (run / "stdout.log").read_text()
    starts = [e for e in events(run) if e["type"] == "start"]
    assert starts[-1]["step"] == 2 and starts[-1]["resumed"] is True
    assert status(run)["state"] == "finished"
    # the partial folders kept, renamed out of the Trainer's way; the steps saved again, complete
    aside = {p.name.rsplit("-", 2)[0]: p for p in run.glob("partial-checkpoint-*")}
    assert set(aside) == {"partial-checkpoint-3", "partial-checkpoint-4"}
    assert sorted(os.listdir(aside["partial-checkpoint-3"])) == files3
    from engine import rundir

    assert [cp.name for cp in rundir.checkpoints(run)] == ["checkpoint-1", "checkpoint-2", "checkpoint-3", "checkpoint-4"]
    assert all(rundir.checkpoint_problem(cp) is None for cp in rundir.checkpoints(run))


def test_kill_during_a_save_leaves_a_resumable_run(tmp_path):
    """kill -9 the run the moment a checkpoint folder exists without its trainer_state.json (looping until a kill
    lands inside a save), then resume: it goes on from the newest complete checkpoint."""
    from engine import rundir

    run = tmp_path / "killed"
    common = ["--set", f"training.output_dir={run}", "--set", "training.save_total_limit=null", *CLS]
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", "training.max_steps=200", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    landed = None
    for _ in range(4):
        pid = wait_for(lambda: status(run).get("pid"), 60, "the pid")
        t0 = time.time()
        while time.time() - t0 < 180 and landed is None and rundir.pid_alive(pid):
            try:
                names = os.listdir(run)
            except OSError:
                continue
            cps = sorted((int(n.split("-")[1]) for n in names if rundir.CHECKPOINT.fullmatch(n)), reverse=True)
            # the newest folder still without its state, once an older checkpoint is there to resume from
            if len(cps) >= 2 and not (run / f"checkpoint-{cps[0]}" / "trainer_state.json").exists():
                os.killpg(pid, signal.SIGKILL)
                landed = f"checkpoint-{cps[0]}"
        wait_for(lambda p=pid: not rundir.pid_alive(p), 30, "the kill")
        if landed and rundir.checkpoint_problem(run / landed):
            break
        landed = None  # the state was written between the look and the kill: resume and try again
        r = tunewiz("resume", str(run), "--detach", cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
    if landed is None:
        pytest.skip("no kill landed inside a save in 4 tries (the saves were too quick to catch here)")
    step = int(landed.split("-")[1])
    good = rundir.last_checkpoint(run)
    assert good is not None and int(good.name.split("-")[1]) < step
    listed = [json.loads(line) for line in tunewiz("runs", "--json", cwd=tmp_path).stdout.splitlines()]
    assert next(x for x in listed if x["name"] == "killed")["state"] == "failed"
    r = tunewiz("resume", str(run), "--set", f"training.max_steps={step + 1}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed killed from {good.name}" in r.stdout and f"skipped {landed}: incomplete" in r.stdout
    assert [e for e in events(run) if e["type"] == "start"][-1]["step"] == int(good.name.split("-")[1])
    assert status(run)["state"] == "finished" and list(run.glob(f"partial-{landed}-*"))


def test_stop_leaves_a_foreign_process_alone(tmp_path):
    """status.json names a `sleep` that is not the run's process (a stale "running" after a kill, its pid
    reused): stop refuses, the sleep survives, and the run is no longer shown as running."""
    from engine import rundir, runs

    sleep = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        run = tmp_path / "stale"
        run.mkdir()
        rundir.update_status(run, state="running", pid=sleep.pid, pgid=sleep.pid, world_size=1, versions={},
                             worker=f"{sys.executable} -m engine.train {run}",
                             process={"pid": sleep.pid, "started": time.time() - 600,
                                      "cmdline": [sys.executable, "-m", "engine.train", str(run)]})
        (run / "events.jsonl").write_text("")
        runs.register(run)
        for _ in range(2):  # twice: the second would have been SIGKILL to the group
            r = tunewiz("stop", str(run), cwd=tmp_path)
            assert r.returncode == 2 and "the run's process is gone" in r.stderr and "nothing was signalled" in r.stderr, r.stderr
            time.sleep(0.3)
            assert sleep.poll() is None
            rundir.update_status(run, state="stopping")
        for pid in (-1, 0, 1):
            rundir.update_status(run, state="running", pid=pid, pgid=pid, process=None)
            r = tunewiz("stop", str(run), cwd=tmp_path)
            assert r.returncode == 2 and "the run's process is gone" in r.stderr, r.stderr
            assert status(run)["state"] == "failed"
        assert sleep.poll() is None
    finally:
        sleep.kill()
        sleep.wait()


def test_overwrite_never_deletes_a_project_folder(tmp_path):
    """The reported wipe: `output_dir: .` in a project folder that holds a config.yaml."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.yaml").write_text("my: config\n")
    (project / "notes.md").write_text("keep\n")
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.output_dir=.", cwd=project)
    assert r.returncode == 2 and "--overwrite" not in r.stderr.replace("--overwrite will not delete it", ""), r.stderr
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.output_dir=.", "--overwrite", cwd=project)
    assert r.returncode == 2 and "will not delete it" in r.stderr and "current folder" in r.stderr, r.stderr
    r = tunewiz("run", "minilm-sentiment-lora", "--set", f"training.output_dir={project}", "--overwrite", cwd=tmp_path)
    assert r.returncode == 2 and "not a tunewiz run directory" in r.stderr, r.stderr
    assert sorted(os.listdir(project)) == ["config.yaml", "notes.md"]
    assert (project / "config.yaml").read_text() == "my: config\n"


def test_overwrite_of_a_real_run_deletes_only_what_tunewiz_wrote(tmp_path):
    run = tmp_path / "cls"
    args = ["run", "minilm-sentiment-lora", "--set", "training.max_steps=1", "--set", f"training.output_dir={run}", *CLS]
    r = tunewiz(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    from engine import rundir

    first = rundir.run_id(run)
    assert first and not rundir.foreign_names(run)
    (run / "my-notes.txt").write_text("keep")
    r = tunewiz(*args, cwd=tmp_path)
    assert r.returncode == 2 and "add --overwrite" not in r.stderr and "my-notes.txt" in r.stderr, r.stderr
    r = tunewiz(*args, "--overwrite", cwd=tmp_path)
    assert r.returncode == 2 and "tunewiz did not write: my-notes.txt" in r.stderr, r.stderr
    (run / "my-notes.txt").unlink()
    r = tunewiz(*args, "--overwrite", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert rundir.run_id(run) not in (None, first) and status(run)["state"] == "finished"
