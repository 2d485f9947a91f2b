"""The dataset step's panels: where the data comes from (SourcePanel: samples, a tree of the working
folder's data files, hub config and split), the format with a column for each of its roles and a
prompt/completion template (FormatPanel), and the eval split with a row limit (SplitPanel)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.widgets import Checkbox, ContentSwitcher, DirectoryTree, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from engine import fieldhelp
from engine.config import FORMATS
from engine.data import load
from engine.i18n import _, pgettext
from tui.widgets.toggles import Tick

MAX_ROLES = 6  # alpaca has 5 roles; one more shows a mapped role the format lacks


def quietly(widget: Any, value: Any) -> None:
    """Set a widget's value without the change event that means 'the user edited it'."""
    with widget.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
        widget.value = value


def escape_template(text: str) -> str:
    """A line break or tab in a template, as typed in a one-line field."""
    return text.replace("\n", "\\n").replace("\t", "\\t")


def unescape_template(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t")


class DataFileTree(DirectoryTree):
    """The working folder, showing only folders and the data files tunewiz reads."""

    ICON_NODE, ICON_NODE_EXPANDED, ICON_FILE = "▸ ", "▾ ", "  "  # plain characters: any terminal over SSH draws them

    def on_mount(self) -> None:
        self.show_root = False  # the root is the working folder itself; its entries are what matter

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.suffix.lower() in load.BUILDERS or p.is_dir())]


class SourcePanel(ContentSwitcher):
    """One picker per kind of source: the bundled samples, the file tree, or the hub's config and split."""

    DEFAULT_CSS = """
    SourcePanel {
        height: 1fr;
        #pick-sample, #pick-file, #pick-hub, DataFileTree { height: 1fr; }
        .row { height: 1; margin-top: 1; }
        .field-label { width: 12; }
    }
    """

    class Picked(Message):
        """The user picked a sample or a file (paths relative to the working folder where they can be)."""

        def __init__(self, spec: str) -> None:
            super().__init__()
            self.spec = spec

    def compose(self) -> ComposeResult:
        yield OptionList(*(Option(f"sample:{name}  [dim]{_(about)}[/]", id=f"sample:{name}")
                           for name, (_path, about) in load.SAMPLES.items()), id="pick-sample")
        yield Vertical(Label(_("Enter on a file reads it; for a folder of files type its path above."), classes="hint"),
                       id="pick-file")
        with Vertical(id="pick-hub"):
            yield Label(_("Type the hub id above and press Enter; the first rows are streamed."), classes="hint")
            with Horizontal(classes="row"):
                yield Label(_("Config"), classes="field-label")
                yield Input(placeholder=_("config name (dataset.name), if it has several"), compact=True, id="hub-name")
            with Horizontal(classes="row"):
                yield Label(_("Split"), classes="field-label")
                yield Input(placeholder="train", compact=True, id="hub-split")

    def show(self, kind: str, tree: bool) -> None:
        """Show the picker of a kind; the file tree only while `tree` (its loader worker never ends, so it
        lives only while on screen, and `app.workers.wait_for_complete()` stays usable elsewhere)."""
        self.current = f"pick-{kind}"
        trees = self.query(DataFileTree)
        picker = self.query_one("#pick-file")
        if tree and not trees and picker.is_attached:  # not while the app closes (the step resumes as its dialogs go)
            picker.mount(DataFileTree("."))
        elif not tree:
            trees.remove()

    def fill_hub(self, name: str | None, split: str) -> None:
        quietly(self.query_one("#hub-name", Input), name or "")
        quietly(self.query_one("#hub-split", Input), split)

    @property
    def hub(self) -> tuple[str | None, str]:
        """(dataset.name, dataset.split) as typed."""
        return (self.query_one("#hub-name", Input).value.strip() or None,
                self.query_one("#hub-split", Input).value.strip() or "train")

    @on(OptionList.OptionSelected, "#pick-sample")
    def _sample_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Picked(str(event.option.id)))

    @on(DirectoryTree.FileSelected)
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path, here = Path(event.path).resolve(), Path.cwd().resolve()
        self.post_message(self.Picked(str(path.relative_to(here)) if path.is_relative_to(here) else str(path)))


