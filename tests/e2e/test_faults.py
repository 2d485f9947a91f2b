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


# ------------------------------------------------------------------------------------ a full disk
@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of a few MB (tmpfs), mounted for the test: what a full disk does, not a simulation."""
    where = tmp_path / "disk"
    where.mkdir()

    def mount(mb: int, remount: bool = False) -> None:
        opts = f"remount,size={mb}m" if remount else f"size={mb}m"
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a small filesystem here (needs root): {r.stderr.strip()}")

    yield where, mount
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_disk_filled_by_checkpoints_ends_the_run_with_the_cause_and_it_resumes_once_space_is_freed(tmp_path, small_disk):
    """24 MB hold two of this run's checkpoints (~9 MB each): before the third, the run ends as failed, saying
    where and how much, and keeps the last complete checkpoint; after the disk grows, resume finishes the run."""
    where, mount = small_disk
    mount(24)
    run = where / "run"
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.max_steps=12", "--set", f"training.output_dir={run}",
                "--set", "training.save_steps=2", "--set", "training.save_total_limit=null", *CLS[:4], *CLS[6:], cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"failed: disk full at {run}" in r.stderr and "the checkpoint needs about" in r.stderr, r.stderr
    assert "tunewiz resume" in r.stderr and "checkpoint-4" in r.stderr, r.stderr
    st = status(run)
    assert st["state"] == "failed" and st["error"].startswith("disk full at"), st
    evs = events(run)  # every line whole, the last one the end
    assert evs[-1] == {**evs[-1], "type": "end", "state": "failed"} and evs[-2]["type"] == "error" and evs[-2]["kind"] == "disk"
    assert [cp.name for cp in run.glob("checkpoint-*") if rundir_complete(cp)] == ["checkpoint-2", "checkpoint-4"] or \
        sorted(cp.name for cp in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    listed = [json.loads(line) for line in tunewiz("runs", "--json", cwd=tmp_path).stdout.splitlines()]
    row = next(x for x in listed if x["path"] == str(run))
    assert row["state"] == "failed" and "disk full" in row["cause"]
    assert not (run / ".tunewiz-reserve").exists()

    mount(64, remount=True)  # space freed
    r = tunewiz("resume", str(run), "--set", "training.save_total_limit=1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed run from checkpoint-4" in r.stdout and status(run)["state"] == "finished"


def rundir_complete(cp) -> bool:
    from engine import rundir

    return rundir.checkpoint_problem(cp) is None


def test_a_disk_filled_by_someone_else_mid_run_still_gets_the_end_written(tmp_path, small_disk):
    """Another program takes every free byte while the run trains: log lines can no longer be written, yet the
    run ends as failed with the cause (the MiB it held back is given back for that), and the last complete
    checkpoint resumes once the other file is gone."""
    where, mount = small_disk
    mount(40)
    run = where / "run"
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", "training.max_steps=400", "--set", f"training.output_dir={run}",
                "--set", "training.save_steps=2", "--set", "training.save_total_limit=1", *CLS[:4], *CLS[6:], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    from engine import rundir

    wait_for(lambda: rundir.last_checkpoint(run), 120, "a first checkpoint")
    ballast = where / "someone-elses-file"
    with open(ballast, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 4096, 512):  # every free byte, the last few KB too
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    wait_for(lambda: status(run).get("state") in ("failed", "finished"), 120, "the run to end")
    st = status(run)
    assert st["state"] == "failed" and "disk full at" in st["error"], st
    evs = events(run)
    assert evs[-1]["type"] == "end" and evs[-1]["state"] == "failed"
    ballast.unlink()
    good = rundir.last_checkpoint(run)
    assert good is not None
    r = tunewiz("resume", str(run), "--set", f"training.max_steps={int(good.name.split('-')[1]) + 2}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(run)["state"] == "finished"


# ------------------------------------------------------------------------------------ resume, stop, kill
def test_a_resume_with_another_dataset_or_lora_shape_is_refused_and_changes_nothing(tmp_path):
    run = tmp_path / "cls"
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.max_steps=2", "--set", f"training.output_dir={run}", *CLS,
                cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    config_before = (run / "config.yaml").read_bytes()
    other = tmp_path / "other.csv"
    other.write_text("text,label\n" + "".join(f"text {i},{['sad', 'glad', 'mad'][i % 3]}\n" for i in range(60)))
    r = tunewiz("resume", str(run), "--set", "lora.r=4", "--set", "training.max_steps=4", cwd=tmp_path)
    assert r.returncode == 2 and "cannot resume" in r.stderr and "lora.r: 16 -> 4" in r.stderr, r.stderr
    r = tunewiz("run", "minilm-sentiment-lora", "--resume", "--set", f"training.output_dir={run}", "--set", f"dataset.path={other}",
                "--set", "training.max_steps=4", *CLS, cwd=tmp_path)
    assert r.returncode == 2 and "dataset.path: sample:sentiment -> " in r.stderr and "labels:" in r.stderr, r.stderr
    assert (run / "config.yaml").read_bytes() == config_before and status(run)["state"] == "finished"
    r = tunewiz("resume", str(run), "--set", "training.max_steps=4", cwd=tmp_path)  # what may change: it goes on
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step 1/" not in r.stdout and "step 3/4" in r.stdout, r.stdout  # only this process's steps are printed
    summary = [e for e in events(run) if e["type"] == "summary"][-1]
    logged = [e["loss"] for e in events(run)[-12:] if e["type"] == "log" and e["step"] > 2]
    assert summary["train_loss_steps"] == [3, 4] and summary["train_loss"] == pytest.approx(sum(logged) / len(logged))


def test_a_stop_that_lands_on_the_last_step_finishes_the_run(tmp_path):
    run = tmp_path / "last"
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", "training.max_steps=1", "--set", f"training.output_dir={run}",
                *CLS, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    (run / "STOP").touch()  # read at the end of step 1, the last
    wait_for(lambda: status(run).get("state") in ("finished", "stopped", "failed"), 180, "the end")
    assert status(run)["state"] == "finished" and (run / "final" / "adapter_model.safetensors").exists()
    assert any(e["type"] == "eval" for e in events(run)) and not (run / "STOP").exists()


def test_a_stop_right_after_detach_is_a_stop_not_a_crash(tmp_path):
    run = tmp_path / "early"
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", "training.max_steps=50", "--set", f"training.output_dir={run}",
                *CLS, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = tunewiz("stop", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: status(run).get("state") in ("stopped", "failed", "finished"), 120, "the stop")
    from engine import rundir

    wait_for(lambda: rundir.run_process(status(run))[0] is None, 60, "the process to end")
    listed = [json.loads(line) for line in tunewiz("runs", "--json", cwd=tmp_path).stdout.splitlines()]
    assert next(x for x in listed if x["path"] == str(run))["state"] == "stopped", status(run)
    assert not (run / "STOP").exists()


def test_a_foreground_run_killed_with_minus_9_says_so(tmp_path):
    run = tmp_path / "fg"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "minilm-sentiment-lora", "--set", "training.max_steps=500",
                             "--set", f"training.output_dir={run}", *CLS], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        # after its first checkpoint (save_steps=1): then the end names `tunewiz resume` (a kill before any checkpoint
        # says "no checkpoint was saved" instead; on a loaded CI machine the first log line came before the save)
        wait_for(lambda: any(e["type"] == "save" for e in events(run)), 180, "a checkpoint")
        os.kill(status(run)["pid"], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "failed: the training process ended by SIGKILL (killed with kill -9 or by the out-of-memory killer)" in err, err
    assert "None" not in err and "tunewiz resume" in err and status(run)["state"] == "failed"


def test_stop_works_when_status_json_was_deleted_during_the_run(tmp_path):
    run = tmp_path / "nostatus"
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", "training.max_steps=500", "--set", f"training.output_dir={run}",
                *CLS, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: any(e["type"] == "log" for e in events(run)), 180, "training")
    pid = status(run)["pid"]
    (run / "status.json").unlink()
    r = tunewiz("stop", str(run), cwd=tmp_path)
    assert r.returncode == 0 and "STOP file" in r.stdout, r.stdout + r.stderr
    from engine import rundir

    wait_for(lambda: not rundir.pid_alive(pid), 120, "the run to stop")
    assert events(run)[-1]["type"] == "end" and events(run)[-1]["state"] == "stopped"
    assert rundir.last_checkpoint(run) is not None and not (run / "STOP").exists()
