"""tunewiz's DPO LoRA against the hand-written TRL DPOTrainer script (bench/anchor_dpo.py), in one GPU call.

    python bench/dpo_gpu.py all --out DIR [--cases stock-s42,stock-s43,tw,...] [--pairs 2048]
    python bench/dpo_gpu.py table --out DIR          (re-print from DIR/results.jsonl)
    python bench/dpo_gpu.py all --out DIR --tiny     (CPU check, tiny shapes)

What runs (each in its own process, so peaks, patches and compiled code don't leak between runs):
  stock-s42, stock-s43  the anchor script (bench/anchor_dpo.py run), seeds 42 and 43: the seed-to-seed spread says
                        what "noise" is in the curves
  tw                    the engine (engine.train.build_trainer, what `tunewiz run` uses) with the preset a user would
                        write: model.method dpo, LoRA r16 all-linear, 8 x 4, max_length 1024, the anchor's learning
                        rate; everything else tunewiz's defaults for the GPU
  tw-<lever>            the same preset with one key changed (LEVERS below): what each default gives, and candidates
All runs use the anchor's model (qwen05 shape, random weights from config, seed 0; saved once as a folder for tunewiz)
and its data (DIR/work/pairs.jsonl: prompt/chosen/rejected strings, tokenized by TRL from text in both paths). Timing
is the anchor's Meter: real (non-pad) tokens of the policy's batches over the timed steps after warm-up, CUDA
synchronised at each step end. With training.precompute_ref_log_probs the reference pass runs once before training
(timed apart); `epoch tok/s` charges it to one epoch of the data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import anchor_dpo as anchor  # noqa: E402

# tunewiz case -> preset changes {section: {key: value}} on top of the user's preset
LEVERS: dict[str, dict[str, dict]] = {
    "tw": {},
    "tw-precompute": {"training": {"precompute_ref_log_probs": True}},
    "tw-8x4": {"speed": {"split_batch": False}},  # the micro-batch as written, not re-split
    "tw-fp32ad": {"lora": {"autocast_adapter_dtype": True}},  # peft's fp32 adapters
    "tw-gc": {"training": {"gradient_checkpointing": True}},
    "tw-compile": {"speed": {"compile_layers": True}},
    "tw-precompute-compile": {"training": {"precompute_ref_log_probs": True}, "speed": {"compile_layers": True}},
    "tw-precompute-8x4": {"training": {"precompute_ref_log_probs": True}, "speed": {"split_batch": False}},
    "tw-precompute-b64": {"training": {"precompute_ref_log_probs": True, "precompute_ref_batch_size": 64}},
}
COMPILE_WARMUP = 16  # compiled runs: recompiles as padded lengths turn dynamic fall in the first steps


def log(*a):
    print(*a, flush=True)


def work_dir(out: Path) -> Path:
    return Path(os.environ.get("DPO_BENCH_WORK", out / "work"))


# ------------------------------------------------------------------------------------------------- prepare
def prepare(work: Path, model_key: str, pairs: int, tiny: bool) -> tuple[Path, Path]:
    """The anchor's model saved as a folder tunewiz loads (with the anchor's tokenizer), and the pairs as JSONL."""
    key = "tiny" if tiny else model_key
    mdir, data = work / f"model-{model_key}", work / "pairs.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    if not (mdir / "config.json").is_file():
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        model = anchor.build_model(key, "sdpa", dev, torch.bfloat16)
        model.save_pretrained(mdir)
        anchor.make_tokenizer(anchor.n_words(key)).save_pretrained(mdir)
    if not data.is_file():
        rows, stats = anchor.make_pairs(64 if tiny else pairs, anchor.n_words(key), tiny=tiny)
        anchor.write_pairs(str(data), rows)
        (work / "data_stats.json").write_text(json.dumps(stats, indent=1))
    return mdir, data


def preset_for(mdir: Path, data: Path, steps: int, seed: int, case: str, lr: float = anchor.LR) -> dict:
    """The preset a user writes for this run, then the case's lever."""
    d = {
        "model": {"name_or_path": str(mdir), "task": "causal-lm", "method": "dpo"},
        "dataset": {"path": str(data), "eval_size": 0},
        "lora": {"enabled": True, "r": 16, "lora_alpha": 32, "target_modules": "all-linear"},
        "training": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "max_length": anchor.MAX_LEN,
                     "learning_rate": lr, "max_steps": steps, "logging_steps": 1, "save_strategy": "no",
                     "report_to": "none", "seed": seed, "dataloader_num_workers": 0},
    }
    for section, keys in LEVERS[case].items():
        d.setdefault(section, {}).update(keys)
    return d


