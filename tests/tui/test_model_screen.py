"""The model step: demos and cache listed, inspection in a worker, bad references block Next."""

from textual.widgets import Input, OptionList, Select, Static

from tui.app import TunewizApp


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_default_demo_is_inspected():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        info = str(app.screen.query_one("#model-info", Static).render())
        assert "LlamaForCausalLM" in info and "134.5M parameters" in info and "chat template: yes" in info
        ids = [app.screen.query_one("#choices", OptionList).get_option_at_index(i).id for i in range(2)]
        assert ids == ["demo:smollm2-135m-instruct", "demo:minilm-l6"]


async def test_bad_path_shows_the_problem_and_blocks_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        box = app.screen.query_one("#model-ref", Input)
        box.value = "./no/such/model"
        box.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "no such path: ./no/such/model" in str(app.screen.query_one("#model-info", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "model"
        assert "no such path" in str(app.screen.query_one("#problems", Static).render())
        assert app.cfg.model.name_or_path == "demo:smollm2-135m-instruct"  # nothing half-stored


async def test_picking_the_classifier_demo_sets_the_task_and_next_stores_it():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        choices = app.screen.query_one("#choices", OptionList)
        choices.focus()
        choices.highlighted = 1
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen.query_one("#task", Select).value == "sequence-classification"
        assert "BertModel" in str(app.screen.query_one("#model-info", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "dataset"
        assert app.cfg.model.name_or_path == "demo:minilm-l6" and app.cfg.model.task == "sequence-classification"
        assert app.model_info is not None and app.model_info.parameters > 20_000_000


def test_snapshot_model_step(snap_compare):
    async def run_before(pilot):
        await settle(pilot.app, pilot)
        pilot.app.screen.set_focus(None)  # a focused Input's blinking cursor would make the picture depend on timing
        await pilot.pause()

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)
