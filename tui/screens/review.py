"""Step 6: the review. The preset as YAML, the `tunewiz run` command that repeats it, a memory estimate for
a chosen GPU, the difference from the loaded preset, and every preflight warning (in a worker); save as
a preset; launch (a detached run, then the LaunchedScreen follows it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.markup import escape
from textual.message import Message
from textual.widgets import Button, Label, Select, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from engine import config, estimate, presets, smoke
from engine.config import Config
from engine.errors import TunewizError
from engine.i18n import N_, _
from tui import heavy
from tui.messages import ModelInspected
from tui.step import StepScreen
from tui.widgets.memory_table import CPU, MemoryTable, gpu_gib, gpu_options


def settled(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """fn(*args) once the heavy libraries are imported (see tui/heavy.py)."""
    heavy.ready()
    return fn(*args, **kwargs)


TABS = [(N_("YAML"), "yaml"), (N_("Command"), "command"), (N_("Memory"), "memory"), (N_("Diff"), "diff"),
        (N_("Warnings"), "warnings")]
SMOKE_KEYS = N_("esc cancels it; Launch stops it and launches the run")


def problem_text(e: TunewizError) -> list[str]:
    """Each problem as markup: where and what in red, then the fix."""
    fix = escape(_("fix:"))
    return [f"[red]{escape(f'{p.where}: {p.what}' if p.where else p.what)}[/]" + (f"\n  [dim]{fix}[/] {escape(p.fix)}" if p.fix else "")
            for p in e.problems]


class GpusDetected(Message):
    """The GPUs of this machine (name, GiB), found by a worker."""

    def __init__(self, found: list[tuple[str, float]]) -> None:
        super().__init__()
        self.found = found


class PresetChecked(Message):
    """Preflight ran on the choices dumped as `text` (from a worker): the problems that block the launch, or the
    summary lines and those of them that are warnings."""

    def __init__(self, text: str, problems: list[str], summary: list[str], warned: list[str]) -> None:
        super().__init__()
        self.text, self.problems, self.summary, self.warned = text, problems, summary, warned


class LengthsMeasured(Message):
    """The token count of every training row of the choices `text`, and the processes of their launch plan."""

    def __init__(self, text: str, lengths: Any, world: int) -> None:
        super().__init__()
        self.text, self.lengths, self.world = text, lengths, world


class SmokeStarted(Message):
    """The smoke test's process is running (its run directory is known: it can be stopped)."""


