"""Without a network and without HF_HUB_OFFLINE, a hub id took ~30 s of the hub client's retries (#14): tunewiz asks
once (one TCP connect, 2 s) and then works offline, saying so."""

import os
import subprocess
import sys
import time

import datasets.config  # imported here, not under a test's capsys: its log handler keeps the stderr of its import
import huggingface_hub.constants
import pytest

from engine import models
from engine.errors import TunewizError
from tests.conftest import REPO

NOWHERE = "https://tunewiz-test.invalid"  # .invalid never resolves (RFC 2606): unreachable on any machine


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)
    for var in models.PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    models.hub_unreachable.cache_clear()
    yield
    models.hub_unreachable.cache_clear()


def test_an_unreachable_hub_is_found_once_and_the_process_goes_offline(no_network, capsys):
    start = time.monotonic()
    with pytest.raises(TunewizError) as e:
        models.resolve("someone/a-model-not-in-this-cache")
    assert time.monotonic() - start < 5
    message = str(e.value)
    assert "tunewiz-test.invalid cannot be reached" in message and "not in the local Hugging Face cache" in message
    assert os.environ["HF_HUB_OFFLINE"] == "1" and huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert "working offline from the local Hugging Face cache" in capsys.readouterr().err
    models.resolve("demo:minilm-l6")  # what needs no network still works
    with pytest.raises(TunewizError):
        models.resolve("someone/another-model")
    assert capsys.readouterr().err.count("working offline") == 0  # said once


def test_validate_without_network_says_so_at_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE" and k not in models.PROXY_VARS}
    env["HF_ENDPOINT"] = NOWHERE
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "smollm2-identity-lora", "--set",
                          "model.name_or_path=someone/a-model-not-in-this-cache", "--set", f"training.output_dir={tmp_path}/run"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert time.monotonic() - start < 25  # the hub client's retries took ~30 s on their own
    assert "cannot be reached" in out.stderr and "working offline" in out.stderr and "Retrying" not in out.stderr


def test_an_uncached_hub_dataset_without_network_is_refused_at_once(no_network, monkeypatch, capsys):
    """A dataset hub id took ~23 s of the hub client's retries before failing (#14): training's loader and the
    dataset step's head ask the same one-connect check as model ids, and word the failure the same way."""
    from engine.config import DatasetSection
    from engine.data import load, peek

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # read when `datasets` was imported

    start = time.monotonic()
    with pytest.raises(TunewizError) as e:
        load.load_dataset(DatasetSection(path="someone/a-dataset-not-in-this-cache"))
    assert time.monotonic() - start < 5
    trained = e.value.problems[0]
    assert "could not load hub dataset 'someone/a-dataset-not-in-this-cache'" in trained.what
    assert "the hub is offline (tunewiz-test.invalid cannot be reached" in trained.what
    assert "connect this machine to the internet" in trained.fix
    assert "working offline from the local Hugging Face cache" in capsys.readouterr().err
    start = time.monotonic()
    with pytest.raises(TunewizError) as e:
        peek.peek_hub("someone/a-dataset-not-in-this-cache")
    assert time.monotonic() - start < 5
    assert (e.value.problems[0].what, e.value.problems[0].fix) == (trained.what, trained.fix)  # one wording
