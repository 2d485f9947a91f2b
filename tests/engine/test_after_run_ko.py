"""After a run, in Korean (#18): `tunewiz --lang ko export` / `eval` say their refusals in Korean, the eval table's
headings and notes are Korean (eval.json stays English), chat's answer line; English stays as it was."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from engine import evaluate, generate
from tests.conftest import PRESETS, REPO

RECORDED = REPO / "tests" / "data" / "runs"

RESULT = {"run": "sentiment", "rows": 16, "weights": "final", "seconds": 12.3, "task": "classification",
          "labels": ["negative", "positive"],
          "tuned": {"loss": 0.41, "accuracy": 0.875, "f1_macro": 0.87, "confusion_matrix": [[7, 1], [1, 7]]},
          "base": {"loss": 0.7, "accuracy": 0.5, "f1_macro": 0.33, "confusion_matrix": [[8, 0], [8, 0]]},
          "notes": [evaluate.NO_PROMPT.format(n=3), evaluate.NEW_HEAD]}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TUNEWIZ_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
           "TUNEWIZ_REGISTRY": str(tmp_path / "runs.jsonl")}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=300)


def _run_without_result(tmp_path: Path) -> Path:
    """A finished run's directory with its preset but no final/ and no checkpoint (nothing to export)."""
    run = tmp_path / "sentiment"
    shutil.copytree(RECORDED / "finished", run)
    shutil.copy(PRESETS / "minilm-sentiment-lora.yaml", run / "config.yaml")
    return run


def test_export_refuses_in_korean_with_the_fix(tmp_path):
    run = _run_without_result(tmp_path)
    ko = _cli(tmp_path, "--lang", "ko", "export", str(run), "--merge")
    assert ko.returncode == 2, ko.stderr
    assert "내보낼 final/도, 완전한 체크포인트도 없습니다" in ko.stderr
    assert "해결: 실행이 끝난 뒤" in ko.stderr and "다시 내보내세요" in ko.stderr
    en = _cli(tmp_path, "export", str(run), "--merge", "--lang", "en")
    assert "the run has no final/ and no complete checkpoint to export" in en.stderr and "export again" in en.stderr


def test_eval_refuses_in_korean(tmp_path):
    run = _run_without_result(tmp_path)  # trained before tunewiz recorded its eval split: no eval_split.json
    ko = _cli(tmp_path, "--lang", "ko", "eval", str(run))
    assert ko.returncode == 2, ko.stderr
    assert "이 실행에는 기록된 평가 분할이 없습니다" in ko.stderr and "dataset.eval_size를 설정하고" in ko.stderr


def test_the_eval_table_in_korean_and_in_english(korean):
    lines = evaluate.table(RESULT)
    assert lines[0] == "sentiment: 평가용 행 16개, 가중치 final, 12초"
    assert lines[1].split() == ["지표", "기본", "튜닝"]
    assert lines[2].startswith("  평가 손실") and lines[3].startswith("  정확도")
    assert "  혼동 행렬, 튜닝 (행: 정답 negative, positive; 열: 예측)" in lines
    assert "  참고: 3개 행은 답할 프롬프트가 없습니다 (텍스트 행): 손실과 퍼플렉서티만 측정합니다" in lines
    assert any(line.startswith("  참고: 기본 모델의 분류 헤드는 새것입니다") for line in lines)
    from rich.cells import cell_len

    # the numbers stay in their columns: labels are padded by terminal cells, a Korean letter being two
    assert len({cell_len(line) for line in lines[1:5]}) == 1


def test_the_eval_table_in_english_is_as_before():
    lines = evaluate.table(RESULT)
    assert lines[:3] == ["sentiment: 16 held-out rows, weights final, 12 s",
                         f"  {'metric':24} {'base':>12} {'tuned':>12}",
                         f"  {'eval loss':24} {'0.7000':>12} {'0.4100':>12}"]
    assert "  confusion matrix, tuned (rows: reference negative, positive; columns: predicted)" in lines
    assert "  note: 3 rows have no prompt to answer (text rows): loss and perplexity only" in lines


def test_an_answer_line_in_korean(korean):
    ans = generate.Answer("tuned", "hi", tokens=42, seconds=2.0, first_token_s=0.21, stopped=True)
    assert generate.summary(ans) == "42 토큰, 21.0 토큰/초, 첫 토큰 0.21초, 중지됨"
    assert generate.summary(ans, short=True) == "42토큰 · 21.0/초 · 첫 토큰 0.21초 · 중지됨"


def test_eval_of_a_dpo_run_refuses_before_it_announces_anything(tmp_path):
    """A new user's finding: `tunewiz eval` printed "evaluating ..." and then refused a DPO run."""
    run = tmp_path / "dpo"
    shutil.copytree(RECORDED / "dpo-finished", run)
    shutil.copy(PRESETS / "smollm2-concise-dpo.yaml", run / "config.yaml")
    en = _cli(tmp_path, "eval", str(run))
    assert en.returncode == 2 and "dpo runs are not measured on their held-out rows yet" in en.stderr, en.stderr
    assert "evaluating" not in en.stdout and "tunewiz chat" in en.stderr
