"""Trainer callbacks: events into the run directory, and a clean stop on SIGTERM / SIGINT."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from engine.rundir import EventLog


class EventsCallback(TrainerCallback):
    """Writes start / log / eval / save events (rank 0 only: the EventLog is disabled elsewhere)."""

    def __init__(self, events: EventLog, info: dict[str, Any], after_start: Any = None):
        self.events = events
        self.info = info
        self.after_start = after_start

    def on_train_begin(self, args, state, control, **kw):
        self.events.emit("start", step=state.global_step, max_steps=state.max_steps, num_train_epochs=args.num_train_epochs,
                         batch_size=args.per_device_train_batch_size, gradient_accumulation_steps=args.gradient_accumulation_steps,
                         world_size=args.world_size, **self.info)
        if self.after_start is not None:
            self.after_start()

    def on_log(self, args, state, control, logs=None, **kw):
        logs = dict(logs or {})
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()}
        nonfinite = [k for k, v in logs.items() if isinstance(v, float) and not math.isfinite(v)]
        base = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch}
        if nonfinite:
            base["nonfinite"] = nonfinite
        if any(k.startswith("eval_") for k in logs):
            self.events.emit("eval", **{**base, **{k.removeprefix("eval_"): v for k, v in clean.items()}})
        elif "train_loss" in logs:  # the Trainer's end-of-training summary
            self.events.emit("summary", **{**base, **clean})
        else:
            self.events.emit("log", **{**base, **clean})

    def on_save(self, args, state, control, **kw):
        self.events.emit("save", step=state.global_step, checkpoint=f"checkpoint-{state.global_step}")


class StopCallback(TrainerCallback):
    """On SIGTERM/SIGINT or a STOP file in the run directory: save a checkpoint at the end of the current
    step and stop. With several processes they agree (all-reduce) so that all stop at the same step."""

    def __init__(self, stop_file: Path | None = None, save: bool = True) -> None:
        self.stop_file = stop_file
        self.save = save  # a smoke test stops without a checkpoint
        self.requested = False
        self.in_loop = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        if not self.in_loop:  # still loading: nothing to save
            raise KeyboardInterrupt
        self.requested = True

    def on_train_begin(self, args, state, control, **kw):
        self.in_loop = True

    def on_step_end(self, args, state, control, **kw):
        flag = self.requested or bool(self.stop_file and self.stop_file.exists())
        if args.world_size > 1:
            import torch
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                t = torch.tensor([int(flag)], device=args.device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item())
        if flag:
            self.requested = True
            control.should_save = self.save
            control.should_training_stop = True
        return control
