"""Real training processes on CPU through the `tunewiz` command, as a user runs them."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PRESETS

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_stray_training(tmp_path):
    """A failing test must not leave a detached training process behind."""
    yield
    from engine import rundir

    for st in tmp_path.rglob("status.json"):
        pid = json.loads(st.read_text()).get("pid")
        if rundir.pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def tunewiz(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def events(run: Path) -> list[dict]:
    p = run / "events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def wait_for(pred, timeout: float, what: str):
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_smollm2_preset_trains_and_saves_adapter_with_its_template(tmp_path):
    run = tmp_path / "runs" / "smol"
    r = tunewiz("run", str(PRESETS / "smollm2-identity-lora.yaml"), "--set", "training.max_steps=3",
                "--set", f"training.output_dir={run}", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
                cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step 3/3 | loss" in r.stdout and f"finished: {run}/final" in r.stdout
    ev = events(run)
    kinds = [e["type"] for e in ev]
    assert kinds[0] == "start" and kinds[-1] == "end" and ev[-1]["state"] == "finished"
    assert all(e["v"] == 1 and "time" in e for e in ev)
    logs = [e for e in ev if e["type"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3]
    assert all({"loss", "learning_rate", "grad_norm", "epoch", "step"} <= set(e) for e in logs)
    assert [e["checkpoint"] for e in ev if e["type"] == "save"] == ["checkpoint-2", "checkpoint-3"]
    assert any(e["type"] == "eval" and e["loss"] > 0 for e in ev)
    st = status(run)
    assert st["state"] == "finished" and st["pid"] > 0 and "transformers" in st["versions"] and "tunewiz run" in st["command"]
    final = run / "final"
    assert (final / "adapter_model.safetensors").is_file() and (final / "adapter_config.json").is_file()
    # the saved tokenizer carries exactly the chat template used in training
    from transformers import AutoTokenizer

    from engine import models

    trained_with = AutoTokenizer.from_pretrained(models.materialize(models.resolve("demo:smollm2-135m-instruct"))).chat_template
    assert AutoTokenizer.from_pretrained(final).chat_template == trained_with
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["training"]["use_cpu"] is True and resolved["training"]["max_steps"] == 3
    assert resolved["dataset"]["eval_size"] == 0.1  # fully resolved, defaults included
    assert "stdout.log" in os.listdir(run)


def test_chat_template_override_is_what_gets_saved(tmp_path):
    from engine.data.chat import FALLBACKS

    run = tmp_path / "tpl"
    r = tunewiz("run", "smollm2-identity-lora", "--set", "training.max_steps=1", "--set", f"training.output_dir={run}",
                "--set", "model.chat_template=chatml", "--set", "dataset.eval_size=0", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tunewiz fallback 'chatml'" in r.stdout
    assert (run / "final" / "chat_template.jinja").read_text() == FALLBACKS["chatml"]


def test_classification_preset_reports_accuracy_and_saves_labels(tmp_path):
    run = tmp_path / "cls"
    r = tunewiz("run", "minilm-sentiment-lora", "--set", "training.max_steps=4", "--set", f"training.output_dir={run}",
                "--set", "training.eval_strategy=no", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = [e for e in events(run) if e["type"] == "eval"]
    assert len(ev) == 1 and 0 <= ev[0]["accuracy"] <= 1 and 0 <= ev[0]["f1"] <= 1
    cfg = json.loads((run / "final" / "adapter_config.json").read_text())
    assert cfg["task_type"] == "SEQ_CLS"
    # the string labels' ids are saved beside the adapter
    mapping = json.loads((run / "final" / "label_mapping.json").read_text())
    assert mapping == {"id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1}}


def test_detach_returns_at_once_and_stop_then_resume_continues(tmp_path):
    run = tmp_path / "det"
    common = ["--set", f"training.output_dir={run}", "--set", "training.logging_steps=1", "--set", "dataset.eval_size=0",
              "--set", "training.save_strategy=steps", "--set", "training.save_steps=1000"]
    t0 = time.time()
    r = tunewiz("run", "smollm2-identity-lora", "--detach", "--set", "training.max_steps=40", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "detached" in r.stdout and time.time() - t0 < 60
    pid = status(run)["pid"]
    assert os.getpgid(pid) == pid  # its own session and process group: the terminal's signals never reach it
    wait_for(lambda: any(e["type"] == "log" and e["step"] >= 2 for e in events(run)), 240, "two steps")
    r = tunewiz("stop", str(run), cwd=tmp_path)  # checkpoint at the end of this step, clean exit
    assert r.returncode == 0 and "stopping" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: status(run)["state"] in ("stopped", "failed"), 120, "the stop")
    st = status(run)
    assert st["state"] == "stopped", st
    ev = events(run)
    stopped_at = ev[-1]
    assert stopped_at["type"] == "end" and stopped_at["state"] == "stopped"
    cps = sorted(run.glob("checkpoint-*"))
    assert len(cps) == 1
    step = int(cps[0].name.split("-")[1])
    assert 2 <= step < 40 and (cps[0] / "trainer_state.json").is_file()

    # a plain re-run into the same directory refuses and offers the choices
    r = tunewiz("run", "smollm2-identity-lora", "--set", "training.max_steps=40", *common, cwd=tmp_path)
    assert r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    # resume by name, from any folder: same directory, the step count continues, one history
    r = tunewiz("resume", "det", "--set", f"training.max_steps={step + 2}", cwd=tmp_path.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = events(run)
    starts = [e for e in ev if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed"] is True and starts[1]["step"] == step
    later = [e["step"] for e in ev[ev.index(starts[1]):] if e["type"] == "log"]
    assert later == [step + 1, step + 2]
    assert status(run)["state"] == "finished" and (run / "final" / "adapter_model.safetensors").is_file()


def test_killed_process_shows_failed_with_cause_and_resumes_from_its_checkpoint(tmp_path):
    from engine import rundir

    run = tmp_path / "killed-run"
    common = ["--set", f"training.output_dir={run}", "--set", "dataset.eval_size=0", "--set", "training.save_strategy=steps",
              "--set", "training.save_steps=1", "--set", "training.save_total_limit=1"]
    r = tunewiz("run", "smollm2-identity-lora", "--detach", "--set", "training.max_steps=40", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = status(run)["pid"]
    wait_for(lambda: any(e["type"] == "save" for e in events(run)), 240, "a checkpoint")
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not rundir.pid_alive(pid), 30, "the kill")
    listed = [json.loads(line) for line in tunewiz("runs", "--json", cwd=tmp_path).stdout.splitlines()]
    mine = next(x for x in listed if x["name"] == "killed-run")
    assert mine["state"] == "failed" and "gone without an end event" in mine["cause"]
    step = int(rundir.last_checkpoint(run).name.split("-")[1])
    r = tunewiz("resume", str(run), "--set", f"training.max_steps={step + 1}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(run)["state"] == "finished"
    starts = [e for e in events(run) if e["type"] == "start"]
    assert starts[-1]["step"] == step


def test_smoke_test_runs_a_few_real_steps_and_measures_them(tmp_path):
    run = tmp_path / "cls"
    common = ["--set", f"training.output_dir={run}", "--set", "training.num_train_epochs=2"]
    r = tunewiz("smoke", "minilm-sentiment-lora", "--steps", "3", "--keep", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    smoke_dir = tmp_path / "cls-smoke"
    res = json.loads((smoke_dir / "smoke.json").read_text())
    start = next(e for e in events(smoke_dir) if e["type"] == "start")
    per_step = start["batch"][0] * start["batch"][1]
    # the full run's steps: the preset's epochs over its training rows, as the run itself will count them
    assert res["full_steps"] == 2 * math.ceil(start["train_rows"] / per_step)  # a last short batch is a step
    assert res["steps"] == 3 and res["micro_batches"] == 3 and res["step_s"] > 0 and res["peak_gib"] > 0.1 and res["device"] == "cpu"
    assert res["eta_s"] == pytest.approx(res["warmup_s"] + res["step_s"] * (res["full_steps"] - res["warmup_micro_batches"]), abs=0.2)
    assert "3 micro-batches run (3 optimizer steps)" in r.stdout and "full run:" in r.stdout and "peak memory" in r.stdout
    # nothing saved, nothing evaluated, and the run's own directory untouched
    assert not list(smoke_dir.glob("checkpoint-*")) and not (smoke_dir / "final").exists()
    assert not [e for e in events(smoke_dir) if e["type"] == "eval"] and not run.exists()
    assert status(smoke_dir)["state"] == "finished" and status(smoke_dir)["smoke"] == 3

    # a second smoke test replaces the first, and deletes its folder (#14); a folder not a smoke test's is never deleted
    r = tunewiz("smoke", "minilm-sentiment-lora", "--steps", "2", *common, cwd=tmp_path)
    assert r.returncode == 0 and "(2 optimizer steps)" in r.stdout, r.stderr
    assert not smoke_dir.exists() and f"deleted {smoke_dir}: a smoke test saves nothing" in r.stdout
    other = tmp_path / "mine"
    (tmp_path / "mine-smoke").mkdir()
    (tmp_path / "mine-smoke" / "notes.txt").write_text("keep me")
    r = tunewiz("smoke", "minilm-sentiment-lora", "--set", f"training.output_dir={other}", cwd=tmp_path)
    assert r.returncode == 2 and "mine-smoke" in r.stderr and "will not delete it" in r.stderr
    assert (tmp_path / "mine-smoke" / "notes.txt").read_text() == "keep me"
    r = tunewiz("smoke", "minilm-sentiment-lora", "--steps", "0", cwd=tmp_path)
    assert r.returncode == 2 and "--steps 1 or more" in r.stderr
    help_text = " ".join(tunewiz("smoke", "--help", cwd=tmp_path).stdout.split())
    assert "at most 24 micro-batches and about 60 s of training, never more than the run itself" in help_text
