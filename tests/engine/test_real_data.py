"""Real public files of every shape users bring (tests/data/real, sources in SOURCES.md): each is trained
exactly as it means (the trained tokens decoded) or refused before any weight loads, with the reason."""

import json
from pathlib import Path

import pytest

from engine import checks, config
from engine.data import load, peek, pipeline, tabular
from engine.errors import TunewizError
from tests.conftest import shared

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
QWEN_TEMPLATE = str(Path(__file__).resolve().parents[1] / "data" / "templates" / "qwen2.5_instruct.jinja")
IGN = pipeline.IGNORE


def cfg_for(tmp_path, name, task="causal-lm", model=None, template=None, training=None):
    m = {"task": task, **({"name_or_path": model} if model else {}), **({"chat_template": template} if template else {})}
    return config.from_dict({"model": m, "dataset": {"path": str(REAL / name), "eval_size": 0},
                             "training": {"output_dir": str(tmp_path / "run"), **(training or {})}})


def prepare(tmp_path, name, tok, **kw):
    cfg = cfg_for(tmp_path, name, **kw)
    return pipeline.prepare(cfg, tok, load.load_dataset(cfg.dataset))


def trained_parts(tok, row):
    """The trained stretches of a row, each decoded."""
    parts, cur = [], []
    for t, lab in zip(row["input_ids"], row["labels"], strict=True):
        if lab != IGN:
            cur.append(t)
        elif cur:
            parts.append(tok.decode(cur))
            cur = []
    if cur:
        parts.append(tok.decode(cur))
    return parts


def refused(tmp_path, name, tok, *needles, **kw):
    with pytest.raises(TunewizError) as e:
        prepare(tmp_path, name, tok, **kw)
    for needle in needles:
        assert needle in str(e.value), str(e.value)
    return str(e.value)


# ------------------------------------------------------------------------------------ CSV/TSV dialects
@pytest.mark.parametrize(("name", "rows", "quoted_line", "text"), [
    # GLUE: a sentence opening with an unbalanced " (default quoting would swallow the rows below it)
    ("glue_stsb_train_quotes_window.tsv", 26, 9, '"I was believing that I was confident I could do this'),
    ("glue_stsb_dev_quotes_window.tsv", 16, 11, '"It\'s a major victory'),
    ("glue_mrpc_train_transformers_fixture.tsv", 6, 2, '" The foodservice pie business'),
])
def test_glue_tsv_quotes_are_text_and_every_line_is_a_row(name, rows, quoted_line, text):
    p = REAL / name
    lines = p.read_bytes().splitlines()
    assert len(lines) - 1 == rows  # the file: a header and one row a line
    d = tabular.dialect(p)
    assert not d.quoting and "read as written" in d.reason
    ds = load.load_dataset(config.DatasetSection(path=str(p)))
    assert len(ds) == rows == peek.count_rows(str(p))
    got = [line for line, _ in tabular.rows(p)]
    assert got == list(range(2, rows + 2))  # each row is its own line
    row = dict(list(tabular.rows(p))[quoted_line - 2][1])
    assert any(v and text in v for v in row.values()), row


def test_stsb_float_score_is_regression(tmp_path, minilm_tok):
    prepared = prepare(tmp_path, "glue_stsb_train_quotes_window.tsv", minilm_tok, task="sequence-classification",
                       model="demo:minilm-l6")
    plan = prepared.plan
    assert plan.regression and plan.label_names == ["score"]
    assert plan.format.columns == {"text": "sentence1", "text_pair": "sentence2", "label": "score"}
    labels = prepared.train["labels"]
    assert 3.4 in labels and 4.8 in labels and all(isinstance(v, float) for v in labels)  # the scores, not class ids


def test_integer_labels_stay_classes(tmp_path, minilm_tok):
    prepared = prepare(tmp_path, "glue_sst2_train_head21.tsv", minilm_tok, task="sequence-classification", model="demo:minilm-l6")
    assert not prepared.plan.regression and prepared.plan.label_names == ["0", "1"]
    assert set(prepared.train["labels"]) == {0, 1}


