"""Data checks, the length histogram and the tokenizer walk-through (on the real MiniLM and SmolLM2 tokenizers)."""

from engine import checks, config, preview
from engine.data import load, pipeline

IGN = pipeline.IGNORE


def cfg_for(tmp_path, **sections):
    sections.setdefault("training", {})
    sections["training"].setdefault("output_dir", str(tmp_path / "run"))
    return config.from_dict(sections)


def by_name(found):
    return {c.name: c for c in found}


# ------------------------------------------------------------------------------------- walk-through
def test_walkthrough_on_minilm_lowercases_and_adds_cls_sep(minilm_tok):
    steps = checks.tokenizer_walkthrough(minilm_tok, "Hugging Face is great!", pad_to=8)
    names = [name for name, _ in steps]
    assert names == ["text", "normalised", "pre-tokenized", "sub-word tokens", "ids", "special tokens added", "padded",
                     "attention mask"]
    s = dict(steps)
    assert s["normalised"] == "hugging face is great!"
    assert s["pre-tokenized"] == ["hugging", "face", "is", "great", "!"]
    assert s["sub-word tokens"] == ["hugging", "face", "is", "great", "!"]
    assert s["ids"] == [17662, 2227, 2003, 2307, 999]
    assert s["special tokens added"] == {"ids": [101, 17662, 2227, 2003, 2307, 999, 102], "added": ["[CLS]", "[SEP]"]}
    assert s["padded"] == [101, 17662, 2227, 2003, 2307, 999, 102, 0]
    assert s["attention mask"] == [1, 1, 1, 1, 1, 1, 1, 0]
    # by default it pads to the next multiple of 8, so there is always some padding to see
    assert dict(checks.tokenizer_walkthrough(minilm_tok, "Hugging Face is great!"))["padded"][-1] == 0


