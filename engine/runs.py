"""Finding runs from any folder: a registry of run directories, and the state of each as its readers
see it (a process gone without an end event is a failed run, with the cause)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import evaluate, rundir
from engine.errors import TunewizError
from engine.i18n import N_, _, pgettext
from engine.models import tunewiz_home

# A run's state as `tunewiz runs` and the monitor show it (status.json and --json keep the English word).
STATE_NAMES = {"starting": N_("starting"), "running": N_("running"), "stopping": N_("stopping"), "stopped": N_("stopped"),
               "finished": N_("finished"), "failed": N_("failed"), "unreadable": N_("unreadable")}

# Why a run failed, as tunewiz keeps it (status.json's error, RunSummary.cause: English, so that --json and the files
# read the same in every language); `cause_text` shows it in the user's language.
GONE = N_("the training process is gone without an end event (killed, out of memory, or the machine restarted)")
GONE_DISK = N_("the training process is gone without an end event, and the {disk}")
ENDED_BY = N_("the training process ended by {signal} ({why})")
ENDED_BY_DISK = N_("the training process ended by {signal} ({why}); the {disk}")
EXITED = N_("the training process exited with code {code} without writing its end")
EXITED_DISK = N_("the training process exited with code {code} without writing its end; the {disk}")
PROCESS_GONE = N_("the run's process is gone ({why})")
PROCESS_GONE_SHORT = N_("the run's process is gone")
KILLED = N_("killed by a second stop")
NO_CAUSE = N_("no cause was recorded")
UNREADABLE = N_("its files cannot be read ({error}); look at {status} and {events}")
SIGNAL_WHY = {"SIGKILL": N_("killed with kill -9 or by the out-of-memory killer"), "SIGTERM": N_("terminated before it could save"),
              "SIGSEGV": N_("a crash in native code"), "SIGBUS": N_("a crash in native code (or a full /dev/shm)"),
              "": N_("killed")}
CAUSES = (GONE, GONE_DISK, ENDED_BY_DISK, ENDED_BY, EXITED_DISK, EXITED, PROCESS_GONE, PROCESS_GONE_SHORT, KILLED, NO_CAUSE, UNREADABLE,
          *SIGNAL_WHY.values(), *rundir.DISK_FULL, *rundir.PROCESS_GONE)


def state_text(state: str) -> str:
    """A run's state in the user's language (a state tunewiz does not know: as it is)."""
    if state == "unknown":  # a run's state, not an unknown token (the same English word elsewhere)
        return pgettext("run state", "unknown")
    return _(STATE_NAMES[state]) if state in STATE_NAMES else state


def problem_text(problem: str) -> str:
    """A checkpoint's problem (rundir.checkpoint_problem: English, as the set-aside event keeps it) in the user's language."""
    from engine.fmt import translated

    return translated(problem, rundir.CHECKPOINT_PROBLEMS)


def cause_text(cause: str) -> str:
    """Why a run failed, kept in English (status.json, RunSummary.cause), in the user's language where tunewiz wrote
    it (a message of the training process or of a library: as it is)."""
    from engine.fmt import translated

    return translated(cause, CAUSES)


def registry_path() -> Path:
    """$TUNEWIZ_REGISTRY, else runs.jsonl in the tunewiz home."""
    return Path(os.environ.get("TUNEWIZ_REGISTRY") or tunewiz_home() / "runs.jsonl")


def register(run_dir: Path) -> None:
    """Remember a run directory (one line appended; duplicates are folded when read)."""
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"path": str(run_dir.resolve()), "time": time.time()}) + "\n")


def registered() -> list[Path]:
    """Registered run directories that still exist, newest registration last."""
    try:
        lines = registry_path().read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    seen: dict[str, None] = {}
    for line in lines:
        try:
            p = json.loads(line)["path"]
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        if not isinstance(p, str) or not p:
            continue
        seen.pop(p, None)
        seen[p] = None
    return [Path(p) for p in seen if Path(p).is_dir()]


@dataclass
class RunSummary:
    """One line of `tunewiz runs`."""

    name: str
    path: str
    state: str
    step: int | None
    max_steps: int | None
    loss: float | None
    started: float | None
    pid: int | None
    cause: str | None = None
    smoke: int | None = None  # a smoke test of that many steps (engine.smoke), not a run
    eval: dict[str, Any] | None = None  # eval.json's main metric, tuned and base (engine.evaluate.summary)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tail_events(run_dir: Path, max_bytes: int = 65536) -> list[dict[str, Any]]:
    """The last events of a run, reading only the end of events.jsonl."""
    p = run_dir / rundir.EVENTS
    try:
        size = p.stat().st_size
    except OSError:
        return []
    offset = max(0, size - max_bytes)
    events, _ = rundir.read_events(run_dir, offset)
    return events[1:] if offset and events else events  # the first line may be cut


def effective_state(run_dir: Path, status: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None) -> tuple[str, str | None]:
    """(state, cause): a live state whose process is gone, with no end event, is failed."""
    status = rundir.read_status(run_dir) if status is None else status
    state = status.get("state", "unknown")
    if state in rundir.LIVE and not rundir.run_alive(status):
        events = tail_events(run_dir) if events is None else events
        end = next((e for e in reversed(events) if e.get("type") == "end"), None)
        if end is not None:
            return str(end.get("state", "finished")), None
        free = rundir.free_bytes(run_dir)
        if free is not None and free < rundir.LOW_SPACE:
            return "failed", GONE_DISK.format(disk=rundir.disk_full_message(run_dir, english=True))
        return "failed", GONE
    error = status.get("error")
    return (state if isinstance(state, str) else "unknown"), (error if isinstance(error, str) or error is None else str(error))


def failure_cause(run_dir: Path) -> str:
    """Why a run failed, for its end line (in the user's language: `cause_text`): status.json's error, else the
    readers' cause (a process gone without an end event), else says none was recorded; a missing or damaged
    status.json is read as empty, never a traceback."""
    status = rundir.read_status(run_dir)
    error = status.get("error")
    return cause_text((error if isinstance(error, str) and error else None) or effective_state(run_dir, status)[1] or NO_CAUSE)


def _int(v: Any) -> int | None:
    return v if type(v) is int else None


def _num(v: Any) -> float | None:
    return float(v) if type(v) in (int, float) else None


def summarize(run_dir: Path) -> RunSummary:
    """One run's line; a run whose files are damaged still gets one (state "unreadable", the cause naming the file)."""
    try:
        return _summarize(run_dir)
    except Exception as e:  # noqa: BLE001 - one damaged run never hides the others
        return RunSummary(name=run_dir.name, path=str(run_dir), state="unreadable", step=None, max_steps=None, loss=None,
                          started=None, pid=None, cause=UNREADABLE.format(error=f"{type(e).__name__}: {e}", status=run_dir / rundir.STATUS,
                                                                             events=run_dir / rundir.EVENTS))


def _summarize(run_dir: Path) -> RunSummary:
    status = rundir.read_status(run_dir)
    events = tail_events(run_dir)
    state, cause = effective_state(run_dir, status, events)
    last_log: dict[str, Any] = next((e for e in reversed(events) if e.get("type") == "log"), {})
    summary: dict[str, Any] = next((e for e in reversed(events) if e.get("type") == "summary"), {})
    last_step: dict[str, Any] = next((e for e in reversed(events) if "step" in e), {})
    start: dict[str, Any] = next((e for e in reversed(events) if e.get("type") == "start"), {})
    return RunSummary(name=run_dir.name, path=str(run_dir), state=state, step=_int(last_step.get("step")),
                      max_steps=_int(last_log.get("max_steps")) or _int(start.get("max_steps")),
                      loss=_num(last_log.get("loss", summary.get("train_loss"))),
                      started=_num(status.get("started")), pid=_int(status.get("pid")), cause=cause, smoke=_int(status.get("smoke")),
                      eval=evaluate.summary(run_dir))


def find(run: str) -> Path:
    """A run by its directory or its name: of the registered runs of that name, the newest under the current
    folder (runs/NAME of this project, not another project's run of the same name), else the newest."""
    p = Path(run).expanduser()
    if p.is_dir() and rundir.looks_like_run(p):
        return p.resolve()
    matches = [d for d in registered() if d.name == run]
    if matches:
        here = Path.cwd().resolve()
        local = [d for d in matches if d.is_relative_to(here)]
        return (local or matches)[-1]
    names = sorted({d.name for d in registered()})
    from engine.errors import did_you_mean

    hint = did_you_mean(run, names)
    raise TunewizError.at(run, _("no such run; {hint}").format(hint=hint) if hint else _("no such run"),
                          _("give the run directory, or a name from `tunewiz runs`"))