def test_nsmc_txt_with_tabs_is_a_tsv():
    p = REAL / "nsmc_ratings_test_head68.txt"
    assert tabular.is_tabular(p) and tabular.txt_tabs(p) == 2
    ds = load.load_dataset(config.DatasetSection(path=str(p)))
    assert ds.column_names == ["id", "document", "label"] and len(ds) == 67 == peek.count_rows(str(p))
    columns, rows = peek.peek(str(p), n=5)
    assert columns == ["id", "document", "label"] and rows[0]["document"] == ds[0]["document"]


def test_a_tsv_written_by_a_csv_writer_is_read_with_its_quotes():
    p = REAL / "korean_hate_speech_labeled_train_window.tsv"
    d = tabular.dialect(p)
    assert d.quoting and "CSV writer" in d.reason
    ds = load.load_dataset(config.DatasetSection(path=str(p)))
    assert len(ds) == 48
    first_quoted = ds[2]["comments"]  # line 4: "쌩뚱맞게 ... -"" 알콜중독도 ..." as written by csv
    assert not first_quoted.startswith('"') and '-" ' in first_quoted


def test_a_tsv_without_a_header_is_refused_with_the_fix(tmp_path):
    with pytest.raises(TunewizError) as e:
        load.load_dataset(config.DatasetSection(path=str(REAL / "kcola_in_domain_train_head30.tsv")))
    msg = str(e.value)
    assert "kcola_in_domain_train_head30.tsv:1" in msg and "no header line" in msg and "add a header line" in msg


