"""The fast GPU defaults (engine/speed.py) and the varlen attention (engine/attention.py), on CPU: what is applied
for a given GPU, that each default is turned off by the line it names, and that the attention is exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from engine import attention, build, config, speed
from engine.errors import TunewizError
from tests.conftest import PRESETS
from tests.engine.test_estimate import QWEN05 as _QWEN05

QWEN05 = dataclasses.replace(_QWEN05, model_type="qwen2")  # a model type Liger patches

H200 = build.Hardware(cuda=True, devices=("NVIDIA H200",), gpu_gib=139.8, capability=9, bf16=True, bitsandbytes=True,
                      liger=True, varlen_attention=attention.NAME)
LENGTHS = np.minimum(np.clip(np.round(np.random.default_rng(1234).lognormal(np.log(250), 0.9, 4000)), 32, 2048), 1024)
BASE = {"model": {"name_or_path": "some/model"}, "lora": {"r": 16},
        "training": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "max_length": 1024}}


def resolved(data=None, hw=H200, sets=(), steps=100):
    cfg = config.from_dict(yaml.safe_load(yaml.safe_dump(data or BASE)))
    for key in sets:
        cfg = config.from_dict(config.apply_overrides(config.to_dict(cfg), config.parse_set([key])))
    return speed.resolve(cfg, hw, QWEN05, lengths=LENGTHS, steps=steps)


def test_every_fast_default_on_an_h200():
    r = resolved()
    keys = {a.key: a.value for a in r.applied}
    assert keys == {"training.bf16": True, "training.tf32": True, "training.padding_free": True,
                    "model.attn_implementation": attention.NAME, "lora.autocast_adapter_dtype": False,
                    "training.use_liger_kernel": True, "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
                    "training.gradient_checkpointing": False, "training.per_device_train_batch_size": 32}
    t = r.cfg.training
    assert (t["per_device_train_batch_size"], t["gradient_accumulation_steps"]) == (32, 1)  # same 32 rows a step
    assert r.env == {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    assert r.estimate is not None and r.estimate.fits and r.estimate.plan.padding_free and r.estimate.plan.adapter_bytes == 2
    assert "% of a padded batch would be padding here" in next(a.why for a in r.applied if a.key == "training.padding_free")


def _off(applied):
    """`section.key: value` of an Applied's off line -> a --set string (the first clause)."""
    key, _, value = applied.off.split(" (")[0].partition(": ")
    return f"{key}={value}"


@pytest.mark.parametrize("key", ["training.bf16", "training.tf32", "training.padding_free", "lora.autocast_adapter_dtype",
                                 "training.use_liger_kernel", "PYTORCH_CUDA_ALLOC_CONF", "training.gradient_checkpointing",
                                 "training.per_device_train_batch_size", "model.attn_implementation"])
def test_each_default_is_turned_off_by_the_line_it_names(key, monkeypatch):
    for var in speed.ALLOC_VARS:
        monkeypatch.delenv(var, raising=False)
    applied = next(a for a in resolved().applied if a.key == key)
    off = _off(applied)
    again = resolved(sets=[off])
    assert key not in {a.key for a in again.applied}, off
    section, name = off.split("=")[0].split(".")
    value = yaml.safe_load(off.split("=", 1)[1])
    if section in ("training", "lora"):
        assert getattr(again.cfg, section)[name] == value
    elif section == "model" and name == "attn_implementation":
        assert again.cfg.model.attn_implementation == value
    if key == "training.per_device_train_batch_size":
        t = again.cfg.training
        assert (t["per_device_train_batch_size"], t["gradient_accumulation_steps"]) == (8, 4)
    if key == "PYTORCH_CUDA_ALLOC_CONF":
        assert again.env == {}


