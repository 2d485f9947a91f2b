"""Step 2: the dataset. A bundled sample, a data file or folder under the working folder, or a hub id; a
worker reads the first rows (at once, however big the file) and then counts them; the format is detected
by the function training uses (engine.data.formats.detect) and can be corrected with a format, a column
for each role, or a prompt/completion template; the eval split and a row limit finish the section."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Select, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from engine import fieldhelp
from engine.config import Config
from engine.data import formats, load, peek
from engine.errors import Problem, TunewizError
from engine.i18n import N_, _, ngettext
from tui import heavy
from tui.lang import translate_bindings
from tui.step import StepScreen
from tui.widgets.dataset_panels import FormatPanel, SourcePanel, SplitPanel, escape_template, quietly
from tui.widgets.text_dialog import TextDialog

KINDS = [(N_("Sample"), "sample"), (N_("File"), "file"), (N_("Hub"), "hub")]
PLACEHOLDERS = {"sample": N_("sample:NAME (or pick one below)"), "file": N_("file or folder (pick below, or type + Enter)"),
                "hub": N_("hub id, e.g. tatsu-lab/alpaca (Enter reads it)")}
PEEK_ROWS = 50
Key = tuple[str, str | None, str]  # (path, hub config name, split): what was read


class FirstRowsRead(Message):
    """The first rows of a source were read (from a worker), or the problem that stopped it; `counting`: the
    rows are being counted next."""

    def __init__(self, key: Key, names: list[str], rows: peek.Rows, problem: Problem | None, counting: bool) -> None:
        super().__init__()
        self.key, self.names, self.rows, self.problem, self.counting = key, names, rows, problem, counting


class RowsCounted(Message):
    """A source's rows were counted (from a worker), or the problem that stopped it."""

    def __init__(self, key: Key, count: int | None, problem: Problem | None) -> None:
        super().__init__()
        self.key, self.count, self.problem = key, count, problem


