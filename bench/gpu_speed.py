"""tunewiz against the hand-written TRL anchors, in one GPU call: speed, memory, loss.

    python bench/gpu_speed.py all --out DIR [--anchor ../shared/anchors/trl_sft_baseline.py] [--cases ...]
    python bench/gpu_speed.py table --out DIR            (re-print from DIR/results.jsonl)
    python bench/gpu_speed.py all --out DIR --tiny       (CPU check of the script, tiny shapes)

What runs (each in its own process, so peaks and patches don't leak between runs):
  anchors   the anchor script's variants A and G on qwen05 and D_E on llama1 (its own suite)
  tunewiz   the engine (engine.train.build_trainer, the code `tunewiz run` uses) with a preset a user would
            write: LoRA r16 all-linear (qwen05) or full fine-tuning (llama1), effective batch 32 written as
            8 x 4; everything else is tunewiz's defaults for the GPU
  plain     stock TRL SFTTrainer + peft with the same hyper-parameters, padded batches, sdpa, peft's fp32
            adapters (the loss reference); with two seeds, so the seed-to-seed spread says what "noise" is
All runs use the anchor's models (real shapes, random weights, built from config, seed 0) and its data
(4,000 pre-tokenized rows, log-normal lengths, median ~250, max 1,024; prompt tokens not trained).
Real tokens/s is measured as the anchor does it (non-pad tokens over the median-free sum of timed step
times after warm-up, with CUDA synchronised at each step end). Memory: torch's peak allocated, per step and
over the run, next to tunewiz's estimate for the same run (engine/estimate.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
H200_PEAK_BF16 = 989e12

# case -> (shape, method, kind); kind: tunewiz | plain
CASES = {
    "tw-qwen05-lora": ("qwen05", "lora", "tunewiz"),
    "tw-llama1-full": ("llama1", "full", "tunewiz"),
    "tw-qwen05-full": ("qwen05", "full", "tunewiz"),
    "tw-llama1-lora": ("llama1", "lora", "tunewiz"),
    "tw-qwen05-qlora": ("qwen05", "qlora", "tunewiz"),
    "tw-llama1-qlora": ("llama1", "qlora", "tunewiz"),
    "tw-qwen05-lora-gc": ("qwen05", "lora-gc", "tunewiz"),
    "tw-llama1-full-gc": ("llama1", "full-gc", "tunewiz"),
    "tw-qwen05-lora-noexp": ("qwen05", "lora", "tunewiz"),  # speed.expandable_segments: false
    "tw-qwen05-lora-notok": ("qwen05", "lora", "tunewiz"),  # no per-step token count (include_num_input_tokens_seen: no)
    # speed.compile_layers: true (regional torch.compile); -nl: without Liger's layer kernels (inductor fuses those;
    # TRL's own fused LM head computes the loss either way)
    # -long: the same preset for a run of speed.COMPILE_MIN_STEPS steps (tunewiz then compiles by default), of which
    # the bench times the first --steps and stops
    "tw-qwen05-lora-long": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-long2": ("qwen05", "lora", "tunewiz"),  # the same again: the compile with a warm cache
    "tw-qwen05-lora-compile": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-compile-nl": ("qwen05", "lora", "tunewiz"),
    "tw-llama1-full-compile": ("llama1", "full", "tunewiz"),
    "tw-llama1-full-compile-nl": ("llama1", "full", "tunewiz"),
    "plain-qwen05-lora": ("qwen05", "lora", "plain"),
    # issue 16. -fp8: speed.fp8: true; -eager: speed.compile_layers: false; -c200: a 200-step run with compiled layers
    # (its wall time, compile included, is what counts), -c200w the same again (the compile cache is then warm), -e200 eager
    "tw-qwen05-lora-c200": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-c200w": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-e200": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-fp8-eager": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-fp8-long": ("qwen05", "lora", "tunewiz"),
    "tw-qwen7-lora-long": ("qwen7", "lora", "tunewiz"),
    "tw-qwen7-lora-eager": ("qwen7", "lora", "tunewiz"),
    "tw-qwen7-lora-fp8-long": ("qwen7", "lora", "tunewiz"),
    "tw-qwen7-lora-fp8-eager": ("qwen7", "lora", "tunewiz"),
    # memory on long rows (max_length 4096, rows of ~1,500 tokens): -lr
    "tw-qwen05-lora-lr": ("qwen05", "lora", "tunewiz"),
    "tw-qwen05-lora-long-lr": ("qwen05", "lora", "tunewiz"),
    "tw-llama1-full-lr": ("llama1", "full", "tunewiz"),
    "tw-qwen7-lora-long-lr": ("qwen7", "lora", "tunewiz"),
    "tw-qwen7-lora-fp8-long-lr": ("qwen7", "lora", "tunewiz"),
    # loss parity: the same LoRA run through tunewiz and through stock TRL (two seeds) on learnable data
    "parity-tw": ("qwen05", "lora", "tunewiz"),
    "parity-tw-compile": ("qwen05", "lora", "tunewiz"),  # the same with speed.compile_layers: true
    "parity-tw-s2": ("qwen05", "lora", "tunewiz"),  # tunewiz's defaults, seed 43: the seed noise
    "parity-tw-fp8": ("qwen05", "lora", "tunewiz"),  # speed.fp8: true
    "parity-tw-fp8-compile": ("qwen05", "lora", "tunewiz"),
    "parity-plain": ("qwen05", "lora", "plain"),
    "parity-plain-s2": ("qwen05", "lora", "plain"),
}
PARITY_LR = 1e-3


def log(*a):
    print(*a, flush=True)


def load_anchor(path: str):
    spec = importlib.util.spec_from_file_location("anchor", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------------- prepare
def prepare(out: Path, anchor_path: str, shape: str, tiny: bool, markov: bool = False, longrows: bool = False) -> tuple[Path, Path]:
    """The anchor's model (saved once as a folder tunewiz loads) and its rows as a tokenized parquet file.
    markov: the same lengths and prompt/completion split, but tokens from a Markov chain over 2,000 ids
    (next = a fixed successor 3 times in 4, else a Zipf draw), so the loss has something to learn."""
    anchor = load_anchor(anchor_path)
    key = "tiny" if tiny else shape
    mdir = out / f"model-{shape}"
    data = out / f"data-{shape}{'-markov' if markov else ''}{'-longrows' if longrows else ''}.parquet"
    if not (mdir / "config.json").is_file():
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        model = anchor.build_model(key, "sdpa", dev, torch.bfloat16)
        tok = _tokenizer(min(model.config.vocab_size, 32000))
        model.config.eos_token_id, model.config.pad_token_id = tok.eos_token_id, tok.pad_token_id
        model.save_pretrained(mdir)
        tok.save_pretrained(mdir)
    if not data.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        vocab = anchor.MODELS[key]["vocab_size"]
        rows, _ = anchor.make_rows(64 if tiny else anchor.N_ROWS, vocab, max_len=128 if tiny else anchor.MAX_LEN,
                                   median=40 if tiny else anchor.LEN_MEDIAN)
        if markov:
            rows["input_ids"] = _markov_like(rows["input_ids"], min(vocab, 2003))
        if longrows:
            rows = _long_rows(64 if tiny else 1000, vocab, 256 if tiny else LONG_MAX)
        labels = [[t if m else -100 for t, m in zip(ids, mask, strict=True)] for ids, mask in zip(rows["input_ids"], rows["completion_mask"], strict=True)]
        pq.write_table(pa.table({"input_ids": rows["input_ids"], "labels": labels,
                                 "completion_mask": rows["completion_mask"]}), data)
    return mdir, data


def _tokenizer(size: int):
    """The anchor's word-level tokenizer (<pad>, <eos>, <unk>) with a vocabulary as large as the data's ids (the anchor's
    has the 3 special tokens only; tunewiz refuses pre-tokenized ids outside the tokenizer's vocabulary)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{f"w{i}": i for i in range(3, size)}}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>")),
                                   pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


LONG_MAX, LONG_MEDIAN = 4096, 1500


def _long_rows(n: int, vocab: int, max_len: int) -> dict:
    """Rows of ~1,500 tokens (log-normal, sigma 0.5, 256 to max_len), prompt the first 20-60%: the long-row memory check."""
    import math

    import numpy as np

    rng = np.random.default_rng(11)
    lens = np.clip(np.round(rng.lognormal(math.log(min(LONG_MEDIAN, max_len // 2)), 0.5, size=n)), 64, max_len).astype(int)
    ids, masks = [], []
    for L in lens:
        p = int(L * rng.uniform(0.2, 0.6))
        ids.append(rng.integers(3, min(vocab, 32000), size=int(L)).tolist())
        masks.append([0] * p + [1] * (int(L) - p))
    return {"input_ids": ids, "completion_mask": masks}


def _markov_like(rows: list[list[int]], vocab: int) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(7)
    n = vocab - 3
    successor = rng.permutation(n)
    zipf = 1.0 / np.arange(1, n + 1)
    zipf /= zipf.sum()
    out = []
    for ids in rows:
        seq = np.empty(len(ids), dtype=np.int64)
        seq[0] = rng.integers(n)
        follow = rng.random(len(ids)) < 0.75
        draws = rng.choice(n, size=len(ids), p=zipf)
        for j in range(1, len(ids)):
            seq[j] = successor[seq[j - 1]] if follow[j] else draws[j]
        out.append((seq + 3).tolist())
    return out


# ---------------------------------------------------------------------------------------------- one case
class Meter:
    """Step times (CUDA synchronised), real tokens, computed tokens and peak memory of each step."""

    def __init__(self, device: str, stop_at: int | None = None):
        self.device, self.t_last, self.stop_at = device, None, stop_at
        self.times, self.real, self.computed, self.peaks = [], [], [], []
        self.trainer = None
        self.tok_last = 0
        self.computed_acc = 0

    def callback(self):
        from transformers import TrainerCallback

        meter = self

        class CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                meter._sync()
                meter.t_last = time.perf_counter()

            def on_step_begin(self, args, state, control, **kw):
                if meter.device == "cuda":
                    import torch

                    torch.cuda.reset_peak_memory_stats()

            def on_step_end(self, args, state, control, **kw):
                meter._sync()
                t = time.perf_counter()
                meter.times.append(t - meter.t_last)
                meter.t_last = t
                tot = int(getattr(meter.trainer, "_total_train_tokens", 0) or 0)
                meter.real.append(tot - meter.tok_last)
                meter.tok_last = tot
                meter.computed.append(meter.computed_acc)
                meter.computed_acc = 0
                if meter.device == "cuda":
                    import torch

                    meter.peaks.append(torch.cuda.max_memory_allocated())
                if meter.stop_at and state.global_step >= meter.stop_at:
                    control.should_training_stop = True

        return CB()

    def _sync(self):
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def hook(self, model):
        def pre(mod, a, kw=None):
            if a:
                self.computed_acc += a[0].numel()

        return model.get_input_embeddings().register_forward_pre_hook(pre)


def preset_for(shape: str, method: str, mdir: Path, data: Path, steps: int, seed: int = 42) -> dict:
    lora = method.startswith(("lora", "qlora"))
    d = {
        "model": {"name_or_path": str(mdir), "task": "causal-lm"},
        "dataset": {"path": str(data), "format": "tokenized", "eval_size": 0, "columns": {"input_ids": "input_ids", "labels": "labels"}},
        "lora": {"enabled": True, "r": 16, "lora_alpha": 32, "target_modules": "all-linear"} if lora else {"enabled": False},
        "training": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "max_steps": steps,
                     "learning_rate": 2e-4 if lora else 2e-5, "logging_steps": 10, "save_strategy": "no",
                     "report_to": "none", "seed": seed, "max_length": 1024, "dataloader_num_workers": 0},
    }
    if method == "qlora":
        d["model"]["quantization"] = "4bit"
    if method.endswith("-gc"):
        d["training"]["gradient_checkpointing"] = True
    return d


def run_case(case: str, out: Path, anchor_path: str, tiny: bool, steps: int, warmup: int, measured: int) -> dict:
    import torch

    shape, method, kind = CASES[case]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    parity = case.startswith("parity")
    longrows = case.endswith("-lr")
    mdir, data = prepare(Path(os.environ.get("GPU_BENCH_WORK", out)), anchor_path, shape, tiny, markov=parity, longrows=longrows)
    res = {"case": case, "shape": shape, "method": method, "kind": kind, "status": "started"}
    long = "-long" in case
    meter = Meter(device, stop_at=steps if long else None)
    t0 = time.time()
    if kind == "tunewiz":
        from engine import config, speed
        from engine.train import build_trainer, use_expandable_segments

        preset = preset_for(shape, method, mdir, data, speed.COMPILE_MIN_STEPS if long else steps)
        if parity:
            preset["training"]["learning_rate"] = PARITY_LR
        if case.endswith("-noexp"):
            preset["speed"] = {"expandable_segments": False}
        if case.endswith("-notok"):
            preset["training"]["include_num_input_tokens_seen"] = "no"
        sp = preset.setdefault("speed", {})
        if "-compile" in case or "-c200" in case:
            sp["compile_layers"] = True
        if "-eager" in case or case.endswith("-e200"):
            sp["compile_layers"] = False
        if "-fp8" in case:
            sp["fp8"] = True
        elif sp.get("compile_layers") is not None or "-long" in case or parity:
            sp.setdefault("fp8", False)  # bf16 unless the case says fp8 (whatever the default becomes)
        if case.endswith("-s2"):
            preset["training"]["seed"] = 43
        if longrows:
            preset["training"]["max_length"] = LONG_MAX if not tiny else 256
            preset["training"]["per_device_train_batch_size"], preset["training"]["gradient_accumulation_steps"] = 4, 2
        if case.endswith("-nl"):
            preset["training"]["use_liger_kernel"] = False
        cfg = config.from_dict(preset, source=case)
        use_expandable_segments(cfg)
        run_dir = Path(os.environ.get("GPU_BENCH_WORK", out)) / "runs" / case
        cfg.training["output_dir"] = str(run_dir)
        trainer, prepared, info = build_trainer(cfg, run_dir, [meter.callback()])
        res["defaults"] = [f"{d['key']}={d['value']}" for d in info["defaults"]]
        res["notes"] = info["notes"]
        res["batch"] = info["batch"]
        res["estimate_gib"] = info.get("estimate_gib")
        ecfg = cfg.model_copy(deep=True)
        if any(d["key"] == "speed.compile_layers" for d in info["defaults"]):
            ecfg.speed.compile_layers = True  # decided for the whole run; the bench times its first steps
        res["estimate"] = _estimate_rows(ecfg, prepared, info, steps)
        res["allocator"] = os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
    else:
        trainer = plain_trl(mdir, data, steps, seed=43 if case.endswith("-s2") else 42, callbacks=[meter.callback()], device=device,
                            out=Path(os.environ.get("GPU_BENCH_WORK", out)) / "runs" / case, lr=PARITY_LR if parity else 2e-4)
    meter.trainer = trainer
    hook = meter.hook(trainer.model)
    res["trainable"] = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    res["total_params"] = sum(p.numel() for p in trainer.model.parameters())
    res["trainable_dtypes"] = sorted({str(p.dtype) for p in trainer.model.parameters() if p.requires_grad})
    res["attn"] = getattr(trainer.model.config, "_attn_implementation", None)
    res["setup_s"] = round(time.time() - t0, 1)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t1 = time.time()
    trainer.train()
    res["train_s"] = round(time.time() - t1, 1)
    hook.remove()
    m = slice(warmup, warmup + measured)
    times, real, comp = meter.times[m], meter.real[m], meter.computed[m]
    res["real_tok_per_s"] = sum(real) / sum(times)
    res["median_step_s"] = sorted(times)[len(times) // 2]
    res["real_tok_per_step"] = sum(real) / len(real)
    res["pad_frac"] = 1 - sum(real) / sum(comp) if sum(comp) else None
    lora = method.startswith(("lora", "qlora"))
    n_total = res["total_params"]
    flops = (4 * n_total + 6 * res["trainable"]) if lora else 6 * n_total
    res["mfu"] = flops * res["real_tok_per_s"] / H200_PEAK_BF16
    res["losses"] = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    res["loss_steps"] = [h["step"] for h in trainer.state.log_history if "loss" in h]
    if device == "cuda":
        from engine import smoke

        res["peak_gib"] = max(meter.peaks) / 2**30
        res["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        res["step_peaks"] = [[c, round(p / 2**30, 3)] for c, p in zip(meter.computed, meter.peaks, strict=False)]
        res["context_gib"] = smoke.context_gib()
    res["status"] = "ok"
    return res


def _estimate_rows(cfg, prepared, info, steps):
    """The estimate for the run as tunewiz resolved it (micro-batch, checkpointing, adapters), by component."""
    from engine import build, speed
    from engine.data import pipeline
    from engine.inspect import inspect_model

    hw = build.hardware()
    mi = inspect_model(cfg.model.name_or_path, task="causal-lm")
    lens = pipeline.lengths(prepared.train)
    r = speed.resolve(cfg, hw, mi, lengths=lens, steps=steps)
    e = r.estimate
    if e is None:
        return None
    return {"total_gib": round(e.total / 2**30, 3), "tokens": e.tokens,
            **{k: round(v / 2**30, 3) for k, v in e.rows()}}


def plain_trl(mdir: Path, data: Path, steps: int, seed: int, callbacks: list, device: str, out: Path, lr: float):
    """Stock TRL + peft with the same hyper-parameters: padded batches, sdpa, fp32 adapters, no checkpointing."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = load_dataset("parquet", data_files=str(data), split="train").select_columns(["input_ids", "completion_mask"])
    tok = AutoTokenizer.from_pretrained(mdir)
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.bfloat16 if device == "cuda" else torch.float32,
                                                 attn_implementation="sdpa")
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=16, gradient_accumulation_steps=2, max_steps=steps,
                     learning_rate=lr, logging_steps=10, save_strategy="no", report_to="none", seed=seed, max_length=1024,
                     bf16=device == "cuda", use_cpu=device != "cuda", gradient_checkpointing=False, completion_only_loss=True,
                     disable_tqdm=True, dataloader_num_workers=0)
    peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft, callbacks=callbacks)


# ------------------------------------------------------------------------------------------------- suite
def cmd_case(a):
    out = Path(a.out)
    try:
        res = run_case(a.case, out, a.anchor, a.tiny, a.steps, a.warmup, a.measured)
    except Exception as e:
        import traceback

        traceback.print_exc()
        res = {"case": a.case, "status": "error", "error": f"{type(e).__name__}: {str(e)[:400]}"}
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    log("RESULT " + json.dumps({k: v for k, v in res.items() if k != "step_peaks"}))


def cmd_all(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    env = {**os.environ, "GPU_BENCH_WORK": a.work or str(out), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONUNBUFFERED": "1"}
    if a.anchors:
        tiny = ["--tiny"] if a.tiny else []
        site = str(ROOT / "bench" / "anchor_site")
        path = os.pathsep.join([site, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        subprocess.run([sys.executable, "-u", a.anchor, "suite", "--out", str(out / "anchor"), "--groups", a.anchors,
                        "--budget-s", str(a.anchor_budget)] + tiny,
                       env={**env, "BENCH_STEPS": a.anchor_steps, "PYTHONPATH": path}, check=False)
    for item in [c for c in a.cases.split(",") if c]:
        case, _, n = item.partition(":")  # case:steps overrides --steps
        steps = int(n) if n else a.steps
        log(f"--- {case} (t+{time.time() - t0:.0f}s)")
        cmd = [sys.executable, "-u", __file__, "case", "--case", case, "--out", str(out), "--anchor", a.anchor,
               "--steps", str(steps), "--warmup", str(a.warmup), "--measured", str(min(a.measured, steps - a.warmup))] + (["--tiny"] if a.tiny else [])
        try:
            subprocess.run(cmd, env=env, check=False, timeout=a.case_timeout)
        except subprocess.TimeoutExpired:
            log(f"{case} timed out")
    cmd_table(a)


def cmd_table(a):
    out = Path(a.out)
    rows = [json.loads(line) for line in open(out / "results.jsonl")] if (out / "results.jsonl").is_file() else []
    anchors = {}
    apath = out / "anchor" / "results.jsonl"
    if apath.is_file():
        for line in open(apath):
            r = json.loads(line)
            if r.get("status") == "ok":
                anchors[(r["model"], r["variant"])] = r
    lines = ["| run | shape | real tok/s | x A | x G | MFU | median step ms | pad % | peak GiB | estimate GiB | est. err | final loss | train s |",
             "|" + "---|" * 13]
    for (m, v), r in anchors.items():
        base = anchors.get((m, "A"))
        xa = r["real_tok_per_s"] / base["real_tok_per_s"] if base else None
        lines.append(f"| anchor {v} | {m} | {r['real_tok_per_s']:,.0f} | {_f(xa)} | - | {100 * r['mfu']:.1f}% | "
                     f"{1000 * r['median_step_s']:.0f} | {_pct(r.get('pad_frac'))} | {r.get('peak_mem_gib', 0):.1f} | - | - | "
                     f"{(r.get('final_losses') or ['-'])[-1]} | {r.get('train_s', '-')} |")
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['case']} | - | {r.get('status')}: {r.get('error', '')[:80]} |" + " - |" * 9)
            continue
        a_ = anchors.get((r["shape"], "A"))
        g_ = anchors.get((r["shape"], "G"))
        xa = r["real_tok_per_s"] / a_["real_tok_per_s"] if a_ else None
        xg = r["real_tok_per_s"] / g_["real_tok_per_s"] if g_ else None
        est = (r.get("estimate") or {}).get("total_gib")
        meas = (r.get("peak_gib") or 0) + (r.get("context_gib") or 0)
        err = (est - meas) / meas if est and meas else None
        lines.append(f"| {r['case']} | {r['shape']} | {r['real_tok_per_s']:,.0f} | {_f(xa)} | {_f(xg)} | {100 * r['mfu']:.1f}% | "
                     f"{1000 * r['median_step_s']:.0f} | {_pct(r.get('pad_frac'))} | {_f(meas, 1)} | {_f(est, 1)} | "
                     f"{_pct(err, signed=True)} | {(r.get('losses') or ['-'])[-1]} | {r.get('train_s', '-')} |")
    par = {r["case"]: r for r in rows if r.get("case", "").startswith("parity") and r.get("status") == "ok"}
    if {"parity-tw", "parity-plain", "parity-plain-s2"} <= set(par):
        tw, p1, p2 = (par[k]["losses"] for k in ("parity-tw", "parity-plain", "parity-plain-s2"))
        steps = par["parity-tw"]["loss_steps"]
        lines += ["", "Loss parity (mean training loss over each 10 steps; learnable Markov data, LoRA r16 all-linear, "
                  f"lr {PARITY_LR:g}, 32 rows a step):", "",
                  "| step | tunewiz (defaults) | stock TRL seed 42 | stock TRL seed 43 | tunewiz - TRL 42 | TRL 43 - TRL 42 |",
                  "|---|---|---|---|---|---|"]
        for i, st in enumerate(steps):
            if i < len(p1) and i < len(p2):
                lines.append(f"| {st} | {tw[i]:.4f} | {p1[i]:.4f} | {p2[i]:.4f} | {tw[i] - p1[i]:+.4f} | {p2[i] - p1[i]:+.4f} |")
    if "parity-tw" in par:  # every tunewiz parity run against tunewiz's defaults (bf16, seed 42)
        ref = par["parity-tw"]["losses"]
        others = [k for k in par if k != "parity-tw"]
        lines += ["", "| step | parity-tw | " + " | ".join(others) + " |", "|---|---|" + "---|" * len(others)]
        for i, st in enumerate(par["parity-tw"]["loss_steps"]):
            cells = [f"{par[k]['losses'][i]:.4f} ({par[k]['losses'][i] - ref[i]:+.4f})" if i < len(par[k]["losses"]) else "-"
                     for k in others]
            lines.append(f"| {st} | {ref[i]:.4f} | " + " | ".join(cells) + " |")
    txt = "\n".join(lines)
    log(txt)
    (out / "table.md").write_text(txt + "\n")


def _f(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def _pct(x, signed=False):
    return "-" if x is None else (f"{100 * x:+.0f}%" if signed else f"{100 * x:.0f}%")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["all", "case", "table"])
    ap.add_argument("--out", default="gpu_bench_out")
    ap.add_argument("--anchor", default=str(ROOT.parent / "shared" / "anchors" / "trl_sft_baseline.py"))
    ap.add_argument("--anchors", default="qwen05:A;qwen05:G;llama1:D_E", help="anchor groups ('' = none)")
    ap.add_argument("--anchor-steps", default="10,40,25")
    ap.add_argument("--anchor-budget", type=int, default=330)
    ap.add_argument("--cases", default="tw-qwen05-lora,tw-llama1-full")
    ap.add_argument("--case")
    ap.add_argument("--work", default="", help="models, data and run folders (default: --out)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--measured", type=int, default=25)
    ap.add_argument("--case-timeout", type=int, default=240)
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    {"all": cmd_all, "case": cmd_case, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
