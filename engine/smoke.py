"""The smoke test: a short, real piece of the run as configured, before the long run.

It is a run like any other (same worker, same launcher, same resolved defaults, micro-batch and memory estimate
as the full run would get), in its own directory `<output_dir>-smoke`, with these changes: it stops after a few
optimizer steps, logs every few steps, saves nothing and skips evaluation. It is kept short three ways (see
`plan`): never longer than the run itself, at most MAX_MICRO_BATCHES forward/backward passes (a run with a large
gradient_accumulation_steps makes fewer micro-batches per optimizer step in the smoke test: the micro-batch, what
sets the memory and the speed, stays as configured), and it ends at the first optimizer step past a time budget
(BUDGET_S seconds of training, loading not counted). The worker then writes a `smoke` event and smoke.json with
what it measured: the peak memory (GPU: torch's peak allocation plus the CUDA context, the quantity the estimate
predicts; CPU: the process's peak RSS), seconds a micro-batch and tokens a second after the first third of the
micro-batches, and the ETA of the full run (its start as long as the smoke test's, the rest at the measured speed;
loading the model and data is not counted; a run no longer than the smoke test takes what the smoke test took).
The directory is deleted once its result is read (`remove`); a failed one stays for its log.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from engine import fields
from engine.fmt import duration
from engine.i18n import N_, _, ngettext

RESULT = "smoke.json"
DEFAULT_STEPS = 10
MAX_MICRO_BATCHES = 24  # forward/backward passes, whatever the accumulation
BUDGET_S = 60.0  # seconds of training (loading excluded); the test ends at the first optimizer step past it
BUDGET_ENV = "TUNEWIZ_SMOKE_SECONDS"
TIMED_MESSAGE = N_("optimizer steps, at most {micro_batches} micro-batches and about {seconds:.0f} s of training, never "
                   "more than the run itself; the speed is timed after the first third of the micro-batches")
TIMED = TIMED_MESSAGE.format(micro_batches=MAX_MICRO_BATCHES, seconds=BUDGET_S)  # English (see timed())


def timed() -> str:
    """What a smoke test runs (after "up to N"), in the user's language."""
    return _(TIMED_MESSAGE).format(micro_batches=MAX_MICRO_BATCHES, seconds=BUDGET_S)


def run_dir_for(output_dir: str | Path) -> Path:
    """Where the smoke test of a run writes: beside the run, never in it."""
    return Path(f"{str(output_dir).rstrip('/')}-smoke")


def budget() -> float:
    """The time budget in seconds ($TUNEWIZ_SMOKE_SECONDS, set by `tunewiz smoke --seconds`, else BUDGET_S)."""
    try:
        return max(1.0, float(os.environ.get(BUDGET_ENV) or BUDGET_S))
    except ValueError:
        return BUDGET_S


