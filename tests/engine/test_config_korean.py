"""The preset checks in Korean (issue #18): each problem and its fix line is said in Korean while the place it names
(the file, the key, the path) stays as written; in English the very same cases give today's text, byte for byte."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import config, models
from engine.errors import Problem, TunewizError

ROOT = Path(__file__).resolve().parents[2]
HANGUL = re.compile(r"[\uac00-\ud7a3]")

# (preset text, the key the problem is at, English what, English fix, Korean what, Korean fix)
CASES = {
    "unknown key": (
        "training:\n  lr: 1e-4\n", "training.lr",
        "unknown key; did you mean learning_rate?",
        "keys here are trl.SFTConfig / transformers.TrainingArguments field names",
        "알 수 없는 키입니다. 혹시 learning_rate인가요?",
        "여기에는 trl.SFTConfig / transformers.TrainingArguments의 필드 이름을 키로 씁니다"),
    "unknown key of a typed section": (
        "model:\n  name_or_pth: demo:smollm2-135m-instruct\n", "model.name_or_pth",
        "unknown key; did you mean name_or_path?",
        "valid keys: name_or_path, task, method, revision, trust_remote_code, dtype, attn_implementation, quantization, "
        "chat_template",
        "알 수 없는 키입니다. 혹시 name_or_path인가요?",
        "쓸 수 있는 키: name_or_path, task, method, revision, trust_remote_code, dtype, attn_implementation, quantization, "
        "chat_template"),
    "wrong type": (
        "training:\n  num_train_epochs: many\n", "training.num_train_epochs",
        "'many' is not a number",
        "e.g. 1 to 3 (fractions are allowed: 0.5 is half an epoch)",
        "'many' 값은 숫자가 아닙니다",
        "예: 1~3 (소수도 됩니다. 0.5는 반 에폭)"),
    "wrong type of a typed section": (
        # pydantic's message in Korean; the fix is the field's help text: its English documentation in English, the
        # Korean newcomer help (engine.fieldhelp.text) in Korean
        "model:\n  trust_remote_code: maybe\n", "model.trust_remote_code",
        "Input should be a valid boolean, unable to interpret input (got 'maybe')",
        "Run Python code shipped with the model repository. Off unless you trust the repository.",
        "true 또는 false여야 합니다. 입력값을 해석할 수 없습니다 (입력값: 'maybe')",
        "모델 저장소에 딸린 Python 코드를 실행합니다. 모델에 꼭 필요하고 만든 사람을 믿을 때만 켜세요. 켜면 그 코드가 내 권한으로 "
        "내 컴퓨터에서 실행됩니다."),
    "negative learning rate": (
        "training:\n  learning_rate: -1e-4\n", "training.learning_rate",
        "must be greater than 0 (got -0.0001)",
        "typical values: 2e-4 for LoRA, 2e-5 for full fine-tuning",
        "0보다 커야 합니다 (입력값: -0.0001)",
        "흔히 쓰는 값: LoRA는 2e-4, 전체 파인튜닝은 2e-5"),
    "a validator's value error": (
        "dataset:\n  max_rows: 0\n", "dataset.max_rows",
        "Value error, must be at least 1 (or null for all rows) (got 0)",
        "Use only the first N rows (null = all).",
        "1 이상이어야 합니다 (모든 행을 쓰려면 null) (입력값: 0)",
        "앞에서부터 N행만 씁니다. 비우면 모두 씁니다. 처음에 빠르게 돌려 보려면 200~1000행으로 두고, 나중에 지우세요. 그대로 두면 "
        "데이터의 일부로만 학습합니다."),
    "a section that is not a mapping": (
        "training: 5\n", "training",
        "must be a mapping of keys",
        "write it as\ntraining:\n  key: value",
        "키의 매핑이어야 합니다",
        "다음처럼 쓰세요\ntraining:\n  key: value"),
}


def load_problems(tmp_path: Path, text: str) -> tuple[Path, list[Problem]]:
    path = tmp_path / "my-preset.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TunewizError) as e:
        config.load(path)
    return path, e.value.problems


@pytest.mark.parametrize("case", CASES)
def test_a_preset_problem_is_said_in_english_as_before(tmp_path, case):
    text, key, what, fix, _ko_what, _ko_fix = CASES[case]
    path, problems = load_problems(tmp_path, text)
    assert problems == [Problem(f"{path}: {key}", what, fix)]
    # a fix of several lines (a YAML example) lines up under its first line
    assert str(problems[0]) == f"{path}: {key}: {what}\n    fix: " + fix.replace("\n", "\n" + " " * 9)


@pytest.mark.parametrize("case", CASES)
def test_a_preset_problem_is_said_in_korean_at_the_same_place(tmp_path, korean, case):
    text, key, _what, _fix, ko_what, ko_fix = CASES[case]
    path, problems = load_problems(tmp_path, text)
    assert problems == [Problem(f"{path}: {key}", ko_what, ko_fix)]  # the file and the key as written
    assert HANGUL.search(problems[0].what) and HANGUL.search(problems[0].fix)
    assert str(problems[0]) == f"{path}: {key}: {ko_what}\n    해결: " + ko_fix.replace("\n", "\n" + " " * 10)  # 해결: is 6 cells


def test_a_model_path_that_does_not_exist(korean):
    with pytest.raises(TunewizError) as e:
        models.resolve("./no-such-model")
    assert e.value.problems == [Problem("model.name_or_path", "경로가 없습니다: ./no-such-model",
                                        "경로를 확인하거나 Qwen/Qwen2.5-0.5B-Instruct 같은 허브 ID를 쓰세요")]


def test_a_model_path_that_does_not_exist_in_english():
    with pytest.raises(TunewizError) as e:
        models.resolve("./no-such-model")
    assert e.value.problems == [Problem("model.name_or_path", "no such path: ./no-such-model",
                                        "check the path, or give a hub id like Qwen/Qwen2.5-0.5B-Instruct")]


def test_a_preset_that_does_not_exist(tmp_path, korean):
    with pytest.raises(TunewizError) as e:
        config.load(tmp_path / "nowhere.yaml")
    (p,) = e.value.problems
    assert p.where == str(tmp_path / "nowhere.yaml") and p.what == "프리셋 파일이 없습니다"
    assert "`tunewiz presets`" in p.fix and HANGUL.search(p.fix)


def test_every_problem_of_a_bad_preset_is_korean_and_keeps_its_place(tmp_path, korean):
    """All problems at once (the validate listing): each in Korean, each naming its key as written."""
    text = ("trainig: {}\nmodel:\n  task: bad\ntraining:\n  lr: 1\n  learning_rate: -1\n  report_to: 5\n"
            "lora:\n  r: 0\n  rank: 3\n  target_modules: 7\n")
    path, problems = load_problems(tmp_path, text)
    keys = [p.where.removeprefix(f"{path}: ") for p in problems]
    assert sorted(keys) == sorted(["trainig", "model.task", "training.lr", "training.learning_rate", "training.report_to",
                                   "lora.r", "lora.rank", "lora.target_modules"])
    for p in problems:
        assert HANGUL.search(p.what), p
        assert HANGUL.search(p.fix), p


def test_tunewiz_validate_says_the_problems_in_korean(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("training:\n  learning_rate: -1e-4\n  lr: 1\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TUNEWIZ_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--lang", "ko", "validate", str(preset)], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2, out.stderr
    assert f"{preset}: training.learning_rate: 0보다 커야 합니다 (입력값: -0.0001)" in out.stderr
    assert f"{preset}: training.lr: 알 수 없는 키입니다. 혹시 learning_rate인가요?" in out.stderr
    assert "해결: 흔히 쓰는 값: LoRA는 2e-4, 전체 파인튜닝은 2e-5" in out.stderr