def test_a_long_lora_run_compiles_its_layers_instead_of_liger():
    long = resolved(steps=speed.COMPILE_MIN_STEPS)
    keys = {a.key: a.value for a in long.applied}
    assert keys["speed.compile_layers"] is True and "training.use_liger_kernel" not in keys
    assert long.cfg.speed.compile_layers is True and "use_liger_kernel" not in long.cfg.training
    # compiled layers fuse most of what Liger does: the estimate sits between Liger's and the unfused layers'
    plan = long.estimate.plan
    assert plan.compiled and not plan.liger
    from engine import estimate

    fused, unfused = (estimate.compute(dataclasses.replace(plan, liger=lig, compiled=False), QWEN05, 896, 24, 139.8).activations
                      for lig in (True, False))
    assert long.estimate.activations == pytest.approx(fused + estimate.COMPILED_UNFUSED_SHARE * (unfused - fused), rel=1e-6)
    # turned off by the line it names; then Liger again
    off = resolved(steps=speed.COMPILE_MIN_STEPS, sets=[_off(next(a for a in long.applied if a.key == "speed.compile_layers"))])
    assert off.cfg.speed.compile_layers is False and off.cfg.training["use_liger_kernel"] is True
    # a short run does not pay the compile back: Liger, and a note that says why and how to force it
    short = resolved(steps=speed.COMPILE_MIN_STEPS - 1)
    assert short.cfg.speed.compile_layers is None and short.cfg.training["use_liger_kernel"] is True
    assert any(f"{speed.COMPILE_MIN_STEPS - 1} optimizer steps do not pay back the compile" in n for n in short.notes)
    assert resolved(steps=10, sets=["speed.compile_layers=true"]).cfg.speed.compile_layers is True
    # from the preset's own epochs and the data's rows when the caller does not count the steps
    cfg = config.from_dict({**BASE, "training": {**BASE["training"], "num_train_epochs": 12}})
    assert speed.resolve(cfg, H200, QWEN05, lengths=LENGTHS).cfg.speed.compile_layers is True  # 12 x 4000 / 32 = 1500
    # not with gradient checkpointing (not measured): asked for, or needed to fit a small GPU (then Liger again)
    assert resolved(steps=5000, sets=["training.gradient_checkpointing=true"]).cfg.speed.compile_layers is None
    small = resolved(hw=dataclasses.replace(H200, gpu_gib=2.5), steps=5000)
    assert small.cfg.training["gradient_checkpointing"] is True and small.cfg.speed.compile_layers is None
    assert small.cfg.training["use_liger_kernel"] is True and any("needs gradient checkpointing" in n for n in small.notes)
    # never by default for full fine-tuning (measured: no gain) or 4-bit layers (not measured)
    assert resolved(data={**BASE, "lora": {"enabled": False}}, steps=5000).cfg.speed.compile_layers is None
    assert resolved(steps=5000, sets=["model.quantization=4bit"]).cfg.speed.compile_layers is None


def test_liger_and_compiled_layers_exclude_each_other():
    asked = resolved(steps=5000, sets=["training.use_liger_kernel=true"])
    assert asked.cfg.speed.compile_layers is None and any("cannot trace Liger" in n for n in asked.notes)
    with pytest.raises(TunewizError) as e:
        resolved(sets=["training.use_liger_kernel=true", "speed.compile_layers=true"])
    assert e.value.problems[0].where == "speed.compile_layers" and "keep one" in e.value.problems[0].fix


def test_speed_auto_false_keeps_the_library_defaults():
    r = resolved(sets=["speed.auto=false"])
    assert [a.key for a in r.applied] == ["training.bf16"]  # precision follows the hardware, always
    assert "padding_free" not in r.cfg.training and "gradient_checkpointing" not in r.cfg.training
    assert r.cfg.model.attn_implementation is None


