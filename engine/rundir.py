"""The run directory: the only interface between a training process and its readers.

    config.yaml    resolved preset, written before training starts
    events.jsonl   one JSON object a line, flushed per line, rank 0 only
    stdout.log     raw stdout/stderr of the training process
    status.json    state, pid / process group, command, library versions (replaced atomically)
    STOP           present while a stop is asked for: every process saves and exits at the end of its step
    checkpoint-*/  the Trainer's checkpoints; final/ the adapter or model with its tokenizer
    tunewiz-run.json  the mark that tunewiz created this folder as a run (a run id): only a marked folder,
                   and in it only the names tunewiz writes (OWN_NAMES), may be deleted by --overwrite

A checkpoint is usable only when complete (`checkpoint_problem`): resume takes the newest complete one and
sets an incomplete one aside as partial-checkpoint-N-<time> (renamed, never deleted).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from engine.i18n import N_, _

EVENT_VERSION = 1
STATES = ("starting", "running", "stopping", "stopped", "finished", "failed")
LIVE = ("starting", "running", "stopping")  # a process is (or should be) at work
ENDED = ("finished", "stopped", "failed")
CONFIG, EVENTS, STDOUT, STATUS, FINAL, STOP = "config.yaml", "events.jsonl", "stdout.log", "status.json", "final", "STOP"
MARKER = "tunewiz-run.json"
RESERVE = ".tunewiz-reserve"  # 1 MiB held by a live run, given back on a full disk so that its end can be written
# What tunewiz (and the Trainer it runs) writes at the top of a run directory; nothing else is ever deleted.
# smoke.json is engine.smoke.RESULT, accelerate_config.yaml engine.distributed.ACCELERATE_CONFIG (a test pins them);
# eval_split.json, eval.json, eval.jsonl and export/ are the after-run tools' (DESIGN.md, "After a run").
EXPORT = "export"  # what `tunewiz export` writes into a run (engine/export.py)
OWN_NAMES = frozenset({CONFIG, EVENTS, STDOUT, STATUS, FINAL, STOP, MARKER, RESERVE, "config.tmp", "smoke.json",
                       "accelerate_config.yaml", "eval_split.json", "eval.json", "eval.jsonl", "eval_tasks.json",
                       EXPORT})
OWN_PATTERNS = (re.compile(r"checkpoint-\d+"), re.compile(r"partial-checkpoint-\d+-[\w.-]+"),
                re.compile(r"\.[\w.-]+\.\d+\.tmp"))  # the last: write_json_atomic's temporary files
CHECKPOINT = re.compile(r"checkpoint-(\d+)")  # transformers' own pattern (trainer_utils._re_checkpoint)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file so that a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def read_status(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / STATUS
    try:
        status = json.loads(p.read_text())
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        return {}
    return status if isinstance(status, dict) else {}


def update_status(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json (state must be one of STATES)."""
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"unknown state {fields['state']}")
    if "pid" in fields and "process" not in fields:
        # a pid is written with the identity of its process as of now: stop signals it only while it is that process
        fields["process"] = process_identity(fields["pid"]) if type(fields["pid"]) is int and fields["pid"] > 1 else None
    import fcntl

    # the launcher (pid, process) and the worker (state) write at nearly the same time: one after the other,
    # under a lock on the folder itself (no lock file; where the filesystem has no such lock, unlocked as before)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        status = read_status(run_dir)
        status.update(fields, updated=time.time())
        write_json_atomic(Path(run_dir) / STATUS, status)
    finally:
        os.close(fd)
    return status


def pid_alive(pid: int | None) -> bool:
    if type(pid) is not int or pid <= 1:  # 0, -1 and 1 are never a run's process (os.kill(-1, ...) is every process)
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
        if self._f is not None and _cut_last_line(self.path):  # a process killed mid-line: the next event on a line of its own
            self._f.write("\n")
            self._f.flush()
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


