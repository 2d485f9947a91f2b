"""The run monitor: live panels fed by a run directory (the only interface to the training process).

Loss and eval loss plotted over steps, learning rate, grad norm, tokens/s, samples/s, epoch, progress
with ETA, GPU (or CPU/RAM) stats, health alerts, the failure cause with a fix, and the raw log tail.
The reader is injected (`reader=`), so tests feed recorded run directories.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Log, ProgressBar, Static
from textual_plotext import PlotextPlot

from engine import presets, runs
from engine.fmt import duration
from engine.i18n import N_, _
from engine.monitor import RunReader, RunView, diagnose
from tui.lang import translate_bindings


class Evaluated(Message):
    """The evaluation worker ended: engine.evaluate's result, or the text that says why it failed."""

    def __init__(self, result: dict[str, Any] | None, error: str | None) -> None:
        super().__init__()
        self.result, self.error = result, error


class ResumeFailed(Message):
    """The run could not be resumed; `text` says why."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class MonitorScreen(Screen):
    """Follows one run; quitting leaves the run going."""

    CSS_PATH = "monitor.tcss"
    BINDINGS = [
        Binding("s", "stop", N_("Stop (2x: kill)")),
        Binding("r", "resume", N_("Resume")),
        Binding("c", "chat", N_("Chat")),
        Binding("e", "evaluate", N_("Eval")),
        Binding("q", "app.quit", N_("Quit (run goes on)")),
    ]

    EVAL_ROWS = 50  # the monitor measures on the first held-out rows; `tunewiz eval RUN` on all of them

    def __init__(self, run_dir: str | Path, reader: Any = None, interval: float = 1.0,
                 evaluator: Any = None, **kw: Any):
        super().__init__(**kw)
        translate_bindings(self)
        self.run_dir = Path(run_dir)
        self.reader = reader or RunReader(self.run_dir)
        self.evaluator = evaluator  # engine.evaluate.run_eval (injected in tests)
        self.evaluating = False
        self.interval = interval
        self._shown_lines = 0
        self._skip_source = False  # the last line read was a left-out warning: the source line under it goes too

    def compose(self) -> ComposeResult:
        yield Static("", id="mon-title")
        yield Static("", id="mon-command")
        with Horizontal(id="mon-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="mon-progress")
            yield Static("", id="mon-eta")
        with Horizontal(id="mon-main"):
            yield PlotextPlot(id="mon-plot")
            with Vertical(id="mon-side"):
                yield Static("", id="mon-metrics")
                yield Static("", id="mon-system")
        yield Static("", id="mon-alerts")
        yield Log(max_lines=500, id="mon-log")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        if self.interval:
            self.set_interval(self.interval, self.refresh_view)

    # ------------------------------------------------------------------------------------- panels
    def refresh_view(self) -> None:
        view = self.reader.poll()
        self._title(view)
        self._command(view)
        self._progress(view)
        self._plot(view)
        self._metrics(view)
        self._system(view)
        self._alerts(view)
        self._log(view)

    def _title(self, view: RunView) -> None:
        colour = {"running": "green", "finished": "blue", "failed": "red", "stopped": "yellow", "stopping": "yellow"}.get(view.state, "white")
        model = view.start.get("model", "")
        state = runs.state_text(view.state)  # status.json keeps the English word
        self.query_one("#mon-title", Static).update(
            f"[b]{self.run_dir.name}[/] · [{colour}]{state}[/] · {model} · [dim]{view.start.get('device', '')}[/]")

    def _command(self, view: RunView) -> None:
        cmd = view.status.get("worker") or ""
        self.query_one("#mon-command", Static).update(f"[dim]$ {escape(cmd)}[/]" if cmd else "")

    def _progress(self, view: RunView) -> None:
        bar = self.query_one("#mon-progress", ProgressBar)
        if view.max_steps:
            bar.update(total=view.max_steps, progress=view.step)
        eta = view.eta_seconds()
        self.query_one("#mon-eta", Static).update(
            " " + _("step {step}/{total}").format(step=view.step, total=view.max_steps or "?")
            + ("  " + _("ETA {eta}").format(eta=duration(eta)) if eta is not None else ""))

    def _plot(self, view: RunView) -> None:
        plot = self.query_one("#mon-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if view.loss:
            xs, ys = zip(*view.loss, strict=True)
            plt.plot(list(xs), list(ys), label="loss", marker="braille")
        if view.eval_loss:
            xs, ys = zip(*view.eval_loss, strict=True)
            plt.scatter(list(xs), list(ys), label="eval loss", marker="dot")
        for key, label in (("rewards/margins", "margin"), ("rewards/accuracies", "accuracy")):
            if view.rewards.get(key):  # DPO / KTO / ORPO: TRL's reward logs beside the loss
                xs, ys = zip(*view.rewards[key], strict=True)
                plt.plot(list(xs), list(ys), label=label, marker="braille")
        plt.title("loss · reward margin · accuracy" if view.rewards else "loss")
        plt.xlabel("step")
        plot.refresh()

    def _metrics(self, view: RunView) -> None:
        log = view.last_log
        rows = [
            (_("loss"), _num(log.get("loss"))) if isinstance(log.get("loss"), int | float) or not view.summary
            else (_("train loss (mean)"), _num(view.summary.get("train_loss"))),
            (_("eval loss"), _num(view.eval_loss[-1][1]) if view.eval_loss else "-"),
            (_("learning rate"), _num(log.get("learning_rate"), ".2e")),
            (_("grad norm"), _num(log.get("grad_norm"))),
            (_("tokens/s"), _num(view.tokens_per_second(), ",.0f")),
            (_("samples/s"), _num(view.samples_per_second(), ".2f")),
            (_("epoch"), _num(log.get("epoch"), ".2f")),
        ]
        for key, label in (("rewards/chosen", N_("reward chosen")), ("rewards/rejected", N_("reward reject")),
                           ("rewards/margins", N_("reward margin")), ("rewards/accuracies", N_("reward acc"))):
            if view.rewards.get(key):
                rows.append((_(label), _num(view.rewards[key][-1][1])))
        last_eval = view.evals[-1] if view.evals else {}
        for key, label in (("accuracy", N_("eval accuracy")), ("f1", N_("eval f1"))):
            if isinstance(last_eval.get(key), int | float):
                rows.append((_(label), _num(last_eval[key])))
        held = self._held_out()
        if held:  # `tunewiz eval` (or e): the main metric on the held-out rows, tuned and base
            rows.append((_("{metric} tuned").format(metric=held["metric"][:9]), _num(held.get("tuned"))))
            rows.append((_("{metric} base").format(metric=held["metric"][:9]), _num(held.get("base"))))
        # padded by terminal cells: a Korean label is twice as wide as its letters
        self.query_one("#mon-metrics", Static).update("\n".join(k + " " * (14 - cell_len(k)) + f"{v:>12}" for k, v in rows))

    def _system(self, view: RunView) -> None:
        s = view.system
        if not s:
            self.query_one("#mon-system", Static).update("[dim]" + _("no system reading yet") + "[/]")
            return
        lines = []
        for g in s.get("gpus") or []:
            extra = "".join(f" {g[k]}{u}" for k, u in (("temp_c", "C"), ("power_w", "W")) if k in g)
            lines.append(f"GPU{g['index']} {g['util']:>3}% {g['mem_used_gib']:.1f}/{g['mem_total_gib']:.0f}G{extra}")
        if not lines:
            lines.append(f"CPU {s.get('cpu_percent', 0):.0f}%  RAM {s.get('ram_used_gib', 0):.1f}/{s.get('ram_total_gib', 0):.0f} GiB")
        self.query_one("#mon-system", Static).update("\n".join(lines))

    def _alerts(self, view: RunView) -> None:
        box = self.query_one("#mon-alerts", Static)
        parts = []
        if view.state == "failed":
            raw = view.error.get("message") or view.cause  # English where tunewiz kept it: what diagnose reads
            message = view.error.get("message") or (runs.cause_text(view.cause) if view.cause else _("the run failed"))
            parts.append("[b red]" + _("Failed:") + f"[/] {message}")
            found = diagnose(raw or message, view.error.get("traceback", "") + "\n".join(view.log_tail))
            if found:
                parts.append("[b]" + _("likely cause:") + f"[/] {found[0]}. [b]" + _("fix:") + f"[/] {found[1]}")
            if view.saves:
                parts.append(_("r resumes from {checkpoint}").format(checkpoint=view.saves[-1]))
            where = [ln.strip() for ln in (view.error.get("traceback") or "").splitlines() if ln.strip().startswith("File ")]
            if where:
                parts.append("[dim]" + _("last frame: {frame}").format(frame=where[-1][:150]) + "[/]")
        elif view.state == "stopped":
            parts.append(_("[yellow]Stopped[/] at step {step}").format(step=view.step)
                         + ("; " + _("{checkpoint} saved: r resumes").format(checkpoint=view.saves[-1]) if view.saves else ""))
        if view.state == "finished" and view.end.get("final"):
            parts.append(_("[b green]Finished.[/] The result: [b]{path}[/]").format(
                path=escape(presets.display_path(view.end["final"]))))
        if view.smoke:
            from engine import smoke

            parts.append(_("[b]Smoke test[/] (measured):") + "\n" + "\n".join(f"  {escape(line)}" for line in smoke.lines(view.smoke)))
        if view.stalled(time.time()):
            fix = _("check the raw log below; the process may be stuck (a hung data loader or collective): stop it (s) "
                    "and resume (r)")
            parts.append("[b yellow]! " + _("no progress for over 10 minutes") + "[/]\n  " + _("fix: {fix}").format(fix=fix))
        for a in view.alerts:
            parts.append(f"[b yellow]! {a.message}[/]\n  " + _("fix: {fix}").format(fix=a.fix))
        box.update("\n".join(parts))
        box.display = bool(parts)

    def _log(self, view: RunView) -> None:
        # counted by lines read, not by the tail's length: the tail stops growing at 200 lines, and new lines with it
        fresh = min(view.log_count - self._shown_lines, len(view.log_tail))
        self._shown_lines = view.log_count
        if fresh > 0:
            new, self._skip_source = quiet(list(view.log_tail)[-fresh:], self._skip_source)
            if new:
                self.query_one("#mon-log", Log).write_lines(new)

    # ------------------------------------------------------------------------------------ control
    def action_stop(self) -> None:
        from engine import launch
        from engine.errors import TunewizError

        try:
            what = launch.stop_run(self.run_dir)
        except TunewizError as e:
            self.notify(e.problems[0].what, severity="warning")
            return
        self.notify(_("Stopping: a checkpoint at the end of this step (s again kills it)") if what in ("stopping", "stop-file")
                    else _("Killed the run"), severity="warning")

    def _held_out(self) -> dict[str, Any] | None:
        from engine import evaluate

        found = evaluate.summary(self.run_dir)
        return found if found and isinstance(found.get("metric"), str) else None

    def action_evaluate(self) -> None:
        """Measure the result on the rows the run held out (engine.evaluate): tuned vs base, in a worker."""
        if self.evaluating:
            self.notify(_("Already evaluating"), severity="warning")
            return
        if not self._result_ready(_("evaluate it when it has finished or stopped")):
            return
        from engine import evaluate
        from engine.errors import TunewizError

        try:
            refused = evaluate.unmeasurable(self.run_dir)  # a preference run: said at once, not after "Evaluating ..."
        except TunewizError as e:
            refused = e
        if refused is not None:
            self.notify(str(refused.problems[0]), title=_("Eval"), severity="warning", timeout=12)
            return
        self.evaluating = True
        self.notify(_("Evaluating on up to {rows} held-out rows, tuned and base (all of them: tunewiz eval {run}) ...").format(
            rows=self.EVAL_ROWS, run=presets.shell([self.run_dir.name])), timeout=8)
        self._evaluate()

    @work(thread=True, exclusive=True, group="evaluate")
    def _evaluate(self) -> None:
        from engine import evaluate

        try:
            if self.evaluator is None:
                from tui import heavy

                heavy.ready()
            result = (self.evaluator or evaluate.run_eval)(self.run_dir, rows=self.EVAL_ROWS)
        except Exception as e:  # shown, never a crash
            problems = getattr(e, "problems", None)
            text = "; ".join(str(p) for p in problems) if problems else f"{type(e).__name__}: {e}"
            self.post_message(Evaluated(None, text))
            return
        self.post_message(Evaluated(result, None))

    @on(Evaluated)
    def _evaluated(self, message: Evaluated) -> None:
        result, error = message.result, message.error
        self.evaluating = False
        if result is None:
            self.notify(_("Evaluation failed: {error}").format(error=error), severity="error", timeout=15)
            return
        from engine import evaluate

        self.app.push_screen(EvalResult(evaluate.table(result)))
        self.refresh_view()

    def action_resume(self) -> None:
        from engine import rundir

        view = self.reader.view
        if view.state in ("running", "starting", "stopping"):
            self.notify(_("The run is still going"), severity="warning")
            return
        name = presets.shell([self.run_dir.name])
        if view.state == "finished":  # nothing left to resume: say how to train on, start nothing
            more = max(2 * int(view.step or 0), 1)
            self.notify(_("The run has finished: there is nothing to resume. To train on from its last checkpoint:\n"
                          "tunewiz resume {run} --set training.max_steps={steps}").format(run=name, steps=more),
                        title=_("Resume"), timeout=15)
            return
        cp = rundir.last_checkpoint(self.run_dir)
        if cp is None:
            self.notify(_("No complete checkpoint was saved: there is nothing to resume from. Start it over: "
                          "tunewiz run {config} --overwrite").format(config=presets.shell([str(self.run_dir / rundir.CONFIG)])),
                        severity="warning", timeout=15)
            return
        self.notify(_("Resuming from {checkpoint}...").format(checkpoint=cp.name))
        self._resume()

    def action_chat(self) -> None:
        """The A/B chat with the run's result (final/, or the newest complete checkpoint of a stopped run)."""
        from tui.screens.chat import ChatScreen

        if self._result_ready(_("chat opens when it has finished or stopped")):
            self.app.push_screen(ChatScreen(self.run_dir))

    def _result_ready(self, when: str) -> bool:
        """The run has ended and left a result (final/ or a complete checkpoint); else says why, and `when`."""
        from engine import generate
        from engine.errors import TunewizError

        if self.reader.view.state in ("running", "starting", "stopping"):
            self.notify(_("The run is still going: {when}").format(when=when), severity="warning")
            return False
        try:
            generate.find_result(self.run_dir)
        except TunewizError as e:
            self.notify(e.problems[0].what, severity="warning")
            return False
        return True

    @work(thread=True, exclusive=True, group="resume")
    def _resume(self) -> None:
        from engine import launch
        from engine.errors import TunewizError
        from tui import heavy

        try:
            heavy.ready()
            launch.resume(self.run_dir)
        except TunewizError as e:
            self.post_message(ResumeFailed(str(e)))

    @on(ResumeFailed)
    def _resume_failed(self, message: ResumeFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)