def test_the_users_keys_always_win(monkeypatch):
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128")
    data = {**BASE, "training": {**BASE["training"], "gradient_checkpointing": True, "padding_free": False}}
    r = resolved(data)
    keys = {a.key for a in r.applied}
    assert not keys & {"training.gradient_checkpointing", "training.padding_free", "model.attn_implementation",
                       "PYTORCH_CUDA_ALLOC_CONF"}
    assert r.cfg.training["gradient_checkpointing"] is True and r.cfg.training["padding_free"] is False


def test_a_small_gpu_gets_a_smaller_micro_batch_then_checkpointing():
    small = dataclasses.replace(H200, gpu_gib=6.0)
    r = resolved(hw=small)
    t = r.cfg.training
    assert t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] == 32
    assert t["per_device_train_batch_size"] < 32 and r.estimate.fits
    tiny = resolved(hw=dataclasses.replace(H200, gpu_gib=2.2))
    assert tiny.cfg.training["gradient_checkpointing"] is True
    why = next(a.why for a in tiny.applied if a.key == "training.gradient_checkpointing")
    assert "needed to fit" in why


def test_no_gpu_no_speed_defaults():
    cpu = build.Hardware(liger=True)
    r = resolved(hw=cpu)
    assert r.applied == [] and r.cfg.training["use_cpu"] is True
    assert "no CUDA GPU" in r.notes[0]


def test_padding_free_passes_no_max_length_to_trl():
    """TRL refuses padding_free without packing when max_length is set; tunewiz truncated the rows already."""
    cfg = config.load(PRESETS / "smollm2-identity-lora.yaml", ["training.padding_free=true"])
    args = build.training_args(cfg, build.resolve_training(cfg, build.Hardware()))
    assert args.padding_free and args.max_length is None


def test_varlen_attention_is_per_sequence_causal_attention():
    """The attention function on a padding-free row equals each sequence run alone through transformers' sdpa model."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    attention.register()
    cfg = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      vocab_size=300, max_position_embeddings=512)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).eval()
    lens = [7, 30, 1, 19]
    seqs = [torch.randint(3, 300, (n,)) for n in lens]
    with torch.no_grad():
        alone = torch.cat([model(input_ids=s[None]).logits[0] for s in seqs])
        model.config._attn_implementation = attention.NAME
        cu = torch.tensor([0, *np.cumsum(lens)], dtype=torch.int32)
        packed = model(input_ids=torch.cat(seqs)[None], position_ids=torch.cat([torch.arange(n) for n in lens])[None],
                       cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max(lens), max_length_k=max(lens)).logits[0]
        # a padded batch (no sequence boundaries) falls back to sdpa with a causal + padding mask
        ids = torch.zeros(2, 30, dtype=torch.long)
        ids[0, :7], ids[1] = seqs[0], seqs[1]
        mask = torch.zeros(2, 30, dtype=torch.long)
        mask[0, :7], mask[1] = 1, 1
        padded = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(packed, alone, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(padded[0, :7], alone[:7], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(padded[1], alone[7:37], rtol=1e-4, atol=1e-4)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_torch_varlen_kernel_passes_its_check_and_matches_per_sequence_attention_on_cuda():
    """On a GPU: the real kernel (not the CPU reference) passes tunewiz's check, and a bf16 model's logits on a
    padding-free row match each sequence run alone through sdpa."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    assert attention.check() in ("gqa", "repeat")
    attention._STATE["mode"] = None
    assert attention.register() in ("gqa", "repeat")
    cfg = Qwen2Config(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      vocab_size=1000, max_position_embeddings=2048)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    lens = [7, 300, 1, 129]
    seqs = [torch.randint(3, 1000, (n,), device="cuda") for n in lens]
    with torch.no_grad():
        alone = torch.cat([model(input_ids=s[None]).logits[0] for s in seqs]).float()
        model.config._attn_implementation = attention.NAME
        cu = torch.tensor([0, *np.cumsum(lens)], dtype=torch.int32, device="cuda")
        packed = model(input_ids=torch.cat(seqs)[None], position_ids=torch.cat([torch.arange(n, device="cuda") for n in lens])[None],
                       cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max(lens), max_length_k=max(lens)).logits[0].float()
    assert ((packed - alone).norm() / alone.norm()).item() < 2e-2


