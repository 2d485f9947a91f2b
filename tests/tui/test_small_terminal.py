"""80x24 and accessibility (#14): what a small terminal hides, and state that reads without colour."""

from textual.widgets import Button
from textual.widgets._toast import Toast

from engine import config
from tests.conftest import PRESETS
from tui.app import TunewizApp

SMOL = PRESETS / "smollm2-identity-lora.yaml"


async def test_toasts_leave_back_and_next_visible():
    app = TunewizApp(config.load(SMOL), source=str(SMOL))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        app.notify("a problem\n" * 4, title="Fix before going on", severity="error")
        app.notify("Loaded smollm2-identity-lora.yaml", title="Preset")
        await pilot.pause(0.3)
        toasts = [t.region for t in app.screen.query(Toast)]
        assert toasts
        for nav in ("#back", "#next"):
            button = app.screen.query_one(nav, Button).region
            assert not any(t.overlaps(button) for t in toasts), (nav, toasts, button)


async def test_the_monitor_header_keeps_the_whole_device_name_at_80_columns(tmp_path):
    import json

    from tests.tui.test_monitor import Host, recorded

    run = recorded(tmp_path, "finished")
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    for e in events:
        if e["type"] == "start":
            e.update(model="meta-llama/Llama-3.2-1B-Instruct", device="NVIDIA H100 80GB HBM3")
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        title = app.screen.query_one("#mon-title")
        shown = " ".join(title.render_line(y).text.strip() for y in range(title.size.height))
        assert "NVIDIA H100 80GB HBM3" in shown and "meta-llama/Llama-3.2-1B-Instruct" in shown, shown
