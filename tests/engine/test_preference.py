"""Preference data (DPO / KTO / ORPO): real files of each shape are detected and read, rows that train nothing are
left out and named, broken rows are located, and the trainer receives exactly the batch the preview shows."""

from __future__ import annotations

import json
import os

import pytest
import torch

from engine import config, preview
from engine.data import pipeline
from engine.errors import TunewizError
from engine.train import build_trainer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REAL = os.path.join(os.path.dirname(__file__), "..", "data", "real")


def real(name: str) -> str:
    return os.path.join(REAL, name)


def cfg_for(tmp_path, method="dpo", **sections):
    sections.setdefault("training", {})
    sections["training"].setdefault("output_dir", str(tmp_path / "run"))
    sections["training"].setdefault("max_length", 512)
    sections.setdefault("model", {})["method"] = method
    return config.from_dict(sections)


def prepared_for(tmp_path, tok, path, method="dpo", **dataset):
    return pipeline.prepare(cfg_for(tmp_path, method, dataset={"path": path, "eval_size": 0, **dataset}), tok)


# file -> (format, the column of each role, training rows for DPO, what was left out)
PAIR_FILES = {
    "llamafactory_dpo_en_demo_head5.json": ({"chosen": "chosen", "rejected": "rejected", "prompt": "conversations"}, 4, {"truncated": 1}),
    "llamafactory_v1_dpo_demo_head3.jsonl": ({"chosen": "chosen_messages", "rejected": "rejected_messages"}, 3, {}),
    "anthropic_hh_rlhf_harmless_base_test_lines14to18.jsonl": ({"chosen": "chosen", "rejected": "rejected"}, 5, {}),
    "tiny_hpc_rlhf_hh_test_prefs_lines223to227.jsonl": ({"chosen": "chosen", "rejected": "rejected", "prompt": "prompt"}, 4, {"same answer": 1}),
    "tiny_hpc_rlhf_hh_test_prefs_lines760to764.jsonl": ({"chosen": "chosen", "rejected": "rejected", "prompt": "prompt"}, 4, {"no answer": 1}),
    "microsoft_foundry_orca_dpo_pairs_validation_head6.jsonl": ({"chosen": "preferred_output", "rejected": "non_preferred_output", "prompt": "input"}, 5, {"truncated": 1}),
    "opea_genaicomps_test_data_dpo_heredoc_full.jsonl": ({"chosen": "chosen", "rejected": "rejected", "prompt": "question", "system": "system"}, 2, {}),
    "llamafactory_oaast_rm_zh_elems4to8.json": ({"chosen": "output", "rejected": "output", "prompt": "instruction", "input": "input", "history": "history"}, 5, {}),
    "torchtune_stack_exchange_paired_tiny_elems18to24.json": ({"chosen": "response_j", "rejected": "response_k", "prompt": "question"}, 7, {}),
    "torchtune_hh_rlhf_tiny_full.json": ({"chosen": "chosen", "rejected": "rejected"}, 1, {}),
}


@pytest.mark.parametrize("name", sorted(PAIR_FILES))
def test_real_pair_files_are_read_as_pairs(tmp_path, smol_tok, name):
    columns, rows, drops = PAIR_FILES[name]
    p = prepared_for(tmp_path, smol_tok, real(name))
    assert p.plan.format.name == "preference" and p.plan.format.columns == columns
    assert len(p.train) == rows and p.drops == drops
    for r in p.train:  # the answers start after the prompt; the prompt ends before them
        assert r["chosen_ids"] != r["rejected_ids"] and r["chosen_ids"] and r["prompt_ids"]
    assert pipeline.drop_lines(p) == [line for line in pipeline.drop_lines(p) if f"({real(name)} " in line]


def test_implicit_prompts_are_the_shared_turns(tmp_path, smol_tok):
    """HH transcripts become turns (as TRL's own hh-rlhf script makes them); message lists share their prompt turns."""
    p = prepared_for(tmp_path, smol_tok, real("anthropic_hh_rlhf_harmless_base_test_lines14to18.jsonl"))
    row = json.loads(open(real("anthropic_hh_rlhf_harmless_base_test_lines14to18.jsonl")).readline())
    first = next(r for r in p.train if r["_row"] == 0)
    assert first["prompt"][-1]["role"] == "user" and first["prompt"][-1]["content"] in row["chosen"]
    assert [m["role"] for m in first["chosen"]] == ["assistant"]
    assert first["chosen"][0]["content"] == row["chosen"].rsplit("\n\nAssistant:", 1)[1].strip()
    v1 = prepared_for(tmp_path, smol_tok, real("llamafactory_v1_dpo_demo_head3.jsonl"))
    assert [m["role"] for m in v1.train[0]["prompt"]] == ["system", "user"]