def test_a_csv_quote_that_swallows_rows_is_refused_with_the_lines(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text('text,label\ngood film,pos\nbad film,neg\n"unbalanced start,pos\nnext review,neg\nthird one,pos\n'
                 'a "closing" quote",neg\n', encoding="utf-8")
    with pytest.raises(TunewizError) as e:
        load.load_dataset(config.DatasetSection(path=str(p)))
    msg = str(e.value)
    assert "reviews.csv:4" in msg and "runs to line 7" in msg and "5, 6" in msg and "unbalanced" in msg


def test_a_file_that_is_not_utf8_names_the_line_and_iconv(tmp_path):
    p = tmp_path / "ko.csv"
    p.write_bytes(b"text,label\n" + "좋은 영화,1\n".encode("cp949"))
    with pytest.raises(TunewizError) as e:
        load.load_dataset(config.DatasetSection(path=str(p)))
    assert "ko.csv:2" in str(e.value) and "not UTF-8" in str(e.value) and "iconv -f cp949" in str(e.value)


def test_a_utf8_bom_is_not_part_of_the_first_column(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufefftext,label\nfine,1\nbad,0\n".encode())
    assert load.load_dataset(config.DatasetSection(path=str(p))).column_names == ["text", "label"]


# ------------------------------------------------------------------------------------------ OpenAI chat
def test_openai_weight_zero_turns_are_not_trained(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "openai_docs_multiturn_weight_example.jsonl", smol_tok)
    row = prepared.train[0]
    assert trained_parts(smol_tok, row) == ["Paris, as if everyone doesn't know that already.<|im_end|>\n"]
    assert "Paris<|im_end|>" in smol_tok.decode(row["input_ids"])  # shown as context, not trained


def test_openai_tool_calls_with_a_template_that_writes_them(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "openai_cookbook_drone_training_head3.jsonl", smol_tok,
                       template=QWEN_TEMPLATE, training={"max_length": 4096})
    row = prepared.train[0]
    text = smol_tok.decode(row["input_ids"])
    assert "<tools>" in text and '"name": "takeoff_drone"' in text  # the tools column, as the template shows tools
    assert trained_parts(smol_tok, row) == ['<tool_call>\n{"name": "takeoff_drone", "arguments": {"altitude": 100}}\n'
                                            '</tool_call><|im_end|>\n']
    assert prepared.flags == {}


def test_tool_calls_become_text_where_the_template_has_no_tool_syntax(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "openai_cookbook_drone_training_head3.jsonl", smol_tok, training={"max_length": 4096})
    assert prepared.flags == {"tool calls as text": 3, "tools in system": 3}
    (trained,) = trained_parts(smol_tok, prepared.train[0])
    assert trained == '<tool_call>\n{"name": "takeoff_drone", "arguments": {"altitude": 100}}\n</tool_call><|im_end|>\n'
    found = {c.name: c for c in checks.data_checks(prepared, smol_tok)}
    assert found["tool calls as text"].count == 3 and "no tool-call syntax" in found["tool calls as text"].message


def test_parallel_tool_calls_false_refuses_a_turn_with_two_calls(tmp_path, smol_tok):
    row = json.loads((REAL / "openai_cookbook_drone_training_head3.jsonl").read_text().splitlines()[0])
    call = row["messages"][-1]["tool_calls"][0]
    row["messages"][-1]["tool_calls"] = [call, call]
    p = tmp_path / "two.jsonl"
    p.write_text(json.dumps(row) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    with pytest.raises(TunewizError, match="makes 2 tool calls but parallel_tool_calls is false"):
        pipeline.prepare(cfg, smol_tok)


def test_toy_chat_without_a_user_turn_trains_the_answer(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "openai_cookbook_toy_chat_fine_tuning_full.jsonl", smol_tok)
    by_row = {r["_row"]: r for r in prepared.train}
    assert trained_parts(smol_tok, by_row[3]) == [json.loads((REAL / "openai_cookbook_toy_chat_fine_tuning_full.jsonl")
                                                            .read_text().splitlines()[3])["messages"][-1]["content"] + "<|im_end|>\n"]


# -------------------------------------------------------------------------------- content as parts
def test_llamafactory_v1_value_parts_and_loss_weight(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "llamafactory_v1_sft_demo_head8.jsonl", smol_tok)
    src = json.loads((REAL / "llamafactory_v1_sft_demo_head8.jsonl").read_text().splitlines()[0])
    answers = ["".join(p["value"] for p in m["content"]) + "<|im_end|>\n" for m in src["messages"] if m["loss_weight"]]
    assert trained_parts(smol_tok, prepared.train[0]) == answers


def test_reasoning_and_tool_call_parts(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "llamafactory_reason_tool_use_demo_head3.jsonl", smol_tok, training={"max_length": 4096})
    assert prepared.flags["reasoning as text"] == 3 and prepared.flags["tool calls as text"] == 2
    row = next(r for r in prepared.train if r["_row"] == 2)
    first = trained_parts(smol_tok, row)[0]
    assert first.startswith("<think>\nOkay, the user wants the area of a circle")
    assert first.count("<tool_call>") == 2 and '"arguments": {"radius": 1.5}' in first


@pytest.mark.parametrize(("name", "needles"), [
    ("llamafactory_mllm_demo_full.json", ("multimodal data", "'images' column", "text only")),
    ("llamafactory_mllm_audio_demo_full.json", ("multimodal data", "'audios' column")),
    ("llamafactory_v1_multimodal_demo_tail7.jsonl", ("llamafactory_v1_multimodal_demo_tail7.jsonl:1", "'image_url' part", "multimodal data")),
])
def test_media_is_refused_for_a_text_model(tmp_path, smol_tok, name, needles):
    refused(tmp_path, name, smol_tok, *needles)


def test_openai_text_parts_are_joined(tmp_path, smol_tok):
    p = tmp_path / "parts.jsonl"
    p.write_text(json.dumps({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Name a "}, {"type": "text", "text": "colour."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Blue."}]}]}) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    row = pipeline.prepare(cfg, smol_tok).train[0]
    assert "<|im_start|>user\nName a colour.<|im_end|>" in smol_tok.decode(row["input_ids"])
    assert trained_parts(smol_tok, row) == ["Blue.<|im_end|>\n"]


# --------------------------------------------------------------------------------------- preference
@pytest.mark.parametrize(("name", "kind", "sft"), [
    ("llamafactory_dpo_en_demo_head5.json", "DPO pairs (chosen/rejected answers to the conversation in 'conversations')",
     "{prompt: conversations, completion: chosen}"),
    ("anthropic_hh_rlhf_harmless_base_test_lines14to18.jsonl", "DPO pairs (chosen/rejected, each holding the prompt too)",
     "format: text with dataset.columns {text: chosen}"),
    ("llamafactory_v1_dpo_demo_head3.jsonl", "DPO pairs (chosen_messages/rejected_messages)",
     "format: messages with dataset.columns {messages: chosen_messages}"),
    ("llamafactory_kto_en_demo_elems6to11.json", "KTO labelled answers", "keep only the rows labelled true"),
])
def test_preference_data_is_refused_not_trained_as_chat(tmp_path, smol_tok, name, kind, sft):
    refused(tmp_path, name, smol_tok, "preference data", kind, "not SFT data", sft)


