"""Varlen (flash) attention for padding-free batches, without the flash-attn package.

A padding-free batch is one row of concatenated sequences; TRL's collator passes where each sequence
starts (`cu_seq_lens_q/k`, `max_length_q/k`). Plain sdpa would need a block-diagonal mask over the whole
row (and cuDNN builds a new plan for every new length: slower than padding), so tunewiz registers
`tunewiz_varlen` with transformers' AttentionInterface: torch's own varlen flash attention
(`torch.nn.attention.varlen.varlen_attn`) on CUDA, causal within each sequence. `flash_attention_2` is
used instead when the flash-attn package is installed. A batch without sequence boundaries (a padded
batch) goes to transformers' sdpa, so the model stays correct whatever collator feeds it.

`check()` compares the kernel (forward and backward) with per-sequence sdpa before a run relies on it.
"""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

from engine.i18n import _

NAME = "tunewiz_varlen"
_STATE: dict[str, Any] = {"mode": None, "registered": False}


def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def torch_varlen_available() -> bool:
    """torch has varlen flash attention (torch >= 2.10) and a CUDA device to run it on."""
    try:
        import torch
        from torch.nn.attention import varlen  # noqa: F401
    except Exception:
        return False
    return bool(torch.cuda.is_available())


def _kernel_params() -> frozenset[str]:
    """The keyword arguments of the installed torch's varlen_attn (it gained and renamed some across releases);
    read once and kept in _STATE (a plain lookup, which torch.compile traces without re-reading the signature)."""
    if _STATE.get("params") is None:
        from torch.nn.attention import varlen

        _STATE["params"] = frozenset(inspect.signature(varlen.varlen_attn).parameters)
    return _STATE["params"]


def _kernel_kwargs(q_heads: int, kv_heads: int, scale: float) -> dict[str, Any]:
    params = _kernel_params()
    kw: dict[str, Any] = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}  # causal
    if "scale" in params:
        kw["scale"] = scale
    if q_heads != kv_heads and _STATE["mode"] == "gqa":
        kw["enable_gqa"] = True
    return kw


def segments_reference(q: Any, k: Any, v: Any, cu: Any, scale: float) -> Any:
    """Per-sequence causal sdpa; q: [T, H, D], k/v: [T, Hk, D]. The reference (and the CPU path)."""
    import torch
    import torch.nn.functional as F

    rep = q.shape[1] // k.shape[1]
    out = []
    bounds = cu.tolist()
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        qs = q[s:e].transpose(0, 1)
        ks = k[s:e].repeat_interleave(rep, dim=1).transpose(0, 1)
        vs = v[s:e].repeat_interleave(rep, dim=1).transpose(0, 1)
        out.append(F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scale).transpose(0, 1))
    return torch.cat(out, 0)


def varlen(q: Any, k: Any, v: Any, cu_q: Any, cu_k: Any, max_q: int, max_k: int, scale: float) -> Any:
    """q: [T, H, D], k/v: [T, Hk, D] -> [T, H, D], causal within each segment."""
    if q.device.type != "cuda" or _STATE["mode"] in (None, "reference"):
        return segments_reference(q, k, v, cu_q, scale)
    from torch.nn.attention import varlen as _vl

    if k.shape[1] != q.shape[1] and _STATE["mode"] == "repeat":
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    return _vl.varlen_attn(q, k, v, cu_q, cu_k, int(max_q), int(max_k), **_kernel_kwargs(q.shape[1], k.shape[1], scale))


def attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                      scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers AttentionInterface function; query [B, H, L, D] (B == 1 for a padding-free batch)."""
    import torch

    cu_q = kwargs.get("cu_seq_lens_q")
    if cu_q is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        if attention_mask is not None and attention_mask.ndim == 2:
            attention_mask = _causal_padding_mask(attention_mask, query)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    B, H, L, D = query.shape
    Hk = key.shape[1]
    cu_k = kwargs.get("cu_seq_lens_k")
    cu_k = cu_q if cu_k is None else cu_k
    max_q = kwargs.get("max_length_q")
    max_k = kwargs.get("max_length_k")
    max_q = int(max_q) if max_q is not None else int((cu_q[1:] - cu_q[:-1]).max())
    max_k = int(max_k) if max_k is not None else max_q
    cu_q = cu_q.to(device=query.device, dtype=torch.int32)
    cu_k = cu_k.to(device=query.device, dtype=torch.int32)
    q = query.transpose(1, 2).reshape(B * L, H, D)
    k = key.transpose(1, 2).reshape(B * L, Hk, D)
    v = value.transpose(1, 2).reshape(B * L, Hk, D)
    out = varlen(q, k, v, cu_q, cu_k, max_q, max_k, D**-0.5 if scaling is None else scaling)
    return out.reshape(B, L, H, D), None


def _causal_padding_mask(mask2d: Any, query: Any) -> Any:
    """[B, L] padding mask -> [B, 1, L, L] boolean causal mask for sdpa."""
    import torch

    L = mask2d.shape[-1]
    causal = torch.ones(L, L, dtype=torch.bool, device=query.device).tril()
    return causal[None, None] & mask2d[:, None, None, :].to(device=query.device, dtype=torch.bool)


def register() -> str:
    """Register `tunewiz_varlen` (idempotent); returns the kernel mode: gqa, repeat, reference (CPU)."""
    if not _STATE["registered"]:
        from transformers import AttentionInterface

        AttentionInterface.register(NAME, attention_forward)
        _STATE["registered"] = True
    if _STATE["mode"] is None:
        _STATE["mode"] = check() if torch_varlen_available() else "reference"
    return _STATE["mode"]


def check() -> str:
    """Try torch's varlen kernel (with native GQA, then with repeated k/v) against per-sequence sdpa in fp32,
    forward and backward; the first mode within 2% relative error wins. Raises when none does."""
    import torch

    torch.manual_seed(0)
    lens = [37, 300, 5, 129, 900]
    T, H, Hk, D = sum(lens), 14, 2, 64
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    q0, k0, v0 = (torch.randn(T, h, D, device="cuda", dtype=torch.bfloat16) for h in (H, Hk, Hk))
    go = torch.randn(T, H, D, device="cuda", dtype=torch.bfloat16)
    qr, kr, vr = (x.float().requires_grad_() for x in (q0, k0, v0))
    ref = segments_reference(qr, kr, vr, cu, D**-0.5)
    ref.backward(go.float())
    failures = []
    for mode in ("gqa", "repeat"):
        _STATE["mode"] = mode
        try:
            q, k, v = (x.clone().requires_grad_() for x in (q0, k0, v0))
            out = varlen(q, k, v, cu, cu, max(lens), max(lens), D**-0.5)
            out.backward(go)
            errs = [((a.float() - b).norm() / b.norm()).item() for a, b in
                    ((out, ref), (q.grad, qr.grad), (k.grad, kr.grad), (v.grad, vr.grad))]
            if all(e < 2e-2 for e in errs):
                return mode
            failures.append(f"{mode}: relative errors {[round(e, 4) for e in errs]}")
        except Exception as e:  # an older kernel without enable_gqa, or no kernel for this GPU
            failures.append(f"{mode}: {type(e).__name__}: {str(e)[:200]}")
    _STATE["mode"] = None
    raise RuntimeError(_("torch varlen attention failed its check ({failures})").format(failures="; ".join(failures)))


def choose(cuda: bool) -> str | None:
    """The attention kernel for padding-free batches on this machine, or None (then no padding-free)."""
    if not cuda:
        return None
    if flash_attn_installed():
        return "flash_attention_2"
    return NAME if torch_varlen_available() else None
