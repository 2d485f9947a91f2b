"""The memory estimate: its arithmetic, the fit verdicts on known cases, and the advice."""

from __future__ import annotations

import sys
import types

import pytest

from engine import config, estimate
from engine.estimate import GIB
from engine.inspect import Linear, ModelInfo
from tests.conftest import PRESETS


def decoder(hidden: int, inter: int, layers: int, kv: int, vocab: int, tied: bool) -> ModelInfo:
    """A Llama/Qwen-shaped model as engine.inspect describes it (no weights)."""
    lins = [Linear("q_proj", hidden, hidden, layers), Linear("k_proj", hidden, kv, layers), Linear("v_proj", hidden, kv, layers),
            Linear("o_proj", hidden, hidden, layers), Linear("gate_proj", hidden, inter, layers),
            Linear("up_proj", hidden, inter, layers), Linear("down_proj", inter, hidden, layers), Linear("lm_head", hidden, vocab, 1)]
    per_layer = sum(lin.in_features * lin.out_features for lin in lins[:-1]) + 2 * hidden
    params = layers * per_layer + vocab * hidden * (1 if tied else 2) + hidden
    return ModelInfo(ref="x", kind="hub", path="x", architecture="X", model_type="x", parameters=params, dtype="bfloat16",
                     context_length=4096, vocab_size=vocab, has_chat_template=True, task="causal-lm",
                     linears=sorted(lins, key=lambda lin: lin.name), output_layer="lm_head")


QWEN_7B = decoder(3584, 18944, 28, 512, 152064, tied=False)
SMOLLM2 = decoder(576, 1536, 30, 192, 49152, tied=True)


def preset(name: str, *sets: str) -> config.Config:
    return config.load(PRESETS / f"{name}.yaml", list(sets))


def test_shapes_come_from_the_linear_layers():
    assert estimate.shape_of(QWEN_7B) == (3584, 28)
    assert estimate.shape_of(SMOLLM2) == (576, 30)
    assert 7.5e9 < QWEN_7B.parameters < 7.7e9  # the real Qwen2.5-7B has 7.62B


def test_full_fine_tuning_arithmetic():
    cfg = preset("qwen2.5-7b-instruct-lora", "lora.enabled=false", "training.gradient_checkpointing=false",
                 "training.per_device_train_batch_size=1", "training.max_length=128")
    est = estimate.estimate(cfg, QWEN_7B, 80)
    p = QWEN_7B.parameters
    assert est.trainable == p
    # bf16 weights; ~70% of the bf16 gradients alive at the peak (mid-backward); AdamW m+v in bf16
    assert (est.weights, est.adapters, est.gradients, est.optimizer) == (2 * p, 0, int(2 * p * 0.7), 4 * p)
    per_layer = 18 * 3584 + 5.5 * 18944 + 8 * 3584 + 2.5 * 18944  # calibrated, plus the unfused terms (no Liger)
    assert est.activations == int(128 * 28 * per_layer)
    assert est.logits == int(128 * 0.134 * 152064 + 2450 * 152064)  # per-token head state + one tile
    assert est.total == sum(n for _, n in est.rows())


def test_lora_and_qlora_arithmetic():
    cfg = preset("qwen2.5-7b-instruct-qlora-24gb")
    q = estimate.estimate(cfg, QWEN_7B, 24)
    t = QWEN_7B.lora_parameters(16, "all-linear")
    assert q.trainable == t and 35e6 < t < 45e6
    linear = sum(lin.in_features * lin.out_features * lin.count for lin in QWEN_7B.linears if lin.name != "lm_head")
    assert q.weights == int(linear * 0.55 + (QWEN_7B.parameters - linear) * 2)
    assert (q.adapters, q.gradients, q.optimizer) == (2 * t, 2 * t, 2 * t)  # bf16 adapters, paged_adamw_8bit
    tokens = 4 * 1024
    one_layer = 18 * 3584 + 5.5 * 18944 + 8 * 3584 + 2.5 * 18944
    assert q.activations == int(tokens * (3584 * 2 * 28 + one_layer))  # checkpointed inputs + one layer recomputed
    lora = estimate.estimate(cfg.model_copy(update={"model": cfg.model.model_copy(update={"quantization": "none"})}), QWEN_7B, 24)
    assert (lora.adapters, lora.gradients) == (4 * t, 4 * t)  # PEFT keeps adapters in fp32 over a bf16 base
    assert lora.weights == 2 * QWEN_7B.parameters


def test_7b_full_fine_tuning_does_not_fit_24gib_and_says_what_would():
    cfg = preset("qwen2.5-7b-instruct-lora", "lora.enabled=false")
    est = estimate.estimate(cfg, QWEN_7B, 24)
    assert est.fits is False and est.total > 60 * GIB
    assert "lora.enabled: true" in est.advice or "model.quantization: 4bit" in est.advice
    assert estimate.estimate(cfg, QWEN_7B, 141).fits is True


def test_7b_qlora_r16_fits_24gib():
    est = estimate.estimate(preset("qwen2.5-7b-instruct-qlora-24gb"), QWEN_7B, 24)
    assert est.fits is True and est.advice == ""
    assert 8 * GIB < est.total < 22.8 * GIB


def test_smollm2_lora_fits_every_common_card():
    cfg = preset("smollm2-identity-lora")
    for gib_, _ in estimate.COMMON_GPUS:
        assert estimate.estimate(cfg, SMOLLM2, gib_).fits is True
    assert estimate.estimate(cfg, SMOLLM2, 24).total < 8 * GIB


