"""Token chips of a byte-level BPE row: tokens that spell a character only together (Hangul: 3 UTF-8 bytes)
keep their own chips and values, with the character drawn once under the group, on one line."""

import re

from rich.cells import cell_len
from textual.app import App, ComposeResult

from engine import preview
from tui.widgets.tokens import TokenChips, token_row


def korean_row(tok, text="안녕하세요, 반갑습니다", **extra):
    ids = tok(text)["input_ids"]
    batch = {"input_ids": [ids], "labels": [[-100] + ids[1:]], "_rows": [0], "_batch": 0, **extra}
    return next(preview.rows(batch, tok))


def view_of(tok, row):
    return token_row(row, tok.all_special_ids, lambda ids: tok.decode(ids, clean_up_tokenization_spaces=False))


def test_a_label_boundary_inside_a_character_does_not_split_the_text_view(smol_tok):
    view = view_of(smol_tok, korean_row(smol_tok))
    assert view.joined[0] == (0, 3, "안") and view.kinds[:2] == ["masked", "trained"]
    assert view.text[0] == ("안", "masked")  # the -100 token's run takes its whole character, never "�"
    assert "".join(piece for piece, _ in view.text) == "안녕하세요, 반갑습니다"


def test_a_packed_sequence_starting_inside_a_group_drops_the_group(smol_tok):
    row = korean_row(smol_tok, position_ids=[[0, 0, *range(1, 26)]])  # a start at token 1, inside 안
    view = view_of(smol_tok, row)
    assert row["joined"][0] == [0, 3, "안"] and view.joined[0] == (3, 6, "녕")


class ChipsApp(App):
    def compose(self) -> ComposeResult:
        yield TokenChips(id="chips")


def cells(line):
    """The line with each character at its terminal column (a wide character's second cell is \0)."""
    return "".join(c + "\0" * (cell_len(c) - 1) for c in line)


async def test_groups_stay_on_one_line_and_line_up_under_their_chips(smol_tok):
    view = view_of(smol_tok, korean_row(smol_tok, "한국어 텍스트 " * 4))
    async with ChipsApp().run_test(size=(44, 40)) as pilot:
        chips = pilot.app.query_one(TokenChips)
        chips.show(view)
        await pilot.pause()
        for mode in ("grid", "chips"):
            chips.view = mode
            lines = [cells(line.plain) for line in chips._lines(44)]
            assert all(len(line) <= 44 for line in lines) and len(lines) > 8  # it wrapped, within the width
            braces = [(n, m) for n, line in enumerate(lines) for m in re.finditer(r"╰─* (\S+) ─*╯", line)]
            assert [m.group(1).replace("\0", "") for _, m in braces] == [preview.show_token(t) for _, _, t in view.joined]
            for (n, m), (s, e, _) in zip(braces, view.joined, strict=True):
                above = lines[n - 1]  # over the brace: exactly the group's chips, whole
                assert above[m.start():m.end()].replace(" ", "") == "".join(view.tokens[s:e])
                if mode == "grid":  # chips padded to their values' width, one space apart
                    assert above[m.start() - 1] == " " and above[m.end():m.end() + 1] in (" ", "")
                else:  # chips side by side: the ones before and after are whole too
                    assert "".join(view.tokens[:s]).endswith(above[:m.start()].replace("\0", ""))
