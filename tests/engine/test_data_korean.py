"""The dataset readers and the data pipeline in Korean (`--lang ko`): located problems keep their place (the file,
line, row and column names as written) with the words around it in Korean; detection reasons and the rows left out
are told in Korean; in English every message is today's text."""

from __future__ import annotations

import json
import types

import pytest

from engine import config
from engine.data import formats, load, peek, pipeline, preference, tabular
from engine.errors import TunewizError


def problem(fn, *args, **kwargs):
    with pytest.raises(TunewizError) as e:
        fn(*args, **kwargs)
    assert len(e.value.problems) == 1
    return e.value.problems[0]


def bad_jsonl(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text('{"text": "ok"}\n{text: "no quotes"}\n')
    return p


def test_a_malformed_jsonl_line_names_its_file_and_line_in_korean(tmp_path, korean):
    p = bad_jsonl(tmp_path)
    found = load.find_bad_json(p)
    assert found is not None
    (pr,) = found.problems
    assert pr.where == f"{p}:2"
    assert pr.what == "2번째 글자에서 JSON이 올바르지 않습니다: 큰따옴표로 감싸지 않은 키, 또는 } 앞의 쉼표"
    assert pr.fix.startswith("JSON은 키와 문자열을 큰따옴표로 감쌉니다") and pr.fix.endswith("또는 그 줄을 지우세요")
    assert "}나 ]" in pr.fix  # a brace doubled for .format() comes out single
    assert str(found).startswith(f"{p}:2: ") and "\n    해결: " in str(found)
    assert str(problem(peek.peek, str(p))) == str(found)  # the dataset step says the same


def test_a_raw_line_break_and_a_non_object_line_in_korean(tmp_path, korean):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"text": "a\tb"}\n')
    (pr,) = load.find_bad_json(p).problems  # type: ignore[union-attr]
    assert pr.where == f"{p}:1" and "이스케이프하지 않은 탭 문자" in pr.what and "\\t" in pr.fix
    p.write_text('[1, 2]\n')
    pr = problem(peek.peek, str(p))
    assert pr.where == f"{p}:1" and pr.what == "객체가 와야 할 자리에 JSON list 값이 있습니다"
    assert pr.fix == '각 줄은 {"text": "..."} 같은 객체여야 합니다'


def test_a_malformed_jsonl_line_in_english_is_todays_text(tmp_path):
    p = bad_jsonl(tmp_path)
    assert str(load.find_bad_json(p)) == (
        f"{p}:2: not valid JSON at column 2: a key not in double quotes, or a comma before }}\n"
        "    fix: JSON puts keys and strings in double quotes ('single' quotes are Python's) and has no comma before } or ]; "
        "or delete that line")


def test_a_missing_column_keeps_its_name_in_korean(korean):
    pr = problem(formats.detect, ["text", "label"], {"text": "a", "label": 1}, "auto", {"text": "sentence"})
    assert pr.where == "dataset.columns.text"
    assert pr.what == "데이터셋에 'sentence' 열이 없습니다"
    assert pr.fix == "열 목록: text, label"
    pr = problem(formats.detect, ["question"], {"question": "q"}, "alpaca")
    assert pr.where == "dataset.columns"
    assert pr.what == "alpaca 형식에는 'output' 열이 필요한데 데이터셋에 없습니다"
    assert pr.fix == "dataset.columns.output: <열>로 지정하세요. 열 목록: question"


def test_a_missing_column_in_english_is_todays_text():
    pr = problem(formats.detect, ["text", "label"], {"text": "a", "label": 1}, "auto", {"text": "sentence"})
    assert (pr.what, pr.fix) == ("column 'sentence' is not in the dataset", "columns are: text, label")
    pr = problem(formats.detect, ["question"], {"question": "q"}, "alpaca")
    assert (pr.what, pr.fix) == ("format alpaca needs a 'output' column and the dataset has none",
                                 "map one with dataset.columns.output: <column>; columns are: question")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_an_empty_file_is_named(tmp_path, lang, request):
    if lang == "ko":
        request.getfixturevalue("korean")
    p = tmp_path / "empty.jsonl"
    p.write_text("\n\n")
    csv = tmp_path / "empty.csv"
    csv.write_text("")
    ds = config.from_dict({"dataset": {"path": str(p)}}).dataset
    for pr in (problem(peek.peek, str(p)), problem(load.load_dataset, ds)):
        assert pr.where == str(p)
        assert (pr.what, pr.fix) == (("행이 없습니다", "데이터 행을 추가하세요(JSON Lines: 한 줄에 JSON 객체 하나)") if lang == "ko" else
                                     ("has no rows", "add data rows (JSON Lines: one JSON object a line)"))
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n")
    assert problem(load.load_dataset, config.from_dict({"dataset": {"path": str(header_only)}}).dataset).fix == (
        "데이터 행을 추가하세요(CSV는 헤더 줄 아래에 행이 있어야 합니다)" if lang == "ko" else
        "add data rows (a CSV needs rows below its header line)")
    pr = problem(list, tabular.rows(csv))
    assert pr.where == str(csv)
    assert (pr.what, pr.fix) == (("파일이 비어 있습니다", "CSV에는 열 이름이 담긴 헤더 줄이 필요합니다") if lang == "ko" else
                                 ("the file is empty", "a CSV needs a header line with column names"))


