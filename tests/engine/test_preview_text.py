"""`tunewiz preview` in text mode shows tokens as the wizard's chips do (one shared function)."""

from engine import preview


def test_byte_level_and_sentencepiece_whitespace_made_visible():
    assert preview.show_token("Ġthe") == "␣the"
    assert preview.show_token("Ċ") == "↵" and preview.show_token("ĊĊ") == "↵↵"
    assert preview.show_token("ĉx") == "⇥x"
    assert preview.show_token("▁über") == "␣über"
    assert preview.show_token("") == "∅"
    assert preview.show_token("x" * 30) == "x" * 17 + "…"
    assert preview.show_token("x" * 30, limit=None) == "x" * 30


def test_text_row_marks_untrained_tokens_and_is_readable(smol_tok):
    ids = smol_tok("Hello world\nbye")["input_ids"]
    row = {"tokens": smol_tok.convert_ids_to_tokens(ids), "labels": [-100] * 2 + ids[2:]}
    assert "Ġworld" in row["tokens"] and "Ċ" in row["tokens"]  # what the tokenizer gives
    line = preview.text_row(row)
    assert line == "·Hello· ·␣world· ↵ bye"
    assert "Ġ" not in line and "Ċ" not in line


def test_text_row_of_a_classification_row_ends_with_its_label():
    assert preview.text_row({"tokens": ["[CLS]", "good", "[SEP]"], "labels": 1}) == "[CLS] good [SEP] => label 1"



def test_byte_level_tokens_show_their_text_and_split_characters_their_bytes(smol_tok, minilm_tok):
    ids = smol_tok("Vous êtes créé. 你好")["input_ids"]
    tokens = smol_tok.convert_ids_to_tokens(ids)
    assert "Ã©" in tokens  # what the tokenizer calls "é"
    shown = preview.readable(smol_tok, tokens)
    assert "é" in shown and "Ã©" not in shown
    assert shown[tokens.index("ĠÃ")] == " <C3>"  # "ê" is cut between two tokens: its bytes
    assert "".join(shown).replace("<C3><AA>", "ê").startswith("Vous êtes créé.")
    assert any(s.startswith("<E4>") for s in shown)  # Chinese, byte by byte, as this English tokenizer sees it
    assert preview.readable(smol_tok, ["<|im_start|>", "user", "Ċ"]) == ["<|im_start|>", "user", "\n"]
    # a WordPiece tokenizer's tokens are text already
    word = minilm_tok.convert_ids_to_tokens(minilm_tok("naïve café")["input_ids"])
    assert preview.readable(minilm_tok, word) == word