# Warnings the libraries print on every run about their own renames, not about the user's settings (#14):
# transformers 5 renamed gradient_checkpointing to activation_checkpointing and warns from TrainingArguments and the
# model whatever the preset says. The log pane leaves them out; stdout.log keeps every line. Python prints a warning
# as "FILE:LINE: Category: message" and, where it finds the source, the line of code under it (indented).
NOISE = [re.compile(p) for p in (
    r"^\S+\.py:\d+: FutureWarning: `\w+` is deprecated and will be removed in v\d+\. Use `\w+` instead\.$",
)]


def quiet(lines: list[str], skip_source: bool = False) -> tuple[list[str], bool]:
    """The lines without the known warnings (NOISE) and the source line printed under each; the flag says whether
    the last line was such a warning (its source line comes with the next lines read)."""
    out = []
    for line in lines:
        if skip_source and line.startswith("  "):
            skip_source = False
            continue
        skip_source = any(p.match(line) for p in NOISE)
        if not skip_source:
            out.append(line)
    return out, skip_source


class EvalResult(ModalScreen[None]):
    """The table `tunewiz eval` prints: each metric, base beside tuned (eval.json and eval.jsonl hold the rows)."""

    BINDINGS = [Binding("escape", "dismiss", N_("Close")), Binding("q", "dismiss", N_("Close"))]
    DEFAULT_CSS = """
    EvalResult { align: center middle; }
    #eval-box { width: 78; max-height: 22; border: round $accent; padding: 0 1; background: $surface; }
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        translate_bindings(self)
        self.lines = lines

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll

        box = VerticalScroll(id="eval-box")
        box.border_title = _("held-out rows: base vs tuned")
        box.border_subtitle = _("esc closes · eval.jsonl has each row's answers")
        with box:
            yield Static(escape("\n".join(self.lines)), id="eval-table")


def _num(v: Any, fmt: str = ".4f") -> str:
    return format(v, fmt) if isinstance(v, int | float) else "-"

