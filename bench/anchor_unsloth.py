#!/usr/bin/env python3
"""Unsloth as a second speed anchor (issue 16): the anchor G recipe written the way Unsloth's docs write it.

FastLanguageModel.from_pretrained(local folder, bf16, no 4-bit) + FastLanguageModel.get_peft_model(r=16, alpha 32,
dropout 0, the seven projections, no gradient checkpointing), then TRL's SFTTrainer (Unsloth patches it) on the same
pre-tokenized rows as bench/gpu_speed.py (input_ids + completion_mask, prompt tokens not trained), 32 rows a step in
one pass, padding-free (Unsloth's default), lr 2e-4. Timing as the anchors: real tokens/s over the timed steps after
warm-up, CUDA synchronised at each step end (padding-free: every computed token is real); peak allocated memory.

Unsloth 2026.10 pins trl <= 1.15 and datasets < 5, so it runs in its own process with its own wheels first on the
path (PYTHONPATH=/tmp/site_u:/tmp/site). Offline: UNSLOTH_DISABLE_STATISTICS=1, HF_HUB_OFFLINE=1, local_files_only.

    python3 bench/anchor_unsloth.py --model DIR --data FILE.parquet --out results.jsonl [--warmup 10 --measured 25]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
H200_PEAK_BF16 = 989e12


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--measured", type=int, default=25)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    res: dict = {"case": "anchor-unsloth", "status": "started"}
    t0 = time.time()
    try:
        run(a, res)
        res["status"] = "ok"
    except Exception as e:  # the table says what failed
        import traceback

        traceback.print_exc()
        res.update(status="error", error=f"{type(e).__name__}: {str(e)[:400]}")
    res["wall_s"] = round(time.time() - t0, 1)
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")
    print("RESULT " + json.dumps(res), flush=True)


def run(a: argparse.Namespace, res: dict) -> None:
    import unsloth  # noqa: F401, I001  (first, as its docs say: it patches transformers, peft and trl)
    from unsloth import FastLanguageModel

    import pyarrow.parquet as pq
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    res["versions"] = {"unsloth": unsloth.__version__, "torch": torch.__version__, "trl": __import__("trl").__version__}
    model, tok = FastLanguageModel.from_pretrained(a.model, max_seq_length=1024, dtype=torch.bfloat16, load_in_4bit=False,
                                                   local_files_only=True)
    model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=32, lora_dropout=0, bias="none",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                             "down_proj"],
                                             use_gradient_checkpointing=False, random_state=0)
    table = pq.read_table(a.data, columns=["input_ids", "completion_mask"]).to_pydict()
    ds = Dataset.from_dict(table)
    steps = a.warmup + a.measured
    times: list[float] = []
    tokens: list[int] = []
    seen = [0]

    def count(mod, args, kwargs=None):
        if args:
            seen[0] += args[0].numel()

    class Timer(TrainerCallback):
        t = 0.0

        def on_train_begin(self, args, state, control, **kw):
            torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            torch.cuda.synchronize()
            now = time.perf_counter()
            times.append(now - self.t)
            tokens.append(seen[0])
            seen[0] = 0
            self.t = now

    cfg = SFTConfig(output_dir="/tmp/unsloth_out", per_device_train_batch_size=a.batch, gradient_accumulation_steps=1,
                    max_steps=steps, learning_rate=2e-4, logging_steps=10, save_strategy="no", report_to="none", seed=42,
                    max_length=1024, bf16=True, padding_free=True, completion_only_loss=True, gradient_checkpointing=False,
                    dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=ds, args=cfg, callbacks=[Timer()])
    hook = trainer.model.get_input_embeddings().register_forward_pre_hook(count)
    torch.cuda.reset_peak_memory_stats()
    t1 = time.time()
    trainer.train()
    res["train_s"] = round(time.time() - t1, 1)
    hook.remove()
    m = slice(a.warmup, a.warmup + a.measured)
    res["real_tok_per_s"] = sum(tokens[m]) / sum(times[m])
    res["median_step_s"] = sorted(times[m])[len(times[m]) // 2]
    res["first_step_s"] = times[0] if times else None
    res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    n_total = sum(p.numel() for p in trainer.model.parameters())
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    res["trainable"], res["total_params"] = trainable, n_total
    res["mfu"] = (4 * n_total + 6 * trainable) * res["real_tok_per_s"] / H200_PEAK_BF16
    res["losses"] = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]


if __name__ == "__main__":
    main()