class FormatPanel(Vertical):
    """Format select, one column select per role (blank = auto), and the template fields."""

    DEFAULT_CSS = """
    FormatPanel {
        height: auto;
        .row { height: 1; }
        .field-label { width: 12; }
        #format { width: 30; margin-bottom: 1; }
        .role { width: 30; }
        #use-template { margin-top: 1; }
        #template-box { height: auto; }
        #tpl-prompt, #tpl-completion { width: 1fr; }
        .-off { display: none; }
    }
    """

    class Edited(Message):
        """The user changed the format, a role's column or the template."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns: dict[str, str] = {}
        self._role_names: list[str] = []
        self._shown: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(_("Format"), classes="field-label")
            yield Select([(f, f) for f in FORMATS], allow_blank=False, compact=True, id="format",
                         tooltip=fieldhelp.text("dataset.format"))  # tunewiz's help on the field (mouse over it)
        for i in range(MAX_ROLES):
            with Horizontal(classes="row role-row -off"):
                yield Label("", classes="field-label")
                yield Select([], prompt="auto", compact=True, id=f"role-{i}", classes="role",
                             tooltip=fieldhelp.text("dataset.columns"))
        yield Tick(_("Template for other data (only the completion is trained)"), compact=True, id="use-template",
                   tooltip=fieldhelp.text("dataset.template"))
        with Vertical(id="template-box", classes="-off"):
            with Horizontal(classes="row"):
                yield Label(_("Prompt"), classes="field-label")
                yield Input(placeholder="### Question: {instruction}\\n### Answer: ", compact=True, id="tpl-prompt")
            with Horizontal(classes="row"):
                yield Label(_("Completion"), classes="field-label")
                yield Input(placeholder="{output}", compact=True, id="tpl-completion")

    def fill(self, fmt: str, columns: dict[str, str], template: dict[str, str] | None) -> None:
        """Show choices from the config (or none, for a new source)."""
        quietly(self.query_one("#format", Select), fmt)
        self.columns, self._shown = dict(columns), None
        quietly(self.query_one("#use-template", Checkbox), template is not None)
        self.query_one("#template-box").set_class(template is None, "-off")
        quietly(self.query_one("#tpl-prompt", Input), escape_template((template or {}).get("prompt", "")))
        quietly(self.query_one("#tpl-completion", Input), escape_template((template or {}).get("completion", "")))

    @property
    def format(self) -> str:
        return str(self.query_one("#format", Select).value)

    @property
    def template_ticked(self) -> bool:
        return self.query_one("#use-template", Checkbox).value

    def template(self) -> dict[str, str] | None:
        """The template as dataset.template wants it; None when unticked or without a completion."""
        prompt = unescape_template(self.query_one("#tpl-prompt", Input).value)
        completion = unescape_template(self.query_one("#tpl-completion", Input).value)
        if not self.template_ticked or not completion.strip():
            return None
        return {"prompt": prompt, "completion": completion} if prompt else {"completion": completion}

    def open_template(self, focus: bool = False) -> None:
        self.query_one("#use-template", Checkbox).value = True
        if focus:
            self.query_one("#tpl-prompt", Input).focus()

    def show_roles(self, fmt: str | None, roles: list[str], names: list[str]) -> None:
        """A select per role (and per mapped role the format lacks), filled into the fixed rows."""
        roles = [*roles, *(r for r in self.columns if r not in roles)]
        shown = (str(fmt), *roles, "|", *names)
        if shown == self._shown:
            return
        self._shown, self._role_names = shown, roles[:MAX_ROLES]
        for i, row in enumerate(self.query(".role-row")):
            row.set_class(i >= len(self._role_names), "-off")
            if i < len(self._role_names):
                col = self.columns.get(self._role_names[i])
                missing = [(_("{column} (not in the data)").format(column=col), col)] if col and col not in names else []
                row.query_one(Label).update(self._role_names[i])
                select = row.query_one(Select)
                with select.prevent(Select.Changed):
                    select.set_options([(n, n) for n in names] + missing)
                    select.value = col or Select.NULL

    @on(Select.Changed, ".role")
    def _role_changed(self, event: Select.Changed) -> None:
        event.stop()
        i = int(str(event.select.id).removeprefix("role-"))
        if i < len(self._role_names):
            if event.value == Select.NULL:
                self.columns.pop(self._role_names[i], None)
            else:
                self.columns[self._role_names[i]] = str(event.value)
            self.post_message(self.Edited())

    @on(Checkbox.Changed, "#use-template")
    def _template_toggled(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.query_one("#template-box").set_class(not event.value, "-off")
        self.post_message(self.Edited())

    @on(Select.Changed, "#format")
    @on(Input.Changed, "#tpl-prompt, #tpl-completion")
    def _edited(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Edited())


class SplitPanel(Vertical):
    """dataset.eval_size and dataset.max_rows, checked as they are typed."""

    DEFAULT_CSS = """
    SplitPanel {
        height: auto;
        .row { height: 1; margin-bottom: 1; }
        .field-label { width: 12; }
        Input { width: 10; margin-right: 2; }
        Input.-bad { background: $error 30%; }
        #split-msg { color: $error; height: auto; }
        #split-help { color: $text-muted; height: auto; }
    }
    """
    FIELD_HELP = {"eval-size": "dataset.eval_size", "max-rows": "dataset.max_rows"}  # the field whose newcomer help shows

    available: int | None = None
    """Rows in the dataset once counted: an eval split of that many rows or more is an error."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(_("Eval size"), classes="field-label")
            yield Input(compact=True, id="eval-size")
            yield Label(_("share (0.1) or rows held out; 0 = none"), classes="hint")
        with Horizontal(classes="row"):
            yield Label(_("Max rows"), classes="field-label")
            yield Input(placeholder=pgettext("max rows", "all"), compact=True, id="max-rows")
            yield Label(_("use only the first N rows; empty = all"), classes="hint")
        yield Static("", id="split-msg")
        yield Static("", id="split-help", markup=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A field got focus: tunewiz's help on it (engine.fieldhelp), in the user's language, under the fields."""
        key = self.FIELD_HELP.get(event.widget.id or "")
        self.query_one("#split-help", Static).update(f"{key}: {fieldhelp.text(key)}" if key else "")

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.query_one("#split-help", Static).update("")

    def fill(self, eval_size: float, max_rows: int | None) -> None:
        quietly(self.query_one("#eval-size", Input), f"{eval_size:g}")
        quietly(self.query_one("#max-rows", Input), "" if max_rows is None else str(max_rows))
        self.check()

    def values(self) -> tuple[float, int | None]:
        """(eval_size, max_rows); call only when problems() is empty."""
        rows = self.query_one("#max-rows", Input).value.strip()
        return float(self.query_one("#eval-size", Input).value), int(rows) if rows else None

    @on(Input.Changed)
    def check(self) -> None:
        """Show the problems under the fields and mark the bad ones."""
        problems = self.field_problems()
        self.query_one("#split-msg", Static).update("\n".join(escape(p) for _f, p in problems))
        self.query_one("#eval-size", Input).set_class(any(f == "eval" for f, _p in problems), "-bad")
        self.query_one("#max-rows", Input).set_class(any(f == "rows" for f, _p in problems), "-bad")

    def problems(self) -> list[str]:
        return [p for _f, p in self.field_problems()]

    def field_problems(self) -> list[tuple[str, str]]:
        """(field, problem): "eval" or "rows", and what is wrong with it."""
        out: list[tuple[str, str]] = []
        raw_eval = self.query_one("#eval-size", Input).value.strip()
        raw_rows = self.query_one("#max-rows", Input).value.strip()
        rows = None
        if raw_rows:
            try:
                rows = int(raw_rows)
                if rows < 1:
                    out.append(("rows", _("Max rows: {value} is below 1; leave it empty for all rows").format(value=raw_rows)))
            except ValueError:
                out.append(("rows", _("Max rows: {value!r} is not a whole number; leave it empty for all rows").format(
                    value=raw_rows)))
        try:
            size = float(raw_eval)
            if not math.isfinite(size):
                raise ValueError
        except ValueError:
            return [("eval", _("Eval size: {value!r} is not a number; write a share (0.1), a row count (200) or 0").format(
                value=raw_eval)), *out]
        usable = min(x for x in (rows, self.available, 10**18) if x is not None)
        if size < 0:
            out.insert(0, ("eval", _("Eval size: {value} is below 0; write a share (0.1), a row count (200) or 0").format(
                value=raw_eval)))
        elif size >= 1 and size != int(size):
            out.insert(0, ("eval", _("Eval size: {value} is neither a share below 1 nor a whole number of rows").format(
                value=raw_eval)))
        elif size >= 1 and size >= usable:
            out.insert(0, ("eval", _("Eval size: holding out {size:g} rows leaves none of the {usable:,} to train on").format(
                size=size, usable=usable)))
        return out
