#!/usr/bin/env python3
"""The hand-written TRL DPOTrainer (+ peft LoRA) script tunewiz's DPO must beat: what a user writes from TRL's docs.

DPOConfig + peft LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"), bf16, per_device_train_batch_size 8 x
gradient_accumulation_steps 4 (effective batch 32 pairs), max_length 1024; everything else as TRL leaves it: gradient
checkpointing on (DPOConfig's default), peft's fp32 adapters, sdpa attention, padded batches, the reference
forward every step (the base with the adapter switched off). Models come from the SFT anchor's shapes
(../shared/anchors/trl_sft_baseline.py; random weights built from config, seed 0); data are synthetic preference
pairs written as a JSONL of prompt / chosen / rejected strings (TRL's standard format), so TRL tokenizes from text.

Data: prompts ~150 words, answers ~170 (log-normal; 10-90% ~100-285), one word = one token (a word-level tokenizer
over "w0".."wN"). Chosen answers draw 70% of their words from the first half of the vocabulary, rejected answers 70%
from the second half: a preference the model can learn, so loss / rewards/margins / rewards/accuracies move.

Timing as the SFT anchor: real tokens/s = non-pad tokens (the policy's attention mask) over the timed steps after
warm-up, CUDA synchronised at each step end; peak = torch.cuda.max_memory_allocated over training.

Usage
  python3 bench/anchor_dpo.py data --out DIR [--pairs 2048] [--tiny]     (DIR/pairs.jsonl)
  python3 bench/anchor_dpo.py run  --out DIR --data DIR/pairs.jsonl [--seed 42] [--model qwen05] [--tiny]
  add --tiny (tiny model, short rows, 2+2 steps) to check it on CPU.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

H200_PEAK_BF16 = 989e12
LR = 5e-5  # a usual LoRA DPO learning rate (DPOConfig's 1e-6 is for full fine-tuning); the same in every run
N_PAIRS = 2048
MAX_LEN = 1024
PROMPT_MEDIAN, ANSWER_MEDIAN = 150, 170
PROMPT_SIGMA, ANSWER_SIGMA = 0.5, 0.4
SEED = 1234

# the SFT anchor's shapes (../shared/anchors/trl_sft_baseline.py MODELS), copied: that folder does not travel to the GPU
MODELS = {
    "qwen05": dict(arch="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                   num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=4096,
                   rope_theta=1000000.0, rms_norm_eps=1e-6),
    "llama1": dict(arch="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                   num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True, max_position_embeddings=4096,
                   rope_theta=500000.0, rms_norm_eps=1e-5),
    "tiny": dict(arch="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000, tie_word_embeddings=True, max_position_embeddings=4096,
                 rope_theta=10000.0, rms_norm_eps=1e-6),
}


def log(*a):
    print(*a, flush=True)


def n_words(model_key):
    return min(MODELS[model_key]["vocab_size"], 32003) - 3


# ---------------------------------------------------------------------------------------------------------- data
def make_pairs(n, words, seed=SEED, tiny=False):
    """Preference rows as strings; returns (rows, length stats in words)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pm, am = (20, 24) if tiny else (PROMPT_MEDIAN, ANSWER_MEDIAN)
    plen = np.clip(np.round(rng.lognormal(math.log(pm), PROMPT_SIGMA, n)), 8, 900).astype(int)
    clen = np.clip(np.round(rng.lognormal(math.log(am), ANSWER_SIGMA, n)), 4, 1200).astype(int)
    rlen = np.clip(np.round(rng.lognormal(math.log(am), ANSWER_SIGMA, n)), 4, 1200).astype(int)
    half = words // 2

    def answer(k, good):
        own = rng.random(k) < 0.7
        lo = rng.integers(0, half, k)
        hi = rng.integers(half, words, k)
        ids = np.where(own == good, lo, hi)  # good: 70% from the first half; bad: 70% from the second
        return " ".join(f"w{i}" for i in ids)

    rows = []
    for p, c, r in zip(plen, clen, rlen):
        prompt = " ".join(f"w{i}" for i in rng.integers(0, words, p))
        rows.append({"prompt": prompt + " ", "chosen": answer(c, True), "rejected": answer(r, False)})
    seq = plen + np.maximum(clen, rlen) + 1
    stats = dict(pairs=n, prompt_median=float(np.median(plen)), answer_median=float(np.median(np.r_[clen, rlen])),
                 answer_p10=float(np.percentile(np.r_[clen, rlen], 10)), answer_p90=float(np.percentile(np.r_[clen, rlen], 90)),
                 longest_median=float(np.median(seq)), frac_over_max=float((seq > MAX_LEN).mean()),
                 real_tokens_per_pair=float((2 * plen + clen + rlen + 2).mean()))
    return rows, stats


