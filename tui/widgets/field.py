"""A labelled one-line input (or choice) with its help beside it and its problem under it, checked as you type.

`library_check(section, key)` gives the checker for a `training:` / `lora:` key: the text is read the
way `--set` reads values and checked by engine.config.check_library_section, the preset loader's own
rules, so the form and a preset file never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from engine import config, fieldhelp, fields, i18n
from engine.i18n import _

Check = Callable[[str], tuple[Any, str | None]]


def fmt(value: Any) -> str:
    """A value as the text a person would type (YAML flow style for lists and mappings)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


def parse(text: str, spec: dict[str, Any]) -> Any:
    """Typed text -> value: strings stay strings, the rest reads as YAML (like `--set`)."""
    if spec["kind"] in ("str", "choice", "int", "float"):
        return text.strip()
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def library_check(section: str, key: str, task: str = "causal-lm", method: str = "sft") -> Check:
    """A checker for one library key (of the method's trl config for `training`); blank text means 'not set'
    (the library default)."""
    spec = fields.fields(fields.section_of(section, method))[key]

    def check(text: str) -> tuple[Any, str | None]:
        if not text.strip():
            return None, None
        out, problems = config.check_library_section(section, {key: parse(text, spec)}, "form", task=task, method=method)
        if problems:
            p = problems[0]
            return None, f"{section}.{key}: {p.what}"
        return out[key], None

    return check


def placeholder_for(spec: dict[str, Any]) -> str:
    """What a blank box means: the library default, or not set."""
    default = spec.get("default")
    return _("not set") if default is None else _("default {value}").format(value=fmt(default))


def full_help(name: str, newcomer: str, help: str) -> str:
    """The help pane of a field: `name: ` then tunewiz's newcomer help (engine.fieldhelp, English source) in the
    user's language where it has one, then the library's own help as the library wrote it."""
    if not newcomer:
        return f"{name}: {help}"
    return f"{name}: {_(newcomer)}" + (f"\n{help}" if help else "")


class Field(Vertical):
    """Label, input (or Select when `choices` are given), short help, and the problem with the value."""

    DEFAULT_CSS = """
    Field {
        height: auto;
        .field-row { height: 1; }
        .field-label { width: 20; color: $text; }
        Input, Select { width: 18; margin-right: 1; }
        Input.-invalid { background: $error 30%; }
        .field-help { width: 1fr; height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
        .field-error { display: none; height: auto; color: $error; padding-left: 20; }
        &.-invalid .field-error { display: block; }
        /* the focused field's row is tinted and its label lit (a rule on Field itself also makes Textual
           restyle the label when focus moves) */
        &:focus-within { background-tint: $primary 12%; }
        &:focus-within .field-label { color: $accent; text-style: bold; }
        &:disabled .field-label { color: $text-disabled; }
    }
    """

    class Changed(Message):
        """The value was edited (or filled)."""

        def __init__(self, field: Field) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> Field:
            return self.field

    class Focused(Message):
        """The field got focus: show its full help."""

        def __init__(self, field: Field) -> None:
            super().__init__()
            self.field = field

    def __init__(self, key: str, label: str, help: str = "", *, value: str = "", choices: list[tuple[str, str]] | None = None,
                 check: Check | None = None, placeholder: str = "", id: str | None = None, newcomer: str = "") -> None:
        super().__init__(id=id)
        self.key = key
        self.label = label
        self.help = help
        self.newcomer = newcomer  # tunewiz's help for a newcomer (engine.fieldhelp's English source), or ""
        self.choices = choices
        self.check = check
        self._initial = value
        self._placeholder = placeholder
        self.error: str | None = None
        self.value: Any = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self.label, classes="field-label")
            if self.choices is not None:
                yield Select(self.choices, value=self._initial or self.choices[0][1], allow_blank=False, compact=True,
                             id=f"{self.id}-input" if self.id else None)
            else:
                yield Input(self._initial, placeholder=self._placeholder, compact=True, select_on_focus=False,
                            id=f"{self.id}-input" if self.id else None)
            yield Static(self.line, classes="field-help", markup=False)
        yield Static("", classes="field-error", markup=False)

    def on_mount(self) -> None:
        self._validate(self._initial)

    @property
    def text(self) -> str:
        """What is in the box now."""
        if self.choices is not None:
            return str(self.query_one(Select).value)
        return self.query_one(Input).value

    @property
    def line(self) -> str:
        """The short help beside the box: the library's first sentence, or in another language than English the
        first sentence of tunewiz's newcomer help in that language (the library's help is English)."""
        if self.newcomer and i18n.language() != "en":
            return fieldhelp.first_sentence(_(self.newcomer))
        return fieldhelp.first_sentence(self.help)

    def full_help(self, name: str) -> str:
        """The help pane's text for this field, named `name` (training.learning_rate)."""
        return full_help(name, self.newcomer, self.help)

    def set_help(self, help: str) -> None:
        """Another library's help for the same key (the method changed)."""
        self.help = help
        self.query_one(".field-help", Static).update(self.line)

    def set_text(self, text: str) -> None:
        """Fill the box (checked at once, and a Changed message follows)."""
        if self.choices is not None:
            if text in {v for _, v in self.choices}:
                self.query_one(Select).value = text
        else:
            self.query_one(Input).value = text
        self._validate(text)

    @property
    def blank(self) -> bool:
        return not self.text.strip()

    def _validate(self, text: str) -> None:
        if self.check is None:
            self.value, self.error = text, None
        else:
            self.value, self.error = self.check(text)
        self.set_class(self.error is not None, "-invalid")
        if self.choices is None:
            self.query_one(Input).set_class(self.error is not None, "-invalid")
        self.query_one(".field-error", Static).update(self.error or "")

    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()
        self._validate(self.text)
        self.post_message(self.Changed(self))

    def on_descendant_focus(self) -> None:
        self.post_message(self.Focused(self))
