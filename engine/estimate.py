"""How much memory a run needs on one device, from the preset and the model's shapes (no weights loaded),
whether that fits a GPU, and the cheapest change that makes it fit.

The model of memory (bytes; P = parameters, T = trainable parameters; h, i, L, V = hidden size,
MLP width, layers, vocabulary; N = tokens the model computes in the largest micro-batch):
  weights      P x 2 in bf16 on a GPU (dtype auto), P x 4 in fp32 on CPU; 4bit: the linear layers at
               ~0.55 byte/param (NF4 + double-quantized constants), the rest in the compute dtype
  adapters     LoRA: T x 4 (peft's fp32 adapters) or T x 2 (lora.autocast_adapter_dtype: false, the GPU
               default; QLoRA adapters are bf16 too); full fine-tuning: 0 (the weights are what is trained)
  gradients    T x the trained parameters' bytes; for full fine-tuning the peak comes mid-backward, when
               ~70% of them exist (measured: 0.65 on llama1, 0.77 on qwen05)
  optimizer    AdamW's m and v in the parameter's dtype: T x 8 for fp32 adapters, T x 4 for bf16;
               8-bit optimizers T x 2; adafactor / sgd ~0
  activations  N x (L x (18 h + 5.5 i) + 0.134 V) in bf16 with Liger's fused norms/SwiGLU, no checkpointing;
               without Liger + 8 h + 2.5 i a layer (the unfused RMSNorm's fp32 copy and SwiGLU's output:
               first principles, not measured; compiled layers keep 30% of it, fitted on measurements);
               gradient checkpointing: N x (L x 2 h + one layer + 0.134 V);
               fp32 (CPU) doubles the per-layer terms
  LM head      TRL scores the trained positions in tiles: ~2,450 x V bytes whatever the batch
  overhead     CUDA context and kernels ~0.75 GiB (measured 0.73 on an H200; 0.5 GiB of runtime on CPU)
N comes from the data's lengths when known (the largest micro-batch a run of this length draws), else
every row at max_length. A run fits when the total is at most 95% of the card.
Calibrated on one H200 against torch's peak allocated memory + the CUDA context, for LoRA, QLoRA and
full fine-tuning of Qwen2.5-0.5B and Llama-3.2-1B shapes (bench/gpu_speed.py, bench/RESULTS.md).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from engine import fields
from engine.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from engine.config import Config
    from engine.inspect import ModelInfo

GIB = 1024**3
HEADROOM = 0.95
DRAWS, MAX_DRAWS = 1000, 2000  # micro-batches drawn for the largest batch: a run's own count, capped; 1,000 without one
# calibrated on an H200 (bench/RESULTS.md): bytes a token a layer = ACT_H x h + ACT_I x i in bf16 with Liger
ACT_H, ACT_I = 18.0, 5.5
NO_LIGER_H, NO_LIGER_I = 8.0, 2.5  # first principles: the unfused RMSNorm's fp32 copy, SwiGLU's output
# compiled decoder layers (speed.compile_layers) keep about this share of what Liger's kernels save: inductor fuses
# the norms and SwiGLU but saves more for backward (fitted on the H200: qwen05 LoRA 17.3 GiB measured, llama1 full
# fine-tuning 28.2 GiB, Qwen2.5-7B LoRA 10-11% above the fully fused estimate; bench/RESULTS.md)
COMPILED_UNFUSED_SHARE = 0.3
VOCAB_PER_TOKEN = 0.134  # bytes a token a vocabulary entry (the fused LM head's per-token state)
HEAD_TILE = 2450  # bytes a vocabulary entry: the LM head's tile, independent of the batch
FULL_FT_GRAD_SHARE = 0.7  # share of the gradients alive at the peak of a full fine-tune
Q4_BYTES, Q8_BYTES = 0.55, 1.0
COMMON_GPUS: list[tuple[float, str]] = [
    (24, "24 GiB: RTX 3090/4090, A10, L4"),
    (40, "40 GiB: A100 40GB"),
    (48, "48 GiB: L40S, RTX A6000"),
    (80, "80 GiB: A100/H100 80GB"),
    (141, "141 GiB: H200"),
]


@dataclass(frozen=True)
class Plan:
    """The choices that decide memory, read from a config (and changed by the advice)."""

    on_gpu: bool
    weight_bytes: int
    quantization: str
    lora: bool
    r: int
    targets: Any
    batch: int
    accumulation: int
    max_length: int
    checkpointing: bool
    optim: str
    causal: bool
    adapter_bytes: int = 4  # 4: peft's fp32 adapters; 2: lora.autocast_adapter_dtype false (bf16, like the model)
    liger: bool = False
    compiled: bool = False  # speed.compile_layers (inductor fuses most of what Liger does: COMPILED_UNFUSED_SHARE)
    padding_free: bool = False
    batch_tokens: int | None = None  # the largest micro-batch in tokens, when the data's lengths are known
    draws: int | None = None  # the micro-batches batch_tokens is the largest of (the run's, at most 2,000)

    @property
    def tokens(self) -> int:
        """Tokens in the largest micro-batch: measured from the data's lengths, else every row at max_length."""
        return self.batch_tokens if self.batch_tokens is not None else self.batch * self.max_length