# ------------------------------------------------------------------------------------------------- one case
def run_case(case: str, out: Path, model_key: str, pairs: int, tiny: bool, warmup: int, measured: int,
             lr: float = anchor.LR) -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = work_dir(out)
    mdir, data = prepare(work, model_key, pairs, tiny)
    if "compile" in case and not tiny:
        warmup = COMPILE_WARMUP
    if tiny:
        warmup, measured = 2, 2
    res = {"run": case, "kind": "tunewiz", "model": model_key, "lever": LEVERS[case], "lr": lr, "status": "started"}
    pre = _time_precompute(res)
    from engine import config, train
    from engine.train import build_trainer, use_expandable_segments

    train.load_tokenizer = _load_word_tokenizer

    cfg = config.from_dict(preset_for(mdir, data, warmup + measured, 42, case, lr), source=case)
    use_expandable_segments(cfg)
    run_dir = work / "runs" / case
    cfg.training["output_dir"] = str(run_dir)
    meter = anchor.Meter(device)
    t0 = time.time()
    trainer, prepared, info = build_trainer(cfg, run_dir, [meter.callback()])
    meter.wrap(trainer)
    res.update(setup_s=round(time.time() - t0, 1), precompute_s=pre.get("s"),
               defaults=[f"{d['key']}={d['value']}" for d in info["defaults"]], notes=info["notes"], batch=info["batch"],
               estimate_gib=info.get("estimate_gib"), train_rows=info["train_rows"], dropped=info["dropped"],
               gradient_checkpointing=bool(trainer.args.gradient_checkpointing),
               precompute=bool(getattr(trainer.args, "precompute_ref_log_probs", False)),
               allocator=os.environ.get("PYTORCH_CUDA_ALLOC_CONF"))
    if device == "cuda":
        torch.cuda.synchronize()
        res["precompute_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if pre.get("s") else None
    anchor.timed_train(trainer, meter, device, warmup, measured, res)
    if device == "cuda":
        from engine import smoke

        res["context_gib"] = smoke.context_gib()
    return res


def _load_word_tokenizer(cfg, path):
    """The anchor's word-level tokenizer, as saved. transformers 5's AutoTokenizer forces Qwen2Tokenizer (BPE) onto a
    qwen2 folder whatever tokenizer.json holds, which would read every word as <unk>; a real model's tokenizer loads
    through AutoTokenizer as tunewiz does it (engine.models.load_tokenizer)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(path)


def _time_precompute(res: dict) -> dict:
    """Times TRL's reference pass over the dataset (training.precompute_ref_log_probs) without changing it."""
    from trl.trainer import dpo_trainer

    timing: dict = {}
    inner = dpo_trainer.DPOTrainer._precompute_ref_logps

    def timed(self, dataset, name, batch_size):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = inner(self, dataset, name, batch_size)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        timing["s"] = round(timing.get("s", 0) + time.perf_counter() - t, 2)
        res["precompute_batch"] = batch_size
        return out

    dpo_trainer.DPOTrainer._precompute_ref_logps = timed
    return timing


# ------------------------------------------------------------------------------------------------- suite
def cmd_case(a):
    out = Path(a.out)
    try:
        res = run_case(a.case, out, a.model, a.pairs, a.tiny, a.warmup, a.measured, a.lr)
    except Exception as e:
        import traceback

        traceback.print_exc()
        res = {"run": a.case, "kind": "tunewiz", "status": "error", "error": f"{type(e).__name__}: {str(e)[:500]}"}
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    log("RESULT " + json.dumps({k: v for k, v in res.items() if k != "curves"}))


def cmd_all(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    work = work_dir(out)
    prepare(work, a.model, a.pairs, a.tiny)
    deadline = t0 + a.budget_s
    tiny = ["--tiny"] if a.tiny else []
    for case in [c for c in a.cases.split(",") if c]:
        left = deadline - time.time()
        if left < 45:
            log(f"--- {case}: skipped (time budget)")
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps({"run": case, "status": "skipped", "error": "time budget"}) + "\n")
            continue
        # a fresh datasets cache per run: TRL caches precomputed reference log-probs by data + model hash
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONUNBUFFERED": "1", "HF_HOME": tempfile.mkdtemp(prefix=f"hf-{case}-", dir=work), "DPO_BENCH_WORK": str(work)}
        if case.startswith("stock-s"):
            cmd = [sys.executable, "-u", str(ROOT / "bench" / "anchor_dpo.py"), "run", "--out", str(out), "--data",
                   str(work / "pairs.jsonl"), "--seed", case.removeprefix("stock-s"), "--model", a.model,
                   "--warmup", str(a.warmup), "--measured", str(a.measured), "--lr", str(a.lr)] + tiny
        else:
            cmd = [sys.executable, "-u", __file__, "case", "--case", case, "--out", str(out), "--model", a.model,
                   "--pairs", str(a.pairs), "--warmup", str(a.warmup), "--measured", str(a.measured), "--lr", str(a.lr)] + tiny
        log(f"--- {case} (t+{time.time() - t0:.0f}s)")
        try:
            subprocess.run(cmd, env=env, check=False, timeout=min(a.case_timeout, max(30, left - 10)))
        except subprocess.TimeoutExpired:
            log(f"{case} timed out")
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps({"run": case, "status": "timeout"}) + "\n")
    cmd_table(a)


