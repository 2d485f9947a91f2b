"""The dataset step: samples, files picked from the working folder, hub ids; the head shown at once and
the rows counted in a worker; the engine's format detection with its reason; every bad input (bad file
line, missing column, bad number, undetectable data) shown inline and blocking Next."""

import asyncio
import json
import shutil
import time

import pytest
from textual.widgets import Checkbox, DataTable, Input, Label, OptionList, Select, Static, Tree

from engine import config
from tests.conftest import REPO, shared
from tui.app import TunewizApp
from tui.widgets.dataset_panels import DataFileTree


async def settle(app, pilot):
    """Wait for this step's workers (the file tree's loader never ends, so not for every worker)."""
    await pilot.pause()
    mine = [w for w in app.workers if w.group.startswith("dataset")]
    if mine:
        await app.workers.wait_for_complete(mine)
    await pilot.pause()


async def open_step(app, pilot):
    await app.workers.wait_for_complete()  # the model step's work (no file tree yet, so every worker ends)
    app.goto("dataset")
    await pilot.pause()
    while app.screen._key is None:  # load() runs once the step's tabs are composed
        await pilot.pause()
    await settle(app, pilot)
    return app.screen


def summary(screen) -> str:
    return str(screen.query_one("#summary", Static).render())


def roles(screen) -> dict:
    """The role selects on show: role -> chosen column (None = auto)."""
    out = {}
    for row in screen.query(".role-row"):
        if not row.has_class("-off"):
            value = row.query_one(Select).value
            out[str(row.query_one(Label).render())] = None if value == Select.NULL else value
    return out


async def read_path(screen, pilot, path):
    box = screen.query_one("#path", Input)
    box.value = path
    box.focus()
    await pilot.press("enter")
    await settle(screen.app, pilot)


async def next_blocked(app, pilot) -> str:
    await pilot.press("ctrl+n")
    await pilot.pause()
    assert app.step == "dataset"
    return str(app.screen.query_one("#problems", Static).render())