def test_an_unknown_format_lists_the_columns_in_korean(korean):
    pr = problem(formats.detect, ["a", "b"], {"a": "x", "b": "y"})
    assert pr.where == "dataset.format"
    assert pr.what == "열만으로는 형식을 알 수 없습니다(a, b)"
    assert pr.fix == ("dataset.format을 설정하고 dataset.columns로 열을 지정하거나, dataset.template에 "
                      "{prompt: '...{column}...', completion: '{column}'} 형태의 값을 쓰세요")


def test_an_unknown_format_in_english_is_todays_text():
    pr = problem(formats.detect, ["a", "b"], {"a": "x", "b": "y"})
    assert pr.what == "could not tell the format from the columns (a, b)"
    assert pr.fix == ("set dataset.format and map columns with dataset.columns, or give dataset.template "
                      "{prompt: '...{column}...', completion: '{column}'}")


def test_detection_reasons_name_the_columns_in_korean(korean):
    assert formats.detect(["instruction", "output"], {"instruction": "q", "output": "a"}).reason == \
        "instruction 열과 output 열이 있습니다(Alpaca)"
    assert formats.detect(["question", "answer"], {"question": "q", "answer": "a"}).reason == \
        "question 열과 answer 열이 있습니다: 각 행을 채팅으로 학습합니다(question = 사용자 턴, answer = 답변)"
    assert formats.detect(["messages"], {"messages": [{"role": "user", "content": "hi"}]}).reason == \
        "'messages' 열에 role/content 대화 턴이 있습니다"
    pairs = preference.detect(["prompt", "chosen", "rejected"], {"prompt": "q", "chosen": "a", "rejected": "b"}, "dpo")
    assert pairs.reason == "열 이름: chosen / rejected 답변 쌍, 프롬프트는 'prompt'"
    pr = problem(formats.detect, ["prompt", "chosen", "rejected"], {"prompt": "q", "chosen": "a", "rejected": "b"})
    assert pr.what.startswith("SFT 데이터가 아니라 선호 데이터입니다: DPO 쌍(프롬프트와 chosen/rejected 답변)")
    assert pr.fix.startswith("선호로 학습하려면 model.method: dpo (or orpo) 설정을 쓰세요")
    pr = problem(formats.detect, ["completion", "kto_tag"], {"completion": "a", "kto_tag": True})
    assert "model.method: kto 설정을" in pr.fix  # the method is told from the data, not from the translated words


def test_detection_reasons_in_english_are_todays_text():
    assert formats.detect(["question", "answer"], {"question": "q", "answer": "a"}).reason == \
        "it has question and answer columns: each row trained as a chat (question = the user turn, answer = the answer)"
    pairs = preference.detect(["prompt", "chosen", "rejected"], {"prompt": "q", "chosen": "a", "rejected": "b"}, "dpo")
    assert pairs.reason == "its columns: chosen / rejected answer pairs, the prompt in 'prompt'"
    pr = problem(formats.detect, ["completion", "kto_tag"], {"completion": "a", "kto_tag": True})
    assert pr.fix.startswith("set model.method: kto to train on the preferences")


def test_a_broken_row_keeps_its_place_in_korean(korean):
    plan = types.SimpleNamespace(format=formats.Format("messages", {"messages": "messages"}, ""))
    pr = problem(pipeline._encode_row, {"_row": 12, "messages": [{"role": "robot", "content": "x"}]}, plan, None)
    assert pr.where == "dataset row 12"
    assert pr.what.startswith("준비할 수 없습니다: 메시지 0의 역할이 'robot'입니다")
    assert pr.fix == "그 행을 고치거나 지우세요(dataset.max_rows로 읽을 행 수를 제한할 수 있습니다)"


