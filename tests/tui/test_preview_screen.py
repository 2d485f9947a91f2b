"""The token preview step: it shows exactly the rows the trainer receives, steps through them, walks
through the tokenizer, reports data checks, and blocks Next when the data cannot be prepared."""

import asyncio
import json
import re

import torch
from rich.cells import cell_len
from textual.widgets import Static

from engine import checks, config, preview
from engine.data import pipeline
from engine.preview import show_token
from tests.conftest import shared
from tui.app import TunewizApp
from tui.widgets.tokens import TokenChips
from tui.widgets.walkthrough import WalkThrough

MINILM = {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"}


def cfg_for(out="runs/preview", **sections):
    sections.setdefault("training", {})
    sections["training"].setdefault("output_dir", str(out))
    return config.from_dict(sections)


async def show_preview(app, pilot):
    """Let the first step settle, open the token preview and wait until it is built (or failed)."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    app.goto("preview")
    await pilot.pause()
    return await built(app, pilot)


async def built(app, pilot):
    for _ in range(1200):
        await pilot.pause(0.05)
        screen = app.screen
        if getattr(screen, "STEP", "") == "preview" and screen._pending is None and (screen.data or screen._error):
            break
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen


async def press(app, pilot, *keys):
    for key in keys:
        await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause()


def text_of(screen, selector):
    return str(screen.query_one(selector, Static).render())


def chips_text(screen):
    chips = screen.query_one("#pv-chips", TokenChips)
    return "\n".join(line.plain for line in chips._lines(chips.content_size.width))


async def test_the_screen_shows_exactly_what_the_trainer_receives(tmp_path):
    from engine.train import build_trainer

    cfg = cfg_for(tmp_path / "run", training={"per_device_train_batch_size": 4, "use_cpu": True})
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        shown = screen.shown
        assert shown.index == 0 and screen.errors() == []
        assert "Example 1 of 58 · batch 0, row 0" in text_of(screen, "#pv-where")
        trainer, prepared, _ = build_trainer(cfg, tmp_path, [])
        # the same rows as engine.preview computes them from the trainer's own tokenizer and arguments...
        collator = pipeline.build_collator("causal-lm", trainer.args, trainer.processing_class)
        direct = next(preview.batches(prepared, collator, 4))
        assert shown.row == next(preview.rows(direct, trainer.processing_class))
        # ...and byte for byte the batch the trainer's collator makes of its dataset
        got = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
        assert set(got) == {k for k in shown.batch if not k.startswith("_")}
        for key, value in got.items():
            assert (value.tolist() if isinstance(value, torch.Tensor) else value) == shown.batch[key], key
        # what is drawn is that row: ids, -100 dimmed, padding apart
        view = screen.query_one("#pv-chips", TokenChips).row
        row = shown.row
        assert view.ids == row["input_ids"] and view.values[-1] == ("label", row["labels"])
        for kind, label, mask in zip(view.kinds, row["labels"], row["attention_mask"], strict=True):
            assert (kind == "pad") == (mask == 0)
            assert (kind in ("masked", "special-masked", "pad")) == (label == -100)
        assert view.kinds[0] == "special-masked" and "special" in view.kinds  # <|im_start|> masked, <|im_end|> trained
        grid = chips_text(screen)
        assert grid.splitlines()[0].startswith("tok   <|im_start|>") and "label -100" in grid
        assert screen.query_one("#pv-chips", TokenChips).legend().plain.startswith(f" {sum(1 for x in row['labels'] if x != -100)} trained")


async def test_next_previous_and_jump(tmp_path):
    app = TunewizApp(cfg_for(tmp_path / "run", training={"per_device_train_batch_size": 4}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        first = list(preview.rows(screen.shown.batch, screen.data.checked.tokenizer))
        await press(app, pilot, "left")
        assert screen.shown.index == 0  # nothing before the first example
        await press(app, pilot, "right")
        assert screen.shown.index == 1 and screen.shown.row == first[1]
        await press(app, pilot, "j", "j", "k")
        assert screen.shown.index == 2 and screen.shown.row == first[2]
        await press(app, pilot, "g", "6", "enter")
        assert screen.shown.index == 5
        assert (screen.shown.row["batch"], screen.shown.row["row_in_batch"]) == (1, 1)
        assert screen.shown.row == list(preview.rows(next(preview.batches(
            screen.data.prepared, screen.data.collator, 4, start=1)), screen.data.checked.tokenizer))[1]
        assert "Example 6 of 58 · batch 1, row 1" in text_of(screen, "#pv-where")
        # a number past the end: said inline, Next blocked until it is fixed or closed
        await press(app, pilot, "g", "9", "9", "9", "enter")
        assert "'999' is not an example number: type one from 1 to 58" in text_of(screen, "#problems")
        await press(app, pilot, "ctrl+n")
        assert app.step == "preview" and screen.shown.index == 5
        await press(app, pilot, "escape")
        assert screen.errors() == [] and not screen.query_one("#pv-jump").has_class("open")
        # views: compact chips, then the rendered text after the chat template
        await press(app, pilot, "v")
        assert "chips view" in text_of(screen, "#pv-legend") and chips_text(screen).startswith("<|im_start|>system↵")
        await press(app, pilot, "v")
        assert chips_text(screen).startswith("<|im_start|>system\n") and "text view" in text_of(screen, "#pv-legend")
        await press(app, pilot, "ctrl+n")
        assert app.step == "training"


async def test_walkthrough_of_a_minilm_example_ends_in_the_trained_ids(tmp_path):
    app = TunewizApp(cfg_for(tmp_path / "run", model=MINILM, dataset={"path": "sample:sentiment"}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        row = screen.shown.row
        assert isinstance(row["labels"], int) and "token_type_ids" in row
        names = screen.data.prepared.plan.label_names
        assert f"label {row['labels']} = {names[row['labels']]}" in text_of(screen, "#pv-where")
        await press(app, pilot, "w")
        steps = dict(screen.shown.steps)
        tok = screen.data.checked.tokenizer
        source = screen.data.checked.raw[row["source_row"]]["text"]
        assert steps["text"] == source and steps["normalised"] == source.lower()
        assert steps == dict(checks.tokenizer_walkthrough(tok, source, max_length=512))
        real = [t for t, m in zip(row["input_ids"], row["attention_mask"], strict=True) if m]
        assert steps["special tokens added"]["ids"] == real and steps["special tokens added"]["added"] == ["[CLS]", "[SEP]"]
        walk = str(screen.query_one("#pv-walk", WalkThrough).render())
        assert "2. normalised" in walk and "added: [CLS], [SEP]" in walk
        assert screen.query_one("#pv-walk").display and not screen.query_one("#pv-chips").display
        await press(app, pilot, "right")  # the walk-through follows the example
        assert screen.shown.index == 1 and screen.shown.steps and dict(screen.shown.steps)["text"] != source
        await press(app, pilot, "w")
        assert screen.query_one("#pv-chips").display and "grid view" in text_of(screen, "#pv-legend")


async def test_checks_fire_on_a_tiny_max_length_and_follow_the_config(tmp_path):
    app = TunewizApp(cfg_for(tmp_path / "run"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        assert "✓ no problems found" in text_of(screen, "#pv-checks")
        app.cfg.training["max_length"] = 40  # the training step changed it: the preview is rebuilt
        screen.load(app.cfg)
        assert screen._pending and screen.data is None
        await built(app, pilot)
        st = screen.data.stats
        found = text_of(screen, "#pv-checks")
        assert f"{st['dropped']['truncated']} rows had their whole answer cut off by truncation to 40 tokens" in found
        assert f"{st['truncated'] / st['rows']:.1%} truncated at max_length 40" in found
        assert "fix: raise training.max_length to 102" in found and "no problems" not in found
        assert " cut" in text_of(screen, "#pv-hist")
        assert all(len(ids) <= 40 for ids in screen.shown.batch["input_ids"])
        full = screen.data.prepared.train[0]["_full_len"]
        assert full > 40 and f"cut to 40 of {full} tokens" in text_of(screen, "#pv-where")
        assert screen.errors() == []  # checks inform; they do not block


async def test_a_dataset_that_cannot_be_read_is_shown_and_blocks_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TunewizApp(cfg_for(dataset={"path": "missing.jsonl"}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        assert "could not be built" in text_of(screen, "#pv-where")
        assert "missing.jsonl" in text_of(screen, "#pv-msg")
        await press(app, pilot, "ctrl+n")
        assert app.step == "preview"
        assert "Tokens: the data cannot be prepared" in text_of(screen, "#problems") and "fix:" in screen.errors()[0]


async def test_padding_free_batches_show_one_row_with_boundaries(tmp_path):
    app = TunewizApp(cfg_for(tmp_path / "run", training={"packing": True, "max_length": 256}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        data, row = screen.data, screen.shown.row
        assert data.padding_free and data.total == -(-len(data.prepared.train) // data.batch_size)
        assert "position_ids" in row and "attention_mask" not in row
        assert row == next(preview.rows(next(preview.batches(data.prepared, data.collator, data.batch_size)),
                                        data.checked.tokenizer))
        starts = {i for i, p in enumerate(row["position_ids"]) if p == 0 and i > 0}
        assert screen.query_one("#pv-chips", TokenChips).row.starts == starts and starts
        assert "║" in chips_text(screen) and "padding-free" in text_of(screen, "#pv-where")


KOREAN = {"messages": [{"role": "system", "content": "당신은 친절한 도우미입니다."},
                      {"role": "user", "content": "안녕하세요, 반갑습니다"},
                      {"role": "assistant", "content": "안녕하세요! 무엇을 도와드릴까요?"}]}


def korean_chat(folder):
    """A Korean chat row: SmolLM2's byte-level BPE splits nearly every Hangul syllable into 2-3 byte tokens."""
    path = folder / "ko.jsonl"
    path.write_text(json.dumps(KOREAN, ensure_ascii=False) + "\n", encoding="utf-8")
    return str(path)


def cells(line):
    """A drawn line with every character at its terminal column (a wide character's second cell is \0)."""
    return "".join(c + "\0" * (cell_len(c) - 1) for c in line)


async def test_korean_syllables_split_over_tokens_are_shown_once_across_their_chips(tmp_path):
    app = TunewizApp(cfg_for(tmp_path / "run", dataset={"path": korean_chat(tmp_path), "eval_size": 0}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        chips = screen.query_one("#pv-chips", TokenChips)
        view, row = chips.row, screen.shown.row
        assert view.joined and [tuple(j) for j in row["joined"]] == view.joined
        assert [t for _, _, t in view.joined][:4] == ["당", "신", "은", " 친"]
        lines = chips._lines(chips.content_size.width)
        assert all(line.cell_len <= chips.content_size.width for line in lines)  # Hangul is 2 cells: still fits
        # every group: its text once, under its own chips, each of which keeps its id, mask and label
        seen = []
        for n, line in enumerate(lines):
            if not line.plain.startswith("text "):
                continue
            tok, under, ids, mask, label = (cells(x.plain) for x in (lines[n - 1], line, *lines[n + 1:n + 4]))
            assert ids.startswith("id ") and mask.startswith("mask ") and label.startswith("label ")
            chip_at = [m.start() for m in re.finditer(r"\S+", tok)][1:]
            for brace in re.finditer(r"╰─* (\S+) ─*╯", under):
                s, e, text = view.joined[len(seen)]
                inside = [c for c in chip_at if brace.start() <= c < brace.end()]
                assert inside[0] == brace.start() and len(inside) == e - s  # the brace spans exactly the group's chips
                assert brace.group(1).replace("\0", "") == show_token(text)
                for k, col in enumerate(inside):  # one id, mask and label per token, under its chip
                    assert ids[col:].split()[0] == str(view.ids[s + k])
                    assert mask[col:].split()[0] == "1"
                    assert label[col:].split()[0] == str(row["labels"][s + k])
                seen.append(text)
        assert seen == [t for _, _, t in view.joined][:len(seen)] and "안" in seen and len(seen) > 10
        assert "ì" not in chips_text(screen)  # no byte stand-ins (안 is ìķĪ to the tokenizer)
        # compact chips: the same text under the groups; text view: the text itself
        await press(app, pilot, "v")
        compact = chips_text(screen)
        assert "<EB><8B><B9>" in compact and re.search(r"╰─* 당 ─*╯", compact)
        await press(app, pilot, "v")
        assert "당신은 친절한 도우미입니다." in chips_text(screen) and "안녕하세요, 반갑습니다" in chips_text(screen)
        # the walk-through says why a syllable became several tokens and what they spell
        await press(app, pilot, "w")
        walk = str(screen.query_one("#pv-walk", WalkThrough).render())
        assert "␣반갑습니다" in walk and "ìķĪ" not in walk  # pre-tokenized words as text
        assert "a character outside the vocabulary is split into its UTF-8 bytes (당: 3 bytes)" in walk
        assert "당 = <EB><8B> <B9> · 신 = <EC> <8B> <A0>" in walk.replace("\n", " ")
        assert "more)" in walk


# -------------------------------------------------------------------------------------- snapshots
def _snap_app(**sections):
    return TunewizApp(cfg_for(**sections))


async def _open_preview(pilot):
    await show_preview(pilot.app, pilot)


def test_snapshot_smollm2_identity_example_0(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(), terminal_size=(80, 24), run_before=_open_preview)


def _here(name: str, tmp_path) -> str:
    """A shared file copied into the test's folder, named relative to it: the messages that name its rows print the
    path as given, and a snapshot must not hold where the checkout is."""
    import shutil

    shutil.copy(shared(name), tmp_path / name)
    return name


def test_snapshot_sharegpt_with_tool_calls(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = _snap_app(dataset={"path": _here("glaive_toolcall_en_demo.json", tmp_path)})
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open_preview)


def test_snapshot_alpaca(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(dataset={"path": _here("alpaca_en_demo.json", tmp_path)}), terminal_size=(80, 24),
                        run_before=_open_preview)


def test_snapshot_minilm_sentiment(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(model=MINILM, dataset={"path": "sample:sentiment"}), terminal_size=(80, 24),
                        run_before=_open_preview)


def test_snapshot_korean_chat(snap_compare, tmp_path, monkeypatch):
    """Hangul syllables split over byte tokens: the syllable once under its chips, at 80x24."""
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(dataset={"path": korean_chat(tmp_path), "eval_size": 0}), terminal_size=(80, 24), run_before=_open_preview)


async def _walk(pilot):
    """The preview, then w: the tokenizer walk-through (the snapshots in both languages)."""
    await show_preview(pilot.app, pilot)
    await press(pilot.app, pilot, "w")
    await asyncio.sleep(0)


def test_snapshot_walkthrough(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert snap_compare(_snap_app(model=MINILM, dataset={"path": "sample:sentiment"}), terminal_size=(80, 24), run_before=_walk)


def test_chips_and_the_text_preview_show_tokens_with_one_function():
    from tui.widgets import tokens

    assert tokens.show_token is preview.show_token
    assert tokens.show_token("Ġthe") == "␣the"


async def test_the_next_example_starts_at_its_first_row(tmp_path):
    """#14: moving to the next example kept the old scroll, and its first rows were hidden."""
    app = TunewizApp(cfg_for(tmp_path / "run", training={"per_device_train_batch_size": 4}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        scroll = screen.query_one("#pv-scroll")
        assert scroll.max_scroll_y > 0  # an example taller than the pane at 80x24
        scroll.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert scroll.scroll_y > 0
        await press(app, pilot, "right")
        assert screen.shown.index == 1 and scroll.scroll_y == 0


async def test_every_check_reads_whole_at_80x24(tmp_path):
    """#14: the checks pane was cut at 80x24 (6 lines for the checks and their fixes): `c` shows every one whole."""
    from tui.widgets.text_dialog import TextDialog

    app = TunewizApp(cfg_for(tmp_path / "run", training={"max_length": 40}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        box = screen.query_one("#pv-checks-box")
        assert box.max_scroll_y > 0  # the pane cannot hold them: the case of the issue
        assert "c: every check in full" in str(screen.query_one("#pv-summary").border_title)  # the key is on show
        await press(app, pilot, "c")
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        body = dialog.query_one("#text-body", Static)
        text = str(body.render())
        wanted = [c.message for c in screen.data.checks] + [f"fix: {c.fix}" for c in screen.data.checks if c.level == "warning"]
        assert len(wanted) >= 3 and all(w in text for w in wanted)
        scroll = dialog.query_one("#text-scroll")
        box_region = dialog.query_one("#text-box").region
        assert box_region.right <= 80 and box_region.bottom <= 24 and scroll.region.height >= 10
        # what does not fit is reached with the keys: the last line comes into view
        for _ in range(scroll.max_scroll_y):
            await pilot.press("down")
        await pilot.pause()
        assert scroll.scroll_y + scroll.scrollable_content_region.height >= body.outer_size.height
        await press(app, pilot, "escape")
        assert app.screen is screen


def test_the_walkthrough_names_the_markers_of_this_tokenizer():
    """#14: "## = inside a word" was said of SmolLM2's byte-level BPE, which has no ##: each tokenizer's own marks."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tk_models
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from engine import models
    from tui.widgets.walkthrough import marker_notes

    def tok(ref):
        return AutoTokenizer.from_pretrained(models.materialize(models.resolve(ref)))

    bert = marker_notes(tok("demo:minilm-l6"))
    assert "## = continues the word before" in bert["sub-word tokens"] and "Ġ" not in str(bert)
    bpe = marker_notes(tok("demo:smollm2-135m-instruct"))
    assert "##" not in str(bpe) and "written Ġ" in bpe["sub-word tokens"] and "written Ġ" in bpe["pre-tokenized"]
    sp = Tokenizer(tk_models.Unigram([("<unk>", 0.0), ("▁a", -1.0), ("▁b", -1.0), ("a", -2.0), ("b", -2.0), ("▁", -3.0)], 0))
    sp.pre_tokenizer = pre_tokenizers.Metaspace()
    spm = marker_notes(PreTrainedTokenizerFast(tokenizer_object=sp, unk_token="<unk>"))
    assert "##" not in str(spm) and "written ▁" in spm["sub-word tokens"]


def dpo_cfg(**training):
    cfg = config.load("presets/smollm2-concise-dpo.yaml")
    cfg.dataset.max_rows = 24
    cfg.training.update({"per_device_train_batch_size": 2, **training})
    return cfg


async def test_dpo_pair_shows_chosen_above_rejected_exactly_as_the_collator_made_them():
    cfg = dpo_cfg()
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await show_preview(app, pilot)
        assert s._error is None
        assert text_of(s, "#pv-where").startswith("Pair 1 of 16 · batch 0, pair 0")
        data = s.data
        batch = next(preview.batches(data.prepared, data.collator, 2))
        rows = list(preview.rows(batch, data.checked.tokenizer))
        for index in (0, 1):
            if index:
                await press(app, pilot, "right")
            shown = s.shown
            assert [r["sequence"] for r, _ in shown.pair] == ["chosen", "rejected"]
            assert [r for r, _ in shown.pair] == rows[2 * index:2 * index + 2]  # preview.rows as they are, no re-tokenizing
            for (row, view), chips_id, label_id in zip(shown.pair, ("#pv-chips", "#pv-chips-1"), ("#pv-seq-0", "#pv-seq-1"), strict=True):
                assert s.query_one(chips_id, TokenChips).row is view and view.ids == row["input_ids"]
                assert dict(view.values)["mask"] == row["attention_mask"] and dict(view.values)["label"] == row["labels"]
                prompt = next(i for i, lab in enumerate(row["labels"]) if lab != -100)
                seen = sum(1 for lab in row["labels"] if lab != -100)
                assert all(k in ("masked", "special-masked") for k in view.kinds[:prompt])  # the shared prompt: not in the loss
                label = text_of(s, label_id)
                assert label.startswith(f"▌{row['sequence']} · {sum(row['attention_mask'])} tokens")
                assert f"shared prompt {prompt} (-100) + answer {seen} (loss sees)" in label
            chosen, rejected = shown.pair[0][0], shown.pair[1][0]
            assert chosen["source_row"] == rejected["source_row"]
            n = next(i for i, lab in enumerate(chosen["labels"]) if lab != -100)
            assert chosen["input_ids"][:n] == rejected["input_ids"][:n]  # one prompt, shared
        legend = text_of(s, "#pv-legend")
        assert "loss sees" in legend and "-100: loss does not see" in legend
        assert "DPO: 16 pairs" in text_of(s, "#pv-checks")
        await press(app, pilot, "w")  # the walk-through is for SFT rows: said, not broken
        assert not s.walk and s.query_one("#pv-chips-1").display


async def test_kto_example_shows_the_answer_and_its_label():
    cfg = dpo_cfg()
    cfg.model.method = "kto"
    cfg.training = {k: v for k, v in cfg.training.items() if k != "loss_type"}
    app = TunewizApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await show_preview(app, pilot)
        assert s._error is None, s._error
        assert len(s.shown.pair) == 1 and not s.query_one("#pv-chips-1").display
        row = s.shown.pair[0][0]
        assert row["sequence"] == "completion"
        assert text_of(s, "#pv-seq-0").startswith("▌completion · " + ("desirable" if row["desirable"] else "undesirable"))


def test_snapshot_dpo_pair(snap_compare):
    async def run_before(pilot):
        await show_preview(pilot.app, pilot)
        await press(pilot.app, pilot, "v", "v")  # the text view: chosen and rejected both on screen at 80x24

    assert snap_compare(TunewizApp(dpo_cfg()), terminal_size=(80, 24), run_before=run_before)


# ------------------------------------------------------------------------------------- in Korean (#18)
async def test_the_walkthrough_teaches_in_korean(tmp_path, korean):
    """`tunewiz --lang ko`: the walk-through's steps, their notes and values, the legend and the keys in Korean; the
    field names a newcomer meets in code (input_ids, attention_mask) stay as they are."""
    app = TunewizApp(cfg_for(tmp_path / "run", model=MINILM, dataset={"path": "sample:sentiment"}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        assert text_of(screen, "#pv-where").startswith("예시 1/216 · 배치 0의 0번 행 · sample:sentiment ")
        assert "레이블 0 = negative" in text_of(screen, "#pv-where")
        assert text_of(screen, "#pv-legend").startswith("표 보기 │ ")
        keys = {key: bs[0].description for key, bs in screen._bindings.key_to_bindings.items()}
        assert keys["w"] == "토큰화" and keys["right"] == "다음 예시" and keys["ctrl+n"] == "다음"
        await press(app, pilot, "w")
        walk = str(screen.query_one("#pv-walk", WalkThrough).render())
        assert "1. 입력 텍스트 · 토크나이저에 들어가는 텍스트입니다" in walk
        assert "2. 정규화 · 텍스트를 다듬습니다 (uncased 모델은 소문자로 바꿈)" in walk
        assert "4. 서브워드 토큰 · 어휘 사전의 조각으로 나눕니다 (## = 앞 조각에 이어짐)" in walk
        assert "6. 특수 토큰 붙이기" in walk and "붙인 토큰: [CLS], [SEP]" in walk
        assert "attention_mask · 1 = 실제 토큰, 0 = 패딩 (모델이 보지 않음)" in walk
        assert text_of(screen, "#pv-legend").startswith("토큰화 과정 │ 토크나이저가 이 예시의 input_ids를 만드는 단계")


async def test_korean_text_split_into_bytes_is_explained_in_korean(tmp_path, korean):
    app = TunewizApp(cfg_for(tmp_path / "run", dataset={"path": korean_chat(tmp_path), "eval_size": 0}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        await press(app, pilot, "w")
        walk = str(screen.query_one("#pv-walk", WalkThrough).render())
        assert "바이트 수준 BPE: 어휘 사전에 없는 글자는 UTF-8 바이트로 쪼개집니다 (당: 3바이트)" in walk
        assert "당 = <EB><8B> <B9>" in walk and "개 더)" in walk
        assert "(␣ = 앞에 공백, 사전에는 Ġ 기호로 적음)" in walk  # this tokenizer's own marker


async def test_the_checks_pane_speaks_korean(tmp_path, korean):
    app = TunewizApp(cfg_for(tmp_path / "run", training={"max_length": 40}))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_preview(app, pilot)
        st = screen.data.stats
        found = text_of(screen, "#pv-checks")
        assert found.startswith(f"토큰 {st['tokens']:,}개 중 {st['trained_share']:.1%} 학습")
        assert f"행 {st['dropped']['truncated']}개를 학습에서 제외했습니다: 40토큰으로 자르면서" in found
        assert "해결: 모든 행을 온전히 남기려면 training.max_length를 102(가장 긴 행)로 올리세요" in found
        assert text_of(screen, "#pv-hist").startswith(f"행 {st['rows']}개: 토큰 수") and " 잘림" in text_of(screen, "#pv-hist")
        assert "토큰 90개 중 40개만 남기고 잘림" in text_of(screen, "#pv-where")
        await press(app, pilot, "g", "9", "9", "9", "enter")
        assert "이동: '999': 예시 번호가 아닙니다. 1부터 53 사이의 번호를 입력하세요" in text_of(screen, "#problems")


def test_snapshot_smollm2_identity_example_0_ko(snap_compare, tmp_path, monkeypatch, korean):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(), terminal_size=(80, 24), run_before=_open_preview)


def test_snapshot_walkthrough_ko(snap_compare, tmp_path, monkeypatch, korean):
    monkeypatch.chdir(tmp_path)

    assert snap_compare(_snap_app(model=MINILM, dataset={"path": "sample:sentiment"}), terminal_size=(80, 24), run_before=_walk)


def test_snapshot_checks_with_problems_ko(snap_compare, tmp_path, monkeypatch, korean):
    """A max_length that cuts most rows: the histogram's cut bins, the checks pane's warnings and fixes."""
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_snap_app(training={"max_length": 40}), terminal_size=(80, 24), run_before=_open_preview)


def test_snapshot_every_check_ko(snap_compare, tmp_path, monkeypatch, korean):
    """The same checks in full (c)."""
    monkeypatch.chdir(tmp_path)

    async def every_check(pilot):
        await show_preview(pilot.app, pilot)
        await press(pilot.app, pilot, "c")

    assert snap_compare(_snap_app(training={"max_length": 40}), terminal_size=(80, 24), run_before=every_check)


def test_snapshot_dpo_pair_ko(snap_compare, korean):
    async def run_before(pilot):
        await show_preview(pilot.app, pilot)
        await press(pilot.app, pilot, "v", "v")

    assert snap_compare(TunewizApp(dpo_cfg()), terminal_size=(80, 24), run_before=run_before)
