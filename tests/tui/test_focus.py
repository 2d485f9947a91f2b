"""Focus is visible: on every step, each widget that Tab reaches looks different on screen while it has
focus (compact fields and lists, scrolling panes and borderless buttons included)."""

import pytest
from textual.app import App

from tui.app import STEPS, TunewizApp
from tui.widgets.field import Field


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def looks(app, widget) -> list:
    r = widget.region
    return [app.screen.get_style_at(x, y) for y in range(r.y, r.bottom) for x in range(r.x, r.right)]


def _rgb(color) -> tuple[int, int, int]:
    return (0, 0, 0) if color is None or color.triplet is None else tuple(color.triplet)


def contrast(focused: list, blurred: list) -> int:
    """How visible the change is: the largest colour change of a cell (0-255), or 255 for a text style change
    (bold, reverse, underline) or a different character style altogether."""
    most = 0
    for a, b in zip(focused, blurred, strict=True):
        if (a.bold, a.reverse, a.underline, a.italic) != (b.bold, b.reverse, b.underline, b.italic):
            return 255
        for x, y in ((a.color, b.color), (a.bgcolor, b.bgcolor)):
            most = max(most, *(abs(p - q) for p, q in zip(_rgb(x), _rgb(y), strict=True)))
    return most


async def tab_stops(app, pilot) -> list:
    """The widgets Tab reaches on the current screen, in order, each once."""
    seen = []
    while app.focused is not None and app.focused not in seen:
        seen.append(app.focused)
        await pilot.press("tab")
        await pilot.pause()
    return seen


@pytest.mark.parametrize("step", [step.key for step in STEPS])
async def test_every_tab_stop_looks_focused(step):
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        if step != "model":
            app.goto(step)
            await settle(app, pilot)
        app.screen.focus_next()
        await pilot.pause()
        stops = await tab_stops(app, pilot)
        assert len(stops) >= 3
        faint = {}
        for widget in stops:
            widget.focus()
            await pilot.pause()
            await pilot.pause()
            focused = looks(app, widget)
            app.screen.set_focus(None)
            await pilot.pause()
            await pilot.pause()
            seen = contrast(focused, looks(app, widget))
            if seen < 20:
                faint[f"{type(widget).__name__}#{widget.id}"] = seen
        assert faint == {}


async def test_a_fields_label_follows_the_focus():
    class Form(App):
        def compose(self):
            yield Field("a", "Alpha", "help a", id="fa")
            yield Field("b", "Beta", "help b", id="fb")

    app = Form()
    async with app.run_test() as pilot:
        for focused, other in (("fa", "fb"), ("fb", "fa"), ("fa", "fb")):
            app.query_one(f"#{focused}-input").focus()
            await pilot.pause()
            on, off = (app.query_one(f"#{i} .field-label").styles for i in (focused, other))
            assert on.text_style.bold and not off.text_style.bold
            assert on.color != off.color


async def test_a_list_shows_its_cursor_row_as_soon_as_it_has_focus():
    from textual.widgets import OptionList, SelectionList

    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        choices = app.screen.query_one("#choices", OptionList)
        assert choices.highlighted is None
        choices.focus()
        await pilot.pause()
        assert choices.highlighted == 0
        app.goto("lora")
        await settle(app, pilot)
        targets = app.screen.query_one("#targets", SelectionList)
        targets.focus()
        await pilot.pause()
        assert targets.highlighted == 0
        await pilot.press("space")  # ticks (here: unticks) the row the cursor is on
        await pilot.pause()
        assert targets.get_option_at_index(0).value not in targets.selected