def plan(training: dict[str, Any], steps: int, rows: int | None, world: int = 1) -> dict[str, Any]:
    """How long the smoke test of this run is: `steps` optimizer steps, cut to the run's own length, and to
    MAX_MICRO_BATCHES micro-batches (fewer per optimizer step where the run accumulates many); with the run's
    own length in optimizer steps and micro-batches (as the Trainer counts them) for the ETA."""
    from engine import speed

    accum = max(1, int(training.get("gradient_accumulation_steps", 1) or 1))
    full = speed.optimizer_steps(training, rows, world) or 1
    full_micro = full * accum
    if int(training.get("max_steps", -1) or -1) <= 0 and rows:  # epochs: a last short accumulation is fewer micro-batches
        per_epoch = math.ceil(rows / (int(training.get("per_device_train_batch_size", fields.default("per_device_train_batch_size"))) * world))
        full_micro = min(full_micro, max(1, math.ceil(float(training.get("num_train_epochs", 3)) * per_epoch)))
    n = max(1, min(steps, full))
    cap = max(MAX_MICRO_BATCHES, steps)
    per = accum if n * accum <= cap else max(1, cap // n)
    return {"steps": n, "accumulation": per, "micro_batches": n * per, "full_steps": full, "full_accumulation": accum,
            "full_micro_batches": full_micro, "budget_s": budget()}


def overrides(training: dict[str, Any], steps: int | dict[str, Any]) -> dict[str, Any]:
    """The training section of the smoke run (`steps`: a count, or a `plan`): no saving, no eval."""
    p = steps if isinstance(steps, dict) else {"steps": steps}
    t = dict(training)
    n = int(p["steps"])
    every = int(t.get("logging_steps", 10) or 10)  # a log line every few steps (each costs a GPU sync)
    t.update(max_steps=n, logging_steps=min(every, max(1, n // 5)), save_strategy="no", eval_strategy="no",
             report_to="none")
    if "accumulation" in p:
        t["gradient_accumulation_steps"] = int(p["accumulation"])
    t.pop("load_best_model_at_end", None)  # needs matching save/eval strategies
    t.pop("metric_for_best_model", None)
    return t


def meter(budget_s: float | None = None) -> Any:
    """A Trainer callback that records the time and the tokens seen at the end of each micro-batch, and ends the
    training at the first optimizer step past `budget_s` seconds (the GPU is waited for only at the first and the
    last step, so the steps between run as they would in the run)."""
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[tuple[float, bool, float]] = []  # (time, ends an optimizer step, tokens seen)
            self.t0: float | None = None
            self.stopped_by: str | None = None

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def _mark(self, state: Any, ends: bool) -> None:
            self.marks.append((time.perf_counter(), ends, float(state.num_input_tokens_seen or 0)))

        def on_substep_end(self, args, state, control, **kw):
            self._mark(state, False)

        def on_step_end(self, args, state, control, **kw):
            last = state.global_step >= state.max_steps
            over = budget_s is not None and self.t0 is not None and time.perf_counter() - self.t0 > budget_s
            if state.global_step == 1 or last or over:
                _sync()
            self._mark(state, True)
            if over and not last:
                self.stopped_by = "time"
                control.should_training_stop = True
            return control

    return Meter()


def first_timed(n: int) -> int:
    """How many micro-batches are left out of the timing: the first third (the first pays for kernel choice and
    compilation; torch.compile with dynamic shapes may recompile in the next few), at least one."""
    return max(1, n // 3)


def _sync() -> None:
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except Exception:  # timing only
        pass


def measure(m: Any, p: dict[str, Any], estimate_gib: float | None) -> dict[str, Any]:
    """What the smoke run found, from its meter and its `plan`: speed after the first third of the micro-batches
    (see first_timed), peak memory, and the full run's ETA at that speed."""
    marks = m.marks
    n = len(marks)
    full, full_micro, accum = p["full_steps"], p["full_micro_batches"], p["full_accumulation"]
    out: dict[str, Any] = {"micro_batches": n, "steps": sum(1 for mk in marks if mk[1]), "accumulation": p["accumulation"],
                           "full_steps": full, "full_micro_batches": full_micro, "full_accumulation": accum,
                           "estimate_gib": estimate_gib, "stopped_by": getattr(m, "stopped_by", None), "budget_s": p.get("budget_s")}
    t0 = m.t0 if m.t0 is not None else (marks[0][0] if marks else 0.0)
    if marks:
        out["first_step_s"] = round(marks[0][0] - t0, 3)
        out["smoke_s"] = round(marks[-1][0] - t0, 3)
    if marks and n >= full_micro:  # the smoke test ran as much as the whole run: that is its time
        out["eta_s"] = round(marks[full_micro - 1][0] - t0, 1)
        out["covered"] = True
    if n < 2:
        return {**out, **_peak()}
    w = first_timed(n)
    out["warmup_micro_batches"] = w
    out["warmup_s"] = round(marks[w - 1][0] - t0, 3)
    window = [(marks[i][0] - marks[i - 1][0], marks[i][1]) for i in range(w, n)]
    plain = [dt for dt, ends in window if not ends]
    stepped = [dt for dt, ends in window if ends]
    if plain:  # a micro-batch alone, and what an optimizer step adds to it
        micro = sum(plain) / len(plain)
        extra = max(0.0, sum(stepped) / len(stepped) - micro) if stepped else 0.0
    else:  # one micro-batch an optimizer step: the step's time is the micro-batch's
        micro, extra = sum(stepped) / len(stepped), 0.0
    out["micro_batch_s"] = round(micro, 4)
    out["step_s"] = round(accum * micro + extra, 4)  # an optimizer step of the full run
    elapsed = marks[-1][0] - marks[w - 1][0]
    tokens = marks[-1][2] - marks[w - 1][2]
    out["tokens_per_s"] = round(tokens / elapsed, 1) if tokens > 0 and elapsed > 0 else None
    if "eta_s" not in out:  # the full run pays the same start (loading excluded, compilation included), then this speed
        steps_warm = sum(1 for mk in marks[:w] if mk[1])
        out["eta_s"] = round(out["warmup_s"] + micro * max(0, full_micro - w) + extra * max(0, full - steps_warm), 1)
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
    n = res.get("micro_batches", res.get("steps", 0))
    steps, per = res.get("steps", 0), res.get("accumulation", 1)
    micro = ngettext("{n:,} micro-batch", "{n:,} micro-batches", n).format(n=n)
    stepped = ngettext("{n:,} optimizer step", "{n:,} optimizer steps", steps).format(n=steps)
    ran = (_("{micro_batches} run ({steps} of {per})").format(micro_batches=micro, steps=stepped, per=per) if per and per > 1
           else _("{micro_batches} run ({steps})").format(micro_batches=micro, steps=stepped))
    if res.get("stopped_by") == "time":
        ran += _(", ended by the {seconds:.0f} s budget").format(seconds=res.get("budget_s") or BUDGET_S)
    warm = res.get("warmup_micro_batches", res.get("warmup_steps"))
    if warm:
        ran += _("; the speed is timed after the first {n} ({seconds:.1f} s: kernel choice, compilation, allocator growth)"
                 ).format(n=warm, seconds=res.get("warmup_s") or 0)
    out = [ran]
    full, full_micro = res.get("full_steps", 0), res.get("full_micro_batches")
    run = ngettext("{n:,} step", "{n:,} steps", full).format(n=full)
    if full_micro and full_micro != full:
        run = _("{steps} ({micro_batches})").format(
            steps=run, micro_batches=ngettext("{n:,} micro-batch", "{n:,} micro-batches", full_micro).format(n=full_micro))
    if res.get("step_s") is not None:
        tps = res.get("tokens_per_s")
        out.append(_("speed: {seconds:.3f} s an optimizer step of the run").format(seconds=res["step_s"])
                   + (_(", {tokens:,.0f} tokens/s").format(tokens=tps) if tps else ""))
    if res.get("covered") and res.get("eta_s") is not None:
        out.append(_("full run: {run}, no longer than this test: about {time} (evaluation and saving not included)"
                     ).format(run=run, time=duration(res["eta_s"])))
    elif res.get("step_s") is not None and res.get("eta_s") is not None:
        out.append(_("full run: {run}, about {time} at this speed (evaluation and saving not included)"
                     ).format(run=run, time=duration(res["eta_s"])))
    else:
        out.append(_("speed: needs at least 2 micro-batches"))
    est = res.get("estimate_gib")
    if res.get("device") == "cuda":
        line = _("peak GPU memory: {peak:.2f} GiB (allocated {allocated:.2f} + CUDA context {context:.2f}); reserved by "
                 "the allocator {reserved:.2f} GiB").format(peak=res["peak_gib"], allocated=res["peak_allocated_gib"],
                                                             context=res.get("context_gib") or 0,
                                                             reserved=res["peak_reserved_gib"])
    else:
        line = _("peak memory of the process (RSS, libraries included): {peak:.2f} GiB").format(peak=res.get("peak_gib", 0))
    # the estimate is the one validate, run and the review show (engine.speed.for_data: the data's real lengths over
    # the run's steps); the peak is measured, so each says which it is (#14)
    if est and res.get("device") == "cuda":
        line += _("; estimated before launch at the data's real lengths: {estimate:.2f} GiB ({error:+.0%})").format(
            estimate=est, error=(res["peak_gib"] - est) / est)
    elif est:
        line += _("; the training itself (without the libraries) estimated at the data's real lengths: {estimate:.2f} GiB"
                  ).format(estimate=est)
    out.append(line)
    return out


def remove(run_dir: str | Path) -> bool:
    """Delete a finished smoke test's directory (its result has been read): only tunewiz's files, and the folder
    when nothing else is in it. False when it is not tunewiz's to delete (rundir.overwrite_refusal)."""
    from engine import rundir

    run_dir = Path(run_dir)
    if not run_dir.is_dir() or rundir.overwrite_refusal(run_dir):
        return False
    rundir.clear(run_dir)
    try:
        run_dir.rmdir()
    except OSError:
        return False
    return True