@pytest.mark.parametrize(("name", "columns", "fmt"), [
    ("llamafactory_dpo_en_demo_head5.json", {"prompt": "conversations", "completion": "chosen"}, "prompt-completion"),
    ("llamafactory_v1_dpo_demo_head3.jsonl", {"messages": "chosen_messages"}, "messages"),
])
def test_the_suggested_sft_mapping_trains_the_chosen_answer(tmp_path, smol_tok, name, columns, fmt):
    cfg = config.from_dict({"dataset": {"path": str(REAL / name), "eval_size": 0, "format": fmt, "columns": columns},
                            "training": {"output_dir": str(tmp_path / "r"), "max_length": 4096}})
    prepared = pipeline.prepare(cfg, smol_tok)
    src = load.load_dataset(cfg.dataset)[0]
    chosen = src[columns.get("completion", columns.get("messages"))]
    answer = chosen["value"] if isinstance(chosen, dict) else "".join(p["value"] for p in chosen[-1]["content"])
    row = next(r for r in prepared.train if r["_row"] == 0)
    assert trained_parts(smol_tok, row) == [answer + "<|im_end|>"] or trained_parts(smol_tok, row) == [answer + "<|im_end|>\n"]


def test_kto_prompt_completion_label_is_refused(tmp_path, smol_tok):
    p = tmp_path / "kto.jsonl"
    p.write_text("".join(json.dumps({"prompt": "2+2=", "completion": c, "label": ok}) + "\n" for c, ok in [("4", True), ("5", False)]))
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    with pytest.raises(TunewizError, match="KTO labelled answers"):
        pipeline.prepare(cfg, smol_tok)


def test_preferred_answers_can_be_trained_as_prompt_completion(tmp_path, smol_tok):
    p = tmp_path / "dpo.jsonl"
    p.write_text(json.dumps({"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."}) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0, "format": "prompt-completion",
                                        "columns": {"prompt": "prompt", "completion": "chosen"}},
                            "training": {"output_dir": str(tmp_path / "r")}})
    row = pipeline.prepare(cfg, smol_tok).train[0]
    assert trained_parts(smol_tok, row) == ["Hi!<|im_end|>"]


# ------------------------------------------------------------------------- rows that train nothing
def test_blank_lines_of_a_txt_are_left_out_and_counted(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "tinyshakespeare_input_head60.txt", smol_tok)
    assert prepared.drops == {"blank": 15} and len(prepared.train) == 45
    assert all(smol_tok.decode(ids).strip() != "<|im_end|>" for ids in prepared.train["input_ids"])
    (found,) = [c for c in checks.data_checks(prepared, smol_tok) if c.name.startswith("dropped")]
    assert found.count == 15 and "blank" in found.message


def test_empty_answers_user_endings_and_no_answer(tmp_path, smol_tok):
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""},
                      {"role": "user", "content": "Still there?"}, {"role": "assistant", "content": "Yes."}]},
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A."},
                      {"role": "user", "content": "and then?"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"messages": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "  "}]},
    ]
    p = tmp_path / "chat.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    prepared = pipeline.prepare(cfg, smol_tok)
    assert prepared.drops == {"no answer": 2} and prepared.dropped == 2
    assert prepared.flags == {"empty answer": 1, "ends without answer": 1}  # in kept rows: row 3 is told as left out
    by_row = {r["_row"]: r for r in prepared.train}
    assert trained_parts(smol_tok, by_row[0]) == ["Yes.<|im_end|>\n"]  # the empty answer is not trained
    assert trained_parts(smol_tok, by_row[1]) == ["A.<|im_end|>\n"]
    assert "and then?" not in smol_tok.decode(by_row[1]["input_ids"])  # the trailing question is left out
    found = {c.name: c for c in checks.data_checks(prepared, smol_tok)}
    assert "no answer to train" in found["dropped: no answer"].message  # not blamed on truncation
    assert "truncat" not in found["dropped: no answer"].fix