def test_walkthrough_of_a_pair_truncates_like_the_tokenizer(minilm_tok):
    s = dict(checks.tokenizer_walkthrough(minilm_tok, "Hugging Face is great!", "Yes it is", max_length=9))
    assert s["normalised"] == ("hugging face is great!", "yes it is")
    assert s["special tokens added"]["added"] == ["[CLS]", "[SEP]", "[SEP]"]
    real = minilm_tok("Hugging Face is great!", "Yes it is", truncation=True, max_length=9)
    assert s["truncated"] == {"ids": real["input_ids"], "removed": 2}
    assert s["token type ids"] == real["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert s["attention mask"][:9] == [1] * 9 and set(s["attention mask"][9:]) == {0}


def test_walkthrough_on_smollm2_is_byte_level_and_keeps_case(smol_tok):
    s = dict(checks.tokenizer_walkthrough(smol_tok, "Hugging Face is great!", add_special_tokens=False, pad_to=8))
    assert s["normalised"] == "Hugging Face is great!"  # no normaliser: nothing lower-cased
    assert s["pre-tokenized"] == ["Hugging", "ĠFace", "Ġis", "Ġgreat", "!"]  # Ġ = the space before
    assert s["sub-word tokens"] == ["H", "ugging", "ĠFace", "Ġis", "Ġgreat", "!"]
    assert s["ids"] == smol_tok("Hugging Face is great!")["input_ids"] == s["special tokens added"]["ids"]
    assert s["special tokens added"]["added"] == []
    assert s["padded"][6:] == [smol_tok.pad_token_id] * 2 and s["attention mask"] == [1] * 6 + [0, 0]


def test_walkthrough_splits_special_tokens_first_and_ends_in_the_trained_ids(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": "sample:identity", "eval_size": 0})
    raw = load.load_dataset(cfg.dataset)
    prepared = pipeline.prepare(cfg, smol_tok, raw)
    row = next(r for r in prepared.train if r["_row"] == 0)
    text, pair = checks.source_text(prepared, raw, smol_tok, {"source_row": 0, "input_ids": row["input_ids"]})
    assert pair is None and text.startswith("<|im_start|>system\n")
    s = dict(checks.tokenizer_walkthrough(smol_tok, text, add_special_tokens=False))
    split = s["added tokens split out"]
    assert split[0] == ("<|im_start|>", True) and split[1] == ("system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face", False)
    assert "<|im_end|>" in s["pre-tokenized"] and "Ċ" in s["pre-tokenized"]
    assert s["special tokens added"]["ids"] == row["input_ids"]  # exactly what pipeline.encode produced


# ---------------------------------------------------------------------------------------- histogram
def test_length_histogram_counts_every_row_and_marks_bins_past_max_length():
    lines = checks.length_histogram([10, 11, 12, 20, 30, 40, 40, 40], bins=4, width=8, limit=25)
    assert len(lines) == 4
    assert sum(int(line.split()[2 if "█" in line else 1]) for line in lines) == 8
    assert lines[0].startswith("10-17") and lines[0].split()[1] == "█" * 8 and lines[0].split()[2] == "3"
    assert [line.endswith(" cut") for line in lines] == [False, False, True, True]
    assert checks.length_histogram([5, 5, 5]) == ["5-5 " + "█" * 16 + " 3"]
    assert checks.length_histogram([]) == ["(no rows)"]


# ------------------------------------------------------------------------------------------- checks
def test_identity_sample_only_gets_notices(tmp_path, smol_tok):
    prepared = pipeline.prepare(cfg_for(tmp_path, dataset={"path": "sample:identity"}), smol_tok)
    found = checks.data_checks(prepared, smol_tok)
    assert [(c.name, c.level) for c in found] == [("default system prompt", "notice"), ("pad is eos", "notice")]
    assert "named SmolLM" in found[0].message and "real eos tokens stay trained" in found[1].message


def test_a_tiny_max_length_drops_rows_cuts_answers_and_truncates(tmp_path, smol_tok):
    prepared = pipeline.prepare(cfg_for(tmp_path, dataset={"path": "sample:identity"}, training={"max_length": 40}), smol_tok)
    found = by_name(checks.data_checks(prepared, smol_tok))
    st = preview.stats(prepared)
    assert found["dropped: truncated"].count == prepared.dropped == st["dropped"]["truncated"] > 0
    assert "whole answer cut off by truncation to 40 tokens" in found["dropped: truncated"].message
    assert found["truncated"].count == st["truncated"] > 0
    assert f"{st['truncated']} of {st['rows']} rows" in found["truncated"].message
    assert f"raise training.max_length to {st['longest']}" in found["truncated"].fix
    cut = [r for r in prepared.train if r["_full_len"] > 40 and r["labels"][-1] != IGN and r["input_ids"][-1] != smol_tok.eos_token_id]
    assert found["answers cut"].count == len(cut) > 0
    assert "eos never trained" not in found  # a few short rows still end with their trained <|im_end|>


def test_held_out_rows_left_out_of_evaluation_are_counted_not_lost_silently(tmp_path, smol_tok):
    """The held-out rows go through the same checks as the training rows; those left out are said, with the reason, so
    an eval loss over fewer rows than dataset.eval_size is not a surprise."""
    cfg = cfg_for(tmp_path, dataset={"path": "sample:identity", "eval_size": 12}, training={"max_length": 40})
    prepared = pipeline.prepare(cfg, smol_tok)
    found = by_name(checks.data_checks(prepared, smol_tok))
    lost = prepared.eval_drops.get("truncated", 0)
    assert lost > 0 and len(prepared.eval) + sum(prepared.eval_drops.values()) == 12
    held = found["held out: truncated"]
    assert held.count == lost and held.level == "notice"
    assert f"{lost} held-out row" in held.message and "left out of evaluation" in held.message
    assert "max_length" in held.fix
    whole = pipeline.prepare(cfg_for(tmp_path, dataset={"path": "sample:identity", "eval_size": 12}), smol_tok)
    assert whole.eval_drops == {} and not any(c.name.startswith("held out") for c in checks.data_checks(whole, smol_tok))


def test_a_template_that_never_ends_turns_with_eos_is_caught(tmp_path, smol_tok):
    template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant: {% endif %}")
    cfg = cfg_for(tmp_path, model={"chat_template": template}, dataset={"path": "sample:identity", "eval_size": 0})
    prepared = pipeline.prepare(cfg, smol_tok)
    found = by_name(checks.data_checks(prepared, smol_tok))
    assert "eos never trained" in found and "<|im_end|>" in found["eos never trained"].message
    assert "model.chat_template" in found["eos never trained"].fix


def test_classification_checks_only_truncation(tmp_path, minilm_tok):
    cfg = cfg_for(tmp_path, model={"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                  dataset={"path": "sample:sentiment", "eval_size": 0})
    assert checks.data_checks(pipeline.prepare(cfg, minilm_tok), minilm_tok) == []
    cfg = cfg_for(tmp_path, model={"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                  dataset={"path": "sample:sentiment", "eval_size": 0}, training={"max_length": 12})
    prepared = pipeline.prepare(cfg, minilm_tok)
    found = checks.data_checks(prepared, minilm_tok)
    assert [c.name for c in found] == ["truncated"] and found[0].count == preview.stats(prepared)["truncated"] > 0
    assert max(len(ids) for ids in prepared.train["input_ids"]) == 12
    assert checks.lengths(prepared) == prepared.train["_full_len"]


def test_default_system_prompt_of_the_template_is_a_notice(smol_tok):
    from engine.checks import _default_system_prompt
    from engine.data.chat import FALLBACKS

    assert _default_system_prompt(smol_tok, smol_tok.chat_template) == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert _default_system_prompt(smol_tok, FALLBACKS["chatml"]) is None


def test_checks_and_their_fixes_speak_korean(tmp_path, smol_tok, korean):
    """#18: `tunewiz --lang ko` (the wizard's checks pane, `tunewiz preview`, preflight's summary): each check's message
    and fix in Korean, with the values the English one has."""
    prepared = pipeline.prepare(cfg_for(tmp_path, dataset={"path": "sample:identity"}, training={"max_length": 40}), smol_tok)
    found = by_name(checks.data_checks(prepared, smol_tok))
    st = preview.stats(prepared)
    n, rows = st["truncated"], st["rows"]
    assert found["truncated"].message == f"행 {rows}개 중 {n}개({n / rows:.1%})가 max_length 40보다 길어 잘렸습니다 (keep_start)"
    assert found["truncated"].fix == f"모든 행을 온전히 남기려면 training.max_length를 {st['longest']}(가장 긴 행)로 올리세요"
    assert found["dropped: truncated"].message.startswith(
        f"행 {st['dropped']['truncated']}개를 학습에서 제외했습니다: 40토큰으로 자르면서 답변 전체가 잘려 나갔습니다")
    assert found["pad is eos"].message.startswith("pad 토큰 = eos 토큰 '<|im_end|>': 괜찮습니다") and found["pad is eos"].fix == "할 일은 없습니다"
    assert checks.length_histogram([10, 50], bins=2, width=4, limit=40)[-1].endswith(" 잘림")