def cmd_table(a):
    out = Path(a.out)
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in open(path)] if path.is_file() else []
    ok = {r["run"]: r for r in rows if r.get("status") == "ok"}
    base = ok.get("stock-s42")
    stats_path = work_dir(out) / "data_stats.json"
    n_rows = json.loads(stats_path.read_text())["pairs"] if stats_path.is_file() else None
    lines = ["| run | batch | GC | adapters | real tok/s | x stock | s/step | pad % | peak GiB | estimate GiB | precompute s "
             "| epoch tok/s | x stock (epoch) |", "|" + "---|" * 13]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['run']} | {r.get('status')}: {str(r.get('error', ''))[:90]} |" + " - |" * 11)
            continue
        x = r["real_tok_per_s"] / base["real_tok_per_s"] if base else None
        ep = epoch_tok_per_s(r, n_rows)
        ep_base = epoch_tok_per_s(base, n_rows) if base else None
        est = r.get("estimate_gib")
        lines.append(f"| {r['run']} | {r['batch'][0]}x{r['batch'][1]} | {'on' if r.get('gradient_checkpointing') else 'off'} | "
                     f"{'/'.join(d.removeprefix('torch.') for d in r.get('trainable_dtypes', []))} | {r['real_tok_per_s']:,.0f} | {_f(x)} | "
                     f"{r['s_per_step']:.3f} | {_pct(r.get('pad_frac'))} | {_f(r.get('peak_gib'), 1)} | {_f(est, 1)} | "
                     f"{_f(r.get('precompute_s'), 1)} | {_f(ep, 0)} | {_f(ep / ep_base if ep and ep_base else None)} |")
    lines += ["", "Curves over the timed steps (mean of loss / rewards/margins / rewards/accuracies over each quarter "
              "of the timed window, and the last step):", "",
              "| run | loss | rewards/margins | rewards/accuracies |", "|---|---|---|---|"]
    for name, r in ok.items():
        c = r["curves"]
        w = r.get("warmup", 0)
        lines.append(f"| {name} | {_quarters(c['loss'][w:])} | {_quarters(c['rewards/margins'][w:])} | "
                     f"{_quarters(c['rewards/accuracies'][w:])} |")
    txt = "\n".join(lines)
    log(txt)
    (out / "table.md").write_text(txt + "\n")
    summary = {"rows": [{k: v for k, v in r.items() if k != "curves"} for r in rows], "n_pairs": n_rows}
    (out / "results.json").write_text(json.dumps({**summary, "curves": {k: r["curves"] for k, r in ok.items()}}, indent=1))


def epoch_tok_per_s(r: dict | None, n_rows: int | None) -> float | None:
    """Real tokens/s over one epoch of the data, with the reference pass (if precomputed) charged to it."""
    if not r or not n_rows:
        return None
    steps = math.ceil(n_rows / 32)
    return r["real_tok_per_step"] * steps / (steps * r["s_per_step"] + (r.get("precompute_s") or 0))


def _quarters(xs: list) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    q = max(1, len(xs) // 4)
    parts = [sum(xs[i:i + q]) / len(xs[i:i + q]) for i in range(0, q * 4, q) if xs[i:i + q]]
    return " ".join(f"{p:.3g}" for p in parts) + f" (last {xs[-1]:.3g})"


def _f(x, nd=2):
    return "-" if x is None else f"{x:,.{nd}f}"


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["all", "case", "table"])
    ap.add_argument("--out", default="dpo_bench_out")
    ap.add_argument("--cases", default="stock-s42,stock-s43,tw,tw-precompute,tw-8x4,tw-fp32ad,tw-gc,tw-compile")
    ap.add_argument("--case")
    ap.add_argument("--model", default="qwen05")
    ap.add_argument("--pairs", type=int, default=anchor.N_PAIRS)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--measured", type=int, default=24)
    ap.add_argument("--lr", type=float, default=anchor.LR, help="the same in every run of the call")
    ap.add_argument("--budget-s", type=int, default=540)
    ap.add_argument("--case-timeout", type=int, default=240)
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    {"all": cmd_all, "case": cmd_case, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
