"""Fast defaults chosen from the hardware, each one visible and each one switchable off.

`resolve()` takes a preset and what this machine has, fills in what the preset leaves out, and says
what it filled in and why (`Applied`). The user's keys always win; `speed.auto: false` turns all of
this off (the libraries' own defaults then apply, e.g. TRL's gradient checkpointing).

On a CUDA GPU, for a causal LM:
  - padding-free batches with varlen attention (flash-attn when installed, torch's varlen flash kernel
    otherwise; never padding-free over plain sdpa, which is slower than padding)
  - bf16 (tf32 for what stays in fp32); fused AdamW is already the Trainer's default
  - gradient checkpointing only when the memory estimate says it is needed
  - LoRA adapters in the model's dtype (peft upcasts them to fp32 otherwise); LoRA dropout is 0 by default
  - Liger kernels (RMSNorm, SwiGLU, RoPE) when liger-kernel is installed and supports the model
  - the effective batch re-split into the largest micro-batch that fits (`speed.split_batch`)
  - PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (`speed.expandable_segments`)
Measured effects are in bench/RESULTS.md.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import attention, estimate, fields
from engine.i18n import N_, _

if TYPE_CHECKING:
    from engine.build import Hardware
    from engine.config import Config
    from engine.inspect import ModelInfo

ALLOC_VARS = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")
EXPANDABLE = "expandable_segments:True"
# model types liger-kernel 0.8 patches (its MODEL_TYPE_TO_APPLY_LIGER_FN); read from the package when installed
LIGER_FALLBACK_TYPES = {"llama", "mistral", "mixtral", "gemma", "gemma2", "gemma3", "gemma3_text", "qwen2", "qwen3",
                        "qwen3_moe", "phi3", "granite", "olmo2", "glm4", "smollm3"}


@dataclass
class Applied:
    """One default tunewiz filled in: where, what, why, and the line that turns it off."""

    key: str
    value: Any
    why: str
    off: str

    def line(self) -> str:
        return _("{key}: {value}  ({why}; off: {off})").format(key=self.key, value=_yaml(self.value), why=self.why, off=self.off)


@dataclass
class Resolved:
    """The preset as it will run on this machine."""

    cfg: Config
    applied: list[Applied] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    estimate: estimate.Estimate | None = None
    notes: list[str] = field(default_factory=list)


# From this many optimizer steps, SFT LoRA runs compile their decoder layers by default: where the compile pays back.
# Measured on the H200 (bench/RESULTS.md, 2026-12-05), Qwen2.5-0.5B LoRA, 32 rows a step: 0.190 -> 0.146 s a step,
# 63 s of compiling with a cold cache (break-even ~1,400 steps) and 38 s with a warm one (~850 steps); Qwen2.5-7B:
# 0.69 -> 0.66 s a step, 57 s cold (~1,900 steps).
COMPILE_MIN_STEPS = 1400
COMPILE_MIN_STEPS_LARGE = 1900  # models of LARGE_PARAMS and more
LARGE_PARAMS = 3_000_000_000
# ... and when a run of the same model shape, torch and GPU has compiled before on this machine, its compiled layers are
# read from tunewiz's compile cache (compile_cache()): ~60% of the cold compile (measured on 0.5B; 7B estimated alike)
COMPILE_MIN_STEPS_WARM = 850
COMPILE_MIN_STEPS_WARM_LARGE = 1150
# DPO LoRA (bench/RESULTS.md, 2026-12-04): 0.938 -> 0.764 s a step, 107 s cold: break-even ~600 steps
COMPILE_MIN_STEPS_DPO = 1000
# From this many parameters, LoRA runs on a Hopper GPU multiply the frozen base weights in FP8 by default (None: never
# by default, only with speed.fp8: true).
FP8_MIN_PARAMS: int | None = None


def _yaml(v: Any) -> str:
    return "true" if v is True else "false" if v is False else "null" if v is None else str(v)


def allocator_env(cfg: Config) -> dict[str, str]:
    """The allocator setting for the training processes, unless turned off or the user's environment has one."""
    if cfg.speed.auto and cfg.speed.expandable_segments and not any(os.environ.get(v) for v in ALLOC_VARS):
        return {"PYTORCH_CUDA_ALLOC_CONF": EXPANDABLE}
    return {}


