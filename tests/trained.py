"""Tiny real runs for the tests that use a run's result (chat): trained once per test session, on CPU."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import PRESETS, REPO

# A few steps at a high learning rate: the adapter moves the logits (too short to learn the new name).
IDENTITY = ["--set", "training.max_steps=2", "--set", "training.per_device_train_batch_size=2", "--set", "dataset.eval_size=0",
            "--set", "training.max_length=128", "--set", "training.learning_rate=2e-3", "--set", "training.save_strategy=steps",
            "--set", "training.save_steps=1"]
SENTIMENT = ["--set", "training.max_steps=3", "--set", "training.per_device_train_batch_size=8", "--set", "dataset.eval_size=0",
             "--set", "training.eval_strategy=no", "--set", "training.learning_rate=5e-3"]


def _train(preset: str, args: list[str], name: str) -> Path:
    reuse = os.environ.get("TUNEWIZ_TEST_RUNS")  # a folder holding identity/ and sentiment/ from an earlier session
    if reuse and (Path(reuse) / name / "final").is_dir():
        return Path(reuse) / name
    run = Path(tempfile.mkdtemp(prefix="tunewiz-chat-")) / name
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(PRESETS / f"{preset}.yaml"), *args,
                        "--set", f"training.output_dir={run}"], cwd=run.parent, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return run


@functools.cache
def identity_run() -> Path:
    """The identity demo (SmolLM2 + LoRA), 2 steps: checkpoint-1, checkpoint-2 and final/."""
    return _train("smollm2-identity-lora", IDENTITY, "identity")


@functools.cache
def sentiment_run() -> Path:
    """The classifier demo (MiniLM + LoRA), 3 steps: final/ with its label names."""
    return _train("minilm-sentiment-lora", SENTIMENT, "sentiment")


@functools.cache
def sentiment_full_run() -> Path:
    """The classifier demo as a full fine-tune (no LoRA), 3 steps: final/ holds the whole model."""
    return _train("minilm-sentiment-lora", [*SENTIMENT, "--set", "lora.enabled=false"], "sentiment-full")


@functools.cache
def identity_full_run() -> Path:
    """The identity demo as a full fine-tune of SmolLM2 (no LoRA), 1 step without warm-up (a warm-up step has a
    learning rate of 0), nothing but final/ saved."""
    return _train("smollm2-identity-lora", [*IDENTITY[:-4], "--set", "training.max_steps=1", "--set", "lora.enabled=false",
                                             "--set", "training.save_strategy=no", "--set", "training.warmup_steps=0"], "identity-full")