def test_preflight_leaves_the_speed_defaults_to_the_worker(monkeypatch):
    """`tunewiz run` writes preflight's training keys into the run's config.yaml; the worker then resolves the fast
    defaults with the data's lengths and the run's length. Written by preflight, they would read as the user's keys
    (Liger written there would keep a long LoRA run from compiling its layers)."""
    from engine import preflight

    monkeypatch.setattr(build, "hardware", lambda: H200)
    monkeypatch.setattr(build, "training_args", lambda cfg, t: None)  # TrainingArguments refuses bf16 on this CPU
    cfg = config.load(str(PRESETS / "smollm2-identity-lora.yaml"))
    checked = preflight.check(cfg)
    assert {"training.use_liger_kernel", "training.padding_free"} <= {a.key for a in checked.speed.applied}
    assert checked.training["bf16"] is True  # what this machine needs stays
    assert not {"use_liger_kernel", "padding_free", "tf32"} & set(checked.training)
    written = cfg.model_copy(deep=True)
    written.training = checked.training
    worker = speed.resolve(written, H200, QWEN05, lengths=LENGTHS, steps=speed.COMPILE_MIN_STEPS)
    assert worker.cfg.speed.compile_layers is True and "use_liger_kernel" not in worker.cfg.training


def test_preference_methods_get_the_defaults_measured_for_them():
    """DPO LoRA on a GPU: bf16 adapters, the micro-batch re-split and no checkpointing where it fits (2.6-3.0x the stock
    DPOTrainer script, bench/RESULTS.md), compiled layers from COMPILE_MIN_STEPS (1.21x a step); never padding-free
    or Liger (TRL's DPO turns padding-free off). KTO and ORPO are not compiled (not measured); KTO never splits its
    micro-batch below 2 (its KL term reads the other answers of a micro-batch)."""
    dpo = resolved(steps=speed.COMPILE_MIN_STEPS, sets=["model.method=dpo"])
    keys = {a.key: a.value for a in dpo.applied}
    assert keys["speed.compile_layers"] is True and keys["lora.autocast_adapter_dtype"] is False
    assert "training.padding_free" not in keys and "training.use_liger_kernel" not in keys
    assert "model.attn_implementation" not in keys
    assert dpo.estimate.plan.batch == 2 * dpo.cfg.training["per_device_train_batch_size"]  # a pair: two sequences
    for method in ("kto", "orpo"):
        assert resolved(steps=5000, sets=[f"model.method={method}"]).cfg.speed.compile_layers is None
    tiny = resolved(hw=dataclasses.replace(H200, gpu_gib=2.5), steps=10, sets=["model.method=kto"])
    assert tiny.cfg.training["per_device_train_batch_size"] >= 2


H200_FP8 = dataclasses.replace(H200, fp8=True)
A100 = dataclasses.replace(H200, devices=("NVIDIA A100-SXM4-80GB",), gpu_gib=79.2, capability=8, fp8=False)