def liger_supports(model_type: str) -> bool:
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN

        return model_type in MODEL_TYPE_TO_APPLY_LIGER_FN
    except Exception:
        return model_type in LIGER_FALLBACK_TYPES


def resolve(cfg: Config, hw: Hardware, info: ModelInfo | None = None, lengths: Any = None,
            steps: int | None = None) -> Resolved:
    """The fast defaults for `hw` (engine.build.hardware()) on top of cfg; cfg itself is not changed.

    `info` (engine.inspect) and `lengths` (token counts of the training rows) feed the memory estimate
    that decides gradient checkpointing and the micro-batch; without `info` both stay as written. The stages, in
    order: precision, then (a CUDA GPU with speed.auto) TF32, padding-free rows and their attention kernel, 16-bit
    adapters, compiled layers or Liger, the allocator, and the fit to the GPU's memory."""
    res = Resolved(cfg.model_copy(deep=True))
    out = res.cfg
    _precision(res, hw)
    if not (cfg.speed.auto and hw.cuda):
        if cfg.speed.auto and not hw.cuda:
            res.notes.append(_("no CUDA GPU: the GPU speed defaults (padding-free, bf16 adapters, ...) do not apply"))
        _fp8(out, hw, info, res, auto=False)
        res.estimate = _estimate(out, info, hw, lengths, steps)
        return res
    t, lora = out.training, dict(out.lora)
    _tf32(res, t, hw)
    _padding_free(res, t, hw, lengths)
    _adapters(res, t, lora, cfg)
    _fp8(out, hw, info, res, auto=True)
    _compile(out, cfg, t, lengths, steps, res, warm(warm_key(info, hw, bool(out.speed.fp8))),
             info.parameters if info is not None else 0)
    compiled_by_default = any(a.key == "speed.compile_layers" for a in res.applied)
    if out.speed.compile_layers is not True:  # torch.compile fuses what Liger's layer kernels would (and cannot trace them)
        _liger(res, t, hw, info)
    _allocator(res, cfg)
    out.training, out.lora = t, lora
    if info is not None and hw.gpu_gib:
        _fit(out, cfg, info, hw, lengths, steps, res)
        t = out.training  # (assigning to the model copied it)
        if compiled_by_default and t.get("gradient_checkpointing"):
            # compiled layers under gradient checkpointing are not measured: not a default there
            out.speed.compile_layers = None
            res.applied = [a for a in res.applied if a.key != "speed.compile_layers"]
            res.notes.append(_("speed.compile_layers off: the run needs gradient checkpointing, and compiling checkpointed layers "
                               "is not measured"))
            _liger(res, t, hw, info)
    else:
        if "gradient_checkpointing" not in t:
            res.notes.append(_("gradient checkpointing left to the library's default (no memory estimate without the model's shapes)"))
        res.estimate = _estimate(out, info, hw, lengths, steps)
    return res


def _sft_lm(out: Config) -> bool:
    """Padding-free rows and Liger's kernels are SFT's (TRL's DPO turns padding-free off and deprecates Liger there)."""
    return out.model.task == "causal-lm" and out.model.method == "sft"


def _precision(res: Resolved, hw: Hardware) -> None:
    """The machine's training keys (engine.build.resolve_training); bf16 / fp16 said as defaults where they were added."""
    from engine import build

    before = dict(res.cfg.training)
    t = build.resolve_training(res.cfg, hw)
    for key, why in (("bf16", N_("this GPU computes in bf16: half the memory of fp32, tensor cores")),
                     ("fp16", N_("this GPU has no bf16: fp16 mixed precision"))):
        if key not in before and t.get(key):
            res.applied.append(Applied(f"training.{key}", t[key], _(why), f"training.{key}: false"))
    res.cfg.training = t


def _tf32(res: Resolved, t: dict[str, Any], hw: Hardware) -> None:
    if hw.capability >= 8 and "tf32" not in t:
        t["tf32"] = True
        res.applied.append(Applied("training.tf32", True, _("Ampere or newer: fp32 matmuls on TF32 tensor cores"),
                                   "training.tf32: false"))


