"""Every other library field of a section, in a collapsed, filterable list with one editor.

Its state is the text typed per key, so it loads and stores without ever being opened; the list is
built only when first expanded (a hundred Inputs would slow every screen switch).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.widgets import Collapsible, Input, OptionList, Static
from textual.widgets.option_list import Option

from engine import fieldhelp, fields
from engine.i18n import _
from tui.widgets.field import Field, fmt, library_check


class AdvancedFields(Collapsible):
    """The fields a form does not show itself: pick one from the list, edit it below."""

    DEFAULT_CSS = """
    AdvancedFields {
        height: auto;
        Contents { padding: 0 0 0 1; }
        #adv-filter { width: 1fr; margin-bottom: 1; }
        #adv-list { height: 8; margin-bottom: 1; }
        #adv-help { height: auto; max-height: 8; color: $text-muted; }
    }
    """

    def __init__(self, section: str, keys: list[str], task: str = "causal-lm", id: str | None = None, method: str = "sft") -> None:
        self.section = section
        self.keys = sorted(keys)
        self.for_task = task
        self.for_method = method
        self.specs = fields.fields(fields.section_of(section, method))
        self.texts: dict[str, str] = {}  # key -> typed text, for keys that are set
        self.loaded: set[str] = set()
        self._current: str | None = None
        self._built = False
        super().__init__(title=_("Advanced"), collapsed=True, id=id)

    # ----------------------------------------------------------------------------------- state
    def set_method(self, task: str, method: str, keys: list[str]) -> None:
        """The fields of another trainer config (model.method / model.task changed); typed values are dropped."""
        self.for_task, self.for_method = task, method
        self.specs = fields.fields(fields.section_of(self.section, method))
        self.keys = sorted(keys)
        self._current = None
        if self._built:
            self.query_one("#adv-edit", Field).key = ""
        self.load({})

    def load(self, values: dict[str, Any]) -> None:
        """The keys of this list that the config sets."""
        self.texts = {k: fmt(v) for k, v in values.items() if k in self.keys}
        self.loaded = set(self.texts)
        self._refresh()

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill keys (from a paste); they count as set even when equal to the default."""
        for k, v in values.items():
            if k in self.keys:
                self.texts[k] = fmt(v)
                self.loaded.add(k)
        self._refresh()

    def result(self) -> tuple[dict[str, Any], list[str]]:
        """(the keys to write, the problems); blank or untouched-default keys are left out."""
        out: dict[str, Any] = {}
        problems: list[str] = []
        for key, text in self.texts.items():
            value, error = library_check(self.section, key, self.for_task, self.for_method)(text)
            if error:
                problems.append(error)
            elif text.strip() and (key in self.loaded or value != self.specs[key].get("default")):
                out[key] = value
        return out, problems

    def _title_text(self) -> str:
        n = sum(1 for t in self.texts.values() if t.strip()) if hasattr(self, "texts") else 0
        title = _("Advanced: {n} more fields").format(n=len(self.keys))
        if n:
            title = _("{title}, {n} set").format(title=title, n=n)
        return _("{title} (Enter opens)").format(title=title) if getattr(self, "collapsed", True) else title

    # ------------------------------------------------------------------------------------- view
    def _refresh(self) -> None:
        self.title = self._title_text()
        if self._built:
            self._fill_list()

    @on(Collapsible.Collapsed)
    def _folded(self) -> None:  # (not `_closed`: Textual's MessagePump keeps its own flag under that name)
        self.title = self._title_text()

    @on(Collapsible.Expanded)
    def _opened(self, event: Collapsible.Expanded) -> None:
        self.title = self._title_text()
        if self._built:
            return
        self._built = True
        self.query_one(Collapsible.Contents).mount_all([
            Input(placeholder=_("filter: part of a name or its help (e.g. warmup, hub, gradient)"), compact=True, id="adv-filter"),
            OptionList(id="adv-list", compact=True),
            Field("", _("Value"), id="adv-edit"),
            Static("", id="adv-help", markup=False),
        ])
        self.call_after_refresh(self._fill_list)

    def _fill_list(self) -> None:
        box = self.query_one("#adv-list", OptionList)
        words = self.query_one("#adv-filter", Input).value.lower().split()
        shown = [k for k in self.keys if all(w in k or w in self.specs[k].get("help", "").lower() or w in self._newcomer(k).lower()
                                             for w in words)]
        box.clear_options()
        box.add_options([self._option(k) for k in shown])
        if shown:
            box.highlighted = shown.index(self._current) if self._current in shown else 0

    def _option(self, key: str) -> Option:
        if key in self.texts and self.texts[key].strip():
            bad = library_check(self.section, key, self.for_task, self.for_method)(self.texts[key])[1]
            mark = "[red]✗[/]" if bad else "[b]●[/]"
            return Option(f"{mark} {key} = [b]{_esc(self.texts[key])}[/]", id=key)
        default = _esc(fmt(self.specs[key].get("default"))) or _("(not set)")
        return Option(f"  {key} [dim]= {default}[/]", id=key)

    def _newcomer(self, key: str) -> str:
        """tunewiz's newcomer help of the key in the user's language, or ""."""
        return fieldhelp.text(f"{self.section}.{key}", self.for_method)

    @on(Input.Changed, "#adv-filter")
    def _filter(self) -> None:
        self._fill_list()

    @on(OptionList.OptionHighlighted, "#adv-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        key = str(event.option.id)
        self._current = key
        spec = self.specs[key]
        editor = self.query_one("#adv-edit", Field)
        editor.key, editor.check = key, library_check(self.section, key, self.for_task, self.for_method)
        editor.query_one(".field-help", Static).update(
            _("blank = default ({value})").format(value=fmt(spec.get("default"))) if spec.get("default") is not None
            else _("blank = default"))
        editor.set_text(self.texts.get(key, ""))
        kind = spec["kind"] + (f": {', '.join(spec['choices'])}" if spec.get("choices") else "")
        newcomer = self._newcomer(key)
        self.query_one("#adv-help", Static).update(f"{self.section}.{key} ({kind}): "
                                                   + (f"{newcomer}\n{spec.get('help', '')}" if newcomer else spec.get("help", "")))

    @on(OptionList.OptionSelected, "#adv-list")
    def _selected(self) -> None:
        self.query_one("#adv-edit Input", Input).focus()

    @on(Field.Changed, "#adv-edit")
    def _edited(self, event: Field.Changed) -> None:
        key = event.field.key
        if not key or self._current != key:
            return
        old = self.texts.get(key, "")
        if event.field.text == old:
            return
        if event.field.text.strip():
            self.texts[key] = event.field.text
        else:
            self.texts.pop(key, None)
        box = self.query_one("#adv-list", OptionList)
        if box.highlighted is not None:
            box.replace_option_prompt_at_index(box.highlighted, self._option(key).prompt)
        self.title = self._title_text()

    @on(Input.Submitted, "#adv-edit Input")
    def _back_to_list(self) -> None:
        self.query_one("#adv-list", OptionList).focus()


def _esc(text: str) -> str:
    return text.replace("[", r"\[")