def test_no_trained_row_at_all_is_refused_with_the_reason(tmp_path, smol_tok):
    p = tmp_path / "empty.jsonl"
    p.write_text(json.dumps({"prompt": "Q", "completion": ""}) + "\n" + json.dumps({"prompt": "Q2", "completion": " "}) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    with pytest.raises(TunewizError, match="none of the 2 rows has a token to train: 2 had no answer"):
        pipeline.prepare(cfg, smol_tok)


# --------------------------------------------------------------------------------- language checks
def test_korean_on_minilm_warns_of_unknown_tokens_and_cost(tmp_path, minilm_tok):
    prepared = prepare(tmp_path, "nsmc_ratings_test_head68.txt", minilm_tok, task="sequence-classification", model="demo:minilm-l6")
    found = {c.name: c for c in checks.data_checks(prepared, minilm_tok)}
    assert "[UNK]" in found["unknown tokens"].message and "multilingual encoder" in found["unknown tokens"].fix
    assert "language cost" in found


def test_korean_chat_on_smollm2_warns_of_cost_english_does_not(tmp_path, smol_tok):
    ko = {c.name for c in checks.data_checks(prepare(tmp_path, "koalpaca_ko_alpaca_data_head20.json", smol_tok), smol_tok)}
    en = {c.name for c in checks.data_checks(prepare(tmp_path, "llamafactory_alpaca_en_demo_head18.json", smol_tok), smol_tok)}
    assert "language cost" in ko and "language cost" not in en and "unknown tokens" not in en


def test_regression_trains_one_output_with_mse_and_reports_correlations(tmp_path):
    """STS-B (real rows, float scores) on the MiniLM demo: the model has one output and a regression problem type,
    the loss is MSE against the scores, and evaluation reports MSE, Pearson and Spearman."""
    import torch

    from engine.train import build_trainer

    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": str(REAL / "glue_stsb_train_quotes_window.tsv"), "eval_size": 6},
                            "training": {"output_dir": str(tmp_path / "run"), "max_steps": 2, "per_device_train_batch_size": 4,
                                         "use_cpu": True, "save_strategy": "no", "report_to": "none", "logging_steps": 1}})
    trainer, prepared, _ = build_trainer(cfg, tmp_path / "run", [])
    model = trainer.model
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["labels"].dtype == torch.float32
    with torch.no_grad():
        out = model(**batch)
    expected = torch.nn.functional.mse_loss(out.logits.squeeze(-1), batch["labels"])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    trainer.train()
    metrics = trainer.evaluate()
    assert {"eval_mse", "eval_pearson", "eval_spearman"} <= set(metrics)


def test_spearman_ranks_ties_as_scipy():
    import numpy as np

    from engine.train import _ranks

    assert _ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


# ------------------------------------------------------------------------------ other names, encodings
@pytest.mark.parametrize(("row", "columns"), [
    ({"instruction": "Say hi.", "context": "", "response": "Hi!", "category": "open_qa"},  # Dolly-15k
     {"instruction": "instruction", "output": "response", "input": "context"}),
    ({"question": "2+2?", "answer": "4"}, {"instruction": "question", "output": "answer"}),  # GSM8K-style QA
    ({"query": "Say hi.", "response": "Hi!"}, {"instruction": "query", "output": "response"}),
])
def test_question_answer_columns_are_trained_as_chat(tmp_path, smol_tok, row, columns):
    p = tmp_path / "qa.jsonl"
    p.write_text(json.dumps(row) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    prepared = pipeline.prepare(cfg, smol_tok)
    assert prepared.plan.format.name == "alpaca" and prepared.plan.format.columns == columns
    answer = row.get("response", row.get("answer"))
    assert trained_parts(smol_tok, prepared.train[0]) == [answer + "<|im_end|>\n"]


def test_role_aliases_and_unknown_roles(tmp_path, smol_tok):
    p = tmp_path / "roles.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                          {"role": "model", "content": "Hello."}]}) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    row = pipeline.prepare(cfg, smol_tok).train[0]
    assert "<|im_start|>system\nBe brief.<|im_end|>" in smol_tok.decode(row["input_ids"])
    assert trained_parts(smol_tok, row) == ["Hello.<|im_end|>\n"]  # Gemini's "model" is the assistant
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "narrator", "content": "x"}]}) + "\n")
    with pytest.raises(TunewizError, match="message 1 has the role 'narrator'; roles are assistant, system, tool, user"):
        pipeline.prepare(cfg, smol_tok)