def _padding_free(res: Resolved, t: dict[str, Any], hw: Hardware, lengths: Any) -> None:
    """SFT rows concatenated without pad tokens, and the varlen attention kernel that makes that fast."""
    out = res.cfg
    if not _sft_lm(out) or out.model.trust_remote_code:
        return
    packing = bool(t.get("packing"))
    kernel = hw.varlen_attention
    wants_pf = t.get("padding_free") is True or (packing and t.get("packing_strategy", "bfd") in ("bfd", "bfd_split"))
    if "padding_free" not in t and not packing and not out.model.attn_implementation and kernel:
        t["padding_free"] = True
        wants_pf = True
        share = _padding_share(lengths, int(t.get("per_device_train_batch_size", fields.default("per_device_train_batch_size"))),
                               t.get("max_length", fields.default("max_length")))
        why = (_("rows are concatenated without pad tokens ({share:.0%} of a padded batch would be padding here)"
                 ).format(share=share) if share is not None else _("rows are concatenated without pad tokens"))
        res.applied.append(Applied("training.padding_free", True, why, "training.padding_free: false"))
    if wants_pf and not out.model.attn_implementation and kernel:
        out.model.attn_implementation = kernel
        res.applied.append(Applied("model.attn_implementation", kernel,
                                   _("padding-free batches need varlen attention (sdpa over a packed row is slower than padding)"),
                                   "model.attn_implementation: sdpa (with training.padding_free: false)"))
    elif wants_pf and out.model.attn_implementation in (None, "sdpa", "eager"):
        res.notes.append(_("padding-free batches with sdpa/eager attention build a block-diagonal mask a step: "
                           "slower than padding; install flash-attn, or use torch >= 2.10 for its varlen kernel"))


def _adapters(res: Resolved, t: dict[str, Any], lora: dict[str, Any], cfg: Config) -> None:
    """LoRA weights in the model's 16-bit dtype; a note on adapter dropout."""
    out = res.cfg
    if out.lora_enabled and out.model.quantization == "none" and "autocast_adapter_dtype" not in lora and (t.get("bf16") or t.get("fp16")):
        lora["autocast_adapter_dtype"] = False
        res.applied.append(Applied("lora.autocast_adapter_dtype", False,
                                   _("adapters in the model's 16-bit dtype (peft keeps fp32 copies otherwise: slower, more memory)"),
                                   "lora.autocast_adapter_dtype: true"))
    if lora.get("lora_dropout", 0.0) and "lora_dropout" in cfg.lora:
        res.notes.append(_("lora.lora_dropout: {dropout} adds a dropout pass to every adapter (0.0 is faster)").format(
            dropout=lora["lora_dropout"]))


def _liger(res: Resolved, t: dict[str, Any], hw: Hardware, info: ModelInfo | None) -> None:
    if _sft_lm(res.cfg) and hw.liger and "use_liger_kernel" not in t and info is not None and liger_supports(info.model_type):
        t["use_liger_kernel"] = True
        res.applied.append(Applied("training.use_liger_kernel", True, _("liger-kernel is installed: fused RMSNorm, SwiGLU and RoPE"),
                                   "training.use_liger_kernel: false"))


def _allocator(res: Resolved, cfg: Config) -> None:
    res.env = allocator_env(cfg)
    if res.env:
        res.applied.append(Applied("PYTORCH_CUDA_ALLOC_CONF", EXPANDABLE,
                                   _("batch shapes change every step: less memory lost to fragmentation"),
                                   "speed.expandable_segments: false"))


def optimizer_steps(training: dict[str, Any], rows: int | None, world: int = 1) -> int | None:
    """Optimizer steps a run makes: max_steps, else epochs x ceil(rows / (batch x accumulation x processes)), as
    the Trainer counts them (and the wizard's training step shows them)."""
    if int(training.get("max_steps", -1) or -1) > 0:
        return int(training["max_steps"])
    if not rows:
        return None
    per_step = (int(training.get("per_device_train_batch_size", fields.default("per_device_train_batch_size")))
                * int(training.get("gradient_accumulation_steps", fields.default("gradient_accumulation_steps"))))
    per_epoch = max(1, math.ceil(rows / (per_step * world)))  # as the Trainer counts: a last short batch is a step
    return max(1, math.ceil(float(training.get("num_train_epochs", 3)) * per_epoch))


