"""The run directory: the only interface between a training process and its readers.

    config.yaml    resolved preset, written before training starts
    events.jsonl   one JSON object a line, flushed per line, rank 0 only
    stdout.log     raw stdout/stderr of the training process
    status.json    state, pid / process group, command, library versions (replaced atomically)
    STOP           present while a stop is asked for: every process saves and exits at the end of its step
    checkpoint-*/  the Trainer's checkpoints; final/ the adapter or model with its tokenizer
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

EVENT_VERSION = 1
STATES = ("starting", "running", "stopping", "stopped", "finished", "failed")
CONFIG, EVENTS, STDOUT, STATUS, FINAL, STOP = "config.yaml", "events.jsonl", "stdout.log", "status.json", "final", "STOP"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file so that a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def read_status(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / STATUS
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def update_status(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json (state must be one of STATES)."""
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"unknown state {fields['state']}")
    status = read_status(run_dir)
    status.update(fields, updated=time.time())
    write_json_atomic(Path(run_dir) / STATUS, status)
    return status


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class EventLog:
    """Appends events to events.jsonl, one line each, flushed at once."""

    def __init__(self, run_dir: str | Path, enabled: bool = True):
        self.path = Path(run_dir) / EVENTS
        self.enabled = enabled
        self._f = open(self.path, "a", encoding="utf-8") if enabled else None
        self._lock = threading.Lock()  # the trainer and the system sampler both write

    def emit(self, type_: str, **fields: Any) -> None:
        # `type` stays the second key: readers find event kinds by byte pattern without parsing
        event = {"v": EVENT_VERSION, "type": type_, "time": round(time.time(), 3), **fields}
        line = json.dumps(event, default=_jsonable) + "\n"
        with self._lock:
            if self._f is None:
                return
            self._f.write(line)
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None


def _jsonable(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def read_events(run_dir: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete event lines from a byte offset, and the offset to continue from (a partial line waits)."""
    p = Path(run_dir) / EVENTS
    try:
        with open(p, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    events = []
    for line in chunk[:end].splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events, offset + end


def is_run_dir(path: Path) -> bool:
    return any((path / n).exists() for n in (CONFIG, STATUS, EVENTS)) or any(path.glob("checkpoint-*"))


def last_checkpoint(run_dir: str | Path) -> Path | None:
    cps = [p for p in Path(run_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(cps, key=lambda p: int(p.name.split("-")[-1])) if cps else None


def versions() -> dict[str, str]:
    """Versions of the stack, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("tunewiz", "torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
