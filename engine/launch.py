"""Starting a training process detached from the terminal, and following it from the foreground.

The process gets its own session (a dropped SSH link or a closed wizard never stops it) and writes
only to files in the run directory. Stop = SIGTERM (checkpoint at the next step, clean exit); a
second stop kills the whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from engine import config, monitor, presets, rundir, runs
from engine.errors import TunewizError
from engine.fmt import duration
from engine.i18n import N_, _


def prepare_run_dir(run_dir: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to start silently into an existing run; --overwrite / --resume say what to do with it.

    --overwrite empties only a folder tunewiz marked as a run (rundir.MARKER), and only of the files tunewiz
    wrote (rundir.overwrite_refusal says why not otherwise). --resume sets incomplete checkpoints aside."""
    if run_dir.exists() and not run_dir.is_dir():
        raise TunewizError.at(str(run_dir), _("is a file, not a folder"), _("pick another training.output_dir"))
    if resume:
        _refuse_live(run_dir)
        cp = rundir.last_checkpoint(run_dir)
        partial = rundir.incomplete_checkpoints(run_dir)
        if not cp:
            raise TunewizError.at(str(run_dir), _("there is no complete checkpoint to resume from ({name} is incomplete: {problem})").format(
                name=partial[-1][0].name, problem=runs.problem_text(partial[-1][1])) if partial
                else _("there is no complete checkpoint to resume from"),
                _("run without --resume (with --overwrite to start the directory over)"))
        set_aside_partial(run_dir, cp, partial)
        if rundir.run_id(run_dir) is None and rundir.is_run_dir(run_dir):
            rundir.mark(run_dir)  # a run made before the mark, holding only tunewiz's files
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        kind = rundir.refusal_kind(run_dir)
        refusal = None if kind is None else rundir.refusal_text(kind, run_dir)
        if not overwrite:
            if not rundir.is_run_dir(run_dir) and refusal:
                why = _("no {marker}").format(marker=rundir.MARKER) if kind == "unmarked" else refusal
                raise TunewizError.at(str(run_dir), _("is not empty and is not a tunewiz run directory ({why}); tunewiz will not "
                                                      "delete it").format(why=why),
                                      _("pick another training.output_dir (a new folder, e.g. runs/<new-name>)"))
            cp = rundir.last_checkpoint(run_dir)
            choices = [_("resume it:       add --resume")] if cp else []
            choices.append(_("pick a new name: --set training.output_dir=runs/<new-name>"))
            choices.append(_("start it over:   add --overwrite (deletes the files tunewiz wrote in it)") if refusal is None
                           else _("(--overwrite will not delete it: {refusal})").format(refusal=refusal))
            raise TunewizError.at(str(run_dir), _("this run directory is already in use (last checkpoint: {checkpoint})").format(
                checkpoint=cp.name) if cp else _("this run directory is already in use"),
                "\n".join([_("choose one:"), *("      " + c for c in choices)]))
        if refusal:
            raise TunewizError.at(str(run_dir), _("tunewiz will not delete it: {refusal}").format(refusal=refusal),
                                  _("pick another training.output_dir, or move those files away") if kind == "foreign"
                                  else _("move it out first (mv {export} <elsewhere>), or pick another training.output_dir")
                                  .format(export=run_dir / rundir.EXPORT) if kind == "export"
                                  else _("pick another training.output_dir"))
        _refuse_live(run_dir)
        rundir.clear(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.mark(run_dir)


def set_aside_partial(run_dir: Path, resume_from: Path, partial: list[tuple[Path, str]]) -> list[dict[str, str]]:
    """Rename incomplete checkpoints out of the Trainer's way (rundir.set_aside) and say so: an event, a line in
    stdout.log (the monitor's log) and, when following, on the terminal."""
    moved = []
    for cp, problem in partial:
        target = rundir.set_aside(cp)
        note = {"checkpoint": cp.name, "problem": problem, "moved_to": target.name, "resume_from": resume_from.name}
        moved.append(note)
        rundir.EventLog(run_dir).emit("set_aside", **note)
        with open(run_dir / rundir.STDOUT, "a", encoding="utf-8") as log:
            log.write(f"tunewiz: {set_aside_line(note, english=True)}\n")  # the run's log: English
    return moved


SET_ASIDE = N_("skipped {checkpoint}: incomplete, {problem}; kept as {moved_to}; resuming from {resume_from}")


def set_aside_line(note: dict[str, Any], english: bool = False) -> str:
    """A set_aside event as one line, in the user's language (`english`: for the run's log)."""
    problem = note.get("problem")
    return (SET_ASIDE if english else _(SET_ASIDE)).format(
        checkpoint=note.get("checkpoint"), moved_to=note.get("moved_to"), resume_from=note.get("resume_from"),
        problem=problem if english or not isinstance(problem, str) else runs.problem_text(problem))


def check_resumable(run_dir: Path, training: dict[str, Any]) -> None:
    """Refuse to resume a run that already reached its end (the Trainer would run one step past it)."""
    cp = rundir.last_checkpoint(run_dir)
    if cp is None:
        return
    try:
        state = json.loads((cp / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return
    step, epoch = int(state.get("global_step", 0)), float(state.get("epoch") or 0)
    max_steps = int(training.get("max_steps", -1) or -1)
    if max_steps > 0 and step >= max_steps:
        raise TunewizError.at(str(run_dir), _("{checkpoint} is already at step {step}, the run's max_steps ({max_steps})").format(
            checkpoint=cp.name, step=step, max_steps=max_steps),
            _("to train on, raise it: --set training.max_steps={value}").format(value=max_steps * 2))
    epochs = float(training.get("num_train_epochs", 3.0))
    if max_steps <= 0 and epoch >= epochs:
        raise TunewizError.at(str(run_dir), _("{checkpoint} has finished all {epochs:g} epochs").format(checkpoint=cp.name, epochs=epochs),
                              _("to train on, raise it: --set training.num_train_epochs={value:g}").format(value=epochs * 2))


def _refuse_live(run_dir: Path) -> None:
    st = rundir.read_status(run_dir)
    if st.get("state") in rundir.LIVE and rundir.run_alive(st):
        raise TunewizError.at(str(run_dir), _("a training process is still running in it (pid {pid})").format(pid=st["pid"]),
                              _("wait for it, or stop it: kill -TERM {pid}").format(pid=st["pid"]))


# What a resume continues: the same model, method, data and labels as the checkpoint's. Anything else may change
# (max_steps, the learning rate, logging, saving).
LORA_SHAPE = ("r", "lora_alpha", "target_modules", "modules_to_save", "use_dora", "use_rslora", "bias", "layers_to_transform",
              "exclude_modules")
DATASET_KEYS = ("path", "name", "split", "format", "columns", "template", "max_rows", "eval_size")


def run_identity(cfg: config.Config, labels: list[str] | None) -> dict[str, Any]:
    """What a checkpoint was trained on and as (recorded in the run's mark at its first start; `same_run` compares)."""
    from engine.data import load

    ident: dict[str, Any] = {
        "model.name_or_path": cfg.model.name_or_path, "model.revision": cfg.model.revision, "model.task": cfg.model.task,
        "model.quantization": cfg.model.quantization, "method": "lora" if cfg.lora_enabled else "full fine-tune",
        "training.seed (the eval split)": int(cfg.training.get("seed", 42)),
    }
    if cfg.lora_enabled:
        from engine import build

        lc = build.lora_config(cfg)  # peft's defaults filled in: an unset key and its default value are the same
        for k in LORA_SHAPE:
            v = getattr(lc, k, None)
            ident[f"lora.{k}"] = sorted(v) if isinstance(v, set | frozenset) else v
    data = config.to_dict(cfg).get("dataset") or {}
    ident.update({f"dataset.{k}": data.get(k) for k in DATASET_KEYS if data.get(k) not in (None, {}, [])})
    try:
        local = load.local_path(cfg.dataset.path)
    except TunewizError:
        local = None
    if local is not None:
        ident["dataset files"] = data_fingerprint(local)
    if labels:
        ident["labels"] = list(labels)
    return json.loads(json.dumps(ident, default=str))  # as it reads back from the file


SAMPLED_FILES = 64


def data_fingerprint(path: Path) -> str:
    """A digest of a data file or folder: each file's name and size, and the first and last MiB of the first
    SAMPLED_FILES files (at most 128 MiB read at a start, whatever the folder holds; a changed row count or an
    edited file changes it)."""
    import hashlib

    files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    h = hashlib.sha256()
    for i, f in enumerate(files[:10000]):
        try:
            size = f.stat().st_size
            h.update(f"{f.relative_to(path) if f != path else f.name}\0{size}\0".encode())
            if i >= SAMPLED_FILES:
                continue
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    h.update(fh.read())
        except OSError:
            continue
    return f"{len(files)} file{'s' if len(files) != 1 else ''}, sha256 {h.hexdigest()[:16]}"


def check_same_run(run_dir: Path, identity: dict[str, Any]) -> None:
    """Refuse a resume whose model, method, LoRA shape, data or labels differ from the checkpoint's, naming each
    difference (before anything is written: the run's config.yaml stays as it was)."""
    recorded = rundir.identity(run_dir)
    if recorded is None:  # a run started before identities were recorded: its config.yaml is what it was trained with
        try:
            old = config.load(run_dir / rundir.CONFIG, source=str(run_dir / rundir.CONFIG))
        except TunewizError:
            return
        recorded = {k: v for k, v in run_identity(old, None).items() if k != "dataset files"}
        identity = {k: v for k, v in identity.items() if k in recorded or k == "labels"}
        identity.pop("labels", None)
    diffs = [(k, recorded.get(k), identity.get(k)) for k in sorted(set(recorded) | set(identity))
             if recorded.get(k) != identity.get(k)]
    if not diffs:
        return
    shown = "\n".join(f"      {k}: {_short(a)} -> {_short(b)}" for k, a, b in diffs[:8])
    more = "\n      " + _("and {n} more").format(n=len(diffs) - 8) if len(diffs) > 8 else ""
    raise TunewizError.at(str(run_dir), _("cannot resume: its checkpoint was trained with other settings") + f"\n{shown}{more}",
                          _("a resume continues the same training (only steps, rates, logging and saving may change); "
                            "to train with these settings start a new run: --set training.output_dir=runs/<new-name>"))


def _short(v: Any) -> str:
    text = _("(not set)") if v is None else json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
    return text if len(text) <= 60 else text[:57] + "..."


def write_config(cfg: config.Config, run_dir: Path, source: str) -> Path:
    header = (f"Resolved by tunewiz from {source} on {datetime.now():%Y-%m-%d %H:%M:%S}.\n"
              f"Repeat it: tunewiz run {run_dir / rundir.CONFIG} --set training.output_dir=runs/<new-name>")
    path = run_dir / rundir.CONFIG
    tmp = path.with_suffix(".tmp")
    tmp.write_text(config.dump(cfg, header), encoding="utf-8")
    os.replace(tmp, path)
    return path


def start(cfg: config.Config, source: str, *, resume: bool = False, command: list[str] | None = None,
          plan: Any = None, smoke_steps: int | None = None, labels: list[str] | None = None) -> tuple[Path, subprocess.Popen]:
    """Write config and status, start the training process(es) in a new session; returns at once.

    `plan` (engine.distributed.LaunchPlan) picks the launcher; without it, one process. `smoke_steps`: a smoke
    test of this config (engine.smoke) instead of the run. `labels`: the classifier's label names (preflight's),
    part of what a resume must keep (`check_same_run`)."""
    from engine import distributed

    run_dir = Path(cfg.training["output_dir"])
    plan = plan or distributed.LaunchPlan("python", 1, 1, [])
    identity = run_identity(cfg, labels)
    if resume:
        check_same_run(run_dir, identity)
    elif not smoke_steps:
        rundir.record_identity(run_dir, identity)
    # on resume too: the continuation runs with this config (--set may have changed, say, max_steps)
    write_config(cfg, run_dir, source)
    if plan.accelerate_config:
        (run_dir / distributed.ACCELERATE_CONFIG).write_text(yaml.safe_dump(plan.accelerate_config, sort_keys=False))
    (run_dir / rundir.STOP).unlink(missing_ok=True)
    worker = plan.command(run_dir, resume, cfg.launch, smoke_steps=smoke_steps)
    rundir.update_status(run_dir, state="starting", path=str(run_dir.resolve()), source=source, smoke=smoke_steps,
                         command=presets.shell(command or sys.argv), worker=presets.shell(worker), versions=rundir.versions(),
                         started=time.time(), resumed=resume, error=None, launcher=plan.launcher,
                         world_size=plan.world_size, gpus=plan.gpus)
    (run_dir / rundir.EVENTS).touch()  # readers may open it before the process writes its first event
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(run_dir / rundir.STDOUT, "ab") as log:
        proc = subprocess.Popen(worker, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env, cwd=os.getcwd())
    # who to signal later, and how to know it is still this process (a pid is reused once it ends)
    rundir.update_status(run_dir, pid=proc.pid, pgid=proc.pid)  # with its identity (rundir.process_identity)
    runs.register(run_dir)
    return run_dir, proc


def start_smoke(cfg: config.Config, source: str, steps: int, plan: Any = None,
                command: list[str] | None = None) -> tuple[Path, subprocess.Popen]:
    """Start the smoke test of a checked config in `<output_dir>-smoke` (an earlier smoke test there is replaced;
    anything else there is refused)."""
    from engine import smoke

    cfg = cfg.model_copy(deep=True)
    run_dir = smoke.run_dir_for(cfg.training["output_dir"])
    if run_dir.exists() and any(run_dir.iterdir()) and not rundir.read_status(run_dir).get("smoke"):
        raise TunewizError.at(str(run_dir), _("is in use and is not a smoke test's directory; a smoke test will not delete it"),
                              _("move it away, or pick another training.output_dir"))
    prepare_run_dir(run_dir, overwrite=True, resume=False)
    cfg.training["output_dir"] = str(run_dir)
    return start(cfg, source, command=command, plan=plan, smoke_steps=steps)


MODES = ("new", "overwrite", "resume", "smoke")


@dataclass
class Launched:
    """A started run (or smoke test): where it is, its process, what the checks found, and where in events.jsonl its
    own events begin (a resume continues a history: it is followed from there)."""

    run_dir: Path
    proc: subprocess.Popen
    checked: Any  # engine.preflight.Checked
    offset: int = 0


def precheck(cfg: config.Config, mode: str = "new") -> None:
    """What refuses a launch at once, before the checks that load the tokenizer and read every row: a run directory
    that is a file or cannot be written, one in use (new), one that cannot be resumed (resume)."""
    from engine import preflight

    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "smoke":
        return
    run_dir = Path(cfg.training["output_dir"])
    preflight.check_output_dir(run_dir)  # a file, or a folder that cannot be written: before looking inside it
    if mode == "new" and run_dir.exists() and any(run_dir.iterdir()):
        prepare_run_dir(run_dir, overwrite=False, resume=False)  # raises with the choices
    if mode == "resume":
        check_resumable(run_dir, cfg.training)


def launch(cfg: config.Config, source: str, mode: str = "new", *, command: list[str] | None = None,
           smoke_steps: int | None = None, on_checked: Callable[[Any], None] | None = None) -> Launched:
    """The one path from a config to a started process, for `tunewiz run`, `tunewiz smoke` and the wizard: a run
    directory that is in use (new) or cannot be resumed (resume) is refused before the checks, which load the
    tokenizer and read every row; then preflight (`on_checked` sees its result: the summary is printed there),
    then the run directory is prepared (overwrite: the old run set aside; smoke: `<output_dir>-smoke`), then start.
    Raises TunewizError with what and the fix."""
    from engine import preflight

    precheck(cfg, mode)
    run_dir = Path(cfg.training["output_dir"])
    checked = preflight.check(cfg)
    if on_checked is not None:
        on_checked(checked)
    cfg.training = checked.training  # what the engine filled in for this machine (use_cpu, bf16, ...)
    if mode == "smoke":
        run_dir, proc = start_smoke(cfg, source, smoke_steps or 1, plan=checked.launch, command=command)
        return Launched(run_dir, proc, checked)
    prepare_run_dir(run_dir, overwrite=mode == "overwrite", resume=mode == "resume")
    offset = events_end(run_dir) if mode == "resume" else 0
    run_dir, proc = start(cfg, source, resume=mode == "resume", command=command, plan=checked.launch,
                          labels=labels_of(checked))
    return Launched(run_dir, proc, checked, offset)


def stop(run_dir: Path, force: bool = False) -> str:
    """First stop: a STOP file (every process checks it at the end of each step, saves a checkpoint and exits);
    a single process also gets SIGTERM. Forced: SIGKILL to the whole process group (launcher and workers).

    Only the process started for the run is signalled: its pid, start time and command line must be the ones
    recorded at start (rundir.run_process); pid 0, -1 and 1 never. Returns "stopping", "killed", or "gone" (the
    run's process is gone: nothing signalled, and status.json says so instead of a live state)."""
    status = rundir.read_status(run_dir)
    pid, why = rundir.run_process(status)
    if pid is None:
        if status.get("pid") is None and status.get("state") in ("starting", "running") and not force:
            (run_dir / rundir.STOP).touch()  # no pid written yet: the STOP file alone stops it at its first step
            rundir.update_status(run_dir, state="stopping")
            return "stopping"
        mark_gone(run_dir, status, why)
        return "gone"
    if pid <= 1 or pid in (os.getpid(), os.getpgrp()):  # never this process or its own group
        raise TunewizError.at(str(run_dir), _("status.json names pid {pid}, which is not a run's process; nothing was signalled").format(pid=pid))
    if force:
        try:
            if os.getpgid(pid) == pid:  # started with start_new_session: it leads its own group
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rundir.update_status(run_dir, state="failed", error=runs.KILLED)
        return "killed"
    (run_dir / rundir.STOP).touch()
    rundir.update_status(run_dir, state="stopping")
    if status.get("world_size", 1) == 1:
        # a launcher (torchrun, accelerate) would kill its workers on SIGTERM instead of letting them save
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return "stopping"


def stop_run(run_dir: Path) -> str:
    """First stop: SIGTERM (a checkpoint at the end of the step, clean exit); a second: kill the group.
    Only the run's own process is signalled (`stop`); a pid that is gone or now another process's is
    refused with "the run's process is gone", and status.json stops saying it runs."""
    status = rundir.read_status(run_dir)
    if not status and not (run_dir / rundir.FINAL).is_dir():
        # status.json deleted or damaged: no pid to signal, but a live run still reads its STOP file every step
        (run_dir / rundir.STOP).touch()
        return "stop-file"
    if status.get("state") not in rundir.LIVE:
        state, _cause = runs.effective_state(run_dir, status)
        raise TunewizError.at(str(run_dir), _("the run is not running (state: {state})").format(state=runs.state_text(state)),
                              _("nothing to stop"))
    what = stop(run_dir, force=status.get("state") == "stopping")
    if what == "gone":
        st = rundir.read_status(run_dir)
        err = st.get("error")
        what = err if isinstance(err, str) and err.startswith(runs.PROCESS_GONE_SHORT) else runs.PROCESS_GONE_SHORT
        now = st.get("state")
        raise TunewizError.at(str(run_dir), _("{what}; nothing was signalled, and the run is now marked {state}").format(
            what=runs.cause_text(what), state=runs.state_text(now) if isinstance(now, str) else now),
            _("resume it from its last checkpoint: tunewiz resume {run}").format(run=run_dir))
    return what


def mark_gone(run_dir: Path, status: dict[str, Any], why: str) -> str:
    """A live state whose process is gone: status.json takes the end event's state, else failed with the cause."""
    end = next((e for e in reversed(runs.tail_events(run_dir)) if e.get("type") == "end"), None)
    state = end.get("state") if end and end.get("state") in rundir.STATES else "failed"
    error = None if end else runs.PROCESS_GONE.format(why=why)
    if status.get("state") in rundir.LIVE:
        rundir.update_status(run_dir, state=state, **({"error": error} if error else {}))
    return state


def progress_line(ev: dict[str, Any], t0: float, first_step: int) -> str:
    """A log event as one line. The rate is measured between the events' own times (`t0`: the time of this
    process's start event, `first_step` its step), so lines read late, or all at once, show the real pace."""
    step, total = ev.get("step", 0), ev.get("max_steps") or 0
    parts = [_("step {step}/{total}").format(step=step, total=total) if total else _("step {step}").format(step=step)]
    for key, fmt in PROGRESS:
        if isinstance(ev.get(key), int | float):
            parts.append(_(fmt).format(value=ev[key]))
    done = step - first_step if isinstance(step, int) else 0
    at = ev.get("time")
    if done > 0 and total and isinstance(at, int | float) and at > t0:
        per = (at - t0) / done
        parts.append(_("{per:.2f} s/step, ETA {eta}").format(per=per, eta=duration(per * (total - step))))
    return " | ".join(parts)


# a progress line's numbers, by event key (their words in the user's language, their format as written)
PROGRESS = (("loss", N_("loss {value:.4f}")), ("rewards/margins", N_("margin {value:.3f}")),
            ("rewards/accuracies", N_("acc {value:.2f}")), ("learning_rate", N_("lr {value:.2e}")),
            ("grad_norm", N_("grad {value:.3f}")), ("epoch", N_("epoch {value:.2f}")))


# an eval line's numbers, by event key: their names in the user's language
EVAL_NAMES = {"loss": N_("loss"), "accuracy": N_("accuracy"), "f1": N_("f1"), "rewards/accuracies": N_("accuracies"),
              "rewards/margins": N_("margins")}


def held_out_line(ev: dict[str, Any]) -> str:
    """The evaluation at the end of a run (evaluate.at_end), as one line."""
    if ev.get("error"):
        return _("held-out evaluation failed: {error}").format(error=ev["error"])

    def num(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, int | float) else "-"

    return _("held-out rows ({rows}): {metric} tuned {tuned}, base {base} (eval.json; all metrics: tunewiz eval)").format(
        rows=ev.get("rows"), metric=ev.get("metric"), tuned=num(ev.get("tuned")), base=num(ev.get("base")))


def follow(run_dir: Path, proc: subprocess.Popen, out: Any = None, offset: int = 0) -> str:
    """Print progress from events.jsonl (from byte `offset`: a resume starts after the history it continues) until
    the process ends, its last events included; Ctrl-C stops it (twice: kills it). Returns the run's end state."""
    out = out or sys.stdout
    t0, first_step, stops = time.time(), 0, 0
    reader = monitor.RunReader(run_dir, start=offset)
    while True:
        try:
            for events in monitor.watch(reader, proc):
                for ev in events:
                    line = event_line(ev)
                    if ev.get("type") == "start":
                        t0 = ev["time"] if isinstance(ev.get("time"), int | float) else time.time()
                        first_step = ev.get("step", 0) if isinstance(ev.get("step"), int) else 0
                    elif ev.get("type") == "log":
                        line = progress_line(ev, t0, first_step)
                    if line:
                        print(line, file=out, flush=True)
            return ended_state(run_dir, proc.returncode)
        except KeyboardInterrupt:
            stops += 1
            if stops == 1:
                print("\n" + _("stopping: a checkpoint is saved at the end of this step (Ctrl-C again kills it)"), file=out, flush=True)
                stop(run_dir)
            else:
                print("\n" + _("killing the training process group"), file=out, flush=True)
                stop(run_dir, force=True)
                proc.wait()
                return "failed"


def event_line(ev: dict[str, Any]) -> str | None:
    """The line `tunewiz run` prints for one event (a step's line needs the start's clock: progress_line)."""
    kind = ev.get("type")
    if kind == "start":
        return _("training: {rows} rows, {params:,} trainable parameters on {device}").format(
            rows=ev.get("train_rows"), params=ev.get("trainable_params", 0), device=ev.get("device"))
    if kind == "eval":
        shown = {EVAL_NAMES[k]: v for k, v in ev.items() if k in EVAL_NAMES and v is not None}
        return _("eval: {metrics}").format(metrics=", ".join(f"{_(k)} {v:.4f}" for k, v in shown.items())) if shown else None
    if kind == "save":
        return _("saved {checkpoint}").format(checkpoint=ev.get("checkpoint"))
    if kind == "error":
        return _("error: {message}").format(message=ev.get("message"))
    if kind == "set_aside":
        return set_aside_line(ev)
    if kind == "held_out":
        return held_out_line(ev)
    return None


def events_end(run_dir: Path) -> int:
    """Where the history of a run ends (a resumed run is followed from there; its set-aside notes come after)."""
    try:
        return (run_dir / rundir.EVENTS).stat().st_size
    except OSError:
        return 0


def ended_state(run_dir: Path, returncode: int | None) -> str:
    """The state of a run whose process (followed in the foreground) has exited. A process killed before it could
    write its end (kill -9, the out-of-memory killer) is marked failed here, with the signal as the cause."""
    status = rundir.read_status(run_dir)
    state = status.get("state")
    if state in rundir.ENDED:
        return state
    if isinstance(returncode, int) and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = runs.SIGNAL_WHY.get(name, runs.SIGNAL_WHY[""])
        error = runs.ENDED_BY.format(signal=name, why=why)  # English: status.json keeps it (runs.cause_text shows it)
    else:
        error = runs.EXITED.format(code=returncode)
    free = rundir.free_bytes(run_dir)
    if free is not None and free < rundir.LOW_SPACE:
        disk = rundir.disk_full_message(run_dir, english=True)
        error = (runs.ENDED_BY_DISK.format(signal=name, why=why, disk=disk) if isinstance(returncode, int) and returncode < 0
                 else runs.EXITED_DISK.format(code=returncode, disk=disk))
    try:
        rundir.update_status(run_dir, state="failed", error=error)
    except OSError:
        pass
    return "failed"


def resume(run_dir: Path, overrides: list[str] | None = None, command: list[str] | None = None) -> tuple[Path, subprocess.Popen]:
    """Continue a run from its last checkpoint with its own config (--set may change, say, max_steps)."""
    from engine import preflight

    cfg = config.load(run_dir / rundir.CONFIG, overrides)
    cfg.training["output_dir"] = str(run_dir)
    prepare_run_dir(run_dir, overwrite=False, resume=True)
    check_resumable(run_dir, cfg.training)
    checked = preflight.check(cfg)
    cfg.training = checked.training
    return start(cfg, str(run_dir / rundir.CONFIG), resume=True, command=command or ["tunewiz", "resume", str(run_dir)],
                 plan=checked.launch, labels=labels_of(checked))


def labels_of(checked: Any) -> list[str] | None:
    """A classifier's label names as preflight found them in the data (None for a language model)."""
    plan = getattr(getattr(checked, "prepared", None), "plan", None)
    return list(plan.label_names) if plan is not None and plan.label_names else None
