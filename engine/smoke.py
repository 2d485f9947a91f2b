"""The smoke test: a few real optimizer steps of the run as configured, before the long run.

It is a run like any other (same worker, same launcher, same resolved defaults, micro-batch and memory
estimate as the full run would get), in its own directory `<output_dir>-smoke`, with four changes: it stops
after `steps` optimizer steps, logs every few steps, saves nothing and skips evaluation. The worker then writes
a `smoke` event and smoke.json with what it measured: the peak memory (GPU: torch's peak allocation plus the
CUDA context, the quantity the estimate predicts; CPU: the process's peak RSS), seconds a step and tokens a
second after the first third of the steps, and the ETA of the full run (its first steps as long as the smoke
run's, the rest at the measured speed; loading the model and data is not counted).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

RESULT = "smoke.json"
DEFAULT_STEPS = 10


def run_dir_for(output_dir: str | Path) -> Path:
    """Where the smoke test of a run writes: beside the run, never in it."""
    return Path(f"{str(output_dir).rstrip('/')}-smoke")


def overrides(training: dict[str, Any], steps: int) -> dict[str, Any]:
    """The training section of the smoke run: `steps` optimizer steps, no saving, no eval."""
    t = dict(training)
    every = int(t.get("logging_steps", 10) or 10)  # a log line every few steps (each costs a GPU sync)
    t.update(max_steps=steps, logging_steps=min(every, max(1, steps // 5)), save_strategy="no", eval_strategy="no",
             report_to="none")
    t.pop("load_best_model_at_end", None)  # needs matching save/eval strategies
    t.pop("metric_for_best_model", None)
    return t


def meter() -> Any:
    """A Trainer callback that records the time and the tokens seen at the end of each optimizer step (the GPU
    is waited for only at the first and the last step, so the steps between run as they would in the run)."""
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[tuple[float, int, float]] = []  # (time, step, tokens seen)
            self.t0: float | None = None

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if state.global_step in (1, first_timed(state.max_steps)) or state.global_step >= state.max_steps:
                _sync()
            self.marks.append((time.perf_counter(), state.global_step, float(state.num_input_tokens_seen or 0)))

    return Meter()


def first_timed(steps: int) -> int:
    """The step from whose end the speed is timed: the first third of the steps is left out (the first step
    pays for kernel choice and compilation; torch.compile with dynamic shapes may recompile in the next few)."""
    return max(1, steps // 3)


def _sync() -> None:
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except Exception:  # timing only
        pass


def measure(m: Any, full_steps: int, estimate_gib: float | None) -> dict[str, Any]:
    """What the smoke run found, from its meter: speed after the first third of the steps (see first_timed),
    peak memory, and the full run's ETA at that speed."""
    marks = m.marks
    out: dict[str, Any] = {"steps": len(marks), "full_steps": full_steps, "estimate_gib": estimate_gib}
    if m.t0 is not None and marks:
        out["first_step_s"] = round(marks[0][0] - m.t0, 3)
    start = first_timed(len(marks)) - 1  # index of the mark the timing starts from
    if len(marks) > 1:
        out["warmup_steps"] = start + 1
        out["warmup_s"] = round(marks[start][0] - m.t0, 3) if m.t0 is not None else None
        elapsed = marks[-1][0] - marks[start][0]
        per = elapsed / (len(marks) - 1 - start)
        out["step_s"] = round(per, 4)
        tokens = marks[-1][2] - marks[start][2]
        out["tokens_per_s"] = round(tokens / elapsed, 1) if tokens > 0 and elapsed > 0 else None
        # the full run pays the same start (loading excluded, compilation included), then runs at this speed
        out["eta_s"] = round((out["warmup_s"] or 0.0) + per * max(0, full_steps - start - 1), 1)
    out.update(_peak())
    return out


def _peak() -> dict[str, Any]:
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            alloc = torch.cuda.max_memory_allocated() / 2**30
            reserved = torch.cuda.max_memory_reserved() / 2**30
            ctx = context_gib()
            out = {"device": "cuda", "peak_allocated_gib": round(alloc, 3), "peak_reserved_gib": round(reserved, 3)}
            if ctx is not None:
                out["context_gib"] = round(ctx, 3)
            out["peak_gib"] = round(alloc + (ctx or 0.0), 3)
            return out
    except Exception:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # KiB on Linux
    return {"device": "cpu", "peak_rss_gib": round(rss, 3), "peak_gib": round(rss, 3)}


def context_gib(index: int = 0) -> float | None:
    """This process's GPU memory (NVML) minus what torch's allocator holds: the CUDA context and kernels."""
    try:
        import pynvml
        import torch

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        used = [p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid == os.getpid()]
        if not used or used[0] is None:
            used = [pynvml.nvmlDeviceGetMemoryInfo(h).used]
        return (used[0] - torch.cuda.memory_reserved()) / 2**30
    except Exception:
        return None


def lines(res: dict[str, Any]) -> list[str]:
    """The result, a line per fact, for the terminal and the wizard."""
    from engine.launch import duration

    warm = res.get("warmup_steps", 1)
    out = [f"{res.get('steps', 0)} optimizer steps run; the speed is timed after the first {warm} "
           f"({res.get('warmup_s', res.get('first_step_s', 0)) or 0:.1f} s: kernel choice, compilation, allocator growth)"]
    if res.get("step_s") is not None:
        tps = res.get("tokens_per_s")
        out.append(f"speed: {res['step_s']:.3f} s a step" + (f", {tps:,.0f} tokens/s" if tps else ""))
        out.append(f"full run: {res['full_steps']:,} steps, about {duration(res['eta_s'])} at this speed (evaluation and saving not included)")
    else:
        out.append("speed: needs at least 2 steps")
    est = res.get("estimate_gib")
    if res.get("device") == "cuda":
        line = (f"peak GPU memory: {res['peak_gib']:.2f} GiB (allocated {res['peak_allocated_gib']:.2f} + CUDA context "
                f"{res.get('context_gib') or 0:.2f}); reserved by the allocator {res['peak_reserved_gib']:.2f} GiB")
    else:
        line = f"peak memory of the process (RSS, libraries included): {res.get('peak_gib', 0):.2f} GiB"
    if est and res.get("device") == "cuda":
        line += f"; estimated before launch: {est:.2f} GiB ({(res['peak_gib'] - est) / est:+.0%})"
    elif est:
        line += f"; the training itself was estimated at {est:.2f} GiB"
    out.append(line)
    return out