def test_fp8_asked_for_where_it_cannot_apply_is_turned_off_and_says_why():
    """speed.fp8: true on full fine-tuning, on 4-bit weights, on a GPU without FP8 or on CPU: off, with a note naming
    the reason (a run never claims FP8 it does not do)."""
    cases = [({**BASE, "lora": {"enabled": False}}, H200_FP8, "it is for LoRA"),
             (None, A100, "this GPU has no FP8 matmuls"),
             (None, build.Hardware(), "no CUDA GPU")]
    for data, hw, why in cases:
        r = resolved(data=data, hw=hw, sets=["speed.fp8=true"])
        assert r.cfg.speed.fp8 is False, why
        assert any(n.startswith("speed.fp8: true has no effect here") and why in n for n in r.notes), (why, r.notes)
    sharded = resolved(hw=H200_FP8, sets=["speed.fp8=true", "launch.strategy=fsdp"])
    assert sharded.cfg.speed.fp8 is False and any("launch.strategy fsdp" in n for n in sharded.notes)
    q = resolved(hw=H200_FP8, sets=["speed.fp8=true", "model.quantization=4bit"])
    assert q.cfg.speed.fp8 is False and any("already quantized" in n for n in q.notes)
    on = resolved(hw=H200_FP8, sets=["speed.fp8=true"])
    assert on.cfg.speed.fp8 is True and not any("speed.fp8" in n for n in on.notes)
    assert resolved(hw=H200_FP8, sets=["speed.fp8=false"]).cfg.speed.fp8 is False


def test_the_compile_cache_lives_under_tunewiz_home_unless_the_environment_names_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRITON_CACHE_DIR", "/elsewhere/triton")
    root = speed.compile_cache()
    import os

    assert root == tmp_path / "compile-cache"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(root / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == "/elsewhere/triton"  # the user's own choice stays


def test_a_shape_compiled_before_is_warm_and_its_key_tells_shapes_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "i"))
    key = speed.warm_key(QWEN05, H200, fp8_on=False)
    assert key and not speed.warm(key)
    assert key != speed.warm_key(QWEN05, H200, fp8_on=True)
    assert key != speed.warm_key(QWEN05, A100, fp8_on=False)
    assert key != speed.warm_key(dataclasses.replace(QWEN05, parameters=QWEN05.parameters + 1), H200, fp8_on=False)
    assert speed.warm_key(None, H200, False) is None and speed.warm_key(QWEN05, build.Hardware(), False) is None
    speed.mark_warm(key, 83.4)
    assert speed.warm(key)
    assert (tmp_path / "compile-cache" / "shapes" / f"{key}.json").read_text().strip().startswith("{")


def test_a_warm_compile_cache_turns_compiling_on_from_fewer_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "i"))
    steps = speed.COMPILE_MIN_STEPS_WARM
    if steps >= speed.COMPILE_MIN_STEPS:
        pytest.skip("no lower threshold for a warm cache")
    cold = resolved(steps=steps)
    assert cold.cfg.speed.compile_layers is None
    speed.mark_warm(speed.warm_key(QWEN05, H200, fp8_on=False), 12.0)
    hot = resolved(steps=steps)
    assert hot.cfg.speed.compile_layers is True
    assert "compile cache" in next(a.why for a in hot.applied if a.key == "speed.compile_layers")
    assert resolved(steps=steps - 1).cfg.speed.compile_layers is None


def test_the_compile_threshold_is_the_measured_break_even_by_size_method_and_cache():
    """bench/RESULTS.md (2026-12-05): cold ~1,400 steps on 0.5B, ~1,900 on 7B; a warm cache ~60% of that; DPO ~600."""
    small, large = 494_000_000, 7_600_000_000
    assert speed.compile_min_steps(small, "sft", cached=False) == speed.COMPILE_MIN_STEPS == 1400
    assert speed.compile_min_steps(large, "sft", cached=False) == 1900
    assert speed.compile_min_steps(small, "sft", cached=True) == 850
    assert speed.compile_min_steps(large, "sft", cached=True) == 1150
    assert speed.compile_min_steps(large, "dpo", cached=False) == speed.compile_min_steps(small, "dpo", cached=True) == 1000
    seven_b = dataclasses.replace(QWEN05, parameters=large)
    cfg = config.from_dict(yaml.safe_load(yaml.safe_dump(BASE)))
    assert speed.resolve(cfg, H200, seven_b, lengths=LENGTHS, steps=1500).cfg.speed.compile_layers is None
    assert speed.resolve(cfg, H200, seven_b, lengths=LENGTHS, steps=1900).cfg.speed.compile_layers is True
