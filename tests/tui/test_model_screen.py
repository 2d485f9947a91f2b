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


async def test_method_choice_sets_model_method_and_explains_it():
    from engine import config
    from tui.screens.model import METHOD_HELP, TASKS

    assert [v for _, v in TASKS] == ["causal-lm", "dpo", "kto", "orpo", "sequence-classification"]
    assert all(len(line) <= 67 for line in METHOD_HELP.values())  # one line at 80 columns
    cfg = config.from_dict({"training": {"packing": True}})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        select = app.screen.query_one("#task", Select)
        assert select.value == "causal-lm"
        select.value = "dpo"
        await settle(app, pilot)
        assert "pairs (prompt, chosen, rejected)" in str(app.screen.query_one("#method-help", Static).render())
        assert "LlamaForCausalLM" in str(app.screen.query_one("#model-info", Static).render())  # still a causal LM
        assert select.value == "dpo"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "dataset"
        assert (app.cfg.model.task, app.cfg.model.method) == ("causal-lm", "dpo")
        assert "packing" not in app.cfg.training  # an SFTConfig field: left out (the run would refuse it), and said
        config.from_dict(config.to_dict(app.cfg))  # valid as a preset
        app.cfg.training = {"beta": 0.3}
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.query_one("#task", Select).value == "dpo"  # loaded back from the config
        app.screen.query_one("#task", Select).value = "sequence-classification"
        await settle(app, pilot)
        assert app.screen.query_one("#task", Select).value == "causal-lm"  # the model is a causal LM: SFT, as before
        app.screen.query_one("#task", Select).value = "kto"
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert (app.cfg.model.task, app.cfg.model.method) == ("causal-lm", "kto")
        assert app.cfg.training == {"beta": 0.3}  # KTOConfig has beta too


async def choose_then_next(app, pilot, choice: str) -> None:
    """Pick a method on the model step, then go on to the dataset step."""
    app.screen.query_one("#task", Select).value = choice
    await settle(app, pilot)
    await pilot.press("ctrl+n")
    await settle(app, pilot)


async def test_a_method_that_the_sample_does_not_fit_swaps_the_sample_not_the_users_data(tmp_path):
    """DPO on the default chats would stop at the dataset step ("not preference data"): the bundled sample follows the
    method (and back), said in a notification; a file of the user's own is kept whatever the method."""
    from engine import config

    app = TunewizApp(config.from_dict({"dataset": {"path": "sample:identity", "format": "messages"}}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await choose_then_next(app, pilot, "dpo")
        assert app.step == "dataset"
        assert (app.cfg.dataset.path, app.cfg.dataset.format) == ("sample:preferences", "auto")
        assert any("The dataset is now sample:preferences" in str(n.message) for n in app._notifications)
        assert app.screen.errors() == []  # read, and detected as pairs
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await choose_then_next(app, pilot, "causal-lm")
        assert app.cfg.dataset.path == "sample:identity" and app.screen.errors() == []

    own = tmp_path / "mine.jsonl"
    own.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n')
    app = TunewizApp(config.from_dict({"dataset": {"path": str(own)}}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await choose_then_next(app, pilot, "dpo")
        assert app.cfg.dataset.path == str(own)


async def test_a_dpo_preset_opens_on_its_method():
    app = TunewizApp(preset="presets/smollm2-concise-dpo.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one("#task", Select).value == "dpo"  # the first paint, from the file as written
        await settle(app, pilot)
        assert app.screen.query_one("#task", Select).value == "dpo"
        assert app.cfg.model.method == "dpo"


# ---------------------------------------------------------------------------------------------- Korean
def test_snapshot_model_step_ko(korean, snap_compare):
    async def run_before(pilot):
        await settle(pilot.app, pilot)
        pilot.app.screen.set_focus(None)
        await pilot.pause()

    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=run_before)


async def test_model_step_in_korean(korean, tmp_path, monkeypatch):
    from rich.cells import cell_len

    from engine.i18n import _
    from tui.screens.model import METHOD_HELP

    assert all(cell_len(_(line)) <= 67 for line in METHOD_HELP.values())  # one line at 80 columns, Hangul 2 cells
    monkeypatch.chdir(tmp_path)
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        info = str(app.screen.query_one("#model-info", Static).render())
        assert "파라미터 134.5M개" in info and "채팅 템플릿: 있음" in info and "선형 레이어" in info
        assert str(app.screen.query_one("#method-help", Static).render()).startswith("데이터: 채팅")
        ref = app.screen.query_one("#model-ref", Input)  # the placeholder is read whole at 80 columns (it was cut)
        assert cell_len(ref.placeholder) <= ref.content_region.width, (ref.placeholder, ref.content_region.width)
        box = app.screen.query_one("#model-ref", Input)
        box.value = "./no/such/model"
        box.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "쓸 수 없습니다" in str(app.screen.query_one("#model-info", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        problems = str(app.screen.query_one("#problems", Static).render())
        assert app.step == "model" and problems.startswith("모델: ") and "해결: " in problems