@pytest.mark.parametrize(("name", "data", "needles"), [
    ("u16.csv", "text,label\n좋아,1\n싫어,0\n".encode("utf-16"), ("u16.csv:1", "UTF-16", "iconv -f utf-16")),
    ("ko.jsonl", b'{"text": "ok"}\n' + '{"text": "좋아"}\n'.encode("cp949"), ("ko.jsonl:2", "not UTF-8", "iconv -f cp949")),
    ("sheet.xlsx", b"PK\x03\x04", ("unsupported file type '.xlsx'", "save a spreadsheet as CSV")),
])
def test_files_that_are_not_utf8_text_are_named(tmp_path, name, data, needles):
    p = tmp_path / name
    p.write_bytes(data)
    for read in (lambda: load.load_dataset(config.DatasetSection(path=str(p))), lambda: peek.peek(str(p))):
        with pytest.raises(TunewizError) as e:
            read()
        for needle in needles:
            assert needle in str(e.value), str(e.value)


def test_a_utf8_bom_is_read_in_jsonl_and_json_arrays(tmp_path):
    (tmp_path / "a.jsonl").write_bytes('\ufeff{"text": "hello"}\n{"text": "world"}\n'.encode())
    (tmp_path / "b.json").write_bytes('\ufeff[{"text": "hello"}]'.encode())
    for name in ("a.jsonl", "b.json"):
        columns, rows = peek.peek(str(tmp_path / name))
        assert columns == ["text"] and rows[0] == {"text": "hello"}
        assert load.load_dataset(config.DatasetSection(path=str(tmp_path / name)))[0] == {"text": "hello"}


def test_a_semicolon_csv_and_a_pandas_index_column(tmp_path):
    (tmp_path / "eu.csv").write_text('text;label\n"Gut, sehr gut";1\nSchlecht;0\n', encoding="utf-8")
    ds = load.load_dataset(config.DatasetSection(path=str(tmp_path / "eu.csv")))
    assert ds.column_names == ["text", "label"] and ds[0] == {"text": "Gut, sehr gut", "label": 1}
    (tmp_path / "pd.csv").write_text(",text,label\n0,fine,pos\n1,bad,neg\n", encoding="utf-8")
    ds = load.load_dataset(config.DatasetSection(path=str(tmp_path / "pd.csv")))
    assert ds.column_names == ["index", "text", "label"] and ds[1]["text"] == "bad"


