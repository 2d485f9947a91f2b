"""What `tunewiz validate` / `run` print before a run, in Korean (#18): preflight's summary (its label column
counted in terminal cells), its warnings and fixes, the memory estimate, the speed defaults and the smoke test's
result; English stays what it was."""

import subprocess
import sys

from engine import estimate, preflight, smoke
from engine.build import Hardware
from tests.conftest import PRESETS, REPO


def test_validate_prints_the_summary_in_korean(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TUNEWIZ_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "TUNEWIZ_LANG": "en"}
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--lang", "ko", "validate",
                          str(PRESETS / "smollm2-identity-lora.yaml"), "--set", "training.learning_rate=0.05"],
                         cwd=REPO, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for line in ("  모델      demo:smollm2-135m-instruct (causal-lm)", "  열        messages=messages",
                 "  학습      3에폭, 학습률 0.05, 배치 8 x 누적 1"):
        assert line in lines, out.stdout
    warning = next(line for line in lines if line.startswith("  경고      "))
    assert "learning_rate 0.05 값은 LoRA에서 쓰는 값(1e-4~1e-3, 흔히 2e-4)보다 훨씬 큽니다" in warning
    assert warning.endswith("해결: learning_rate: 2e-4")
    assert any(line.startswith("  메모리    장치당 약 ") and "`tunewiz smoke`" in line for line in lines), out.stdout


def test_summary_labels_line_up_in_cells_and_warnings_are_found_in_either_language(korean):
    assert preflight.label("dataset", "x") == "데이터셋  x" and preflight.label("model", "x") == "모델      x"
    assert preflight.cells(preflight.label("warning", "")) == preflight.cells(preflight.label("output", "")) == 10
    assert preflight.is_warning(preflight.label(preflight.WARNING, "w")) and not preflight.is_warning(
        preflight.label(preflight.NOTE, "w"))


def test_run_warnings_and_their_fixes_in_korean(korean):
    from engine import build
    from engine.config import load

    cfg = load(PRESETS / "smollm2-identity-lora.yaml")
    cfg.training.update(warmup_steps=100, logging_steps=200)
    args = build.training_args(cfg, build.resolve_training(cfg, Hardware()))
    warned = preflight.run_warnings(args, Hardware(), rows=64, lora=True)
    assert warned[0].startswith("warmup_steps 100 >= 실행 전체의 옵티마이저 24스텝: 학습률이 워밍업을 벗어나지 못합니다")
    assert warned[1].endswith("해결: logging_steps: 2")


def test_smoke_result_lines_in_korean(korean):
    res = {"micro_batches": 12, "steps": 3, "accumulation": 4, "full_steps": 1200, "full_micro_batches": 4800,
           "warmup_micro_batches": 4, "warmup_s": 2.0, "step_s": 0.5, "tokens_per_s": 2000.0, "eta_s": 604.0,
           "device": "cuda", "peak_gib": 2.2, "peak_allocated_gib": 1.5, "context_gib": 0.7, "peak_reserved_gib": 1.8,
           "estimate_gib": 2.0, "stopped_by": "time", "budget_s": 60.0}
    assert smoke.lines(res) == [
        "마이크로배치 12개 실행 (옵티마이저 3스텝, 스텝당 4개), 시간 예산 60초에 도달해 끝남; 속도는 처음 4개 이후부터 측정 "
        "(2.0초: 커널 선택, 컴파일, 할당자 확장)",
        "속도: 실행의 옵티마이저 스텝당 0.500초, 초당 토큰 2,000개",
        "전체 실행: 1,200스텝 (마이크로배치 4,800개), 이 속도로 약 10분 04초 (평가와 저장 제외)",
        "최대 GPU 메모리: 2.20 GiB (할당 1.50 + CUDA 컨텍스트 0.70); 할당자가 예약한 양 1.80 GiB; 실행 전에 데이터 실제 "
        "길이로 추정한 값: 2.00 GiB (+10%)"]
    assert smoke.timed().startswith("마이크로배치 최대 24개") and smoke.TIMED.startswith("optimizer steps, at most 24")


def test_the_estimate_explains_itself_in_korean_and_the_preset_header_stays_english(korean):
    from tests.engine.test_estimate import QWEN_7B, SMOLLM2, preset

    est = estimate.estimate(preset("smollm2-identity-lora"), SMOLLM2, 24)
    rows = estimate.explain(est, SMOLLM2)
    assert [r[0] for r in rows] == ["가중치", "LoRA 어댑터", "그래디언트", "옵티마이저 상태", "활성값", "LM 헤드와 손실",
                                    "CUDA 컨텍스트", "합계"]
    assert rows[-1][2] == "24 GiB에 들어감 (95% 사용 가능)"
    assert est.basis() == "모든 행을 max_length로 본 추정치"
    assert est.hardware_line().endswith("(tunewiz estimate with every row at max_length); fits a 24 GiB GPU")
    tight = estimate.estimate(preset("qwen2.5-7b-instruct-lora", "training.gradient_checkpointing=false",
                                     "training.max_length=1024"), QWEN_7B, 40)
    assert tight.advice.startswith("다음을 설정하세요: training.gradient_checkpointing: true (약 30% 느리지만 결과는 같음)")
