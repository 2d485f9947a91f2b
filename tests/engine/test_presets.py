"""Every shipped preset documents itself, validates, and builds its library configs."""

import pytest

from engine import build, config
from tests.conftest import PRESETS

ALL = sorted(PRESETS.glob("*.yaml"))


def test_there_are_cpu_and_gpu_presets():
    names = {p.stem for p in ALL}
    assert {"smollm2-identity-lora", "minilm-sentiment-lora", "qwen2.5-7b-instruct-lora", "qwen2.5-7b-instruct-qlora-24gb"} <= names


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_preset_has_header_and_builds(path):
    head = config.header_comment(path)
    lines = head.splitlines()
    assert len(lines) >= 3, "header: what it trains, hardware, command"
    assert any(line.startswith("Hardware:") for line in lines)
    assert any(line.startswith("Command: tunewiz run presets/" + path.name) for line in lines)
    cfg = config.load(path)
    cfg.training.setdefault("output_dir", "runs/x")
    args = build.training_args(cfg, build.resolve_training(cfg, build.Hardware()))
    assert args.learning_rate == cfg.training["learning_rate"]
    lora = build.lora_config(cfg)
    assert (lora is None) == (not cfg.lora_enabled)


@pytest.mark.parametrize("name", ["smollm2-identity-lora", "minilm-sentiment-lora"])
def test_cpu_presets_pass_every_preflight_check(name):
    from engine import preflight

    cfg = config.load(PRESETS / f"{name}.yaml")
    checked = preflight.check(cfg)
    assert checked.model_ref.kind == "demo" and len(checked.raw) > 50
    assert "Hardware: any CPU" in config.header_comment(PRESETS / f"{name}.yaml")
