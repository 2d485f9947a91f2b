"""Toggles whose state reads without colour (#14): Textual draws the same glyph for on and off and tells them
apart by colour alone (every radio `▐●▌`, every checkbox `▐X▌`); these draw a blank when off."""

from __future__ import annotations

from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, RadioButton, SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

OFF = " "


class Radio(RadioButton):
    """A RadioButton: `●` when chosen, blank when not."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = RadioButton.BUTTON_INNER if self.value else OFF
        return super()._button


class Tick(Checkbox):
    """A Checkbox: `X` when ticked, blank when not."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = Checkbox.BUTTON_INNER if self.value else OFF
        return super()._button


class TickList(SelectionList):
    """A SelectionList whose unselected options show a blank box instead of a dim `X`."""

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        if selection.value in self._selected:
            return line
        segments = list(line)
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return line
        segments[1] = segments[1]._replace(text=OFF)
        return Strip(segments, line.cell_length)