def same_pairs(tmp_path, n=3, good=0):
    f = tmp_path / "same.jsonl"
    rows = [{"prompt": f"q{i}", "chosen": "same", "rejected": "same"} for i in range(n)]
    rows += [{"prompt": f"g{i}", "chosen": "yes", "rejected": "no"} for i in range(good)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return config.from_dict({"model": {"method": "dpo"}, "dataset": {"path": str(f), "eval_size": 0},
                             "training": {"output_dir": str(tmp_path / "run"), "max_length": 512}})


def test_dpo_pairs_with_the_same_answer_are_told_in_korean(tmp_path, smol_tok, korean):
    pr = problem(pipeline.prepare, same_pairs(tmp_path), smol_tok)
    assert pr.where == "dataset"
    assert pr.what == ("행 3개 중 학습할 수 있는 행이 없습니다: 3개 행이 chosen과 rejected 답변이 같았습니다"
                       "(선호할 것이 없어 손실이 log 2에 머뭅니다)")
    assert pr.fix == "그 행들을 고치거나 지우세요"
    prepared = pipeline.prepare(same_pairs(tmp_path, n=1, good=2), smol_tok)
    assert pipeline.drop_lines(prepared) == [
        f"행 3개 중 1개 제외({tmp_path / 'same.jsonl'} 1번째 줄): chosen과 rejected 답변이 같았습니다(선호할 것이 없어 손실이 log 2에 머뭅니다). "
        "그 행들을 고치거나 지우세요"]


def test_dpo_pairs_with_the_same_answer_in_english_are_todays_text(tmp_path, smol_tok):
    prepared = pipeline.prepare(same_pairs(tmp_path, n=1, good=2), smol_tok)
    assert pipeline.drop_lines(prepared) == [
        f"1 of 3 rows left out ({tmp_path / 'same.jsonl'} line 1): they had the same chosen and rejected answer (nothing to prefer: the loss "
        "stays at log 2); fix or remove those rows"]


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_rows_left_out_name_the_source_rows(lang, request):
    if lang == "ko":
        request.getfixturevalue("korean")
    prepared = types.SimpleNamespace(plan=types.SimpleNamespace(method="sft"), source_rows=40, places=None,
                                     drops={"blank": 7, "no answer": 1}, drop_rows={"blank": [1, 2, 3, 4, 5], "no answer": [9]})
    assert pipeline.drop_lines(prepared) == ([  # type: ignore[arg-type]
        "행 40개 중 7개 제외(원본 행 1, 2, 3, 4, 5 외 2개): 비어 있었습니다(빈 줄이나 빈 텍스트). 할 일은 없습니다. 이 알림을 "
        "없애려면 빈 줄을 지우세요",
        "행 40개 중 1개 제외(원본 행 9): 학습할 답변이 없었습니다(assistant 턴이 없거나, 비었거나 weight 0인 턴뿐이거나, "
        "completion이 빔). 형식과 열을 확인하세요: 데이터에 응답이 없거나 비어 있을 수 있습니다"] if lang == "ko" else [
        "7 of 40 rows left out (source rows 1, 2, 3, 4, 5 and 2 more): they were blank (an empty line or text); nothing "
        "to do; remove blank lines to silence this",
        "1 of 40 rows left out (source row 9): they had no answer to train (no assistant turn, or only empty or weight-0 "
        "ones; an empty completion); check the format/columns: the responses may be missing or empty in the data"])


def test_a_file_that_is_not_utf8_in_korean_keeps_the_command(tmp_path, korean):
    p = tmp_path / "ratings.tsv"
    p.write_bytes(b"document\tlabel\n" + "좋아요\t1\n".encode("cp949"))
    pr = tabular.encoding_problem(p).problems[0]  # type: ignore[union-attr]
    assert pr.where == f"{p}:2"
    assert pr.what.startswith("UTF-8 텍스트가 아닙니다(") and pr.what.endswith("한국어 cp949 / EUC-KR 인코딩으로 보입니다")
    assert "iconv -f cp949 -t utf-8 ratings.tsv > utf8-ratings.tsv" in pr.fix