def make_cfg(task="causal-lm", **dataset):
    """A config for this step; its model is a path that fails at once, since the model step's inspection
    (seconds of CPU in a thread) is not under test here and would only slow the test down."""
    cfg = config.load(None)
    cfg.model.name_or_path, cfg.model.task = "./model-not-needed-here", task
    for k, v in dataset.items():
        setattr(cfg.dataset, k, v)
    return cfg


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder with the shared datasets and a file the picker must hide."""
    for name in ("alpaca_en_demo.json", "glaive_toolcall_en_demo.json", "mrpc_dev.csv"):
        shutil.copy(shared(name), tmp_path / name)
    (tmp_path / "notes.md").write_text("# not data\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_default_sample_is_messages_with_64_rows():
    app = TunewizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        text = summary(screen)
        assert "sample:identity: 64 rows" in text and "Format messages" in text and "role/content" in text
        assert screen.query_one("#rows", DataTable).row_count == 50
        assert screen.errors() == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview"
        info = app.dataset_info
        assert (info.path, info.format, info.row_count, info.columns) == ("sample:identity", "messages", 64, ["messages"])


async def test_file_picker_shows_data_files_and_reads_alpaca(workdir):
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        screen.query_one("#kind", Select).value = "file"
        await pilot.pause()
        tree = screen.query_one(DataFileTree)
        while not tree.root.children:
            await pilot.pause()
        assert [str(n.label) for n in tree.root.children] == ["alpaca_en_demo.json", "glaive_toolcall_en_demo.json", "mrpc_dev.csv"]
        tree.focus()
        while tree.cursor_node is None or str(tree.cursor_node.label) != "alpaca_en_demo.json":
            await pilot.press("down")
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.query_one("#path", Input).value == "alpaca_en_demo.json"
        assert "alpaca_en_demo.json: 999 rows" in summary(screen) and "Format alpaca" in summary(screen)
        table = screen.query_one("#rows", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["instruction", "input", "output"]
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview" and app.cfg.dataset.path == "alpaca_en_demo.json"
        assert not app.get_screen("dataset").query(Tree)  # the picker left with its never-ending loader


async def test_sharegpt_file(workdir):
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "glaive_toolcall_en_demo.json")
        assert "300 rows" in summary(screen) and "Format sharegpt" in summary(screen)
        assert screen.query_one("#kind", Select).value == "file"  # the picker follows a typed path
        assert screen.errors() == []


async def test_classification_csv_maps_sentence_pairs(workdir):
    app = TunewizApp(make_cfg("sequence-classification"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "mrpc_dev.csv")
        text = summary(screen)
        assert "6 rows" in text and "Format classification" in text
        assert "text=sentence1" in text and "text_pair=sentence2" in text and "label=label" in text
        assert roles(screen) == {"text": None, "label": None, "text_pair": None}  # all auto
        assert screen.errors() == []


async def test_task_clash_is_shown_and_blocks_next(workdir):
    app = TunewizApp(make_cfg("causal-lm", path="mrpc_dev.csv"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert "model.task" in summary(screen) and "sequence-classification" in summary(screen)
        assert "the task is causal-lm" in await next_blocked(app, pilot)


async def test_mapping_to_a_missing_column_blocks_next(workdir):
    cfg = make_cfg("sequence-classification", path="mrpc_dev.csv", columns={"text": "sentense1"})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert "column 'sentense1' is not in the dataset; did you mean sentence1?" in summary(screen)
        assert "sentense1" in await next_blocked(app, pilot)
        assert roles(screen)["text"] == "sentense1"  # the bad choice is shown, to be corrected
        screen.query_one("#role-0", Select).value = "sentence1"
        await pilot.pause()
        assert screen.errors() == []
        assert str(screen.query_one("#problems", Static).render()) == ""  # the refusal's message went with the fix
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview" and app.cfg.dataset.columns == {"text": "sentence1"}


async def test_malformed_jsonl_names_the_line_and_blocks_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "early.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c",}\n')
    (tmp_path / "late.jsonl").write_text("".join(json.dumps({"text": str(i)}) + "\n" for i in range(120)) + "{oops\n")
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "early.jsonl")
        assert "early.jsonl:3: not valid JSON" in summary(screen)
        assert "early.jsonl:3" in await next_blocked(app, pilot)
        await read_path(screen, pilot, "late.jsonl")  # the head is fine; the count finds line 121
        assert "late.jsonl:121: not valid JSON" in summary(screen)
        assert screen.query_one("#rows", DataTable).row_count == 50
        assert "late.jsonl:121" in await next_blocked(app, pilot)
        assert app.cfg.dataset.path == "sample:identity"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("#eval-size", "abc", "Eval size: 'abc' is not a number"),
    ("#eval-size", "-1", "Eval size: -1 is below 0"),
    ("#eval-size", "2.5", "neither a share below 1 nor a whole number"),
    ("#eval-size", "64", "leaves none of the 64 to train on"),
    ("#max-rows", "ten", "Max rows: 'ten' is not a whole number"),
    ("#max-rows", "0", "Max rows: 0 is below 1"),
])
async def test_bad_numbers_are_shown_as_typed_and_block_next(field, value, message):
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        screen.query_one("#tabs").active = "tab-split"
        box = screen.query_one(field, Input)
        box.value = ""
        box.focus()
        await pilot.press(*value)  # typed, as a user would
        await pilot.pause()
        assert message in str(screen.query_one("#split-msg", Static).render())
        assert box.has_class("-bad")
        assert message in await next_blocked(app, pilot)


async def test_split_and_format_choices_are_stored_and_loaded_back():
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        screen.query_one("#eval-size", Input).value = "8"
        screen.query_one("#max-rows", Input).value = "40"
        screen.query_one("#format", Select).value = "messages"
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        ds = app.cfg.dataset
        assert (ds.eval_size, ds.max_rows, ds.format, ds.template) == (8, 40, "messages", None)
        app.cfg.dataset.max_rows = None
        app.goto("dataset")
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#max-rows", Input).value == "" and screen.query_one("#eval-size", Input).value == "8"
        assert screen.query_one("#format", Select).value == "messages"


async def test_undetectable_data_takes_a_template(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps({"q": f"q{i}", "a": f"a{i}"}) + "\n" for i in range(10)))
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "qa.jsonl")
        assert "could not tell the format from the columns (q, a)" in summary(screen)
        assert screen.query_one("#use-template", Checkbox).value  # the template section opened by itself
        assert "could not tell the format" in await next_blocked(app, pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one("#tpl-prompt", Input).has_focus
        await pilot.press(*"Q: {q}\\nA: ")
        screen.query_one("#tpl-completion", Input).value = "{a}"
        await pilot.pause()
        assert "Format template" in summary(screen) and screen.errors() == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview"
        assert app.cfg.dataset.template == {"prompt": "Q: {q}\nA: ", "completion": "{a}"}


async def test_template_naming_a_missing_column_blocks_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.jsonl").write_text('{"q": "1", "a": "2"}\n')
    app = TunewizApp(make_cfg(path="qa.jsonl", template={"prompt": "{question}", "completion": "{a}"}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert screen.query_one("#tpl-prompt", Input).value == "{question}"
        assert "{question} is not a column" in await next_blocked(app, pilot)


async def test_huge_file_shows_its_head_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "huge.jsonl").write_text("".join(f'{{"text": "line {i}"}}\n' for i in range(1_000_000)))
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        box = screen.query_one("#path", Input)
        box.value = "huge.jsonl"
        table = screen.query_one("#rows", DataTable)
        start = time.perf_counter()
        await box.action_submit()  # Enter; the Pilot's key presses wait for the CPU to idle, and counting keeps it busy
        while "huge.jsonl:" not in summary(screen) and time.perf_counter() - start < 30:
            await asyncio.sleep(0.01)
        # no time limit here (a loaded CI machine is slow): what matters is that the head came before the count
        assert table.row_count == 50 and "Format text" in summary(screen)
        assert "counting rows..." in summary(screen)  # the head did not wait for the count
        assert screen.errors() == []  # nor does Next
        await settle(app, pilot)
        assert "huge.jsonl: 1,000,000 rows" in summary(screen)


async def test_hub_id_offline_is_explained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        screen.query_one("#kind", Select).value = "hub"
        screen.query_one("#hub-split", Input).value = "validation"
        await read_path(screen, pilot, "nobody-here/no-such-dataset")
        assert "could not load hub dataset 'nobody-here/no-such-dataset'" in summary(screen)
        assert "could not load hub dataset" in await next_blocked(app, pilot)


async def test_typed_but_unread_path_blocks_next():
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        screen.query_one("#path", Input).value = "sample:sentiment"
        await pilot.pause()
        assert "press Enter in the Data field to read sample:sentiment" in await next_blocked(app, pilot)
        screen.query_one("#pick-sample", OptionList).highlighted = 1
        screen.query_one("#pick-sample", OptionList).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "240 rows" in summary(screen) and "model.task" in summary(screen)  # labelled data, causal-lm task
        await read_path(screen, pilot, "")
        assert "Dataset: pick a sample or a file, or type a hub id" in await next_blocked(app, pilot)


# ------------------------------------------------------------------------------------------ snapshots
def snap_step(tab, path=None):
    async def run_before(pilot):
        screen = await open_step(pilot.app, pilot)
        if path:
            if path.endswith(".json"):
                screen.query_one("#kind", Select).value = "file"
                await pilot.pause()
                tree = screen.query_one(DataFileTree)
                while not tree.root.children:
                    await pilot.pause()
            await read_path(screen, pilot, path)
        screen.query_one("#tabs").active = tab
        screen.set_focus(None)  # no blinking input cursor in the picture
        await pilot.pause()

    return run_before


def test_snapshot_sample(snap_compare):
    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=snap_step("tab-rows"))


def test_snapshot_alpaca_file(snap_compare, workdir):
    assert snap_compare(TunewizApp(make_cfg()), terminal_size=(80, 24), run_before=snap_step("tab-source", "alpaca_en_demo.json"))


def test_snapshot_sharegpt_with_tool_calls(snap_compare, workdir):
    assert snap_compare(TunewizApp(make_cfg()), terminal_size=(80, 24), run_before=snap_step("tab-format", "glaive_toolcall_en_demo.json"))


def test_snapshot_classification_csv(snap_compare, workdir):
    app = TunewizApp(make_cfg("sequence-classification"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=snap_step("tab-format", "mrpc_dev.csv"))


REAL = REPO / "tests" / "data" / "real"


@pytest.fixture
def realdir(tmp_path, monkeypatch):
    for name in ("glue_stsb_train_quotes_window.tsv", "llamafactory_dpo_en_demo_head5.json", "nsmc_ratings_test_head68.txt",
                 "glue_mrpc_train_transformers_fixture.tsv"):
        shutil.copy(REAL / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_a_float_score_is_shown_as_regression(realdir):
    app = TunewizApp(make_cfg("sequence-classification"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "glue_stsb_train_quotes_window.tsv")
        text = summary(screen)
        assert "26 rows" in text and "regression" in text and "label=score" in text, text
        assert screen.errors() == []


async def test_preference_data_is_refused_on_the_step(realdir):
    app = TunewizApp(make_cfg("causal-lm"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "llamafactory_dpo_en_demo_head5.json")
        assert "preference data" in " ".join(screen.errors()) + summary(screen)
        assert "not SFT data" in await next_blocked(app, pilot)


async def test_a_txt_of_tab_separated_lines_is_read_as_tsv(realdir):
    app = TunewizApp(make_cfg("sequence-classification"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "nsmc_ratings_test_head68.txt")
        text = summary(screen)
        assert "67 rows" in text and "Format classification" in text and "text=document" in text, text


async def test_enter_on_a_row_shows_it_whole(workdir):
    """#14: the Rows tab cut values at ~60 characters with no way to read a row: Enter shows it whole, Escape closes."""
    from textual.widgets import Footer

    from tui.widgets.text_dialog import TextDialog

    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "alpaca_en_demo.json")
        screen.query_one("#tabs").active = "tab-rows"
        table = screen.query_one("#rows", DataTable)
        table.focus()
        await pilot.pause()
        assert "Whole row" in str(screen.query_one(Footer).render()) or any(
            "Whole row" in str(k.render()) for k in screen.query("FooterKey"))
        rows = json.loads((workdir / "alpaca_en_demo.json").read_text())
        i = next(n for n, r in enumerate(rows[:50]) if len(r["output"]) > 200 and "\n" in r["output"])
        assert "…" in str(table.get_row_at(i)[2])  # the table cuts it
        for _ in range(i):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        text = str(dialog.query_one("#text-body", Static).render())
        assert f"Row {i + 1} of alpaca_en_demo.json" in str(dialog.query_one("#text-title", Static).render())
        for name in ("instruction", "input", "output"):
            assert name in text and rows[i][name] in text  # whole, with its line breaks
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and app.step == "dataset"