def test_on_cpu_there_is_no_verdict_and_values_are_fp32():
    est = estimate.estimate(preset("smollm2-identity-lora"), SMOLLM2, None)
    assert est.fits is None and est.advice == ""
    assert est.weights == 4 * SMOLLM2.parameters


def test_advice_is_the_cheapest_change_first():
    cfg = preset("qwen2.5-7b-instruct-lora", "training.gradient_checkpointing=false", "training.max_length=1024")
    est = estimate.estimate(cfg, QWEN_7B, 40)
    assert est.fits is False
    assert est.advice.startswith("set training.gradient_checkpointing: true")
    # checkpointing already on: halve the batch (keeping the effective batch), as few times as needed
    cfg = preset("qwen2.5-7b-instruct-lora", "training.per_device_train_batch_size=16", "training.gradient_accumulation_steps=2")
    est = estimate.estimate(cfg, QWEN_7B, 24)
    assert est.fits is False
    assert est.advice.startswith("set training.per_device_train_batch_size: 4 and gradient_accumulation_steps: 8")
    for batch, fits in ((8, False), (4, True)):
        halved = preset("qwen2.5-7b-instruct-lora", f"training.per_device_train_batch_size={batch}")
        assert estimate.estimate(halved, QWEN_7B, 24).fits is fits


def test_advice_combines_changes_and_admits_defeat():
    big = decoder(8192, 28672, 80, 1024, 128256, tied=False)  # a 70B
    cfg = preset("llama3.2-1b-full", "training.gradient_checkpointing=false")
    est = estimate.estimate(cfg, big, 80)
    assert est.fits is False
    assert "gradient_checkpointing" in est.advice and "4bit" in est.advice and "; and " in est.advice
    assert estimate.estimate(cfg, big, 24).advice.startswith("does not fit even with every change")


# Measured on one H200 (bench/gpu_speed.py, 2026-12-02, bench/RESULTS.md): torch's peak allocated memory + the
# CUDA context, GiB, with the tokens of the largest micro-batch seen. Padding-free, Liger, bf16 adapters, micro-batch 32.
QWEN05 = decoder(896, 4864, 24, 128, 151936, tied=True)
LLAMA1 = decoder(2048, 8192, 16, 512, 128256, tied=True)
MEASURED = [  # shape, method, checkpointing, tokens, GiB
    ("qwen05", "lora", False, 14015, 15.79), ("qwen05", "lora", False, 15122, 16.88), ("qwen05", "qlora", False, 12857, 14.16),
    ("qwen05", "full", False, 12857, 17.16), ("qwen05", "lora", True, 12857, 3.04), ("llama1", "full", False, 14015, 26.73),
    ("llama1", "lora", False, 12857, 19.31), ("llama1", "qlora", False, 12857, 17.97),
]


@pytest.mark.parametrize(("shape", "method", "gc", "tokens", "measured"), MEASURED)
def test_estimate_within_15_percent_of_measured_peaks(shape, method, gc, tokens, measured):
    info = QWEN05 if shape == "qwen05" else LLAMA1
    plan = estimate.Plan(on_gpu=True, weight_bytes=2, quantization="4bit" if method == "qlora" else "none", lora=method != "full",
                         r=16, targets="all-linear", batch=32, accumulation=1, max_length=1024, checkpointing=gc,
                         optim="adamw_torch_fused", causal=True, adapter_bytes=2, liger=True, padding_free=True, batch_tokens=tokens)
    est = estimate.compute(plan, info, *estimate.shape_of(info), 139.8)
    assert abs(est.total / GIB - measured) / measured < 0.15


def test_largest_batch_predicted_from_the_data_lengths():
    """The anchor's lengths (log-normal, median 250, cut at 1,024): 40 padding-free micro-batches of 32 rows drew at
    most 14,015 tokens on the GPU; 14 drew 12,857. The prediction is a draw of as many batches, so it lands near."""
    import numpy as np

    rng = np.random.default_rng(1234)
    lens = np.minimum(np.clip(np.round(rng.lognormal(np.log(250), 0.9, size=4000)), 32, 2048), 1024)
    for steps, seen in ((40, 14015), (14, 12857)):
        predicted = estimate.peak_batch_tokens(lens, 32, 1024, padding_free=True, draws=steps)
        assert abs(predicted - seen) / seen < 0.1
    padded = estimate.peak_batch_tokens(lens, 32, 1024, padding_free=False, draws=40)
    assert padded == 32 * 1024  # a padded batch costs its longest row x 32, and some batch has a 1,024-token row


def test_detect_gpus_reads_nvml(monkeypatch):
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA H200" if h == 0 else "NVIDIA L4",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=(141 if h == 0 else 24) * GIB))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert estimate.detect_gpus() == [("NVIDIA H200", 141.0), ("NVIDIA L4", 24.0)]

    def no_driver():
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setattr(fake, "nvmlInit", no_driver)
    assert estimate.detect_gpus() == []


@pytest.mark.parametrize("ref,shape", [("demo:smollm2-135m-instruct", (576, 30)), ("demo:minilm-l6", (384, 6))])
def test_shapes_of_the_demo_models(ref, shape):
    from engine.inspect import inspect_model

    assert estimate.shape_of(inspect_model(ref)) == shape