@dataclass
class Estimate:
    """Bytes by kind for one device, the total, and whether (and how) it fits the chosen GPU."""

    weights: int
    adapters: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    overhead: int
    total: int
    trainable: int
    tokens: int
    gpu_gib: float | None
    fits: bool | None
    plan: Plan
    hidden: int
    layers: int
    advice: str = ""
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, int]]:
        """(what, bytes) in display order, without the total."""
        return [(N_("weights"), self.weights), (N_("LoRA adapters"), self.adapters), (N_("gradients"), self.gradients),
                (N_("optimizer states"), self.optimizer), (N_("activations"), self.activations),
                (N_("LM head and loss"), self.logits), (N_("CUDA context") if self.gpu_gib else N_("runtime"), self.overhead)]

    def basis(self, english: bool = False) -> str:
        """What the figure assumes, said wherever it is shown (validate / run, the review, a preset header; a smoke
        test shows its measured peak beside it): the data's real lengths, or every row at max_length before the
        data is measured. In the user's language; `english`: as a preset file's header writes it."""
        if self.plan.batch_tokens is None:
            text = N_("estimate with every row at max_length")
            return text if english else _(text)
        if not self.plan.draws:
            text = N_("estimate at the data's real lengths")
            return text if english else _(text)
        n = self.plan.draws
        if english:
            return f"estimate at the data's real lengths: the largest of the run's {count_of(n, 'micro-batch')}"
        return ngettext("estimate at the data's real lengths: the largest of the run's {n:,} micro-batch",
                        "estimate at the data's real lengths: the largest of the run's {n:,} micro-batches", n).format(n=n)

    def hardware_line(self) -> str:
        """One line for a preset header (a file tunewiz writes: English whatever the language)."""
        where = "one GPU" if self.gpu_gib else "CPU"
        line = f"about {gib(self.total)} on {where} (tunewiz {self.basis(english=True)})"
        if self.gpu_gib:
            line += f"; {'fits' if self.fits else 'does not fit'} a {self.gpu_gib:g} GiB GPU"
        return line


def count_of(n: int, what: str) -> str:
    """'1 micro-batch', '2,000 micro-batches'."""
    return f"{n:,} {what}" + ("" if n == 1 else "es" if what.endswith("ch") else "s")


def gib(n: float) -> str:
    """Bytes as GiB with one decimal (two below 1 GiB)."""
    return f"{n / GIB:.2f} GiB" if n < GIB else f"{n / GIB:.1f} GiB"