def _compile(out: Config, cfg: Config, t: dict[str, Any], lengths: Any, steps: int | None, res: Resolved,
             cached: bool = False, params: int = 0) -> None:
    """speed.compile_layers: decided here when the preset leaves it null (compile_min_steps: fewer steps when this
    shape's compiled layers are in the compile cache)."""
    sp = out.speed
    if sp.compile_layers is True and t.get("use_liger_kernel") is True:
        from engine.errors import TunewizError

        raise TunewizError.at("speed.compile_layers", _("true together with training.use_liger_kernel: true; torch.compile "
                                                        "cannot trace Liger's Triton kernels"),
                              _("keep one: speed.compile_layers: false, or remove use_liger_kernel"))
    if sp.compile_layers is not None:
        return
    if not out.lora_enabled or out.model.quantization != "none" or out.model.task != "causal-lm" \
            or out.model.method not in ("sft", "dpo"):
        return  # measured on bf16 LoRA SFT and DPO (bench/RESULTS.md: DPO 1.21x a step, 107 s to compile) only: full fine-tuning gained nothing (GPU-bound), 4-bit layers untested
    if t.get("use_liger_kernel") is True:
        res.notes.append(_("speed.compile_layers stays off: training.use_liger_kernel is set, and torch.compile cannot trace "
                           "Liger's kernels"))
        return
    if t.get("gradient_checkpointing") is True:
        return  # compiling checkpointed layers is not measured
    n = steps if steps is not None else optimizer_steps(t, len(lengths) if lengths is not None else None)
    min_steps = compile_min_steps(params, out.model.method, cached)
    if n is None or n < min_steps:
        if n is not None:
            res.notes.append((_("speed.compile_layers off: {n} optimizer steps do not pay back the compile (about 40 s with "
                                "this shape's layers in the compile cache; from {min_steps} steps it is on); "
                                "speed.compile_layers: true forces it") if cached else
                              _("speed.compile_layers off: {n} optimizer steps do not pay back the compile (about a minute; "
                                "from {min_steps} steps it is on); speed.compile_layers: true forces it")
                              ).format(n=n, min_steps=min_steps))
        return
    sp.compile_layers = True
    res.applied.append(Applied("speed.compile_layers", True,
                               (_("{n} optimizer steps: torch.compile of the decoder layers (fused ops, fewer launches; about "
                                  "40 s at the start, this shape's layers being in the compile cache) pays back; Liger's layer "
                                  "kernels are left off") if cached else
                                _("{n} optimizer steps: torch.compile of the decoder layers (fused ops, fewer launches; "
                                  "about a minute to compile at the start) pays back; Liger's layer kernels are left off")
                                ).format(n=n),
                               "speed.compile_layers: false"))


def compile_min_steps(params: int, method: str, cached: bool) -> int:
    """The optimizer steps from which compiling the decoder layers pays back (measured break-evens, above)."""
    if method == "dpo":
        return COMPILE_MIN_STEPS_DPO
    large = params >= LARGE_PARAMS
    if cached:
        return COMPILE_MIN_STEPS_WARM_LARGE if large else COMPILE_MIN_STEPS_WARM
    return COMPILE_MIN_STEPS_LARGE if large else COMPILE_MIN_STEPS