def test_kto_files_and_pairs_unpaired(tmp_path, smol_tok):
    p = prepared_for(tmp_path, smol_tok, real("slim_lm_kto_train_head6.jsonl"), method="kto")
    assert p.plan.format.name == "kto" and sorted(p.train["label"]) == [False] * 3 + [True] * 3
    lf = prepared_for(tmp_path, smol_tok, real("llamafactory_kto_mix_test_elems306to311.json"), method="kto")
    assert lf.plan.format.columns == {"completion": "output", "label": "tag", "prompt": "instruction", "input": "input"} or \
        lf.plan.format.columns["label"] == "tag"
    conv = prepared_for(tmp_path, smol_tok, real("llamafactory_kto_en_demo_elems6to11.json"), method="kto", )
    assert conv.plan.format.columns == {"completion": "messages", "label": "label"}
    pairs = prepared_for(tmp_path, smol_tok, "sample:preferences", method="kto", max_rows=6)
    assert len(pairs.train) == 12 and sum(pairs.train["label"]) == 6  # the chosen answers desirable, the rejected not


@pytest.mark.parametrize("bad, what", [
    ({"prompt": "q", "chosen": [{"content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}, "role None"),
    ({"prompt": "q", "chosen": [{"role": "robot", "content": "a"}], "rejected": "b"}, "role 'robot'"),
    ({"chosen": "same start", "rejected": "other start"}, "share no prompt"),
])
def test_broken_pair_rows_are_located(tmp_path, smol_tok, bad, what):
    f = tmp_path / "pairs.jsonl"
    good = {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"} if "prompt" in bad else \
        {"chosen": "Q: 2+2?\nA: 4", "rejected": "Q: 2+2?\nA: 5"}
    f.write_text("".join(json.dumps(r) + "\n" for r in (good, bad, good)))
    with pytest.raises(TunewizError) as e:
        prepared_for(tmp_path, smol_tok, str(f))
    assert e.value.problems[0].where == f"{f}:2" and what in e.value.problems[0].what, e.value


def test_bad_kto_label_and_wrong_method_are_explained(tmp_path, smol_tok):
    f = tmp_path / "kto.jsonl"
    f.write_text(json.dumps({"prompt": "q", "completion": "a", "label": True}) + "\n"
                 + json.dumps({"prompt": "q", "completion": "b", "label": "maybe"}) + "\n")
    with pytest.raises(TunewizError) as e:
        prepared_for(tmp_path, smol_tok, str(f), method="kto")
    assert e.value.problems[0].where == f"{f}:2" and "true (desirable) or false" in e.value.problems[0].what
    with pytest.raises(TunewizError) as e:
        prepared_for(tmp_path, smol_tok, str(f), method="dpo")
    assert e.value.problems[0].where == "model.method" and e.value.problems[0].fix == "set model.method: kto"
    with pytest.raises(TunewizError) as e:  # SFT data under a preference method
        prepared_for(tmp_path, smol_tok, "sample:identity", method="dpo")
    assert e.value.problems[0].where == "dataset.format"
    with pytest.raises(TunewizError) as e:  # preference data under SFT: the fix names the method
        prepared_for(tmp_path, smol_tok, "sample:preferences", method="sft")
    assert "model.method: dpo" in e.value.problems[0].fix


def test_every_pair_left_out_says_why(tmp_path, smol_tok):
    f = tmp_path / "same.jsonl"
    f.write_text("".join(json.dumps({"prompt": f"q{i}", "chosen": "same", "rejected": "same"}) + "\n" for i in range(3)))
    with pytest.raises(TunewizError) as e:
        prepared_for(tmp_path, smol_tok, str(f))
    assert "none of the 3 rows can be trained: 3 had the same chosen and rejected answer" in e.value.problems[0].what


def test_answers_that_differ_only_after_max_length_are_left_out(tmp_path, smol_tok):
    f = tmp_path / "long.jsonl"
    same = " ".join(["word"] * 80)
    f.write_text(json.dumps({"prompt": "q", "chosen": same + " yes", "rejected": same + " no"}) + "\n"
                 + json.dumps({"prompt": "q", "chosen": "yes", "rejected": "no"}) + "\n")
    p = pipeline.prepare(cfg_for(tmp_path, dataset={"path": str(f), "eval_size": 0}, training={"max_length": 32}), smol_tok)
    assert p.drops == {"same within max_length": 1} and p.drop_rows == {"same within max_length": [0]}


def test_training_keys_follow_the_method(tmp_path):
    assert cfg_for(tmp_path, "dpo", training={"beta": 0.2, "loss_type": "ipo"}).training["loss_type"] == "ipo"
    with pytest.raises(TunewizError) as e:
        cfg_for(tmp_path, "sft", training={"beta": 0.2})
    assert "DPOConfig" in e.value.problems[0].what and "model.method: dpo" in e.value.problems[0].fix
    with pytest.raises(TunewizError) as e:
        cfg_for(tmp_path, "kto", training={"per_device_train_batch_size": 1})
    assert "at least 2" in e.value.problems[0].what
    with pytest.raises(TunewizError) as e:
        config.from_dict({"model": {"task": "sequence-classification", "method": "dpo"}})
    assert e.value.problems[0].where.endswith("model.method")


def _first_batch(trainer):
    return next(iter(trainer.get_train_dataloader())) if trainer.args.train_sampling_strategy == "sequential" else \
        trainer.data_collator([trainer.train_dataset[i] for i in range(trainer.args.per_device_train_batch_size)])


@pytest.mark.parametrize("method", ["dpo", "kto", "orpo"])
def test_trainer_receives_exactly_the_preview(tmp_path, method):
    """The one data path for pairs: the preview's collated batch is the trainer's (its dataset, its collator)."""
    cfg = cfg_for(tmp_path, method, dataset={"path": "sample:preferences", "max_rows": 12, "eval_size": 2},
                  training={"per_device_train_batch_size": 4, "use_cpu": True, "max_length": 128})
    trainer, prepared, info = build_trainer(cfg, tmp_path, [])
    shown = next(preview.batches(prepared, pipeline.build_collator("causal-lm", trainer.args, trainer.processing_class, method), 4))
    got = _first_batch(trainer)
    keys = {k for k in got if isinstance(got[k], torch.Tensor)}
    assert keys and keys <= set(shown)
    for key in keys:
        assert got[key].tolist() == shown[key], key
    rows = list(preview.rows(shown, trainer.processing_class))
    sides = {r.get("sequence") for r in rows}
    assert sides == ({"completion"} if method == "kto" else {"chosen", "rejected"})
    for r in rows:  # the loss sees the answer, never the shared prompt or the padding
        seen = [t for t in r["labels"] if t != -100]
        assert seen and len(seen) < sum(r["attention_mask"])
    assert info["method"] == method and info["train_rows"] == len(prepared.train)
    assert type(trainer).__name__ == {"dpo": "DPOTrainer", "kto": "KTOTrainer", "orpo": "ORPOTrainer"}[method]
    if method != "orpo":  # LoRA: the reference is the base with the adapter off, not a second copy
        assert trainer.ref_model is None


@pytest.mark.parametrize("name", ["smollm2-concise-dpo", "smollm2-kto-lora", "qwen2.5-7b-instruct-dpo-lora"])
def test_preference_presets_load_with_their_method(name):
    from tests.conftest import PRESETS

    cfg = config.load(PRESETS / f"{name}.yaml")
    assert cfg.model.method in ("dpo", "kto") and cfg.training["beta"] == 0.1 and cfg.lora_enabled


KTO_FILES = ["slim_lm_kto_train_head6.jsonl", "llamafactory_kto_mix_test_elems306to311.json",
             "llamafactory_kto_en_demo_elems6to11.json"]


@pytest.mark.parametrize("name, method", [(n, "dpo") for n in sorted(PAIR_FILES)] + [(n, "kto") for n in KTO_FILES])
def test_each_real_file_trains_a_step(tmp_path, name, method):
    """Every real file above through the trainer: one optimizer step on CPU with a finite loss and TRL's rewards."""
    cfg = cfg_for(tmp_path, method, dataset={"path": real(name), "eval_size": 0},
                  training={"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 256, "use_cpu": True,
                            "logging_steps": 1, "save_strategy": "no", "report_to": "none"})
    trainer, _, _ = build_trainer(cfg, tmp_path, [])
    trainer.train()
    log = next(h for h in trainer.state.log_history if "loss" in h)
    assert log["loss"] == log["loss"] and any(k.startswith("rewards/") for k in log), log


def test_an_sft_learning_rate_under_a_preference_method_is_a_warning():
    """The wizard's method switch keeps the preset's learning rate (new-user finding: SFT's 5e-4 under DPO): the review
    and `tunewiz run` warn with the rate preference tuning uses."""
    from engine import build, preflight

    cfg = config.from_dict({"model": {"method": "dpo"}, "training": {"learning_rate": 5e-4, "output_dir": "runs/x"}})
    args = build.training_args(cfg, build.resolve_training(cfg, build.Hardware()))
    warned = preflight.run_warnings(args, build.Hardware(), rows=40, lora=True, method="dpo")
    assert any("far above what DPO with LoRA uses" in w and "learning_rate: 5e-5" in w for w in warned)
    cfg.training["learning_rate"] = 5e-5
    args = build.training_args(cfg, build.resolve_training(cfg, build.Hardware()))
    assert not any("learning_rate" in w for w in preflight.run_warnings(args, build.Hardware(), rows=40, lora=True, method="dpo"))