def explain(est: Estimate, info: ModelInfo) -> list[tuple[str, str, str]]:
    """(what, GiB, how it was counted) for each row, then the total, in the user's language."""
    p = est.plan
    dtype = {2: "bf16", 4: "fp32"}.get(p.weight_bytes) or _("{n} bytes").format(n=p.weight_bytes)
    weights = _("{params} params x {n} bytes ({dtype})").format(params=count(info.parameters), n=p.weight_bytes, dtype=dtype)
    if p.quantization != "none":
        weights = _("linear layers in {quantization}, the rest in {dtype}").format(quantization=p.quantization, dtype=dtype)
    pb = est.gradients // est.trainable if est.trainable else 0
    trained = _("{params} trainable x {n} bytes").format(params=count(est.trainable), n=pb)
    adapters = f"{trained} ({'fp32' if pb == 4 else 'bf16'})" if p.lora else _("none: full fine-tuning")
    states = est.optimizer // est.trainable if est.trainable else 0
    optim = (_("{optim}: {n} bytes a trained param (m and v)") if states == 2 * pb
             else _("{optim}: {n} bytes a trained param")).format(optim=p.optim, n=states)
    tokens = (_("{tokens:,} tokens (the largest batch of {rows} rows in this data)").format(tokens=est.tokens, rows=p.batch)
              if p.batch_tokens is not None else _("{rows} x {length} tokens").format(rows=p.batch, length=p.max_length))
    if est.hidden:
        shape = (_("{tokens}, {layers} layers x {hidden}, checkpointed") if p.checkpointing
                 else _("{tokens}, {layers} layers x {hidden}, no checkpointing"))
        acts = shape.format(tokens=tokens, layers=est.layers, hidden=est.hidden)
        if p.compiled and not p.liger:
            acts += _(", compiled layers")
        elif not p.liger and p.on_gpu:
            acts += _(", no Liger")
    else:
        acts = _("not counted (shape unknown)")
    logits = (_("tiles over the {vocab:,}-token vocabulary").format(vocab=info.vocab_size or 0) if p.causal
              else _("classification head: small"))
    how = [weights, adapters, trained, optim, acts, logits,
           _("CUDA context and kernels") if p.on_gpu else _("Python and torch")]
    out = [(_(what), gib(n), h) for (what, n), h in zip(est.rows(), how, strict=True)]
    verdict = "" if est.fits is None else (_("fits {gpu:g} GiB (95% usable)") if est.fits
                                           else _("does NOT fit {gpu:g} GiB (95% usable)")).format(gpu=est.gpu_gib)
    return [*out, (_("total"), gib(est.total), verdict)]


def count(n: int) -> str:
    """A parameter count as 7.62B / 135.0M / 12.3K."""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def plan_of(cfg: Config, on_gpu: bool, batch_tokens: int | None = None) -> Plan:
    """The memory-relevant choices of a config (resolved by engine.speed where it was)."""
    t, causal = cfg.training, cfg.model.task == "causal-lm"
    dtype = cfg.model.dtype
    weight_bytes = 4 if dtype == "float32" or (dtype == "auto" and not on_gpu) else 2
    adapter_bytes = 2 if (cfg.lora.get("autocast_adapter_dtype") is False and weight_bytes == 2) else 4
    return Plan(adapter_bytes=adapter_bytes, liger=bool(t.get("use_liger_kernel")),
                compiled=cfg.speed.compile_layers is True and on_gpu,
                padding_free=bool(t.get("padding_free")) or bool(t.get("packing")), batch_tokens=batch_tokens,
                on_gpu=on_gpu, weight_bytes=weight_bytes, quantization=cfg.model.quantization, lora=cfg.lora_enabled,
                r=int(cfg.lora.get("r", 16) or 16), targets=cfg.lora.get("target_modules", "all-linear"),
                # a pair is two sequences padded to one length (DPO / ORPO run chosen and rejected in one batch)
                batch=int(t.get("per_device_train_batch_size") or fields.default("per_device_train_batch_size"))
                * (2 if causal and cfg.model.method in ("dpo", "orpo") else 1),
                accumulation=int(t.get("gradient_accumulation_steps", 1) or 1),
                max_length=int(t.get("max_length") or (fields.default("max_length", method=cfg.model.method) if causal
                                                       else fields.CLASSIFIER_MAX_LENGTH)),
                checkpointing=bool(t.get("gradient_checkpointing", t.get("activation_checkpointing", False))),
                optim=str(t.get("optim") or "adamw_torch"),
                causal=causal)


def shape_of(info: ModelInfo) -> tuple[int, int]:
    """(hidden size, layers) from the linear layers: the most common count is the layer count (q_proj,
    up_proj, ... appear once a layer) and the most common input width among those is the hidden size."""
    lins = [lin for lin in info.linears if lin.name != info.output_layer and lin.count > 1]
    if not lins:
        return 0, 0
    layers = max(Counter(lin.count for lin in lins).most_common(), key=lambda kv: (kv[1], kv[0]))[0]
    widths = Counter(lin.in_features for lin in lins if lin.count == layers)
    hidden = max(widths.most_common(), key=lambda kv: (kv[1], kv[0]))[0]
    return hidden, layers


def mlp_width(info: ModelInfo, layers: int) -> int:
    """The MLP's inner width: the widest output among the per-layer linear layers (gate/up_proj)."""
    outs = [lin.out_features for lin in info.linears if lin.name != info.output_layer and lin.count == layers]
    return max(outs, default=0)


