"""Launching from the wizard: `start_run` checks, prepares the run directory and starts the detached run
(it runs in a worker); the review step then opens the monitor on it. Quitting the wizard leaves the run
going; `tunewiz attach` opens the same monitor later."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from engine import config, launch, presets, rundir
from engine.config import Config
from engine.errors import TunewizError
from engine.i18n import _

DONE = rundir.ENDED
LIVE = rundir.LIVE
Launched = tuple[Path, "subprocess.Popen | None", list[str], "TunewizError | None", tuple[str, ...]]


def start_run(cfg: Config, source: str | None, base: tuple[Any, dict[str, Any]] | None, mode: str) -> Launched:
    """engine.launch.launch (the one path of `tunewiz run` and the wizard) for mode new, overwrite or resume; never
    raises. Returns (run_dir, process or None, the equivalent command, the problem or None, the choices for it)."""
    if not cfg.training.get("output_dir"):
        cfg.training["output_dir"] = config.default_output_dir(source or "run")
    run_dir = Path(cfg.training["output_dir"])
    argv = repeat_command(cfg, base, run_dir, mode)
    try:
        started = launch.launch(cfg, source or "the tunewiz wizard", mode, command=argv)
    except TunewizError as e:
        return run_dir, None, argv, *run_dir_choices(e, run_dir, mode)
    except Exception as e:  # an unreadable folder, a full disk: shown, never a crash
        return run_dir, None, argv, TunewizError.at("launch", f"{type(e).__name__}: {e}"), ()
    return started.run_dir, started.proc, argv, None, ()


def start_smoke(cfg: Config, source: str | None, base: tuple[Any, dict[str, Any]] | None,
                steps: int) -> tuple[Path | None, subprocess.Popen | None, TunewizError | None]:
    """engine.launch.launch of the smoke test of these choices (engine.smoke); never raises."""
    if not cfg.training.get("output_dir"):  # one smoke directory per preset (runs/<name>-smoke), replaced each time
        cfg.training["output_dir"] = str(Path("runs") / Path(source or "run").stem)
    argv = [a for a in repeat_command(cfg, base, Path(cfg.training["output_dir"]), "new") if a != "--detach"]
    argv[1:2] = ["smoke"]
    try:
        started = launch.launch(cfg, source or "the tunewiz wizard", "smoke", smoke_steps=steps,
                                command=[*argv, "--steps", str(steps)])
    except TunewizError as e:
        return None, None, e
    except Exception as e:  # an unreadable folder, a full disk: shown, never a crash
        return None, None, TunewizError.at("smoke test", f"{type(e).__name__}: {e}")
    return started.run_dir, started.proc, None


def repeat_command(cfg: Config, base: tuple[Any, dict[str, Any]] | None, run_dir: Path, mode: str) -> list[str]:
    """The `tunewiz run` line that does what this launch does: the base preset with --set, else the run's config."""
    argv = None
    if base is not None:
        argv, removed = presets.run_command(base[0], presets.diff(base[1], config.to_dict(cfg)))
        argv = None if removed else argv
    argv = argv or ["tunewiz", "run", presets.display_path(run_dir / rundir.CONFIG)]
    return [*argv, *{"overwrite": ["--overwrite"], "resume": ["--resume"]}.get(mode, []), "--detach"]


def run_dir_choices(e: TunewizError, run_dir: Path, mode: str = "new") -> tuple[TunewizError, tuple[str, ...]]:
    """For a run directory in use: the problem told in the wizard's words, and the choices it allows. A refused
    resume (mode "resume": other settings than the checkpoint's) keeps the engine's fix and is not offered again."""
    if not any(p.where == str(run_dir) for p in e.problems) or not (run_dir.is_dir() and any(run_dir.iterdir())):
        return e, ()
    st = rundir.read_status(run_dir)
    if st.get("state") in LIVE and rundir.pid_alive(st.get("pid")):
        return e, ("new",)
    if not rundir.is_run_dir(run_dir):
        return TunewizError.at(presets.display_path(run_dir), e.problems[0].what,
                               _("New folder: a fresh training.output_dir")), ("new",)
    resume = ("resume",) if rundir.last_checkpoint(run_dir) and mode != "resume" else ()
    overwrite = () if rundir.overwrite_refusal(run_dir) else ("overwrite",)  # a run holding foreign files is never emptied
    fix = "; ".join([_("New folder: a fresh training.output_dir"),
                     *([_("Overwrite: delete it and start over")] if overwrite else []),
                     *([_("Resume: go on from its last checkpoint")] if resume else [])])
    if mode == "resume" and e.problems[0].fix:
        fix = f"{e.problems[0].fix}\n{fix}"
    return TunewizError.at(presets.display_path(run_dir), e.problems[0].what, fix), ("new", *overwrite, *resume)