def _cut_last_line(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:
        return False


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
            ev = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8: a line cut by a kill or a full disk, or damage; skipped
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events, offset + end


# ------------------------------------------------------------------------------------ what is ours
def mark(run_dir: str | Path) -> str:
    """Mark a folder as a tunewiz run (kept if it is already marked); returns the run id."""
    run_dir = Path(run_dir)
    rid = run_id(run_dir)
    if rid is None:
        rid = uuid.uuid4().hex
        write_json_atomic(run_dir / MARKER, {"tunewiz_run": rid, "created": time.time(), "path": str(run_dir.resolve()),
                                             "about": "tunewiz created this folder as a run; `--overwrite` deletes only "
                                                      "the files tunewiz wrote in it, and refuses if there are others"})
    return rid


def record_identity(run_dir: str | Path, identity: dict[str, Any]) -> None:
    """Keep, in the mark, what the run trains (engine.launch.run_identity): a resume is compared with it."""
    path = Path(run_dir) / MARKER
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        write_json_atomic(path, {**data, "identity": identity})


def identity(run_dir: str | Path) -> dict[str, Any] | None:
    try:
        ident = json.loads((Path(run_dir) / MARKER).read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        return None
    return ident if isinstance(ident, dict) else None


def run_id(run_dir: str | Path) -> str | None:
    try:
        rid = json.loads((Path(run_dir) / MARKER).read_text()).get("tunewiz_run")
    except (OSError, ValueError, AttributeError):
        return None
    return rid if isinstance(rid, str) and rid else None


def is_own_name(name: str) -> bool:
    return name in OWN_NAMES or any(p.fullmatch(name) for p in OWN_PATTERNS)


def foreign_names(run_dir: str | Path) -> list[str]:
    """Top-level entries of a folder that tunewiz does not write (a model card README.md written by TRL is ours)."""
    out = []
    try:
        entries = sorted(os.scandir(run_dir), key=lambda e: e.name)
    except OSError:
        return []
    for e in entries:
        if is_own_name(e.name) or (e.name == "README.md" and _trl_model_card(Path(e.path))):
            continue
        out.append(e.name + ("/" if e.is_dir(follow_symlinks=False) else ""))
    return out


def _trl_model_card(path: Path) -> bool:
    """TRL's trainers write a model card README.md into the output folder at each save."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.startswith("---") and "generated_from_trainer" in head and "trl" in head


def _legacy_run(run_dir: Path) -> bool:
    """A run made before the mark existed: a status.json that tunewiz wrote, and nothing but tunewiz's names."""
    return _tunewiz_status(read_status(run_dir)) and not foreign_names(run_dir)


def _tunewiz_status(st: dict[str, Any]) -> bool:
    """status.json as update_status writes it (a state of STATES, the time of the update)."""
    return st.get("state") in STATES and isinstance(st.get("updated"), int | float)


def looks_like_run(path: Path) -> bool:
    """Has a run's files (to read it: attach, runs, stop by path); deleting asks more (`is_run_dir`)."""
    path = Path(path)
    return any((path / n).exists() for n in (MARKER, CONFIG, STATUS, EVENTS)) or bool(checkpoints(path))


def is_run_dir(path: Path) -> bool:
    """A folder tunewiz marked as a run, or an unmarked one made before the mark that holds only tunewiz's files."""
    path = Path(path)
    return path.is_dir() and (run_id(path) is not None or _legacy_run(path))


REFUSALS = {"root": N_("it is the root folder"), "home": N_("it is your home folder"),
            "holds-home": N_("it holds your home folder"), "cwd": N_("it is the current folder"),
            "holds-cwd": N_("it holds the current folder"), "symlink": N_("it is a symbolic link"),
            "unmarked": N_("it is not a tunewiz run directory (no {marker})"),
            "foreign": N_("it holds files tunewiz did not write: {names}"),
            "export": N_("it holds {export}/, the model exported from its run (tunewiz export), which starting over would "
                         "delete")}


def refusal_kind(run_dir: str | Path, keep_export: bool = True) -> str | None:
    """Why `--overwrite` must not empty this folder, as a key of REFUSALS ("foreign": it holds files tunewiz did
    not write; "export": it holds the model `tunewiz export` made, the product of a finished run, unless
    `keep_export` is False: `tunewiz rm` deletes the whole run), or None when all of it is tunewiz's run."""
    run_dir = Path(run_dir)
    where = run_dir.resolve()
    home, cwd = Path.home().resolve(), Path.cwd().resolve()
    if where == where.parent:
        return "root"
    if where == home or home.is_relative_to(where):
        return "home" if where == home else "holds-home"
    if where == cwd or cwd.is_relative_to(where):
        return "cwd" if where == cwd else "holds-cwd"
    if run_dir.is_symlink():
        return "symlink"
    if run_id(run_dir) is None and not _tunewiz_status(read_status(run_dir)):
        return "unmarked"
    if foreign_names(run_dir):
        return "foreign"
    return "export" if keep_export and (run_dir / EXPORT).exists() else None


def refusal_text(kind: str, run_dir: str | Path) -> str:
    """REFUSALS[kind] in the user's language."""
    if kind == "export":
        return _(REFUSALS[kind]).format(export=Path(run_dir) / EXPORT)
    if kind == "foreign":
        foreign = foreign_names(run_dir)
        shown = ", ".join(foreign[:5]) + (_(" and {n} more").format(n=len(foreign) - 5) if len(foreign) > 5 else "")
        return _(REFUSALS[kind]).format(names=shown)
    return _(REFUSALS[kind]).format(marker=MARKER)


def overwrite_refusal(run_dir: str | Path, keep_export: bool = True) -> str | None:
    """Why `--overwrite` must not empty this folder (in the user's language), or None when all of it is tunewiz's run."""
    kind = refusal_kind(run_dir, keep_export)
    return None if kind is None else refusal_text(kind, run_dir)


def clear(run_dir: str | Path, keep_export: bool = True) -> list[str]:
    """Delete what tunewiz wrote in a run directory (the caller checked `overwrite_refusal` first); the folder stays.
    Links are removed, never followed. Returns the names deleted."""
    run_dir = Path(run_dir)
    refusal = refusal_kind(run_dir, keep_export)
    if refusal:
        raise OSError(f"{run_dir}: {REFUSALS[refusal]}")
    gone = []
    for e in sorted(os.scandir(run_dir), key=lambda e: e.name):
        if not (is_own_name(e.name) or (e.name == "README.md" and _trl_model_card(Path(e.path)))):
            continue
        if e.name == MARKER:
            continue  # last: a folder cut short in its deletion is still marked as ours
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path)
        else:
            os.unlink(e.path)
        gone.append(e.name)
    (run_dir / MARKER).unlink(missing_ok=True)
    return gone


# ------------------------------------------------------------------------------------ checkpoints
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
NOT_WEIGHTS = re.compile(r"(training_args\.bin|optimizer.*|scheduler.*|scaler.*|rng_state.*)")


def checkpoints(run_dir: str | Path) -> list[Path]:
    """The Trainer's checkpoint-N folders, oldest first."""
    try:
        found = [p for p in Path(run_dir).iterdir() if CHECKPOINT.fullmatch(p.name) and p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


CHECKPOINT_PROBLEMS = (
    N_("no trainer_state.json (killed while it was being written)"), N_("trainer_state.json is cut short or unreadable"),
    N_("trainer_state.json has no global_step"), N_("cannot be read ({reason})"), N_("no model or adapter weights"),
    N_("{name} is cut short"), N_("{name} is cut short or unreadable"), N_("{name} is unreadable"), N_("{name} is empty"),
    N_("{name} names missing shards: {shards}"))


def checkpoint_problem(cp: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None: complete), in English (an event keeps it;
    engine.runs.problem_text shows it). The Trainer writes trainer_state.json last, after the weights, optimizer and
    RNG states; a file cut short is found by its own length records."""
    try:
        state = json.loads((cp / "trainer_state.json").read_text())
    except FileNotFoundError:
        return "no trainer_state.json (killed while it was being written)"
    except (OSError, ValueError):
        return "trainer_state.json is cut short or unreadable"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "trainer_state.json has no global_step"
    try:
        files = {p.name: p for p in cp.iterdir()}
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    weights = [n for n, p in files.items() if n.endswith(WEIGHT_SUFFIXES) and not NOT_WEIGHTS.fullmatch(n) and p.is_file()]
    sharded = [n for n, p in files.items() if p.is_dir() and (n.startswith("global_step") or n.startswith("pytorch_model_fsdp"))]
    if not weights and not sharded:
        return "no model or adapter weights"
    for name in sorted(files):
        p = files[name]
        if not p.is_file():
            continue
        if name.endswith(".safetensors"):
            problem = _safetensors_problem(p)
        elif name.endswith((".bin", ".pt", ".pth")):
            problem = _torch_zip_problem(p)
        elif name.endswith(".index.json"):
            problem = _index_problem(p)
        else:
            continue
        if problem:
            return f"{name} {problem}"
    return None


def _safetensors_problem(p: Path) -> str | None:
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or 8 + n > size:
                return "is cut short"
            header = json.loads(f.read(n))
    except (OSError, ValueError):
        return "is cut short or unreadable"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    return "is cut short" if 8 + n + max(ends, default=0) > size else None


def _torch_zip_problem(p: Path) -> str | None:
    try:
        with open(p, "rb") as f:
            magic = f.read(2)
    except OSError:
        return "is unreadable"
    if magic != b"PK":  # an old pickle-format file: nothing cheap to check
        return None if magic else "is empty"
    return None if zipfile.is_zipfile(p) else "is cut short"


def _index_problem(p: Path) -> str | None:
    try:
        shards = set(json.loads(p.read_text()).get("weight_map", {}).values())
    except (OSError, ValueError, AttributeError):
        return "is cut short or unreadable"
    missing = sorted(s for s in shards if not (p.parent / s).is_file())
    return f"names missing shards: {', '.join(missing[:3])}" if missing else None


def last_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint (an incomplete one is skipped: `checkpoint_problem`)."""
    return next((cp for cp in reversed(checkpoints(run_dir)) if checkpoint_problem(cp) is None), None)


def incomplete_checkpoints(run_dir: str | Path) -> list[tuple[Path, str]]:
    out = []
    for cp in checkpoints(run_dir):
        problem = checkpoint_problem(cp)
        if problem:
            out.append((cp, problem))
    return out


def set_aside(cp: Path) -> Path:
    """Rename an incomplete checkpoint out of the Trainer's way (its rotation and resume look at checkpoint-*):
    partial-checkpoint-N-<time>. Nothing is deleted."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = cp.with_name(f"partial-{cp.name}-{stamp}")
    i = 1
    while target.exists():
        target = cp.with_name(f"partial-{cp.name}-{stamp}.{i}")
        i += 1
    os.rename(cp, target)
    return target


# ------------------------------------------------------------------------------------ disk space
RESERVE_BYTES = 1 << 20
LOW_SPACE = 16 << 20  # less than this free: a failure there is blamed on the disk


def free_bytes(path: str | Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:.1f} MB"


DISK_FULL = (N_("disk full at {path} ({free} free)"), N_("disk full at {path} (free space unknown)"),
             N_("disk full at {path} ({free} free; the checkpoint needs about {need})"),
             N_("disk full at {path} (free space unknown; the checkpoint needs about {need})"))


def disk_full_message(run_dir: str | Path, need: int | None = None, english: bool = False) -> str:
    """The disk of the run is full: where, how much is free, what a checkpoint needs; in the user's language, or in
    English for a message kept as data (status.json's error: engine.runs.cause_text shows it translated)."""
    free = free_bytes(run_dir)
    message = DISK_FULL[(free is None) + 2 * bool(need)]
    return (message if english else _(message)).format(path=Path(run_dir).resolve(), free=megabytes(free) if free is not None
                                                       else "", need=megabytes(need) if need else "")


def reserve(run_dir: str | Path) -> None:
    """Hold RESERVE_BYTES on the run's disk (real blocks, not a sparse file): `release` gives them back so that
    the end of a run on a disk that filled up can still be written."""
    try:
        with open(Path(run_dir) / RESERVE, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        release(run_dir)  # the disk is full already: nothing held


def release(run_dir: str | Path) -> None:
    try:
        (Path(run_dir) / RESERVE).unlink(missing_ok=True)
    except OSError:
        pass


def is_disk_full(exc: BaseException, run_dir: str | Path) -> bool:
    """An error caused by a full disk: ENOSPC anywhere in its chain (safetensors and torch wrap it in their own
    errors: found by their wording), or the run's disk nearly full when it happened."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if re.search(r"No space left on device|StorageFull|os error 28|Disk quota exceeded", str(e)):
            return True
        e = e.__cause__ or e.__context__
    free = free_bytes(run_dir)
    return free is not None and free < LOW_SPACE


# ------------------------------------------------------------------------------------ the run's process
def process_identity(pid: int) -> dict[str, Any] | None:
    """pid, start time and command line of a live process (None: no such process, or a zombie)."""
    if type(pid) is not int or pid <= 0:
        return None
    try:
        import psutil

        p = psutil.Process(pid)
        with p.oneshot():
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return {"pid": pid, "started": p.create_time(), "cmdline": p.cmdline()}
    except ImportError:
        return _proc_identity(pid)
    except Exception:  # NoSuchProcess, AccessDenied, ZombieProcess
        return None


def _proc_identity(pid: int) -> dict[str, Any] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if stat[0] == "Z":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    btime = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    return {"pid": pid, "started": btime + int(stat[19]) / ticks, "cmdline": [a.decode(errors="replace") for a in cmdline if a]}


PROCESS_GONE = (N_("status.json names no process of a run (pid {pid})"), N_("process {pid} has ended"),
                N_("pid {pid} is now another process ({command})"), N_("pid {pid} is not the run's process ({command})"))


def run_process(status: dict[str, Any]) -> tuple[int | None, str]:
    """The pid of the run's process if that process is alive and is the one started for the run (its start time
    and command line, recorded at start, match); else (None, what is there instead, in English: status.json keeps
    it; PROCESS_GONE translates it)."""
    pid = status.get("pid")
    if type(pid) is not int or pid <= 1:
        return None, f"status.json names no process of a run (pid {pid!r})"
    now = process_identity(pid)
    if now is None:
        return None, f"process {pid} has ended"
    seen = " ".join(now["cmdline"])[:80] or "?"
    rec = status.get("process")
    if isinstance(rec, dict):
        # pid + start time name one process (a reused pid starts later). Not the command line: recorded just after
        # the fork it can still be the parent's, before the child's exec (seen under load with torchrun)
        same = (rec.get("pid") == pid and isinstance(rec.get("started"), int | float)
                and abs(rec["started"] - now["started"]) < 0.5)
        return (pid, "") if same else (None, f"pid {pid} is now another process ({seen})")
    # a run started before identities were recorded: its command line must be the recorded worker command
    import shlex

    worker = status.get("worker")
    try:
        if isinstance(worker, str) and shlex.split(worker) == now["cmdline"]:
            return pid, ""
    except ValueError:
        pass
    return None, f"pid {pid} is not the run's process ({seen})"


def run_alive(status: dict[str, Any]) -> bool:
    """For readers: the run's process is alive (its identity checked where it was recorded)."""
    if isinstance(status.get("process"), dict):
        return run_process(status)[0] is not None
    return pid_alive(status.get("pid"))


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