def lora_params(info: ModelInfo, r: int, targets: Any) -> int:
    """LoRA parameters for rank r; a string other than all-linear is PEFT's regex on module names."""
    if isinstance(targets, str) and targets != "all-linear":
        try:
            chosen = [lin.name for lin in info.linears
                      if re.fullmatch(targets, lin.name) or re.fullmatch(targets, f"model.layers.0.block.{lin.name}")]
        except re.error:
            chosen = []
        return info.lora_parameters(r, chosen)
    return info.lora_parameters(r, targets if targets == "all-linear" else list(targets or []))


def compute(plan: Plan, info: ModelInfo, hidden: int, layers: int, gpu_gib: float | None) -> Estimate:
    """The estimate for one plan (no advice)."""
    p = info.parameters
    linear = min(p, sum(lin.in_features * lin.out_features * lin.count for lin in info.linears if lin.name != info.output_layer))
    if plan.quantization == "4bit":
        weights = linear * Q4_BYTES + (p - linear) * plan.weight_bytes
    elif plan.quantization == "8bit":
        weights = linear * Q8_BYTES + (p - linear) * plan.weight_bytes
    else:
        weights = p * plan.weight_bytes
    if plan.lora:
        trainable = lora_params(info, plan.r, plan.targets)
        param_bytes = plan.adapter_bytes if plan.quantization == "none" or not plan.on_gpu else 2
        adapters = trainable * param_bytes
    else:
        trainable, param_bytes, adapters = p, plan.weight_bytes, 0
    if "8bit" in plan.optim:
        state_bytes = 2
    elif plan.optim.startswith(("adafactor", "sgd")):
        state_bytes = 0
    else:
        state_bytes = 2 * param_bytes
    scale = 1 if plan.on_gpu else 2  # fp32 activations on CPU
    inter = mlp_width(info, layers) or 4 * hidden
    unfused = 0.0 if plan.liger else COMPILED_UNFUSED_SHARE if plan.compiled else 1.0
    layer = ACT_H * hidden + ACT_I * inter + unfused * (NO_LIGER_H * hidden + NO_LIGER_I * inter)
    vocab = (info.vocab_size or 0) if plan.causal else 0
    per_token = (2 * hidden * layers + layer) * scale if plan.checkpointing else layer * layers * scale
    activations = plan.tokens * per_token
    logits = plan.tokens * VOCAB_PER_TOKEN * vocab + HEAD_TILE * vocab
    grads = trainable * param_bytes * (1 if plan.lora else FULL_FT_GRAD_SHARE)
    overhead = int(0.75 * GIB) if plan.on_gpu else int(0.5 * GIB)
    parts = [int(weights), int(adapters), int(grads), trainable * state_bytes, int(activations), int(logits), overhead]
    total = sum(parts)
    fits = None if gpu_gib is None else total <= gpu_gib * GIB * HEADROOM
    return Estimate(*parts, total=total,  # type: ignore[misc, arg-type]  # parts: the first fields, in order
                    trainable=trainable, tokens=plan.tokens, gpu_gib=gpu_gib, fits=fits, plan=plan,
                    hidden=hidden, layers=layers)


def estimate(cfg: Config, info: ModelInfo, gpu_gib: float | None, hidden: int | None = None,
             layers: int | None = None, lengths: Any = None, steps: int | None = None) -> Estimate:
    """Memory for this config on one GPU with gpu_gib GiB (None: on CPU, no fit verdict), with advice.
    `lengths` (token counts of the training rows) replace the every-row-at-max_length worst case with the
    largest micro-batch a run of `steps` optimizer steps (x gradient accumulation micro-batches) draws."""
    h, n = shape_of(info)
    hidden, layers = hidden or h, layers or n
    plan = plan_of(cfg, on_gpu=gpu_gib is not None)
    if lengths is not None and len(lengths):
        draws = steps * plan.accumulation if steps else None
        plan = replace(plan, batch_tokens=peak_batch_tokens(lengths, plan.batch, plan.max_length, plan.padding_free,
                                                            draws=draws), draws=min(draws or DRAWS, MAX_DRAWS))
    est = compute(plan, info, hidden, layers, gpu_gib)
    if not hidden:
        est.notes.append(_("hidden size and layer count not found in the model's linear layers: activations not counted"))
    if plan.quantization != "none" and gpu_gib is None:
        est.notes.append(_("{quantization} loading needs a CUDA GPU; counted as if it ran").format(quantization=plan.quantization))
    if plan.on_gpu and cfg.model.dtype == "auto":
        est.notes.append(_("assumes a GPU with bf16 (Ampere or newer); older GPUs load fp32 weights"))
    if est.fits is False:
        est.advice = advise(plan, info, hidden, layers, gpu_gib)
    return est


