"""Shared test set-up: offline hub, the shared datasets, the demo models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A hub call without this hangs ~30 s before failing; the tests never use the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# the tests read English unless one asks for Korean (`korean` below); a machine whose locale is ko_KR must not change that
os.environ["TUNEWIZ_LANG"] = "en"
# runs started by tests are registered apart from the user's own
os.environ.setdefault("TUNEWIZ_REGISTRY", os.path.join(tempfile.mkdtemp(prefix="tunewiz-tests-"), "runs.jsonl"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
PRESETS = REPO / "presets"


def shared(name: str) -> str:
    """Path of a dataset in ../shared/datasets (skips when the checkout has none beside it)."""
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"{p} not present")
    return str(p)


@pytest.fixture(scope="session")
def smol_path() -> str:
    """The SmolLM2 demo as a plain HF folder (converted once into the tunewiz cache)."""
    from engine import models

    return models.materialize(models.resolve("demo:smollm2-135m-instruct"))


@pytest.fixture(scope="session")
def smol_tok(smol_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol_path)


@pytest.fixture(scope="session")
def minilm_tok():
    from transformers import AutoTokenizer

    from engine import models

    return AutoTokenizer.from_pretrained(models.resolve("demo:minilm-l6").source)


@pytest.fixture(autouse=True)
def _no_allocator_setting_from_earlier_tests(monkeypatch):
    """A test that trains in-process (engine.train.run) sets PYTORCH_CUDA_ALLOC_CONF the way a training process does;
    the speed defaults then read it as the user's own setting. Each test starts without it, as a new shell would."""
    from engine import speed

    for var in speed.ALLOC_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def korean():
    """Messages in Korean for one test (as `tunewiz --lang ko` gives them), English again after it."""
    from engine import i18n

    i18n.set_language("ko")
    yield
    i18n.set_language("en")
