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


def _row(tokenizer, ids, labels):
    batch = {"input_ids": [ids], "attention_mask": [[1] * len(ids)], "labels": [labels], "_rows": [0], "_batch": 0}
    return next(preview.rows(batch, tokenizer))


def test_korean_syllables_split_over_byte_tokens_are_joined_back_and_every_token_kept(smol_tok):
    text = "안녕하세요, 반갑습니다"
    ids = smol_tok(text)["input_ids"]
    labels = [-100] * 3 + ids[3:]
    row = _row(smol_tok, ids, labels)
    assert row["input_ids"] == ids and row["labels"] == labels and len(row["shown"]) == len(ids)
    joined = row["joined"]
    assert joined[0] == [0, 3, "안"] and [s[2] for s in joined] == ["안", "녕", "하", "세", "요", " 반", "갑", "습", "니", "다"]
    # the groups and the tokens left alone spell the text, each token in exactly one place
    spelled, i = [], 0
    for s, e, chars in joined:
        spelled += row["shown"][i:s] + [chars]
        assert "".join(row["shown"][s:e]).startswith(("<", " <"))  # each token of a group is bytes, shown as <EC>
        assert smol_tok.convert_tokens_to_string(row["tokens"][s:e]) == chars  # what the tokenizer itself decodes
        i = e
    assert "".join(spelled + row["shown"][i:]) == text
    # text mode: the syllable once, its tokens after it in brackets, -100 marks kept per token
    line = preview.text_row(row)
    assert line.startswith("·안[<EC>|<95>|<88>]· 녕[<EB>|<85>|<95>] 하[<ED><95>|<98>] ")
    assert "␣반[␣<EB>|<B0>|<98>]" in line and line.endswith("다[<EB><8B>|<A4>]")
    pieces = [p for part in line.split(" ") for p in (part.split("[", 1)[1].rstrip("]·").split("|") if "[" in part else [part])]
    assert len(pieces) == len(ids)  # every token listed once
    # a label boundary inside a character: the marks go onto the tokens inside the brackets
    row = _row(smol_tok, ids, [-100] + ids[1:])
    assert preview.text_row(row).startswith("안[·<EC>·|<95>|<88>] ")


def test_joined_needs_whole_characters_and_a_byte_level_tokenizer(smol_tok, minilm_tok):
    assert preview.joined(smol_tok, ["Ã", "©Ã", "ª"]) == [[0, 3, "éê"]]  # a token ending one character and starting the next
    assert preview.joined(smol_tok, ["Ã©", "ĠðŁ", "ĳ", "į"]) == [[1, 4, " 👍"]]  # é is one token: no group
    assert preview.joined(smol_tok, ["ì", "ķ"]) == []  # a row cut inside a character
    assert preview.joined(smol_tok, ["ì", "<|im_end|>", "ķ", "Ī"]) == []  # an added token ends the run
    assert preview.joined(smol_tok, ["ķ", "Ī", "ì", "ķ", "Ī"]) == [[2, 5, "안"]]  # stray continuation bytes
    assert preview.joined(minilm_tok, minilm_tok.tokenize("안녕하세요")) == []
    row = {"tokens": ["[CLS]", "안", "[SEP]"], "labels": 0, "joined": []}
    assert preview.text_row(row) == "[CLS] 안 [SEP] => label 0"
