"""The one data path: labels are masked right, and the trainer receives exactly what the preview shows."""

import json

import pytest
import torch

from engine import config, preview
from engine.data import pipeline
from engine.train import build_trainer
from tests.conftest import shared

IGN = pipeline.IGNORE


def cfg_for(tmp_path, **sections):
    sections.setdefault("training", {})
    sections["training"].setdefault("output_dir", str(tmp_path / "run"))
    return config.from_dict(sections)


def trained_text(tok, row):
    return tok.decode([t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGN])


def test_chat_masks_everything_but_assistant_turns_and_trains_end_of_turn(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": shared("chat_messages.jsonl"), "eval_size": 0})
    prepared = pipeline.prepare(cfg, smol_tok)
    raw = json.loads(open(shared("chat_messages.jsonl")).readline())
    row = next(r for r in prepared.train if r["_row"] == 0)
    answer = raw["messages"][1]["content"]
    # exactly the answer and its end-of-turn are trained; the (default) system turn and the question are not
    assert trained_text(smol_tok, row) == answer + "<|im_end|>\n"
    text = smol_tok.decode(row["input_ids"])
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert row["input_ids"][-2] == smol_tok.eos_token_id and row["labels"][-2] == smol_tok.eos_token_id


def test_multi_turn_trains_every_assistant_turn(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": "sample:identity", "eval_size": 0})
    prepared = pipeline.prepare(cfg, smol_tok)
    row = next(r for r in prepared.train if r["input_ids"].count(smol_tok.convert_tokens_to_ids("<|im_start|>")) >= 5)
    text = trained_text(smol_tok, row)
    assert text.count("<|im_end|>") == 2 and "<|im_start|>" not in text and "user" not in text


def test_alpaca_and_sharegpt_labels(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": shared("alpaca_en_demo.json"), "max_rows": 20, "eval_size": 0})
    prepared = pipeline.prepare(cfg, smol_tok)
    raw = json.load(open(shared("alpaca_en_demo.json")))
    row = prepared.train[0]
    assert trained_text(smol_tok, row) == raw[row["_row"]]["output"] + "<|im_end|>\n"
    cfg = cfg_for(tmp_path, dataset={"path": shared("glaive_toolcall_en_demo.json"), "max_rows": 10, "eval_size": 0},
                  training={"max_length": 4096})
    prepared = pipeline.prepare(cfg, smol_tok)
    raw = json.load(open(shared("glaive_toolcall_en_demo.json")))
    for row in prepared.train:
        src = raw[row["_row"]]["conversations"]
        want = "".join(_answer(t) + "<|im_end|>\n" for t in src if t["from"] in ("gpt", "function_call"))
        assert trained_text(smol_tok, row) == want
        # the tools the template cannot show are described in the system turn
        has_tools = json.loads(raw[row["_row"]]["tools"] or "[]") != []
        assert ("You can call these functions" in smol_tok.decode(row["input_ids"])) == has_tools


def _answer(turn):
    """A ShareGPT turn as trained: a function_call is a tool call, which SmolLM2's template cannot write, so it is
    trained as text in the <tool_call> form (engine/data/chat.py)."""
    if turn["from"] != "function_call":
        return turn["value"]
    call = json.loads(turn["value"])
    return "<tool_call>\n" + json.dumps({"name": call["name"], "arguments": call["arguments"]}, ensure_ascii=False) + "\n</tool_call>"


def test_text_and_prompt_completion_end_with_trained_eos(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": shared("c4_demo.jsonl"), "max_rows": 5, "eval_size": 0}, training={"max_length": 4096})
    row = pipeline.prepare(cfg, smol_tok).train[0]
    assert all(lab != IGN for lab in row["labels"]) and row["input_ids"][-1] == smol_tok.eos_token_id
    p = tmp_path / "pc.jsonl"
    p.write_text(json.dumps({"prompt": "2+2=", "completion": " 4"}) + "\n" + json.dumps({"prompt": "3+3=", "completion": " 6"}) + "\n")
    cfg = cfg_for(tmp_path, dataset={"path": str(p), "eval_size": 0})
    row = next(r for r in pipeline.prepare(cfg, smol_tok).train if r["_row"] == 0)
    assert trained_text(smol_tok, row) == " 4<|im_end|>"
    # completion_only_loss: false trains the prompt too, as in TRL
    cfg = cfg_for(tmp_path, dataset={"path": str(p), "eval_size": 0}, training={"completion_only_loss": False})
    row = next(r for r in pipeline.prepare(cfg, smol_tok).train if r["_row"] == 0)
    assert trained_text(smol_tok, row) == "2+2= 4<|im_end|>"


def test_truncation_and_rows_left_without_trained_tokens(tmp_path, smol_tok):
    cfg = cfg_for(tmp_path, dataset={"path": shared("alpaca_en_demo.json"), "max_rows": 40, "eval_size": 0},
                  training={"max_length": 40})
    prepared = pipeline.prepare(cfg, smol_tok)
    assert all(len(r["input_ids"]) <= 40 for r in prepared.train)
    assert prepared.dropped > 0  # prompts longer than 40 tokens leave nothing to train: dropped, and counted
    assert len(prepared.train) + prepared.dropped == 40
    st = preview.stats(prepared)
    assert st["truncated"] >= 1 and 0 < st["trained_share"] < 1


def test_classification_tokens_match_the_bert_tokenizer(tmp_path, minilm_tok):
    p = tmp_path / "c.csv"
    p.write_text("text,label\nHugging Face is great!,pos\nawful,neg\nfine,pos\n")
    cfg = cfg_for(tmp_path, model={"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                  dataset={"path": str(p), "eval_size": 0})
    prepared = pipeline.prepare(cfg, minilm_tok)
    assert prepared.plan.label_names == ["neg", "pos"]
    row = next(r for r in prepared.train if r["_row"] == 0)
    assert row["input_ids"] == [101, 17662, 2227, 2003, 2307, 999, 102] and row["labels"] == 1
    args = type("A", (), {"pad_to_multiple_of": None})()
    batch = next(preview.batches(prepared, pipeline.build_collator("sequence-classification", args, minilm_tok), 3))
    first = batch["_rows"].index(0)
    assert batch["input_ids"][first] == [101, 17662, 2227, 2003, 2307, 999, 102]
    assert batch["attention_mask"][first] == [1] * 7
    short = batch["_rows"].index(1)  # "awful": padded with [PAD]=0, mask 0
    assert batch["input_ids"][short][-1] == 0 and batch["attention_mask"][short][-1] == 0


def _trainer_batch(trainer, n):
    ds = trainer.train_dataset
    return trainer.data_collator([ds[i] for i in range(n)])


@pytest.mark.parametrize("training", [
    {"per_device_train_batch_size": 4},
    {"per_device_train_batch_size": 4, "packing": True, "max_length": 256},  # padding-free, TRL's own collator
])
def test_trainer_receives_exactly_the_preview(tmp_path, training):
    cfg = cfg_for(tmp_path, dataset={"path": "sample:identity"}, training={**training, "use_cpu": True})
    trainer, prepared, info = build_trainer(cfg, tmp_path, [])
    bs = training["per_device_train_batch_size"]
    shown = next(preview.batches(prepared, pipeline.build_collator("causal-lm", trainer.args, trainer.processing_class), bs))
    got = _trainer_batch(trainer, min(bs, len(trainer.train_dataset)))
    assert set(got) == {k for k in shown if not k.startswith("_")}
    for key, value in got.items():
        if isinstance(value, torch.Tensor):
            assert value.tolist() == shown[key], key
        else:
            assert value == shown[key], key
    assert info["train_rows"] == len(prepared.train) and info["eval_rows"] == len(prepared.eval)


def test_classification_trainer_receives_exactly_the_preview(tmp_path):
    cfg = cfg_for(tmp_path, model={"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                  dataset={"path": "sample:sentiment", "max_rows": 40}, training={"per_device_train_batch_size": 8, "use_cpu": True})
    trainer, prepared, _ = build_trainer(cfg, tmp_path, [])
    shown = next(preview.batches(prepared, pipeline.build_collator(cfg.model.task, trainer.args, trainer.processing_class), 8))
    got = _trainer_batch(trainer, 8)
    for key, value in got.items():
        assert value.tolist() == shown[key], key
    assert trainer.model.config.id2label == {0: "negative", 1: "positive"}


def test_padding_free_varlen_training_matches_padded_training(tmp_path):
    """The GPU default (padding-free rows + tunewiz's varlen attention), run here on CPU through its reference
    kernel: two real optimizer steps give the losses of padded batches over sdpa."""
    losses = {}
    for name, extra in (("padded", {}), ("varlen", {"padding_free": True})):
        training = {"max_steps": 2, "per_device_train_batch_size": 4, "logging_steps": 1, "save_strategy": "no",
                    "report_to": "none", "learning_rate": 1e-3, "max_length": 256, "output_dir": str(tmp_path / name), **extra}
        model = {"attn_implementation": "tunewiz_varlen"} if extra else {}
        cfg = config.from_dict({"model": model, "dataset": {"path": "sample:identity", "eval_size": 0}, "training": training})
        trainer, _, info = build_trainer(cfg, tmp_path / name, [])
        assert (trainer.model.config._attn_implementation == "tunewiz_varlen") == bool(extra)
        if extra:
            assert trainer.args.padding_free and trainer.args.max_length is None
        trainer.train()
        losses[name] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses["varlen"] == pytest.approx(losses["padded"], rel=1e-3)