def _fp8(out: Config, hw: Hardware, info: ModelInfo | None, res: Resolved, auto: bool) -> None:
    """speed.fp8 (engine.fp8): FP8 matmuls for a LoRA run's frozen bf16 base weights, on a GPU that has them."""
    sp = out.speed
    why_not = (_("no CUDA GPU") if not hw.cuda else _("it is for LoRA (full fine-tuning trains the weights it would cast)") if not out.lora_enabled
               else _("the base weights are already quantized (model.quantization)") if out.model.quantization != "none"
               else _("this GPU has no FP8 matmuls (Ada or Hopper and newer)") if not hw.fp8
               else _("the weights are not bf16 (training.fp16)") if out.training.get("fp16")
               else _("launch.strategy {strategy} shards the weights it would cast (not measured; ddp is)").format(
                   strategy=out.launch.strategy) if out.launch.strategy != "ddp" else None)
    if sp.fp8 is True and why_not:
        sp.fp8 = False
        res.notes.append(_("speed.fp8: true has no effect here: {why}").format(why=why_not))
    if sp.fp8 is not None or why_not or not auto:
        return
    params = info.parameters if info is not None else 0
    if FP8_MIN_PARAMS is None or params < FP8_MIN_PARAMS or hw.capability < 9:
        return
    sp.fp8 = True
    res.applied.append(Applied("speed.fp8", True,
                               _("{params} parameters on a Hopper GPU: the frozen base weights multiply in FP8 (the adapters "
                                 "stay bf16)").format(params=estimate.count(params)),
                               "speed.fp8: false"))