def test_a_folder_of_splits_trains_on_its_train_files_only(tmp_path):
    """A hub download (data/train-*.parquet beside data/test-*.parquet): the test rows are never trained."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "ds" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["train a", "train b"]}), tmp_path / "ds" / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": ["test a"]}), tmp_path / "ds" / "data" / "test-00000-of-00001.parquet")
    folder = str(tmp_path / "ds")
    assert load.load_dataset(config.DatasetSection(path=folder))["text"] == ["train a", "train b"]
    assert peek.count_rows(folder) == 2 and peek.peek(folder)[1] == [{"text": "train a"}, {"text": "train b"}]
    assert load.load_dataset(config.DatasetSection(path=folder, split="test"))["text"] == ["test a"]
    with pytest.raises(TunewizError, match="holds the splits test, train and no 'validation' files"):
        load.load_dataset(config.DatasetSection(path=folder, split="validation"))


def test_a_dataset_saved_with_save_to_disk(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["one", "two"]}).save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["tr"]}),
                          "test": datasets.Dataset.from_dict({"text": ["te"]})}).save_to_disk(str(tmp_path / "dict"))
    assert load.load_dataset(config.DatasetSection(path=str(tmp_path / "saved")))["text"] == ["one", "two"]
    assert peek.peek(str(tmp_path / "saved")) == (["text"], [{"text": "one"}, {"text": "two"}])
    assert load.load_dataset(config.DatasetSection(path=str(tmp_path / "dict")))["text"] == ["tr"]
    assert peek.count_rows(str(tmp_path / "dict"), split="test") == 1


def test_capitalised_headers_are_found(tmp_path, minilm_tok):
    p = tmp_path / "komentar.csv"
    p.write_bytes(b"Comment,Label\r\nbagus sekali,positive\r\njelek,negative\r\nbiasa,neutral\r\n")
    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    prepared = pipeline.prepare(cfg, minilm_tok)
    assert prepared.plan.format.columns == {"text": "Comment", "label": "Label"}
    assert prepared.plan.label_names == ["negative", "neutral", "positive"]


def test_prompt_only_data_is_refused(tmp_path, smol_tok):
    p = tmp_path / "ppo.jsonl"
    p.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in ("불고기용 고기 한우에요?", "쓰던 앱이 유료로 전환됐어")))
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    with pytest.raises(TunewizError, match="prompt-only data: its only column 'prompt' holds prompts with no responses"):
        pipeline.prepare(cfg, smol_tok)


def test_a_single_text_column_of_any_name_is_text(tmp_path, smol_tok):
    p = tmp_path / "corpus.jsonl"
    p.write_text(json.dumps({"body": "Once upon a time."}) + "\n")
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    prepared = pipeline.prepare(cfg, smol_tok)
    assert prepared.plan.format.columns == {"text": "body"}
    assert trained_parts(smol_tok, prepared.train[0]) == ["Once upon a time.<|im_end|>"]


def test_sharegpt_function_calls_are_tool_calls_like_openai(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "llamafactory_glaive_toolcall_en_demo_head6.json", smol_tok, training={"max_length": 4096})
    assert prepared.flags.get("tool calls as text")
    row = next(r for r in prepared.train if r["_row"] == 0)
    calls = [p for p in trained_parts(smol_tok, row) if "<tool_call>" in p]
    assert calls and calls[0].startswith('<tool_call>\n{"name": ') and calls[0].endswith("</tool_call><|im_end|>\n")


def test_a_corpus_is_packed_whole_and_its_cut_documents_name_packing(tmp_path, smol_tok):
    """wiki_demo's documents are ~8,500 tokens: without packing only their heads are trained (said so, with packing as
    the fix); with packing a corpus is split over rows (bfd_split): every token trained."""
    wiki = shared("wiki_demo.txt")
    base = {"dataset": {"path": wiki, "eval_size": 0, "max_rows": 2}, "training": {"output_dir": str(tmp_path / "r"), "max_length": 512}}
    plain = pipeline.prepare(config.from_dict(base), smol_tok)
    found = {c.name: c for c in checks.data_checks(plain, smol_tok)}
    assert "set training.packing: true" in found["truncated"].fix and "answers cut" not in found
    assert "every row is cut at max_length 512" in found["eos never trained"].message
    packed_cfg = config.from_dict({**base, "training": {**base["training"], "packing": True}})
    packed = pipeline.prepare(packed_cfg, smol_tok)
    assert packed.plan.packing_strategy == "bfd_split"
    total = sum(plain.train["_full_len"])
    assert sum(len(ids) for ids in packed.train["input_ids"]) == total  # nothing lost
    bfd = pipeline.prepare(config.from_dict({**base, "training": {**base["training"], "packing": True,
                                                                  "packing_strategy": "bfd"}}), smol_tok)
    cut = {c.name: c for c in checks.data_checks(bfd, smol_tok)}["cut by packing"]
    assert cut.count == 2 and "packing_strategy: bfd_split" in cut.fix


def test_unfilled_placeholders_are_warned(tmp_path, smol_tok):
    prepared = prepare(tmp_path, "llamafactory_alpaca_en_demo_head18.json", smol_tok)
    assert "placeholders" not in {c.name for c in checks.data_checks(prepared, smol_tok)}
    p = tmp_path / "identity.json"
    p.write_text(json.dumps([{"instruction": "hi", "input": "", "output": "I am {{name}}, made by {{author}}."}] * 3))
    cfg = config.from_dict({"dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    found = {c.name: c for c in checks.data_checks(pipeline.prepare(cfg, smol_tok), smol_tok)}
    assert found["placeholders"].count == 3 and "sed -i" in found["placeholders"].fix


def test_a_classifier_at_its_context_limit_is_not_told_to_raise_max_length(tmp_path, minilm_tok):
    p = tmp_path / "long.csv"
    p.write_text("text,label\n" + "".join(f"{'word ' * 700},{i % 2}\n" for i in range(4)))
    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": str(p), "eval_size": 0}, "training": {"output_dir": str(tmp_path / "r")}})
    found = {c.name: c for c in checks.data_checks(pipeline.prepare(cfg, minilm_tok), minilm_tok)}
    assert "512 tokens is all the model reads" in found["truncated"].fix