class RowsTable(DataTable):
    """The first rows, each value cut to its column; Enter on a row shows it whole (named in the footer)."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Whole row"))]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        translate_bindings(self)


class DatasetScreen(StepScreen):
    STEP = "dataset"
    CSS_PATH = "dataset.tcss"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+t", "template", N_("Template")),
                Binding("ctrl+e", "preference_sample", N_("Sample pairs"))]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._key: Key | None = None
        self._reading = self._counting = False
        self._names: list[str] = []
        self._rows: peek.Rows = []
        self._count: int | None = None
        self._source_error: Problem | None = None
        self._format: formats.Format | None = None
        self._format_error: Problem | None = None
        self._info: peek.DatasetInfo | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="dataset-body"):
            with Horizontal(classes="row"):
                yield Label(_("Data"), classes="field-label")
                yield Select([(_(label), value) for label, value in KINDS], allow_blank=False, compact=True, id="kind")
                yield Input(compact=True, id="path", tooltip=fieldhelp.text("dataset.path"))  # tunewiz's help (mouse over it)
            with TabbedContent(id="tabs"):
                with TabPane(_("Source"), id="tab-source"):
                    yield SourcePanel(initial="pick-sample", id="pickers")
                with TabPane(_("Rows"), id="tab-rows"):
                    yield RowsTable(zebra_stripes=True, cursor_type="row", id="rows")
                with TabPane(_("Format"), id="tab-format"):
                    yield FormatPanel(id="format-panel")
                with TabPane(_("Split"), id="tab-split"):
                    yield SplitPanel(id="split-panel")
            yield Static("", id="summary")

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        ds = cfg.dataset
        kind = _kind_of(ds.path)
        quietly(self.query_one("#path", Input), ds.path)
        self.query_one(SourcePanel).fill_hub(ds.name, ds.split)
        quietly(self.query_one("#kind", Select), kind)
        self._show_picker(kind)
        self.query_one(FormatPanel).fill(ds.format, ds.columns, ds.template)
        self.query_one(SplitPanel).fill(ds.eval_size, ds.max_rows)
        key = self._typed_key()
        if key != self._key:
            self._read(key)
        else:
            self._detect()  # the task may have changed on the model step

    def errors(self) -> list[str]:
        if self._key is None or not self._key[0]:
            return [_("Dataset: pick a sample or a file, or type a hub id")]
        if self._typed_key() != self._key:
            typed = self._typed_key()[0]
            return [_("Dataset: press Enter in the Data field to read {source}").format(source=typed) if typed else
                    _("Dataset: press Enter in the Data field to read a dataset")]
        if self._reading:
            return [_("Dataset: still reading the first rows; a moment")]
        if self._source_error:
            return [_("Dataset: {problem}").format(problem=self._source_error)]
        panel = self.query_one(FormatPanel)
        problems = [_("Format: {problem}").format(problem=self._format_error)] if self._format_error else []
        if panel.template_ticked and panel.template() is None:
            problems.append(_("Template: write the completion, e.g. {{output}} (or untick the template)").format())
        return problems + self.query_one(SplitPanel).problems()

    def store(self, cfg: Config) -> None:
        ds = cfg.dataset
        path, name, split = self._typed_key()
        ds.path, ds.name, ds.split = path, name, split
        panel = self.query_one(FormatPanel)
        ds.format, ds.columns, ds.template = panel.format, dict(panel.columns), panel.template()
        ds.eval_size, ds.max_rows = self.query_one(SplitPanel).values()
        f = self._format
        self._info = peek.DatasetInfo(path, self._names, self._rows, f.name if f else None, f.reason if f else "",
                                      dict(f.columns) if f else {}, self._count, name, split)
        self.wizard.dataset_info = self._info

    def _typed_key(self) -> Key:
        path = self.query_one("#path", Input).value.strip()
        if _kind_of(path) != "hub":
            return path, None, "train"
        return path, *self.query_one(SourcePanel).hub

    # --------------------------------------------------------------------------------------- source
    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        self._show_picker(str(event.value))

    def _show_picker(self, kind: str) -> None:
        self.query_one("#path", Input).placeholder = _(PLACEHOLDERS[kind])
        self.query_one(SourcePanel).show(kind, tree=kind == "file" and self.is_current)

    def on_screen_suspend(self) -> None:
        self.query_one(SourcePanel).show(str(self.query_one("#kind", Select).value), tree=False)

    def on_screen_resume(self) -> None:
        self._show_picker(str(self.query_one("#kind", Select).value))

    @on(SourcePanel.Picked)
    def _picked(self, event: SourcePanel.Picked) -> None:
        self._pick(event.spec)

    @on(Input.Submitted, "#path, #hub-name, #hub-split")
    def _typed(self, event: Input.Submitted) -> None:
        self._pick(self.query_one("#path", Input).value.strip())

    @on(Input.Changed, "#path, #hub-name, #hub-split")
    def _editing(self) -> None:
        if self._key is not None and self._typed_key() != self._key:
            self.query_one("#summary", Static).update(
                "[dim]" + _("Press Enter to read {source}.").format(source=escape(self._typed_key()[0])) + "[/]")

    def _pick(self, spec: str) -> None:
        """The user chose a source: a new one starts with no mapping of its own."""
        if self._key is not None and spec != self._key[0]:
            self.query_one(FormatPanel).fill("auto", {}, None)
        quietly(self.query_one("#path", Input), spec)
        kind = _kind_of(spec)
        if kind != self.query_one("#kind", Select).value:
            quietly(self.query_one("#kind", Select), kind)
            self._show_picker(kind)
        self._read(self._typed_key())

    def _read(self, key: Key) -> None:
        self._key, self._reading, self._counting = key, bool(key[0]), False
        self._names, self._rows, self._count, self._source_error = [], [], None, None
        self.query_one("#rows", DataTable).clear(columns=True)
        if not key[0]:
            self.query_one("#summary", Static).update("[dim]" + _("Pick a sample or a file, or type a hub id.") + "[/]")
            return
        self.query_one("#summary", Static).update(
            "[dim]" + _("Reading the first rows of {source}...").format(source=escape(key[0])) + "[/]")
        self._read_worker(key)

    @work(thread=True, exclusive=True, group="dataset-read")
    def _read_worker(self, key: Key) -> None:
        worker = get_current_worker()

        def post(message: FirstRowsRead | RowsCounted) -> None:
            if not worker.is_cancelled:
                self.post_message(message)

        try:
            if load.local_path(key[0]) is None:
                heavy.ready()  # hub datasets stream through `datasets`
                names, rows, count = peek.peek_hub(key[0], key[1], key[2], PEEK_ROWS)
                post(FirstRowsRead(key, names, rows, None, False))
                post(RowsCounted(key, count, None))
                return
            names, rows = peek.peek(key[0], PEEK_ROWS, key[2] or "train")
        except Exception as e:  # TunewizError, or an unreadable file: shown, never a crash
            post(FirstRowsRead(key, [], [], _problem(e), False))
            return
        post(FirstRowsRead(key, names, rows, None, True))
        try:
            count, problem = peek.count_rows(key[0], lambda: worker.is_cancelled, key[2] or "train"), None
        except Exception as e:
            count, problem = None, _problem(e)
        post(RowsCounted(key, count, problem))

    @on(FirstRowsRead)
    def _show_head(self, message: FirstRowsRead) -> None:
        if message.key != self._key:
            return  # the user has moved on
        names, rows = message.names, message.rows
        self._reading, self._counting = False, message.counting
        self._names, self._rows, self._source_error = names, rows, message.problem
        table = self.query_one("#rows", DataTable)
        width = max(10, min(60, 74 // max(1, len(names)) - 3))
        table.add_columns(*(Text(n[:width]) for n in names))
        table.add_rows([Text(_cell(row.get(n), width)) for n in names] for row in rows)
        self._detect()

    @on(RowsCounted)
    def _show_count(self, message: RowsCounted) -> None:
        key, count = message.key, message.count
        if key != self._key:
            return
        self._counting, self._count = False, count
        self._source_error = self._source_error or message.problem
        if self._info is not None and self._info.path == key[0]:
            self._info.row_count = count
        self.query_one(SplitPanel).available = count
        self.query_one(SplitPanel).check()
        self._show_summary()

    @on(DataTable.RowSelected, "#rows")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """The table cuts each value to its column's width: Enter shows the whole row (#14)."""
        i = event.cursor_row
        if 0 <= i < len(self._rows) and self._key is not None:
            self.app.push_screen(TextDialog(_("Row {n} of {source}").format(n=i + 1, source=self._key[0]), whole_row(self._names, self._rows[i])))

    # --------------------------------------------------------------------------------------- format
    @on(FormatPanel.Edited)
    def _format_edited(self) -> None:
        self._detect()

    def action_template(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-format"
        self.query_one(FormatPanel).open_template(focus=True)

    def _detect(self) -> None:
        """Run the engine's format detection on the first rows with the current choices."""
        self._format, self._format_error = None, None
        if self._reading or self._source_error or not self._rows:
            self._show_summary()
            return
        panel = self.query_one(FormatPanel)
        method = self._method()
        try:
            if method != "sft":  # pairs or labelled answers: the engine's preference detection (no template)
                from engine.data import preference

                self._format = preference.detect(self._names, self._rows[0], method, panel.format, panel.columns)
            else:
                self._format = formats.detect(self._names, self._rows[0], panel.format, panel.columns, panel.template(),
                                              self.cfg.model.task)
        except TunewizError as e:
            self._format_error = e.problems[0]
            classifier = self.cfg.model.task == "sequence-classification"  # a template makes no labels: its columns instead
            if self._format_error.where == "dataset.format" and not panel.template_ticked and not classifier and method == "sft":
                panel.open_template()  # undetectable: offer the template
        fmt: str | None
        if method != "sft":
            from engine.data import preference

            fmt = self._format.name if self._format else panel.format if panel.format in preference.ROLES else \
                "preference" if method in preference.PAIRED else "kto"
            roles = list(preference.ROLES.get(fmt, {}))
        else:
            fmt = panel.format if panel.format != "auto" else self._format.name if self._format else _guess_name(
                self._names, self._rows[0], panel.columns, self.cfg.model.task)
            roles = list(formats.ROLES.get(fmt or "", {}))
        panel.show_roles(fmt, roles, self._names)
        self._show_summary()

    def _show_summary(self) -> None:
        box = self.query_one("#summary", Static)
        if self._key is None or self._reading:
            return
        if self._source_error:
            box.update(_red(self._source_error))
            self._refresh_problems()
            return
        count = ("[dim]" + _("counting rows...") + "[/]" if self._counting else
                 ngettext("{n:,} row", "{n:,} rows", self._count).format(n=self._count) if self._count is not None
                 else _("row count unknown (streamed)"))
        columns = ngettext("{n:,} column", "{n:,} columns", len(self._names)).format(n=len(self._names))
        lines = [_("{source}: {count}, {columns} (first {shown} under Rows)").format(
            source=f"[b]{escape(self._key[0])}[/]", count=count, columns=columns, shown=len(self._rows))]
        f = self._format
        if f is not None:
            lines.append(_("Format {name}: {reason}").format(name=f"[b]{f.name}[/]", reason=escape(f.reason)))
            parts = escape(", ".join(f"{k}={escape_template(v)}" for k, v in (f.template or f.columns).items()))
            lines.append("[dim]" + (_("template: {parts}") if f.template else _("columns: {parts}")).format(parts=parts) + "[/]")
        elif self._format_error:
            method = self._method()
            template = self._format_error.where == "dataset.format" and method == "sft"
            if method != "sft":  # the offer first (the summary shows 6 lines), then the engine's problem and fix
                lines.append("[b]ctrl+e[/]: " + _("use {sample} (48 pairs), or preference data of your own:").format(
                    sample=PREFERENCE_SAMPLE))
            lines.append(_red(self._format_error, _(" (ctrl+t: template)") if template else ""))
            if method != "sft":
                lines.append(preference_formats(method))
        box.update("\n".join(lines))
        self._refresh_problems()

    def _method(self) -> str:
        return self.cfg.model.method if self.cfg.model.task == "causal-lm" else "sft"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "preference_sample":  # offered (in the footer) only for DPO / KTO / ORPO
            return self._method() != "sft"
        return True

    def action_preference_sample(self) -> None:
        """DPO / KTO / ORPO: read the bundled pairs."""
        if self._method() != "sft":
            self.query_one("#tabs", TabbedContent).active = "tab-source"
            self._pick(PREFERENCE_SAMPLE)

    @on(Input.Changed, "#eval-size, #max-rows")
    def _refresh_problems(self) -> None:
        """Problems shown by a refused Next follow the fixes (and go once all are fixed)."""
        if self.query_one("#problems", Static).has_class("has-problems"):
            self.show_problems(self.errors())


PREFERENCE_SAMPLE = "sample:preferences"


def preference_formats(method: str) -> str:
    """What preference data looks like (shown under the engine's problem when the data is not it)."""
    pairs = _("pairs: prompt, chosen, rejected (strings or message lists; HH transcripts, preferred_output, ... too)")
    kto = _("KTO: prompt, completion, label (true = desirable); pairs are read too")
    head = kto if method == "kto" else pairs
    return f"[dim]{escape(head)}[/]"


def _kind_of(spec: str) -> str:
    if spec.startswith("sample:"):
        return "sample"
    try:
        return "hub" if spec and load.local_path(spec) is None else "file"
    except TunewizError:
        return "file"


def _guess_name(names: list[str], row: dict[str, Any], columns: dict[str, str], task: str) -> str | None:
    """The format auto-detection picks, whatever the task (so its roles can be shown even when it clashes); for a
    classifier, classification (its text and label columns to pick, whatever their names)."""
    valid = {r: c for r, c in columns.items() if c in names}
    if task == "sequence-classification" and {"text", "label"} & set(valid):
        return "classification"
    for guess_task in ("causal-lm", "sequence-classification"):
        try:
            return formats.detect(names, row, "auto", valid, None, guess_task).name
        except TunewizError:
            continue
    return "classification" if task == "sequence-classification" else None


def _problem(e: Exception) -> Problem:
    return e.problems[0] if isinstance(e, TunewizError) else Problem("", f"{type(e).__name__}: {e}")


def _red(p: Problem, hint: str = "") -> str:
    text = f"[b red]{escape(p.where + ': ' if p.where else '')}[/][red]{escape(p.what)}[/][dim]{escape(hint)}[/]"
    return text + ("\n[dim]" + escape(_("fix: {fix}").format(fix=p.fix)) + "[/]" if p.fix else "")


def whole_row(names: list[str], row: dict[str, Any]) -> Text:
    """Every column of a row, its value whole: text as written (its line breaks kept), anything else as indented JSON."""
    out = Text()
    for n, name in enumerate(names):
        value = row.get(name)
        out.append(("\n" if n else "") + name, "bold")
        text = value if isinstance(value, str) else "null" if value is None else json.dumps(value, ensure_ascii=False, indent=2)
        out.append("\n")
        out.append(text or _("(empty)"), "" if text else "dim")
        out.append("\n")
    return out


def _cell(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"