def _padding_share(lengths: Any, batch: int, max_length: int | None) -> float | None:
    """Share of a padded batch that is padding, over one shuffled epoch of this data."""
    if lengths is None or not len(lengths):
        return None
    blocks = estimate.shuffled_batches(lengths, batch, max_length, draws=len(lengths) // batch)
    if not len(blocks):
        return None
    return float(1 - blocks.sum() / (blocks.max(axis=1) * blocks.shape[1]).sum())


def _estimate(cfg: Config, info: ModelInfo | None, hw: Hardware, lengths: Any, steps: int | None) -> estimate.Estimate | None:
    if info is None:
        return None
    return estimate.estimate(cfg, info, hw.gpu_gib if hw.cuda else None, lengths=lengths, steps=steps)


def _fit(out: Config, cfg: Config, info: ModelInfo, hw: Hardware, lengths: Any, steps: int | None,
         res: Resolved) -> None:
    """Gradient checkpointing only when needed; the largest micro-batch that fits the effective batch."""
    t = out.training
    user_gc = "gradient_checkpointing" in cfg.training
    micro = int(t.get("per_device_train_batch_size", fields.default("per_device_train_batch_size")))
    accum = int(t.get("gradient_accumulation_steps", 1))
    per_device = micro * accum
    least = 2 if out.model.method == "kto" else 1  # KTO's KL term reads the other answers of a micro-batch
    splits = [(b, per_device // b) for b in range(per_device, 0, -1) if per_device % b == 0 and b >= min(least, micro)]
    if not cfg.speed.split_batch:
        splits = [(micro, accum)]
    gc_options = [bool(t["gradient_checkpointing"])] if user_gc else [False, True]

    def est_for(b: int, a: int, gc: bool) -> estimate.Estimate:
        trial = out.model_copy(deep=True)
        trial.training = {**t, "per_device_train_batch_size": b, "gradient_accumulation_steps": a, "gradient_checkpointing": gc}
        return estimate.estimate(trial, info, hw.gpu_gib, lengths=lengths, steps=steps)

    chosen = None
    for gc in gc_options:  # no checkpointing at any split beats checkpointing at the biggest one
        for b, a in splits:
            e = est_for(b, a, gc)
            if e.fits:
                chosen = (b, a, gc, e)
                break
        if chosen:
            break
    if chosen is None:
        b, a = splits[-1] if cfg.speed.split_batch else (micro, accum)
        gc = gc_options[-1]
        chosen = (b, a, gc, est_for(b, a, gc))
        advice = chosen[3].advice or _("see the memory table")
        res.notes.append((_("does not fit {gpu:.0f} GiB by the estimate even at micro-batch {batch} with gradient "
                            "checkpointing: {advice}") if gc
                          else _("does not fit {gpu:.0f} GiB by the estimate even at micro-batch {batch}: {advice}")
                          ).format(gpu=hw.gpu_gib, batch=b, advice=advice))
    b, a, gc, e = chosen
    if not user_gc:
        t["gradient_checkpointing"] = gc
        why = (_("the run fits without it (about {size} of {gpu:.0f} GiB): no forward recomputed") if not gc
               else _("needed to fit {gpu:.0f} GiB (about {size} with it)")).format(size=estimate.gib(e.total), gpu=hw.gpu_gib)
        res.applied.append(Applied("training.gradient_checkpointing", gc, why,
                                   f"training.gradient_checkpointing: {_yaml(not gc)}"))
    if (b, a) != (micro, accum):
        t["per_device_train_batch_size"], t["gradient_accumulation_steps"] = b, a
        res.applied.append(Applied("training.per_device_train_batch_size", b,
                                   (_("{batch} x {accumulation} instead of {micro} x {accum}: the same {rows} rows an "
                                      "optimizer step in one pass (fits: about {size})") if a == 1 else
                                    _("{batch} x {accumulation} instead of {micro} x {accum}: the same {rows} rows an "
                                      "optimizer step in {accumulation} passes (fits: about {size})")
                                    ).format(batch=b, accumulation=a, micro=micro, accum=accum, rows=per_device,
                                             size=estimate.gib(e.total)),
                                   "speed.split_batch: false"))
    res.estimate = e


def for_data(cfg: Config, hw: Hardware, info: ModelInfo | None, lengths: Any, world: int = 1) -> Resolved:
    """The run's own resolution, as the training process makes it (engine.train): the defaults and the memory estimate
    from the token counts of the prepared training rows over the run's optimizer steps. validate / run, the review
    and the preset header call this with the same inputs, so they show one figure (#14)."""
    steps = optimizer_steps(cfg.training, len(lengths), world) or 1
    return resolve(cfg, hw, info, lengths=lengths, steps=steps)


def cpu_hardware() -> Hardware:
    """A machine without a CUDA GPU (for the review's what-if on CPU), as engine.build.hardware() describes one."""
    from engine.build import Hardware

    return Hardware()


def gpu_hardware(gpu_gib: float) -> Hardware:
    """A CUDA GPU of `gpu_gib` GiB with this machine's software (for the review's what-if on another card):
    bf16 and TF32 (Ampere or newer), the varlen kernel this install would use, Liger if installed."""
    import importlib.util

    from engine.build import Hardware

    varlen = "flash_attention_2" if attention.flash_attn_installed() else attention.NAME
    return Hardware(cuda=True, devices=(f"a {gpu_gib:g} GiB GPU",), gpu_gib=gpu_gib, capability=8, bf16=True,
                    bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
                    liger=importlib.util.find_spec("liger_kernel") is not None, varlen_attention=varlen)


def compile_cache() -> Path:
    """Where compiled layers are kept between runs: inductor's and Triton's caches under tunewiz's home (not /tmp,
    which a reboot empties), unless the environment already names them. Their own keys cover the graph, the versions
    and the GPU; `warm_key` names what a run compiled, so the next run of that shape can count on the cache."""
    from engine import models

    root = models.tunewiz_home() / "compile-cache"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    return root


def warm_key(info: ModelInfo | None, hw: Hardware, fp8_on: bool) -> str | None:
    """The shape a compile is reused for: the model's type and size, torch's version, the GPU, FP8 or not."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    if info is None or not hw.devices:
        return None
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        return None
    text = f"{info.model_type}|{info.parameters}|{torch_version}|{hw.devices[0]}|fp8={bool(fp8_on)}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def warm(key: str | None) -> bool:
    from engine import models

    return key is not None and (models.tunewiz_home() / "compile-cache" / "shapes" / f"{key}.json").is_file()


def mark_warm(key: str | None, first_step_s: float) -> None:
    """Written by a run once its first compiled step is done (engine.train); a failure to write only costs speed."""
    if key is None:
        return
    from engine import rundir

    path = compile_cache() / "shapes" / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_json_atomic(path, {"first_step_s": round(first_step_s, 1)})
    except OSError:
        pass


def compile_layers(model: Any) -> int:
    """Regional compilation: torch.compile each repeated decoder layer in place (nn.Module.compile, so parameter
    names and the saved adapter or model are unchanged), with dynamic shapes (padding-free rows change length
    every step). The layer classes are the model's own `_no_split_modules`. Returns how many were compiled."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    n = 0
    for m in base.modules():
        if type(m).__name__ in names:
            m.compile(dynamic=True)
            n += 1
    return n