def shuffled_batches(lengths: Any, batch: int, max_length: int | None, draws: int, seed: int = 0) -> Any:
    """`draws` micro-batches of row lengths (array [draws, batch], rows cut at max_length), shuffled each epoch
    as the Trainer's sampler does."""
    import numpy as np

    lens = np.asarray(lengths, dtype=np.int64)
    if max_length:
        lens = np.minimum(lens, max_length)
    batch = max(1, min(batch, len(lens)))
    rng = np.random.default_rng(seed)
    per_epoch = max(1, len(lens) // batch)
    out = []
    done = 0
    while done < draws:
        order = lens[rng.permutation(len(lens))][: per_epoch * batch].reshape(per_epoch, batch)
        out.append(order[: draws - done])
        done += len(out[-1])
    return np.concatenate(out) if out else np.zeros((0, batch), dtype=np.int64)


def peak_batch_tokens(lengths: Any, batch: int, max_length: int | None, padding_free: bool, draws: int | None = None,
                      seed: int = 0) -> int:
    """The largest micro-batch (in tokens the model computes) among the `draws` a run makes (at most 2,000;
    default 1,000): a padded batch costs batch x its longest row, a padding-free one the sum of its rows."""
    blocks = shuffled_batches(lengths, batch, max_length, min(draws or DRAWS, MAX_DRAWS), seed)
    cost = blocks.sum(axis=1) if padding_free else blocks.max(axis=1) * blocks.shape[1]
    return int(cost.max())


def _methods(plan: Plan) -> list[tuple[str, Plan]]:
    """The plan as it is, then the cheaper training methods (they change what is trained)."""
    out = [("", plan)]
    if not plan.lora:
        out.append((_("lora.enabled: true (LoRA adapters, r=16 on all-linear, instead of every weight)"),
                    replace(plan, lora=True, r=16, targets="all-linear")))
    if plan.quantization != "4bit" and plan.on_gpu:
        lora = out[-1][1]
        out.append((_("model.quantization: 4bit (QLoRA; needs bitsandbytes)") if plan.lora
                    else _("model.quantization: 4bit (QLoRA; needs bitsandbytes) with lora.enabled: true"),
                    replace(lora, quantization="4bit")))
    return out


def advise(plan: Plan, info: ModelInfo, hidden: int, layers: int, gpu_gib: float | None) -> str:
    """The cheapest change that makes the plan fit: the training method changes last, then the fewest
    batch halvings (accumulation doubled: same effective batch), and gradient checkpointing first."""
    last = plan
    for method_text, method in _methods(plan):
        batch, acc = method.batch, method.accumulation
        while True:
            for checkpointing in dict.fromkeys([method.checkpointing, True]):
                last = replace(method, batch=batch, accumulation=acc, checkpointing=checkpointing)
                est = compute(last, info, hidden, layers, gpu_gib)
                if est.fits:
                    steps = [method_text] if method_text else []
                    if checkpointing and not plan.checkpointing:
                        steps.append(_("training.gradient_checkpointing: true (about 30% slower, same result)"))
                    if batch != plan.batch:
                        steps.append(_("training.per_device_train_batch_size: {batch} and gradient_accumulation_steps: "
                                       "{accumulation} (same effective batch, slower)").format(batch=batch, accumulation=acc))
                    return _("set {changes}: about {size}").format(changes=_("; and ").join(steps), size=gib(est.total))
            if batch == 1:
                break
            batch, acc = batch // 2, acc * 2
    return _("does not fit even with every change ({size}): pick a GPU with more memory, a smaller model, or a shorter "
             "training.max_length").format(size=gib(compute(last, info, hidden, layers, gpu_gib).total))


def detect_gpus() -> list[tuple[str, float]]:
    """(name, memory in GiB) of this machine's NVIDIA GPUs through NVML; [] without a driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: NVMLError_* (or a library that cannot load)
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            out.append((name, pynvml.nvmlDeviceGetMemoryInfo(handle).total / GIB))
        return out
    except Exception:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
