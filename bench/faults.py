"""Faults a flaky machine and a hurried user bring, each on a real CPU training process (the classification demo,
a few seconds a run), through the `tunewiz` command as a user types it. Prints one line a fault and a total:
N faults, N survived. "Survived" means: nothing of the user's was touched, nothing trained was lost beyond the
last complete checkpoint, the run's state and cause read right, and the run goes on where it can.

    python bench/faults.py [--only NAME ...] [--keep]

Needs: the dev install (README) and the demo models. The full-disk faults mount a small tmpfs and need root;
without it they are reported as skipped, not survived. Takes ~5-8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine import rundir  # noqa: E402

FAST = ["--set", "training.eval_strategy=no", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
        "--set", "training.logging_steps=1", "--set", "training.save_total_limit=null"]


class Skip(Exception):
    pass


def tunewiz(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)})


def status(run: Path) -> dict:
    return rundir.read_status(run)


def events(run: Path) -> list[dict]:
    return rundir.read_events(run)[0]


def wait(pred: Callable[[], object], timeout: float, what: str) -> object:
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def start(run: Path, cwd: Path, steps: int = 400, *extra: str) -> None:
    r = tunewiz("run", "minilm-sentiment-lora", "--detach", "--set", f"training.max_steps={steps}", "--set",
                f"training.output_dir={run}", *FAST, *extra, cwd=cwd)
    check(r.returncode == 0, f"start: {r.stderr[-400:]}")


def finish_by_resume(run: Path, cwd: Path) -> str:
    """Resume to two steps past the newest complete checkpoint; must finish."""
    cp = rundir.last_checkpoint(run)
    check(cp is not None, "no complete checkpoint left")
    step = int(cp.name.split("-")[1])
    r = tunewiz("resume", str(run), "--set", f"training.max_steps={step + 2}", cwd=cwd)
    check(r.returncode == 0, f"resume: {r.stderr[-600:]}")
    check(status(run).get("state") == "finished", f"state after resume: {status(run).get('state')}")
    return f"resumed from {cp.name}, finished"


def listed_state(run: Path, cwd: Path) -> dict:
    rows = [json.loads(line) for line in tunewiz("runs", "--json", "--all", cwd=cwd).stdout.splitlines()]
    return next(x for x in rows if x["path"] == str(run))


# ------------------------------------------------------------------------------------------------ faults
def kill_during_save(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp)
    pid = wait(lambda: status(run).get("pid"), 60, "the pid")
    t0 = time.time()
    while time.time() - t0 < 120 and rundir.pid_alive(pid):
        names = [n for n in os.listdir(run) if rundir.CHECKPOINT.fullmatch(n)]
        newest = max(names, key=lambda n: int(n.split("-")[1]), default=None)
        if newest and len(names) >= 2 and not (run / newest / "trainer_state.json").exists():
            os.killpg(pid, signal.SIGKILL)
            break
    wait(lambda: not rundir.pid_alive(pid), 30, "the kill")
    row = listed_state(run, tmp)
    check(row["state"] == "failed" and "gone without an end event" in (row["cause"] or ""), f"listed as {row}")
    return finish_by_resume(run, tmp)


def kill_at_random(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp)
    pid = wait(lambda: status(run).get("pid"), 60, "the pid")
    wait(lambda: rundir.last_checkpoint(run), 120, "a first checkpoint")
    time.sleep(random.uniform(0, 3))
    os.killpg(pid, signal.SIGKILL)
    wait(lambda: not rundir.pid_alive(pid), 30, "the kill")
    return finish_by_resume(run, tmp)


def ssh_drop(tmp: Path) -> str:
    """The terminal's session gets SIGHUP (an SSH link dropped): the detached run goes on."""
    run = tmp / "run"
    sh = subprocess.Popen(["setsid", "bash", "-c", f"{sys.executable} -m engine.cli run minilm-sentiment-lora --detach "
                           f"--set training.max_steps=12 --set training.output_dir={run} {' '.join(FAST)}; sleep 60"],
                          cwd=tmp, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(lambda: any(e.get("type") == "log" for e in events(run)), 120, "training")
    os.killpg(sh.pid, signal.SIGHUP)
    sh.wait(timeout=10)
    wait(lambda: status(run).get("state") in ("finished", "failed", "stopped"), 180, "the end")
    check(status(run)["state"] == "finished", f"state {status(run)}")
    return "the run finished after its terminal's session was hung up"


def double_stop(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp)
    wait(lambda: rundir.last_checkpoint(run), 120, "a first checkpoint")
    r1, r2 = tunewiz("stop", str(run), cwd=tmp), tunewiz("stop", str(run), cwd=tmp)
    check(r1.returncode == 0, f"first stop: {r1.stderr}")
    check(r2.returncode in (0, 2), f"second stop: {r2.stderr}")
    wait(lambda: rundir.run_process(status(run))[0] is None, 60, "the process to end")
    check(listed_state(run, tmp)["state"] in ("stopped", "failed"), "state")
    return finish_by_resume(run, tmp)


def stop_right_after_detach(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp, 50)
    r = tunewiz("stop", str(run), cwd=tmp)
    check(r.returncode == 0, f"stop: {r.stderr}")
    wait(lambda: rundir.run_process(status(run))[0] is None and status(run).get("state") not in ("starting", "running", "stopping"),
         120, "the stop")
    check(listed_state(run, tmp)["state"] == "stopped", f"listed as {listed_state(run, tmp)}")
    return "stopped (not a crash)"


def stop_on_last_step(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp, 1)
    (run / "STOP").touch()
    wait(lambda: status(run).get("state") in ("finished", "stopped", "failed"), 180, "the end")
    check(status(run)["state"] == "finished" and (run / "final").is_dir(), f"state {status(run).get('state')}")
    return "finished, final/ written"


def stale_pid(tmp: Path) -> str:
    """status.json says running, and its pid is now a stranger's process."""
    run = tmp / "run"
    start(run, tmp, 4)
    wait(lambda: status(run).get("state") == "finished", 180, "the run")
    sleep = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        rundir.update_status(run, state="running", pid=sleep.pid, pgid=sleep.pid,
                             process={"pid": sleep.pid, "started": time.time() - 3600, "cmdline": ["python"]})
        for _ in range(2):
            tunewiz("stop", str(run), cwd=tmp)
            rundir.update_status(run, state="stopping")
        time.sleep(0.3)
        check(sleep.poll() is None, "the stranger's process was signalled")
    finally:
        sleep.kill()
    return "the stranger's process was left alone"


def overwrite_project(tmp: Path) -> str:
    project = tmp / "project"
    project.mkdir()
    (project / "config.yaml").write_text("mine: true\n")
    (project / "notes.md").write_text("keep\n")
    for extra in ([], ["--overwrite"]):
        r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.output_dir=.", *extra, cwd=project)
        check(r.returncode == 2, f"rc {r.returncode}")
    check(sorted(os.listdir(project)) == ["config.yaml", "notes.md"], "the folder changed")
    return "refused; nothing deleted"


def damaged_files(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp, 4)
    wait(lambda: status(run).get("state") == "finished", 180, "the run")
    (run / "status.json").write_bytes(b"\x00\xff garbage")
    with open(run / "events.jsonl", "ab") as f:
        f.write(b"\xff\xfe not utf-8\n[1, 2]\n{\"type\": \"log\", \"step\": \"x\"}\n{\"v\": 1, \"ty")
    r = tunewiz("runs", "--all", cwd=tmp)
    check(r.returncode == 0 and "run" in r.stdout, f"runs: {r.stderr[-300:]}")
    return "listed; attach reads what it can (tests/engine/test_runs.py)"


def truncated_events_then_resume(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp, 4)
    wait(lambda: status(run).get("state") == "finished", 180, "the run")
    with open(run / "events.jsonl", "ab") as f:
        f.write(b'{"v": 1, "type": "log", "st')
    r = tunewiz("resume", str(run), "--set", "training.max_steps=6", cwd=tmp)
    check(r.returncode == 0, r.stderr[-300:])
    starts = [e for e in events(run) if e.get("type") == "start"]
    check(len(starts) == 2 and starts[-1]["step"] == 4, f"start events {starts}")
    return "the resume's events were each read"


def changed_preset_resume(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp, 4)
    wait(lambda: status(run).get("state") == "finished", 180, "the run")
    before = (run / "config.yaml").read_bytes()
    for change in ("lora.r=4", "dataset.eval_size=0.5", "training.seed=7"):
        r = tunewiz("resume", str(run), "--set", change, "--set", "training.max_steps=8", cwd=tmp)
        check(r.returncode == 2 and "cannot resume" in r.stderr, f"{change}: rc {r.returncode} {r.stderr[-300:]}")
    check((run / "config.yaml").read_bytes() == before, "config.yaml was rewritten")
    return "3 changed resumes refused; config.yaml untouched"


def deleted_status(tmp: Path) -> str:
    run = tmp / "run"
    start(run, tmp)
    wait(lambda: any(e.get("type") == "log" for e in events(run)), 120, "training")
    pid = status(run)["pid"]
    (run / "status.json").unlink()
    r = tunewiz("stop", str(run), cwd=tmp)
    check(r.returncode == 0, r.stderr)
    wait(lambda: not rundir.pid_alive(pid), 120, "the stop")
    check(rundir.last_checkpoint(run) is not None, "no checkpoint")
    return "stopped through its STOP file, with a checkpoint"


def _tmpfs(where: Path, mb: int, remount: bool = False) -> None:
    where.mkdir(exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{'remount,' if remount else ''}size={mb}m", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode:
        raise Skip(f"cannot mount a tmpfs: {r.stderr.strip()}")


def disk_full_by_checkpoints(tmp: Path) -> str:
    disk = tmp / "disk"
    _tmpfs(disk, 24)
    try:
        run = disk / "run"
        r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.max_steps=12", "--set", f"training.output_dir={run}",
                    *FAST, cwd=tmp)
        check(r.returncode == 1 and "disk full at" in r.stderr, f"rc {r.returncode}: {r.stderr[-300:]}")
        _tmpfs(disk, 64, remount=True)
        return finish_by_resume(run, tmp)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def disk_full_by_another_program(tmp: Path) -> str:
    disk = tmp / "disk"
    _tmpfs(disk, 40)
    try:
        run = disk / "run"
        start(run, tmp, 400, "--set", "training.save_total_limit=1")
        wait(lambda: rundir.last_checkpoint(run), 120, "a first checkpoint")
        ballast = disk / "ballast"
        with open(ballast, "wb", buffering=0) as f:
            for chunk in (1 << 20, 1 << 16, 4096, 512):
                try:
                    while True:
                        f.write(b"\0" * chunk)
                except OSError:
                    pass
        wait(lambda: status(run).get("state") in ("failed", "finished"), 120, "the end")
        check("disk full" in (status(run).get("error") or ""), f"status {status(run)}")
        ballast.unlink()
        return finish_by_resume(run, tmp)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


FAULTS: dict[str, Callable[[Path], str]] = {
    "kill -9 inside a checkpoint save": kill_during_save,
    "kill -9 at a random moment": kill_at_random,
    "SSH drop (SIGHUP to the terminal's session)": ssh_drop,
    "two stops at once": double_stop,
    "stop right after --detach": stop_right_after_detach,
    "stop landing on the last step": stop_on_last_step,
    "stale status.json naming a stranger's pid": stale_pid,
    "--overwrite aimed at a project folder": overwrite_project,
    "damaged status.json and events.jsonl": damaged_files,
    "events.jsonl cut mid-line, then resume": truncated_events_then_resume,
    "resume with a changed preset": changed_preset_resume,
    "status.json deleted during the run": deleted_status,
    "disk filled by the run's checkpoints": disk_full_by_checkpoints,
    "disk filled by another program mid-run": disk_full_by_another_program,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="substrings of the fault names to run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = ap.parse_args()
    chosen = {k: v for k, v in FAULTS.items() if not args.only or any(o in k for o in args.only)}
    root = Path(tempfile.mkdtemp(prefix="tunewiz-faults-"))
    os.environ["TUNEWIZ_REGISTRY"] = str(root / "registry.jsonl")
    survived = skipped = 0
    print(f"{'fault':46} {'result':9} {'s':>5}  detail")
    for i, (name, fn) in enumerate(chosen.items()):
        tmp = root / f"f{i:02d}"
        tmp.mkdir()
        t0 = time.time()
        try:
            detail, result = fn(tmp), "survived"
            survived += 1
        except Skip as e:
            detail, result = str(e), "skipped"
            skipped += 1
        except Exception as e:  # noqa: BLE001 - a fault that was not survived is a row, not the end of the script
            detail, result = f"{type(e).__name__}: {e}"[:200], "LOST"
        finally:
            for st in tmp.rglob("status.json"):
                pid, _ = rundir.run_process(rundir.read_status(st.parent))
                if pid:
                    os.killpg(pid, signal.SIGKILL)
        print(f"{name[:46]:46} {result:9} {time.time() - t0:5.0f}  {detail}", flush=True)
    ran = len(chosen) - skipped
    print(f"\n{ran} faults, {survived} survived" + (f" ({skipped} skipped)" if skipped else ""))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if survived == ran else 1


if __name__ == "__main__":
    raise SystemExit(main())
