"""DPO, KTO and ORPO as real training processes on CPU, through the `tunewiz run` command and the shipped DPO and KTO
presets (cut to two steps): each finishes, saves an adapter, and logs TRL's rewards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_run import events, tunewiz

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("method", ["dpo", "kto", "orpo"])
def test_preference_methods_train_headless(tmp_path, method):
    shipped = "smollm2-kto-lora" if method == "kto" else "smollm2-concise-dpo"  # ORPO: the DPO preset's pairs
    preset = yaml.safe_load((ROOT / "presets" / f"{shipped}.yaml").read_text())
    preset["model"]["method"] = method
    if method == "orpo":
        preset["training"].pop("loss_type")  # DPO's sigmoid: ORPO has one loss
    preset["training"].update(max_steps=2, per_device_train_batch_size=4, max_length=128, output_dir="runs/r")
    preset["dataset"].update(max_rows=16, eval_size=4)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(preset))
    out = tunewiz("run", "p.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"method    {method.upper()} (beta 0.1" in out.stdout
    run = tmp_path / "runs" / "r"
    assert (run / "final" / "adapter_model.safetensors").is_file()
    logs = [e for e in events(run) if e["type"] == "log" and "loss" in e]
    assert len(logs) == 2 and all(any(k.startswith("rewards/") for k in e) for e in logs)  # KTO: of the labels in a batch
    start = next(e for e in events(run) if e["type"] == "start")
    assert start["method"] == method
    split = json.loads((run / "eval_split.json").read_text())
    assert len(split["rows"]) == 4 and split["tokens_sha256"]