def write_pairs(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def make_tokenizer(words):
    """A word-level tokenizer ("w0".."wN", whitespace split; <pad>=0, <eos>=1, <unk>=2)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{f"w{i}": i + 3 for i in range(words)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def build_model(model_key, attn, device, dtype):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    spec = dict(MODELS[model_key])
    arch = spec.pop("arch")
    cfg = (Qwen2Config if arch == "qwen2" else LlamaConfig)(**spec, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    if device == "cuda":
        with torch.device("cuda"):
            return AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)
    return AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)


# ---------------------------------------------------------------------------------------------------------- timing
class Meter:
    """Step times (CUDA synchronised at step ends), real and computed (padded) tokens of each step. Tokens are counted
    in the training collator (the policy's batch: attention-mask sum and input_ids size; the reference forward reuses
    the batch and the precompute runs before the wrap, so neither is counted)."""

    def __init__(self, device):
        self.device = device
        self.times, self.real, self.padded = [], [], []
        self.t_last = None
        self._real = self._padded = 0

    def wrap(self, trainer):
        inner = trainer.data_collator

        def collate(examples):
            out = inner(examples)
            self._real += int(out["attention_mask"].sum())
            self._padded += int(out["input_ids"].numel())
            return out

        trainer.data_collator = collate

    def callback(self):
        from transformers import TrainerCallback

        meter = self

        class CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                meter.sync()
                meter.t_last = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                meter.sync()
                t = time.perf_counter()
                meter.times.append(t - meter.t_last)
                meter.t_last = t
                meter.real.append(meter._real)
                meter.padded.append(meter._padded)
                meter._real = meter._padded = 0

        return CB()

    def sync(self):
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def summary(self, warmup, measured):
        m = slice(warmup, warmup + measured)
        times, real, padded = self.times[m], self.real[m], self.padded[m]
        if len(times) < 1:
            return {"status": "too_few_steps", "n_steps": len(self.times)}
        srt = sorted(times)
        return dict(n_steps=len(self.times), warmup=warmup, n_measured=len(times), first_step_s=round(self.times[0], 3),
                    s_per_step=sum(times) / len(times), median_step_s=srt[len(srt) // 2],
                    real_tok_per_step=sum(real) / len(real), pad_frac=1 - sum(real) / sum(padded) if sum(padded) else None,
                    real_tok_per_s=sum(real) / sum(times))


def curves(trainer, warmup):
    """loss, rewards/margins, rewards/accuracies of each logged step (logging_steps=1), and over the timed steps."""
    keys = ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")
    hist = [h for h in trainer.state.log_history if "loss" in h]
    out = {"steps": [h["step"] for h in hist]}
    for k in keys:
        out[k] = [round(float(h[k]), 5) if k in h else None for h in hist]
    return out


def env_info():
    import importlib.metadata as md

    import torch

    info = {"python": sys.version.split()[0], "torch": torch.__version__}
    for p in ("transformers", "trl", "peft", "accelerate", "datasets", "tokenizers"):
        try:
            info[p] = md.version(p)
        except Exception:
            info[p] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ---------------------------------------------------------------------------------------------------------- the script
def run(a):
    """The stock script: as a user writes it from TRL's DPO docs (LoRA section), plus the meter."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    key = "tiny" if a.tiny else a.model
    warmup, measured = (2, 2) if a.tiny else (a.warmup, a.measured)
    res = dict(run=f"stock-s{a.seed}", kind="stock", model=a.model, seed=a.seed, lr=a.lr, status="started")
    t0 = time.time()
    tok = make_tokenizer(n_words(key))
    model = build_model(key, "sdpa", device, torch.bfloat16 if device == "cuda" else torch.float32)
    ds = load_dataset("json", data_files=a.data, split="train")
    args = DPOConfig(
        output_dir=os.path.join(tempfile.gettempdir(), "dpo_anchor", f"s{a.seed}"),
        per_device_train_batch_size=8,
        gradient_accumulation_steps=4,
        max_length=MAX_LEN,
        learning_rate=a.lr,
        bf16=device == "cuda",
        use_cpu=device != "cuda",
        max_steps=warmup + measured,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=a.seed,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    meter = Meter(device)
    trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config,
                         callbacks=[meter.callback()])
    meter.wrap(trainer)
    res.update(setup_s=round(time.time() - t0, 1), gradient_checkpointing=args.gradient_checkpointing,
               batch=[args.per_device_train_batch_size, args.gradient_accumulation_steps])
    return timed_train(trainer, meter, device, warmup, measured, res)


def model_facts(trainer):
    """Parameter counts, trainable dtypes and attention kernel of a built trainer's model."""
    return dict(trainable=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
                total_params=sum(p.numel() for p in trainer.model.parameters()),
                trainable_dtypes=sorted({str(p.dtype) for p in trainer.model.parameters() if p.requires_grad}),
                attn=getattr(trainer.model.config, "_attn_implementation", None))


def timed_train(trainer, meter, device, warmup, measured, res):
    """trainer.train() with the peak memory counted from its start; adds the model facts, the timed steps' summary,
    peaks and curves to `res` (the anchor and bench/dpo_gpu.py time both paths with this)."""
    import torch

    res.update(model_facts(trainer))
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t1 = time.time()
    trainer.train()
    res["train_s"] = round(time.time() - t1, 1)
    res.update(meter.summary(warmup, measured))
    if device == "cuda":
        res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        res["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    res["curves"] = curves(trainer, warmup)
    res["status"] = "ok"
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["data", "run"])
    ap.add_argument("--out", default="dpo_anchor_out")
    ap.add_argument("--data", default="")
    ap.add_argument("--model", default="qwen05")
    ap.add_argument("--pairs", type=int, default=N_PAIRS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--measured", type=int, default=24)
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    for k, val in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(k, val)
    os.makedirs(a.out, exist_ok=True)
    if a.cmd == "data":
        rows, stats = make_pairs(64 if a.tiny else a.pairs, n_words("tiny" if a.tiny else a.model), tiny=a.tiny)
        write_pairs(os.path.join(a.out, "pairs.jsonl"), rows)
        log("DATA " + json.dumps(stats))
        return
    try:
        res = run(a)
    except Exception as e:
        import traceback

        traceback.print_exc()
        res = dict(run=f"stock-s{a.seed}", kind="stock", status="error", error=f"{type(e).__name__}: {str(e)[:400]}")
    res["env"] = env_info()
    with open(os.path.join(a.out, "results.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")
    log("RESULT " + json.dumps({k: v for k, v in res.items() if k != "curves"}))


if __name__ == "__main__":
    main()
