"""Trainer callbacks: events into the run directory, and a clean stop on SIGTERM / SIGINT."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from engine import rundir
from engine.rundir import EventLog


class EventsCallback(TrainerCallback):
    """Writes start / log / eval / save events (rank 0 only: the EventLog is disabled elsewhere)."""

    def __init__(self, events: EventLog, info: dict[str, Any], after_start: Any = None):
        self.events = events
        self.info = info
        self.after_start = after_start
        self.losses: list[float] = []  # the losses this process logged (a resumed run's summary averages these)
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kw):
        self.first_step = state.global_step
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
            if self.first_step and self.losses:
                # resumed: the Trainer divides this process's loss sum by every step since step 0
                clean["trainer_train_loss"] = clean.get("train_loss")
                clean["train_loss"] = sum(self.losses) / len(self.losses)
                clean["train_loss_steps"] = [self.first_step + 1, state.global_step]
            self.events.emit("summary", **{**base, **clean})
        else:
            if isinstance(clean.get("loss"), int | float):
                self.losses.append(float(clean["loss"]))
            self.events.emit("log", **{**base, **clean})

    def on_save(self, args, state, control, **kw):
        self.events.emit("save", step=state.global_step, checkpoint=f"checkpoint-{state.global_step}")


def agree(args: Any, flag: bool) -> bool:
    """True on every process when it is true on any (all-reduce MAX): all stop, or skip a save, at the same step."""
    if args.world_size > 1:
        import torch
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            t = torch.tensor([int(flag)], device=args.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            return bool(t.item())
    return flag


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
        flag = agree(args, self.requested or bool(self.stop_file and self.stop_file.exists()))
        if flag:
            self.requested = True
            control.should_save = self.save
            control.should_training_stop = True
        return control


class DiskCallback(TrainerCallback):
    """Before each checkpoint: room for it on the run's disk (the size of the last checkpoint, or of the weights
    and optimizer state it will hold), else no save and the run ends failed with `problem` (engine.train). The
    last complete checkpoint stays, resumable once space is freed."""

    MARGIN = 1.1

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.problem: str | None = None
        self.need: int | None = None

    def needed(self, model: Any) -> int:
        cp = rundir.last_checkpoint(self.run_dir)
        if cp is not None:
            return rundir.tree_bytes(cp)
        params = list(model.parameters()) if model is not None else []
        trained = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
        frozen = sum(p.numel() * p.element_size() for p in params if not p.requires_grad)
        # weights as saved (an adapter: the trained ones; full: all of them) + Adam's two fp32 moments
        full = trained + (0 if frozen and trained < frozen else frozen)
        moments = 2 * 4 * sum(p.numel() for p in params if p.requires_grad)
        return full + moments + (1 << 20)

    def _check(self, args, control, model) -> None:
        if not control.should_save:  # the same on every process (the Trainer's flow decides it from the step)
            return
        need = int(self.needed(model) * self.MARGIN)
        free = rundir.free_bytes(self.run_dir)
        short = free is not None and free < need + rundir.RESERVE_BYTES
        if agree(args, short):
            self.need = need
            self.problem = self.problem or rundir.disk_full_message(self.run_dir, need)
            control.should_save = False
            control.should_training_stop = True

    def on_step_end(self, args, state, control, model=None, **kw):
        self._check(args, control, model)
        return control

    def on_epoch_end(self, args, state, control, model=None, **kw):
        self._check(args, control, model)
        return control