class SmokeProgressed(Message):
    """What the smoke test is doing now (a later message replaces one not yet shown)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SmokeProgressed)


class SmokeEnded(Message):
    """The smoke test of the choices `text` ended: its result (None: it failed, was cancelled or never started)
    and the lines that say so."""

    def __init__(self, text: str, result: dict[str, Any] | None, shown: list[str]) -> None:
        super().__init__()
        self.text, self.result, self.shown = text, result, shown


class LaunchAttempted(Message):
    """The launch worker ended: the run started (`error` None), or the problem, with the choices a run directory
    in use allows."""

    def __init__(self, run_dir: Path, proc: Any, argv: list[str], error: TunewizError | None,
                 choices: tuple[str, ...]) -> None:
        super().__init__()
        self.run_dir, self.proc, self.argv, self.error, self.choices = run_dir, proc, argv, error, choices


class Choices(Horizontal):
    """The launch box's buttons (a used run directory's choices): left / right move between those on show."""

    BINDINGS = [Binding("left", "move(-1)", show=False), Binding("right", "move(1)", show=False)]

    def action_move(self, step: int) -> None:
        shown = [b for b in self.query(Button) if b.display]
        if self.app.focused in shown:
            shown[(shown.index(self.app.focused) + step) % len(shown)].focus()


class ReviewScreen(StepScreen):
    """The last step: everything the run will be, then save and launch."""

    STEP = "review"
    CSS_PATH = "review.tcss"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+s", "save", N_("Save preset")),
                Binding("ctrl+t", "smoke", N_("Smoke test")), Binding("ctrl+r", "launch", N_("Launch")),
                Binding("ctrl+right", "tab(1)", N_("Tabs"), key_display="^←→"),
                Binding("ctrl+left", "tab(-1)", N_("Previous tab"), show=False),
                Binding("escape", "cancel_smoke", N_("Cancel")),
                # while a smoke test runs, ^t cancels it (as a second press always did) and leaves the footer to esc, so
                # the footer keeps to 80 columns in every language
                Binding("ctrl+t", "cancel_smoke", N_("Cancel"), show=False)]
    smoke_steps = smoke.DEFAULT_STEPS  # (tests use fewer)

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="review-tabs"):
            for title, key in TABS:
                with TabPane(_(title), id=f"tab-{key}"):
                    if key == "memory":
                        with Horizontal(classes="row"):
                            yield Label("GPU", classes="field-label")
                            yield Select(gpu_options([]), value=CPU, allow_blank=False, id="gpu")
                    with VerticalScroll(classes="pane"):
                        yield MemoryTable("", id=key) if key == "memory" else Static("", id=key)
        with Vertical(id="launch-box"):
            with VerticalScroll(id="launch-scroll"):  # a long refusal scrolls; the choices stay in view
                yield Static("", id="launch-msg")
            with Choices(id="launch-choices"):
                yield Button(_("New folder"), id="choice-new")
                yield Button(_("Overwrite (deletes it)"), id="choice-overwrite", variant="error")
                yield Button(_("Resume"), id="choice-resume")
                yield Button(_("Cancel smoke test (esc)"), id="choice-cancel", variant="warning")

    def on_mount(self) -> None:
        self._saved: tuple[Path, dict[str, Any]] | None = None  # the file last saved here and what it holds
        self._checked_yaml: str | None = None
        self._problems: list[str] | None = None  # None while preflight runs
        self._summary: list[str] = []
        self._warned: list[str] = []  # the summary's warnings
        self._info: Any = None
        self._info_error: str | None = None
        self._lengths: Any = None  # token count of each training row, once the check worker has tokenized the data
        self._world = 1  # training processes (the launch plan of the check)
        self._launching = False
        self._smoke: dict[str, Any] | None = None  # the last smoke test's result, for these choices
        self._smoke_yaml: str | None = None  # the choices it measured
        self._smoke_run: Path | None = None  # the smoke test running now
        self._smoke_cancel: str | None = None  # "cancel" or "launch" (Launch stops it, then launches)
        self._smoke_shown: str | None = None  # the choices whose smoke result the launch box shows
        self._smoke_started = False
        self.query_one(".nav").mount(Button(_("Save as preset"), id="save"), Button(_("Smoke test"), id="smoke"),
                                     Button(_("Launch"), id="launch", variant="success"), after="#back")
        self.query_one("#review-tabs Tabs").focus()  # left/right move between the tabs at once
        self._detect_gpus()

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        text = config.dump(cfg)
        if text != self._checked_yaml:
            self._checked_yaml, self._problems, self._lengths = text, None, None
            self._check(cfg.model_copy(deep=True), text)
        info = self.wizard.model_info
        if info is not None and info.ref == cfg.model.name_or_path:
            self._info, self._info_error = info, None
        elif self._info is None or self._info.ref != cfg.model.name_or_path:
            self._info, self._info_error = None, None
            self._inspect(cfg.model.name_or_path, cfg.model.task, cfg.model.trust_remote_code)
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw every tab from the config and what the workers found."""
        cfg = self.cfg
        self.query_one("#yaml", Static).update(highlight(config.dump(cfg), language="yaml"))
        self.query_one("#command", Static).update(self._command_text())
        changes, base_name = self._diff()
        self.query_one("#diff", Static).update(self._diff_text(changes, base_name))
        est = self._render_memory()
        warnings = self._warnings(est)
        self.query_one("#warnings", Static).update("\n".join(warnings) or "[dim]...[/]")
        tabs = self.query_one("#review-tabs", TabbedContent)
        tabs.get_tab("tab-diff").label = _("Diff ({n})").format(n=len(changes)) if changes else _("Diff")
        n = 0 if self._problems is None else len(self._problems) + len(self._warned) + (est is not None and est.fits is False)
        # problems that block the launch name the tab (in red): a "warnings" tab read as "the run can start"
        tabs.get_tab("tab-warnings").label = (_("Warnings ...") if self._problems is None else
                                              Content.from_markup("[b red]$label[/]", label=_("Problems ({n})").format(n=n))
                                              if self._problems else
                                              _("Warnings ({n})").format(n=n) if n else _("Warnings"))
        if self._smoke_shown is not None and self._smoke_shown != config.dump(cfg):  # other values: not theirs
            self._smoke_shown = None
            self._show_launch("")

    # ----------------------------------------------------------------------------------- the command
    def _base(self) -> tuple[Path | str | None, dict[str, Any] | None]:
        """The file the current choices are told relative to: the last save, else the loaded preset."""
        if self._saved:
            return self._saved
        return self.wizard.source, self.wizard.loaded_preset

    def _command(self, cfg: Config) -> tuple[list[str] | None, list[str]]:
        path, base = self._base()
        if path is None or base is None:
            return None, []
        return presets.run_command(path, presets.diff(base, config.to_dict(cfg)))

    def _command_text(self) -> str:
        argv, removed = self._command(self.cfg)
        if argv is None:
            return (_("These choices are not in a preset file yet. Save them ([b]ctrl+s[/]) and run them headless with")
                    + "\n\n  [b]tunewiz run " + escape(_("<the saved file>")) + "[/]")
        lines = [presets.shell(argv[:3])] + [f"  --set {presets.shell([a])}" for a in argv[4::2]]
        text = _("Run the same thing headless (from this folder):") + "\n\n[b]" + escape(" \\\n".join(lines)) + "[/]\n"
        text += "\n[dim]" + _("--set overrides a key of the preset file; add --detach to return at once.") + "[/]"
        run = escape(argv[2])
        text += "\n\n" + _("After the run: [b]tunewiz chat {run}[/] (tuned | base, side by side), [b]tunewiz eval {run}[/] "
                           "(the held-out rows), [b]tunewiz export {run} --merge[/] (a model to ship).").format(run=run)
        if removed:
            text += "\n[yellow]" + escape(_("--set cannot remove {keys}: save the preset (ctrl+s) for an exact command.").format(
                keys=", ".join(removed))) + "[/]"
        return text

    # -------------------------------------------------------------------------------------- the diff
    def _diff(self) -> tuple[list[tuple[str, Any, Any]], str]:
        base, source = self.wizard.loaded_preset, self.wizard.source
        if base is None:
            return presets.diff(config.to_dict(config.load(None)), config.to_dict(self.cfg)), _("tunewiz's defaults")
        name = _("the loaded preset") if source is None else presets.preset_arg(source)
        return presets.diff(base, config.to_dict(self.cfg)), name

    @staticmethod
    def _diff_text(changes: list[tuple[str, Any, Any]], base_name: str) -> str:
        if not changes:
            return escape(_("No change from {name}.").format(name=base_name))
        lines = [escape(_("Changed from {name}:").format(name=base_name))]
        for key, old, new in changes:
            lines.append(f"  [b]{escape(key)}[/]: [red]{escape(presets.yaml_value(old))}[/] -> [green]{escape(presets.yaml_value(new))}[/]")
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------ the memory
    def _render_memory(self) -> estimate.Estimate | None:
        box = self.query_one("#memory", MemoryTable)
        if self._info is None:
            box.show_missing(self._info_error)
            return None
        from engine import speed

        gib = gpu_gib(self.query_one("#gpu", Select).value)
        measured = None
        if self._smoke is not None and self._smoke_yaml == config.dump(self.cfg):
            measured = smoke.lines(self._smoke)
        # the function and inputs of validate / run and the training process: the data's lengths once measured
        hw = speed.cpu_hardware() if gib is None else speed.gpu_hardware(gib)
        resolved = (speed.resolve(self.cfg, hw, self._info) if self._lengths is None else
                    speed.for_data(self.cfg, hw, self._info, self._lengths, self._world))
        est = resolved.estimate
        if est is None:
            box.show_missing(_("no estimate for this model"))
        elif gib is None:  # (no GPU defaults to list, nor the note that says so)
            box.show(est, self._info, measured=measured)
        else:
            box.show(est, self._info, applied=resolved.applied, notes=resolved.notes, auto=self.cfg.speed.auto,
                     measured=measured)
        return est

    @on(Select.Changed, "#gpu")
    def _gpu_changed(self) -> None:
        self.refresh_view()

    @work(thread=True, exclusive=True, group="review-gpus")
    def _detect_gpus(self) -> None:
        found = estimate.detect_gpus()
        if found and not get_current_worker().is_cancelled:
            self.post_message(GpusDetected(found))

    @on(GpusDetected)
    def _show_gpus(self, message: GpusDetected) -> None:
        select = self.query_one("#gpu", Select)
        options = gpu_options(message.found)
        select.set_options(options)
        select.value = options[0][1]

    @work(thread=True, exclusive=True, group="review-inspect")
    def _inspect(self, ref: str, task: str, trust_remote_code: bool) -> None:
        from engine.inspect import inspect_model

        worker = get_current_worker()
        try:
            inspected = ModelInspected(ref, settled(inspect_model, ref, trust_remote_code=trust_remote_code, task=task), None)
        except TunewizError as e:
            inspected = ModelInspected(ref, None, e.problems[0].what)
        except Exception as e:  # a broken download, an unreadable file: shown, never a crash
            inspected = ModelInspected(ref, None, f"{type(e).__name__}: {e}")
        if not worker.is_cancelled:
            self.post_message(inspected)

    @on(ModelInspected)
    def _inspected(self, message: ModelInspected) -> None:
        if message.ref == self.cfg.model.name_or_path:
            self._info, self._info_error = message.info, message.error
            self.refresh_view()

    # ---------------------------------------------------------------------------------- the warnings
    @work(thread=True, exclusive=True, group="review-check")
    def _check(self, cfg: Config, text: str) -> None:
        from engine import preflight

        worker = get_current_worker()
        checked = None
        try:
            checked = settled(preflight.check, cfg)
            summary = checked.summary()
            outcome = PresetChecked(text, [], summary, [line for line in summary if preflight.is_warning(line)])
        except TunewizError as e:
            outcome = PresetChecked(text, problem_text(e), [], [])
        except Exception as e:
            outcome = PresetChecked(text, [f"[red]{escape(f'{type(e).__name__}: {e}')}[/]"], [], [])
        if worker.is_cancelled:
            return
        self.post_message(outcome)
        if checked is not None:  # then the data's real lengths (preflight prepared every row), for the memory estimate
            from engine.data import pipeline

            lengths = pipeline.lengths(checked.prepared.train)
            world = checked.launch.world_size if checked.launch is not None else 1
            if not worker.is_cancelled:
                self.post_message(LengthsMeasured(text, lengths, world))

    @on(PresetChecked)
    def _checked(self, message: PresetChecked) -> None:
        if message.text == self._checked_yaml:
            self._problems, self._summary, self._warned = message.problems, message.summary, message.warned
            self.refresh_view()

    @on(LengthsMeasured)
    def _measured(self, message: LengthsMeasured) -> None:
        if message.text == self._checked_yaml:
            self._lengths, self._world = message.lengths, message.world
            self.refresh_view()

    def _warnings(self, est: estimate.Estimate | None) -> list[str]:
        if self._problems is None:
            out = ["[dim]" + _("Checking the preset: config, model, tokenizer, dataset and its first rows (no weights)...")
                   + "[/]"]
        elif self._problems:
            out = ["[b]" + _("{n} problem(s) block the launch:").format(n=len(self._problems)) + "[/]", *self._problems]
        else:
            warned = self._warned
            head = (_("[yellow]{n} warning(s)[/]: the run can start, but read them first (no weights loaded):").format(
                n=len(warned)) if warned else _("[green]Every check passed[/] (no weights loaded):"))
            out = [head, *[f"  [yellow]{escape(line)}[/]" for line in warned],
                   *[f"  {escape(line)}" for line in self._summary if line not in warned]]
        if est is not None and est.fits is False:
            out.append("[yellow]" + _("Memory: about {size} does not fit the chosen {gpu:g} GiB GPU.").format(
                size=estimate.gib(est.total), gpu=est.gpu_gib) + f"[/]\n  {escape(est.advice)}")
        return out

    # ------------------------------------------------------------------------------- save and launch
    @on(Button.Pressed, "#save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    @on(Button.Pressed, "#smoke")
    def _smoke_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_smoke()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_launch()

    @on(Button.Pressed, "#choice-new")
    def _new_folder_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._new_folder()

    @on(Button.Pressed, "#choice-overwrite")
    def _overwrite_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.launch("overwrite")

    @on(Button.Pressed, "#choice-resume")
    def _resume_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.launch("resume")

    @on(Button.Pressed, "#choice-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel_smoke()

    def action_save(self) -> None:
        from tui.screens.presets import SavePresetScreen, follow_name, user_dir_of

        path = self._saved[0] if self._saved else None
        source = Path(self.wizard.source) if self.wizard.source else None
        name = path.stem if path else source.stem if source else "my-preset"
        folder = path.parent if path else user_dir_of(self.app)
        est = self._render_memory()
        snapshot = self.cfg.model_copy(deep=True)
        if not path and presets.shadows_shipped(folder, name):  # `tunewiz run NAME` would run the shipped one
            snapshot = follow_name(snapshot, name, f"{name}-mine")  # its run directory follows the name, as a rename does
            name = f"{name}-mine"

        def saved(result: str | None) -> None:
            nonlocal snapshot
            if result:
                snapshot = follow_name(snapshot, name, Path(result).stem)  # as the dialog wrote it
                self.cfg.training["output_dir"] = snapshot.training["output_dir"]
                self._saved = (Path(result), config.to_dict(snapshot))
                self.wizard.saved = config.to_dict(snapshot)
                self.notify(_("Saved {path}").format(path=presets.display_path(result)), title=_("Preset"))
                self.refresh_view()

        self.app.push_screen(SavePresetScreen(snapshot, name, folder, est.hardware_line() if est else ""), saved)

    def action_launch(self) -> None:
        self.launch("new")

    def action_tab(self, step: int) -> None:
        """The next or previous tab, wherever the focus is."""
        tabs = self.query_one("#review-tabs", TabbedContent)
        keys = [f"tab-{key}" for _title, key in TABS]
        tabs.active = keys[(keys.index(tabs.active) + step) % len(keys)]

    # ------------------------------------------------------------------------------------ smoke test
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_smoke":
            return self._smoking
        if action == "smoke":
            return not self._smoking
        return True

    @property
    def _smoking(self) -> bool:
        """A smoke test is being checked, started, run or stopped."""
        return getattr(self, "_smoke_started", False)

    def action_smoke(self) -> None:
        """A few real steps of this run (engine.smoke), then its measured peak memory, speed and ETA; again: cancel."""
        if self._smoking:
            self.action_cancel_smoke()
            return
        if self._launching:
            return
        self._launching, self._smoke_started, self._smoke_cancel, self._smoke_shown = True, True, None, None
        self.refresh_bindings()
        self._show_launch("[b]" + _("Smoke test") + "[/]: " + escape(_("checking the preset, then up to {n} {what}...").format(
            n=self.smoke_steps, what=smoke.timed())) + "\n[dim]" + _(SMOKE_KEYS) + "[/]", ("cancel",))
        path, base = self._base()
        self._run_smoke(self.cfg.model_copy(deep=True), self.wizard.source,
                        (path, base) if path is not None and base is not None else None, config.dump(self.cfg))

    def action_cancel_smoke(self, then: str = "cancel") -> None:
        """Stop the running smoke test (again: kill it); `then="launch"`: launch the run once it has exited."""
        if not self._smoking:
            return
        again = self._smoke_cancel is not None
        self._smoke_cancel = then if then == "launch" or self._smoke_cancel is None else self._smoke_cancel
        run_dir = self._smoke_run
        if run_dir is not None:
            from engine import launch

            try:
                launch.stop(run_dir, force=again)
            except Exception as e:  # already gone: the worker sees it end
                self.notify(f"{type(e).__name__}: {e}", severity="warning")
        if self._smoke_cancel == "launch":
            what = _("killing it (then the launch starts)...") if again else _("stopping it (then the launch starts)...")
        else:
            what = _("killing it (esc again kills it)...") if again else _("stopping it (esc again kills it)...")
        self._show_launch("[b]" + _("Smoke test") + "[/]: " + what, ("cancel",))

    @work(thread=True, exclusive=True, group="review-launch")
    def _run_smoke(self, cfg: Config, source: str | None, base: tuple[Any, dict[str, Any]] | None, text: str) -> None:
        import json
        import time

        from engine import launch, monitor, rundir
        from tui.launching import start_smoke

        worker = get_current_worker()
        if self._smoke_cancel is None:
            run_dir, proc, error = settled(start_smoke, cfg, source, base, self.smoke_steps)
        else:  # cancelled while the preset was checked
            run_dir, proc, error = None, None, TunewizError.at(_("smoke test"), _("cancelled before it started"))
        if error is not None or run_dir is None or proc is None:
            self.post_message(SmokeEnded(text, None, ["[b]" + _("Smoke test not started.") + "[/]", *problem_text(error)]))
            return
        self._smoke_run = run_dir
        if self._smoke_cancel is not None:  # cancelled while it started
            launch.stop(run_dir)
        self.post_message(SmokeStarted())
        step, loading, steps, began = 0, True, self.smoke_steps, time.monotonic()
        for events in monitor.watch(monitor.RunReader(run_dir, start=0), proc, cancelled=lambda: worker.is_cancelled):
            if worker.is_cancelled:  # the wizard closed: a smoke test nobody reads must not hold the GPU
                launch.stop(run_dir)
                return
            for ev in events:
                if ev.get("type") == "start":
                    began = time.monotonic()
                    steps = (ev.get("smoke") or {}).get("steps") or steps
                loading = loading and ev.get("type") not in ("start", "log")
                step = max(step, int(ev.get("step") or 0))
            if self._smoke_cancel is None:
                what = (_("loading the model and data") if loading else
                        _("step {step}/{steps}, {seconds:.0f} s of at most about {budget:.0f} s").format(
                            step=step, steps=steps, seconds=time.monotonic() - began, budget=smoke.budget()))
                self.post_message(SmokeProgressed(
                    _("[b]Smoke test[/] in {path}: {what}...").format(path=escape(presets.display_path(run_dir)), what=what)
                    + "\n[dim]" + _(SMOKE_KEYS) + "[/]"))
        result = run_dir / smoke.RESULT
        if self._smoke_cancel is None and result.is_file():
            res = json.loads(result.read_text())
            gone = smoke.remove(run_dir)
            self.post_message(SmokeEnded(text, res, [
                _("[b]Smoke test[/] (measured on this machine, its folder deleted: it saves nothing):") if gone
                else _("[b]Smoke test[/] (measured on this machine):"),
                *[escape(line) for line in smoke.lines(res)]]))
            return
        status = rundir.read_status(run_dir)
        if self._smoke_cancel is not None or status.get("state") == "stopped":
            smoke.remove(run_dir)
            self.post_message(SmokeEnded(text, None, [_("[b]Smoke test cancelled[/] (its folder deleted).")]))
            return
        self.post_message(SmokeEnded(text, None, [
            "[b]" + escape(_("Smoke test {state}").format(state=status["state"]) if status.get("state") not in (None, "", "failed")
                           else _("Smoke test failed")) + "[/]: [red]"
            + escape(str(status.get("error") or _("see the log"))) + "[/]",
            "  [dim]" + escape(_("log (kept until the next smoke test):")) + "[/] "
            + escape(presets.display_path(run_dir / rundir.STDOUT))]))

    @on(SmokeStarted)
    def _smoke_running(self) -> None:
        self.refresh_bindings()

    @on(SmokeProgressed)
    def _smoke_progressed(self, message: SmokeProgressed) -> None:
        if self._smoke_cancel is None:  # (a stop asked meanwhile shows instead)
            self._show_launch(message.text, ("cancel",))

    @on(SmokeEnded)
    def _smoke_done(self, message: SmokeEnded) -> None:
        text, res, shown = message.text, message.result, message.shown
        then = self._smoke_cancel
        self._launching, self._smoke_started, self._smoke_run, self._smoke_cancel = False, False, None, None
        self.refresh_bindings()
        if res is not None:
            self._smoke, self._smoke_yaml = res, text
        self._show_launch("\n".join(shown))
        self._smoke_shown = text if res is not None else None
        if res is not None:
            self.refresh_view()
        if then == "launch":
            self.launch("new")

    def _new_folder(self) -> None:
        self.cfg.training["output_dir"] = config.default_output_dir(self.wizard.source or "run")
        self.refresh_view()
        self.launch("new")

    def launch(self, mode: str) -> None:
        """Check, prepare the run directory (mode: new, overwrite, resume) and start the run, in a worker."""
        if self._smoking:  # the run needs the machine: the smoke test stops first
            self.action_cancel_smoke("launch")
            return
        if self._launching:
            return
        self._launching = True
        self._show_launch("[dim]" + escape(_("Checking the preset before the launch (no weights loaded)...")) + "[/]")
        path, base = self._base()
        self._launch(self.cfg.model_copy(deep=True), self.wizard.source,
                     (path, base) if path is not None and base is not None else None, mode)

    def _show_launch(self, text: str, choices: tuple[str, ...] = ()) -> None:
        self.query_one("#launch-msg", Static).update(text)
        self.query_one("#launch-box").display = bool(text)
        self.query_one("#launch-choices").display = bool(choices)
        for key in ("new", "overwrite", "resume", "cancel"):
            self.query_one(f"#choice-{key}").display = key in choices
        if choices and choices != ("cancel",):  # a used run directory: its choices take the keys at once (#14)
            self.query_one(f"#choice-{choices[0]}", Button).focus()

    @work(thread=True, exclusive=True, group="review-launch")
    def _launch(self, cfg: Config, source: str | None, base: tuple[Any, dict[str, Any]] | None, mode: str) -> None:
        from tui.launching import start_run

        try:
            run_dir, proc, argv, error, choices = settled(start_run, cfg, source, base, mode)
            attempted = LaunchAttempted(run_dir, proc, argv, error, choices)
        except Exception as e:
            attempted = LaunchAttempted(Path("."), None, [], TunewizError.at(_("launch"), f"{type(e).__name__}: {e}"), ())
        self.post_message(attempted)

    @on(LaunchAttempted)
    def _launch_done(self, message: LaunchAttempted) -> None:
        from tui.screens.monitor import MonitorScreen

        run_dir, error, choices = message.run_dir, message.error, message.choices
        self._launching = False
        if error is not None:
            head = "[b]" + _("Not launched.") + "[/] " + (_("Choose what to do with the run directory:") if choices else "")
            self._show_launch("\n".join([head, *problem_text(error)]), choices)
            return
        self._show_launch("")
        self.wizard.launched = run_dir
        self.app.push_screen(MonitorScreen(run_dir))
