"""FP8 matmuls for the frozen base weights of a LoRA run (speed.fp8).

In a LoRA run the base model's linear layers are frozen: each one does two matmuls a step, the forward
(y = x W^T) and the input gradient (dx = dy W), and never a weight gradient. Both run here as FP8 (e4m3)
matmuls through `torch._scaled_mm` (cuBLASLt's FP8 GEMM, on Hopper and Ada GPUs), with row-wise scales:
one scale per token of the activation or gradient, one per output row of W in the forward and one per input
column of W in the backward. The weights' scales are computed once (the weights do not change); the FP8 copies
of W are cast on the fly each pass, so no second copy of the model is kept. Everything trained (the adapters,
their gradients, the optimizer) and everything else (norms, attention, the LM head) stays in bf16.

Applied in place to the base layers of peft's LoRA layers (and to the other frozen linear layers of the decoder
blocks); parameter names, the saved adapter and the model's weights are unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

E4M3_MAX = 448.0
MIN_CAPABILITY = (8, 9)  # FP8 tensor cores: Ada (8.9) and Hopper (9.0) and newer
EPS = 1e-12


def supported(capability: tuple[int, int] | None = None) -> bool:
    """Whether this machine's first CUDA GPU has FP8 matmuls (torch._scaled_mm with row-wise scales)."""
    import torch

    if capability is None:
        if not torch.cuda.is_available():
            return False
        capability = torch.cuda.get_device_capability(0)
    return tuple(capability) >= MIN_CAPABILITY and hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")


def quantize_rows(x: Any) -> tuple[Any, Any]:
    """x (M, K) -> (e4m3 (M, K), float32 scales (M, 1)) with x ~ q * scale, one scale a row."""
    import torch

    amax = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=EPS)
    scale = amax / E4M3_MAX
    return (x.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn), scale


def _cast(w: Any, inv_scale: Any) -> Any:
    """A weight (rows, K) times its rows' 1/scale, as e4m3, contiguous."""
    import torch

    return (w.float() * inv_scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous()


_FUSED: dict[str, Any] = {}


def _run(name: str, fn: Any, *args: Any) -> Any:
    """fn(*args), compiled into one kernel on CUDA outside a compiled region (in eager, the casts would be 3 to 5
    kernels, each a pass over the tensor); inside torch.compile (speed.compile_layers) and on CPU, fn itself. A plain
    function, no closure or cache wrapper: torch.compile traces through it without a graph break."""
    import torch

    if torch.compiler.is_compiling() or not args[0].is_cuda:
        return fn(*args)
    if name not in _FUSED:
        _FUSED[name] = torch.compile(fn, dynamic=True)
    return _FUSED[name](*args)


def _mm(x2: Any, w_rows: Any, w_scale: Any, out_dtype: Any, bias: Any = None) -> Any:
    """x2 (M, K) @ W^T (+ bias) where w_rows is W (N, K) in e4m3 (row-major) with scales (1, N). Any M: the row-wise
    kernel pads its scales itself."""
    import torch

    q, s = _run("rows", quantize_rows, x2)
    return torch._scaled_mm(q, w_rows.t(), scale_a=s, scale_b=w_scale, bias=bias, out_dtype=out_dtype)


@functools.cache
def _function() -> Any:
    """The autograd function, made on first use (engine modules import torch lazily)."""
    import torch

    class FrozenFP8(torch.autograd.Function):
        """y = x W^T + b with W frozen: both matmuls (forward, input gradient) in FP8; no weight gradient."""

        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, bias: Any, inv_out: Any, scale_out: Any, inv_in: Any,
                    scale_in: Any) -> Any:
            shape = x.shape
            y = _mm(x.reshape(-1, shape[-1]), _run("cast", _cast, weight, inv_out), scale_out, x.dtype, bias)
            ctx.save_for_backward(weight, inv_in, scale_in)
            return y.reshape(*shape[:-1], y.shape[-1])

        @staticmethod
        def backward(ctx: Any, gy: Any) -> Any:
            weight, inv_in, scale_in = ctx.saved_tensors
            # dy W = dy (W^T)^T: W^T's rows are W's columns, scaled one a column
            gx = _mm(gy.reshape(-1, gy.shape[-1]), _run("cast", _cast, weight.t(), inv_in), scale_in, gy.dtype)
            return gx.reshape(*gy.shape[:-1], gx.shape[-1]), None, None, None, None, None, None

    return FrozenFP8


def _forward(self: Any, x: Any) -> Any:
    if x.dtype != self.weight.dtype:  # (an fp32 pass, e.g. under autocast off): the layer as it was
        return self._tunewiz_linear_forward(x)
    return self._fp8_function.apply(x, self.weight, self.bias, self._fp8_inv_out, self._fp8_scale_out, self._fp8_inv_in,
                            self._fp8_scale_in)


def convert_linear(m: Any) -> bool:
    """Make one frozen nn.Linear compute in FP8 (in place); False when its shape or state does not allow it."""
    import torch

    w = m.weight
    if w.requires_grad or w.dtype != torch.bfloat16 or w.dim() != 2 \
            or w.shape[0] % 16 or w.shape[1] % 16 or (m.bias is not None and m.bias.requires_grad) or w.device.type != "cuda" \
            and not getattr(m, "_tunewiz_fp8_any_device", False):
        return False
    with torch.no_grad():
        wf = w.float()
        out_scale = wf.abs().amax(dim=1).clamp(min=EPS) / E4M3_MAX  # (N,): one a row of W (an output feature)
        in_scale = wf.abs().amax(dim=0).clamp(min=EPS) / E4M3_MAX  # (K,): one a column of W (an input feature)
        del wf
    # buffers, not parameters, and not saved: the state dict and the adapter stay as they were
    m.register_buffer("_fp8_inv_out", (1 / out_scale).unsqueeze(1), persistent=False)
    m.register_buffer("_fp8_scale_out", out_scale.unsqueeze(0).contiguous(), persistent=False)
    m.register_buffer("_fp8_inv_in", (1 / in_scale).unsqueeze(1), persistent=False)
    m.register_buffer("_fp8_scale_in", in_scale.unsqueeze(0).contiguous(), persistent=False)
    # the autograd function is read from the layer, not built or looked up in a cache inside forward: under
    # torch.compile that look-up broke the compiled layer into pieces (measured on the H200: 0.95x of bf16)
    m._fp8_function = _function()
    m._tunewiz_linear_forward = m.forward
    m.forward = _forward.__get__(m)
    return True


def apply(model: Any, any_device: bool = False) -> int:
    """FP8 for every frozen linear layer inside the model's repeated decoder layers (`_no_split_modules`): the base
    layers of LoRA and any linear LoRA leaves untouched. The LM head and the embeddings stay as they are. Returns how
    many layers now compute in FP8. `any_device`: also on CPU (tests; torch has a CPU _scaled_mm)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    n = 0
    for block in base.modules():
        if type(block).__name__ not in names:
            continue
        for name, m in block.named_modules():
            if type(m) is not torch.nn.Linear or "lora_" in name or hasattr(m, "_tunewiz_linear_forward"):
                continue
            if any_device:
                m._tunewiz_fp8_any_device = True
            n += convert_linear(m)
    return n