KOREAN = REPO / "tests" / "data" / "korean_sentiment.csv"


async def test_a_classifier_on_korean_headers_offers_the_columns_not_a_template(tmp_path, monkeypatch):
    """#14: a classifier's CSV headed 문장,감정 ticked the Template box by itself and then blocked Next on a
    placeholder; a classifier is offered its text and label columns, mapped like any ASCII ones."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(KOREAN, tmp_path / "korean.csv")
    app = TunewizApp(make_cfg("sequence-classification"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        await read_path(screen, pilot, "korean.csv")
        assert not screen.query_one("#use-template", Checkbox).value
        assert "which column holds the text and which the label (문장, 감정)" in summary(screen)
        assert roles(screen) == {"text": None, "label": None, "text_pair": None}
        assert "Template" not in await next_blocked(app, pilot)
        screen.query_one("#tabs").active = "tab-format"
        screen.query_one("#role-0", Select).value = "문장"
        await pilot.pause()
        assert "needs a 'label' column" in summary(screen)
        screen.query_one("#role-1", Select).value = "감정"
        await pilot.pause()
        assert "Format classification" in summary(screen) and "text=문장, label=감정" in summary(screen)
        assert screen.errors() == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview"
        assert app.cfg.dataset.columns == {"text": "문장", "label": "감정"} and app.cfg.dataset.template is None


async def test_dpo_on_sft_data_explains_preference_data_and_offers_the_sample():
    cfg = make_cfg()
    cfg.model.method = "dpo"
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        text = summary(screen)
        assert "DPO needs preference data" in text  # the engine's own problem (what and fix)
        assert "pairs: prompt, chosen, rejected" in text and "ctrl+e: use sample:preferences" in text
        assert "DPO needs preference data" in await next_blocked(app, pilot)
        assert any(key == "ctrl+e" and b.enabled for key, b in app.active_bindings.items())  # in the footer
        await pilot.press("ctrl+e")
        await settle(app, pilot)
        text = summary(screen)
        assert "sample:preferences: 48 rows" in text and "Format preference" in text
        assert {"chosen", "rejected", "prompt"} <= set(roles(screen))
        assert screen.errors() == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.step == "preview" and app.cfg.dataset.path == "sample:preferences"


async def test_sft_does_not_offer_the_preference_sample():
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert screen.check_action("preference_sample", ()) is False
        await pilot.press("ctrl+e")
        await settle(app, pilot)
        assert app.screen.query_one("#path", Input).value == "sample:identity"


async def test_kto_reads_the_pairs_sample():
    cfg = make_cfg(path="sample:preferences")
    cfg.model.method = "kto"
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert screen.errors() == [], summary(screen)


# ---------------------------------------------------------------------------------------------- Korean
def test_snapshot_sample_ko(korean, snap_compare):
    assert snap_compare(TunewizApp(), terminal_size=(80, 24), run_before=snap_step("tab-rows"))


def test_snapshot_alpaca_file_ko(korean, snap_compare, workdir):
    assert snap_compare(TunewizApp(make_cfg()), terminal_size=(80, 24), run_before=snap_step("tab-source", "alpaca_en_demo.json"))


async def test_dataset_step_in_korean(korean):
    app = TunewizApp(make_cfg())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step(app, pilot)
        assert "64행, 1열 (처음 50행은 행 탭에)" in summary(screen)
        screen.query_one("#tabs").active = "tab-split"
        screen.query_one("#eval-size", Input).value = "abc"
        screen.query_one("#max-rows", Input).value = "0"
        await pilot.pause()
        # the problems are in Korean and still mark their own fields
        assert screen.query_one("#eval-size", Input).has_class("-bad") and screen.query_one("#max-rows", Input).has_class("-bad")
        shown = await next_blocked(app, pilot)
        assert "평가 크기: 'abc' 값은 숫자가 아닙니다" in shown and "최대 행 수: 0 값은 1보다 작습니다" in shown


@pytest.mark.parametrize("lang, words", [("en", "held out"), ("ko", "떼어 두는")])
async def test_the_split_fields_show_tunewizs_help_while_they_have_focus(lang, words):
    """dataset.eval_size / max_rows carry the newcomer help (engine.fieldhelp) in the user's language; the format,
    column, template, path and model fields carry it as their tooltip."""
    from engine import i18n

    i18n.set_language(lang)
    try:
        app = TunewizApp()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_step(app, pilot)
            screen.query_one("#tabs").active = "tab-split"
            await pilot.pause()
            screen.query_one("#eval-size", Input).focus()
            await pilot.pause()
            shown = str(screen.query_one("#split-help", Static).render())
            assert shown.startswith("dataset.eval_size: ") and words in shown
            screen.query_one("#max-rows", Input).focus()
            await pilot.pause()
            assert str(screen.query_one("#split-help", Static).render()).startswith("dataset.max_rows: ")
            assert words not in str(screen.query_one("#split-help", Static).render())
            assert screen.query_one("#format", Select).tooltip and screen.query_one("#path", Input).tooltip
    finally:
        i18n.set_language("en")
