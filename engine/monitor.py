"""Reading a run directory for the monitor, incrementally, at the same cost for any length of run.

Attaching samples the history (a few thousand evenly spaced log lines found by seeking, plus every
rare event found by a byte scan) instead of parsing every line; after that only new bytes are read.
`RunView` keeps what the panels show and derives tokens/s, ETA, health alerts and the likely cause
of a failure.
"""

from __future__ import annotations

import json
import math
import mmap
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import rundir, runs
from engine.i18n import N_, _

HISTORY_POINTS = 2000
RARE = re.compile(rb'"type": "(start|eval|save|summary|smoke|error|end)"')
LOG_TAIL_LINES = 200


# TRL's preference logs the monitor keeps and plots
REWARD_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "kl")
MARGIN_LIMIT = 20.0  # beta-scaled log-ratio margin: beyond it a run is usually over-optimising (beta 0.1: 200 nats)
STUCK_LOGS = 20  # logs with accuracy ~0.5 and margins ~0 before "not learning" is said
CHOSEN_COLLAPSE = -5.0  # rewards/chosen (beta x the chosen log-ratio): the chosen answers lost e^50 at beta 0.1


@dataclass
class Alert:
    """A health problem seen while running, with what to do."""

    kind: str
    message: str
    fix: str


@dataclass
class RunView:
    """Everything the monitor panels show, updated by `RunReader.poll()`."""

    run_dir: Path
    state: str = "unknown"
    cause: str | None = None
    status: dict[str, Any] = field(default_factory=dict)
    start: dict[str, Any] = field(default_factory=dict)
    last_log: dict[str, Any] = field(default_factory=dict)
    loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    learning_rate: list[tuple[int, float]] = field(default_factory=list)
    grad_norm: list[tuple[int, float]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    saves: list[str] = field(default_factory=list)
    system: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # the Trainer's end-of-training numbers
    smoke: dict[str, Any] = field(default_factory=dict)  # a smoke test's measurement (engine.smoke)
    log_tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    log_count: int = 0  # lines read into log_tail so far (the tail keeps the last 200: a reader counts what is new)
    alerts: list[Alert] = field(default_factory=list)
    resumed_at: list[int] = field(default_factory=list)  # the steps this run was resumed from
    # DPO / KTO / ORPO: TRL's reward logs (rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, ...)
    rewards: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _rate: deque[tuple[float, int, float]] = field(default_factory=lambda: deque(maxlen=30))  # (time, step, tokens)

    # ------------------------------------------------------------------------------------ derived
    @property
    def step(self) -> int:
        return int(self.last_log.get("step") or self.end.get("step") or self.start.get("step") or 0)

    @property
    def max_steps(self) -> int:
        return int(self.last_log.get("max_steps") or self.start.get("max_steps") or 0)

    def tokens_per_second(self) -> float | None:
        if len(self._rate) < 2:
            return None
        (t0, _, n0), (t1, _, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 and n1 > n0 else None

    def seconds_per_step(self) -> float | None:
        if len(self._rate) < 2:
            return None
        (t0, s0, _), (t1, s1, _) = self._rate[0], self._rate[-1]
        return (t1 - t0) / (s1 - s0) if s1 > s0 else None

    def samples_per_second(self) -> float | None:
        sps = self.seconds_per_step()
        bs = (self.start.get("batch_size") or 0) * (self.start.get("gradient_accumulation_steps") or 1) * (self.start.get("world_size") or 1)
        return bs / sps if sps and bs else None

    def eta_seconds(self) -> float | None:
        sps = self.seconds_per_step()
        if sps is None or not self.max_steps or self.state not in ("running", "starting", "stopping"):
            return None
        return max(0.0, sps * (self.max_steps - self.step))

    # ------------------------------------------------------------------------------------ updates
    def add(self, ev: dict[str, Any], live: bool) -> None:
        kind = ev.get("type")
        if kind == "log":
            self.last_log = ev
            step = ev.get("step", 0)
            for name, series in (("loss", self.loss), ("learning_rate", self.learning_rate), ("grad_norm", self.grad_norm)):
                v = ev.get(name)
                if isinstance(v, int | float) and math.isfinite(v):
                    series.append((step, float(v)))
            for name in REWARD_KEYS:
                v = ev.get(name)
                if isinstance(v, int | float) and math.isfinite(v):
                    self.rewards.setdefault(name, []).append((step, float(v)))
            if live and isinstance(ev.get("num_input_tokens_seen"), int | float):
                self._rate.append((ev.get("time", time.time()), step, float(ev["num_input_tokens_seen"])))
            if live:
                self._check_health(ev)
        elif kind == "eval":
            self.evals.append(ev)
            if isinstance(ev.get("loss"), int | float):
                self.eval_loss.append((ev.get("step", 0), float(ev["loss"])))
        elif kind == "start":
            step = ev.get("step")
            if ev.get("resumed") and isinstance(step, int):
                # steps logged after the checkpoint it resumes from were trained again: one history, this run's
                for series in (self.loss, self.learning_rate, self.grad_norm, self.eval_loss, *self.rewards.values()):
                    series[:] = [(s, v) for s, v in series if s <= step]
                self.evals = [e for e in self.evals if not isinstance(e.get("step"), int) or e["step"] <= step]
                self.resumed_at.append(step)
            self.start = ev
            self.end = {}
            self._rate.clear()
        elif kind == "save":
            self.saves.append(ev.get("checkpoint", ""))
        elif kind == "gpu":
            self.system = ev
            if live:
                self._check_idle(ev)
        elif kind == "summary":
            self.summary = ev
        elif kind == "smoke":
            self.smoke = ev
        elif kind == "error":
            self.error = ev
        elif kind == "end":
            self.end = ev

    def _alert(self, kind: str, message: str, fix: str) -> None:
        if not any(a.kind == kind for a in self.alerts):
            self.alerts.append(Alert(kind, message, fix))

    def _check_health(self, ev: dict[str, Any]) -> None:
        if ev.get("nonfinite"):
            self._alert("nan", _("{names} is NaN or inf at step {step}").format(names=", ".join(ev["nonfinite"]), step=ev.get("step")),
                        _("lower training.learning_rate, set training.max_grad_norm: 1.0, or use bf16 instead of fp16"))
        recent = [v for _, v in self.loss[-5:]]
        if len(recent) == 5 and all(v == 0.0 for v in recent):
            self._alert("zero-loss", _("the loss has been exactly 0 for 5 logs: every label may be masked (-100)"),
                        _("check the token preview: are any tokens trained? (format, columns, chat template)"))
        norms = [v for _, v in self.grad_norm[-20:-1]]
        g = ev.get("grad_norm")
        if isinstance(g, int | float) and len(norms) >= 5:
            median = sorted(norms)[len(norms) // 2]
            if median > 0 and g > 10 * median:
                self._alert("grad-spike", _("grad norm {norm:.3g} at step {step} is over 10x its recent median ({median:.3g})").format(
                    norm=g, step=ev.get("step"), median=median),
                            _("lower training.learning_rate or set training.max_grad_norm (clipping)"))

        self._check_preference(ev)

    def _check_preference(self, ev: dict[str, Any]) -> None:
        """What goes wrong in DPO-style training, read from TRL's reward logs."""
        margins = [v for _, v in self.rewards.get("rewards/margins", [])]
        acc = [v for _, v in self.rewards.get("rewards/accuracies", [])]
        chosen = [v for _, v in self.rewards.get("rewards/chosen", [])]
        if margins and margins[-1] > MARGIN_LIMIT:
            self._alert("margins-exploding", _("the reward margin is {margin:.3g} at step {step}: the model has moved far "
                                               "from the reference and may be over-optimising (answers degenerate)").format(
                margin=margins[-1], step=ev.get("step")),
                        _("raise training.beta, lower training.learning_rate, or train fewer steps (compare in chat)"))
        if len(acc) >= STUCK_LOGS and all(abs(a - 0.5) <= 0.1 for a in acc[-STUCK_LOGS:]) and \
                all(abs(m) < 0.05 for m in margins[-STUCK_LOGS:]):
            self._alert("accuracy-stuck", _("reward accuracy has stayed near 0.5 with margins near 0 for {n} logs: "
                                            "the model does not yet tell chosen from rejected").format(n=STUCK_LOGS),
                        _("raise training.learning_rate (DPO LoRA: 5e-6 to 5e-5), and check the preview: do chosen and "
                          "rejected differ?"))
        if chosen and chosen[-1] < CHOSEN_COLLAPSE:
            self._alert("chosen-collapsing", _("rewards/chosen is {reward:.3g} at step {step}: the chosen answers are "
                                               "becoming less likely too (only the rejected ones fall faster)").format(
                reward=chosen[-1], step=ev.get("step")),
                        _("lower training.learning_rate or raise training.beta; or add an SFT term to DPO: "
                          "loss_type: [sigmoid, sft] with loss_weights: [1.0, 1.0]"))

    def _check_idle(self, ev: dict[str, Any]) -> None:
        for gpu in ev.get("gpus") or []:
            if gpu.get("util", 100) < 5 and gpu.get("mem_used_gib", 0) > 1 and self.state == "running":
                self._alert("gpu-idle", _("GPU {index} holds {mem} GiB but is {util}% busy").format(
                    index=gpu.get("index"), mem=gpu["mem_used_gib"], util=gpu["util"]),
                            _("the data path may be the bottleneck (raise dataloader_num_workers), or the process is stuck"))

    def stalled(self, now: float, after: float = 600.0) -> bool:
        """No event for `after` seconds while running."""
        last = max(self.last_log.get("time") or 0, self.start.get("time") or 0)
        return self.state == "running" and last > 0 and now - last > after


# ------------------------------------------------------------------------------------- diagnosis
CAUSES = [  # (pattern, cause, fix): the texts in English, translated where they are shown (diagnose)
    (re.compile(r"CUDA out of memory|OutOfMemoryError|out of memory", re.I), N_("out of memory"),
     N_("lower training.per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective batch), "
        "set training.gradient_checkpointing: true, lower training.max_length, or use LoRA / QLoRA (model.quantization: 4bit)")),
    (re.compile(r"NCCL|ProcessGroup|c10d|Connection reset by peer", re.I), N_("a communication (NCCL) failure between processes"),
     N_("check that every GPU is visible and healthy (nvidia-smi), set NCCL_DEBUG=INFO to see which link failed, or try "
        "NCCL_P2P_DISABLE=1")),
    (re.compile(r"chat template|apply_chat_template|jinja", re.I), N_("a chat template error"),
     N_("check the token preview; set model.chat_template (chatml, plain, or your own Jinja)")),
    (re.compile(r"dataset row|could not be (prepared|read as)|JSONDecodeError|ArrowInvalid|KeyError: '|column", re.I), N_("a dataset error"),
     N_("check the row named above, the format and dataset.columns; `tunewiz preview` shows what the trainer receives")),
]


def diagnose(message: str, traceback: str = "") -> tuple[str, str] | None:
    """(likely cause, fix) for a failure message and traceback, in the user's language, or None."""
    from engine import runs

    # tunewiz's own words for a process that vanished list what it may have been ("killed, out of memory, or the
    # machine restarted"; "kill -9 or the out-of-memory killer"): no evidence of one cause, so they are not read
    for words in (runs.GONE, *runs.SIGNAL_WHY.values()):
        if words:
            message = message.replace(words, "").replace(_(words), "")
    text = f"{message}\n{traceback}"
    for pattern, cause, fix in CAUSES:
        if pattern.search(text):
            return _(cause), _(fix)
    return None


# ---------------------------------------------------------------------------------------- reader
class RunReader:
    """Follows one run directory: `poll()` reads only what is new since the last call, and `fresh` holds those
    events in order. The monitor attaches with a sampled history; `start=N` reads every event from byte N exactly
    (`tunewiz run` in the foreground prints them all, a resumed run from where its history ended)."""

    def __init__(self, run_dir: str | Path, start: int | None = None):
        self.run_dir = Path(run_dir)
        self.view = RunView(self.run_dir)
        self._events_offset = start or 0
        self._log_offset = 0
        self._attached = start is not None
        self.skipped = 0  # damaged events left out
        self.fresh: list[dict[str, Any]] = []  # the events the last poll read, as the view took them

    def poll(self) -> RunView:
        self.fresh = []
        if not self._attached:
            self._attach()
        else:
            events, self._events_offset = rundir.read_events(self.run_dir, self._events_offset)
            for ev in events:
                self._add(ev, live=True)
        self._read_log()
        status = rundir.read_status(self.run_dir)
        self.view.status = status
        self.view.state, self.view.cause = runs.effective_state(self.run_dir, status, [self.view.end] if self.view.end else [])
        return self.view

    def _attach(self) -> None:
        """Sampled history + every rare event, then the last 64 KiB read exactly (costs the same for any length)."""
        self._attached = True
        path = self.run_dir / rundir.EVENTS
        try:
            size = path.stat().st_size
        except OSError:
            return
        tail_from = 0
        if size > 65536:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                nl = mm.find(b"\n", size - 65536)
                tail_from = nl + 1 if nl >= 0 else size
                starts = {0}
                for pos in range(tail_from // HISTORY_POINTS or 1, tail_from, tail_from // HISTORY_POINTS or 1):
                    nl = mm.find(b"\n", pos, tail_from)
                    if nl >= 0 and nl + 1 < tail_from:
                        starts.add(nl + 1)
                for m in RARE.finditer(mm, 0, tail_from):
                    starts.add(mm.rfind(b"\n", 0, m.start()) + 1)
                for start in sorted(starts):
                    ev = _line_at(mm, start)
                    if ev:
                        self._add(ev, live=False)
        events, self._events_offset = rundir.read_events(self.run_dir, tail_from)
        for ev in events:  # read exactly: rates and health checks from here on
            self._add(ev, live=True)
        try:
            self._log_offset = max(0, (self.run_dir / rundir.STDOUT).stat().st_size - 32768)
        except OSError:
            self._log_offset = 0

    def _add(self, ev: dict[str, Any], live: bool) -> None:
        """One event into the view; an event with fields of the wrong kind (a damaged file) is skipped, not fatal."""
        clean = sanitize(ev)
        if clean is None:
            self.skipped += 1
            return
        try:
            self.view.add(clean, live)
        except (TypeError, ValueError, AttributeError, KeyError):
            self.skipped += 1
            return
        if live:
            self.fresh.append(clean)

    def _read_log(self) -> None:
        try:
            with open(self.run_dir / rundir.STDOUT, "rb") as f:
                f.seek(self._log_offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        if not end:
            return
        self._log_offset += end
        for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
            self.view.log_tail.append(line.rsplit("\r", 1)[-1])
            self.view.log_count += 1


NUMBERS = ("time", "loss", "learning_rate", "grad_norm", "epoch", "num_input_tokens_seen", "cpu_percent", "ram_used_gib",
           "ram_total_gib", "accuracy", "f1", "train_loss")
TEXTS = ("state", "message", "traceback", "checkpoint", "device", "model", "format", "final", "fix")
GPU_NUMBERS = ("index", "util", "mem_used_gib", "mem_total_gib")


def watch(reader: RunReader, proc: Any, interval: float = 0.5, cancelled: Any = None) -> Iterator[list[dict[str, Any]]]:
    """The new events of a run while its process (`proc.poll()`) lives, then once more after it exits, so the last
    events written before the exit are read too; stops early when `cancelled()` says so. The one loop that
    `tunewiz run` in the foreground and the wizard's smoke test follow a run with."""
    while True:
        ended = proc.poll() is not None  # looked at before the read: events written before the exit are included
        reader.poll()
        yield reader.fresh
        if ended or (cancelled is not None and cancelled()):
            return
        time.sleep(interval)


def sanitize(ev: dict[str, Any]) -> dict[str, Any] | None:
    """An event as the view and the screens expect its fields (numbers are numbers, texts are texts), or None when
    it cannot be one: events.jsonl is a file on disk, and a damaged line must not take the monitor down."""
    if any(k in ev and type(ev[k]) is not int for k in ("step", "max_steps")) or not isinstance(ev.get("type"), str):
        return None
    out = {k: v for k, v in ev.items()
           if not (k in NUMBERS and (type(v) not in (int, float)))}
    for k in TEXTS:
        if k in out and not isinstance(out[k], str):
            out[k] = str(out[k])
    if out["type"] == "gpu":
        gpus = out.get("gpus")
        out["gpus"] = [g for g in gpus if isinstance(g, dict) and all(type(g.get(k)) in (int, float) for k in GPU_NUMBERS)] \
            if isinstance(gpus, list) else []
    return out


def _line_at(mm: mmap.mmap, start: int) -> dict[str, Any] | None:
    end = mm.find(b"\n", start)
    if end < 0:
        return None
    try:
        ev = json.loads(mm[start:end])
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None
