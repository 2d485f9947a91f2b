"""One frozen linear layer, bf16 against engine.fp8 (speed.fp8), forward + input gradient, on the GPU: the upper bound of
what FP8 can give a LoRA run, per shape, before the rest of the step (attention, norms, adapters) dilutes it.

    python bench/fp8_gemm.py [--tokens 11000]

Prints one table: shape, bf16 ms, FP8 ms (eager: the casts as separate compiled kernels; compiled: the whole layer under
torch.compile, as compiled decoder layers run it), speed-up, and the relative error of the output and input gradient.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (name, in, out): the frozen linear layers of one decoder layer
SHAPES = {
    "qwen05": [("qkv/o", 896, 896), ("k/v", 896, 128), ("gate/up", 896, 4864), ("down", 4864, 896)],
    "qwen7": [("q/o", 3584, 3584), ("k/v", 3584, 512), ("gate/up", 3584, 18944), ("down", 18944, 3584)],
}


def timed(fn, reps=20):
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main() -> None:
    import torch

    from engine import fp8

    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=11000)
    a = ap.parse_args()
    print("| model | layer | in x out | tokens | bf16 ms | FP8 eager ms | FP8 compiled ms | x eager | x compiled | out err | grad err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, shapes in SHAPES.items():
        for name, k, n in shapes:
            torch.manual_seed(0)
            ref = torch.nn.Linear(k, n, bias=False, device="cuda", dtype=torch.bfloat16).requires_grad_(False)
            lin = torch.nn.Linear(k, n, bias=False, device="cuda", dtype=torch.bfloat16).requires_grad_(False)
            lin.weight.copy_(ref.weight)
            fp8.convert_linear(lin)
            comp = torch.compile(lin, dynamic=True)
            x = torch.randn(a.tokens, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            gy = torch.randn(a.tokens, n, device="cuda", dtype=torch.bfloat16)

            def step(m, x=x, gy=gy):
                return lambda: torch.autograd.grad(m(x), x, gy)

            t_ref, t_e, t_c = timed(step(ref)), timed(step(lin)), timed(step(comp))
            y_ref, y = ref(x), lin(x)
            (g_ref,), (g,) = torch.autograd.grad(y_ref, x, gy), torch.autograd.grad(y, x, gy)
            err = lambda u, v: ((u.float() - v.float()).norm() / v.float().norm()).item()  # noqa: E731
            print(f"| {model} | {name} | {k} x {n} | {a.tokens} | {t_ref:.3f} | {t_e:.3f} | {t_c:.3f} | {t_ref / t_e:.2f} | "
                  f"{t_ref / t_c:.2f} | {err(y, y_ref):.4f} | {err(g, g_ref):.4f} |", flush=True)


if __name__ == "__main__":
    main()
