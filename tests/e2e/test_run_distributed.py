"""Two training processes through the real launcher (torchrun, gloo on CPU), from a preset with launch: set."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import PRESETS
from tests.e2e.test_run import events, no_stray_training, status, tunewiz, wait_for  # noqa: F401

pytestmark = pytest.mark.slow


def test_two_processes_log_from_rank_0_stop_and_resume(tmp_path):
    preset = yaml.safe_load((PRESETS / "smollm2-identity-lora.yaml").read_text())
    run = tmp_path / "ddp"
    preset["launch"] = {"processes": 2, "main_port": 29517}
    preset["dataset"]["eval_size"] = 0
    preset["training"].update(output_dir=str(run), per_device_train_batch_size=4, max_steps=30, save_strategy="steps",
                              save_steps=1000, logging_steps=1)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(preset))
    r = tunewiz("run", str(path), "--detach", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "torchrun, 2 processes" in r.stdout and "4 per process x 1 accumulation x 2 processes = 8" in r.stdout
    st = status(run)
    assert st["launcher"] == "torchrun" and st["world_size"] == 2 and "--nproc_per_node=2" in st["worker"]
    wait_for(lambda: any(e["type"] == "log" and e["step"] >= 2 for e in events(run)), 400, "two steps")
    r = tunewiz("stop", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: status(run)["state"] in ("stopped", "failed"), 240, "the stop")
    assert status(run)["state"] == "stopped", status(run)
    cps = sorted(run.glob("checkpoint-*"))
    assert len(cps) == 1
    step = int(cps[0].name.split("-")[1])
    r = tunewiz("resume", str(run), "--set", f"training.max_steps={step + 1}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = events(run)
    logs = [e["step"] for e in ev if e["type"] == "log"]
    assert logs == sorted(set(logs)), "one log event per step: rank 0 only"
    starts = [e for e in ev if e["type"] == "start"]
    assert [s["world_size"] for s in starts] == [2, 2] and starts[1]["step"] == step
    assert logs[-1] == step + 1 and status(run)["state"] == "finished"
    assert json.loads((run / "final" / "adapter_config.json").read_text())["r"] == 16
