"""QLoRA on a CUDA GPU through the `tunewiz` command, then `tunewiz export --merge`: the merged model is a 16-bit
model (never the 4-bit weights) whose logits equal the 16-bit base + the adapter within bf16 tolerance (issue #13).

    python bench/qlora_merge_gpu.py [--out DIR]

Needs a CUDA GPU and bitsandbytes. The model is a small Llama built here from a config (random weights, a
word-level tokenizer with a ChatML template), so nothing is downloaded. Prints a table; writes qlora_merge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
WORDS = ["what", "is", "your", "name", "i", "am", "tuney", "a", "helpful", "assistant", "who", "made", "you", "the",
         "tunewiz", "team", "hello", "hi", "how", "are", "fine", "thanks", "user", "system", "\n"]


def tiny_model(where: Path) -> Path:
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + [" "])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(pattern=Regex(r"\n| "), behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = CHATML
    tok.save_pretrained(where)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                      eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<pad>"], bos_token_id=None)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(where)
    return where


def data(where: Path) -> Path:
    rows = []
    for i in range(64):
        q = ["what is your name", "who made you", "hello", "how are you"][i % 4]
        a = ["i am tuney a helpful assistant", "the tunewiz team made me", "hi i am tuney", "fine thanks"][i % 4]
        rows.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    where.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return where


def tunewiz(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)})
    if r.returncode:
        raise SystemExit(f"tunewiz {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    import torch

    assert torch.cuda.is_available(), "needs a CUDA GPU"
    tmp = Path(tempfile.mkdtemp(prefix="qlora-"))
    model = tiny_model(tmp / "tiny-llama")
    rows = data(tmp / "chat.jsonl")
    preset = tmp / "qlora.yaml"
    preset.write_text(f"""version: 1
model: {{name_or_path: {model}, quantization: 4bit}}
dataset: {{path: {rows}, format: messages, eval_size: 0}}
lora: {{r: 8, lora_alpha: 16, target_modules: all-linear}}
training: {{output_dir: {tmp / 'run'}, max_steps: 30, learning_rate: 2.0e-3, per_device_train_batch_size: 8,
           logging_steps: 5, save_strategy: "no", warmup_steps: 0}}
""")
    t0 = time.time()
    tunewiz("run", str(preset), cwd=tmp)
    train_s = time.time() - t0
    run = tmp / "run"
    start = next(json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if '"start"' in line)
    losses = [json.loads(line)["loss"] for line in (run / "events.jsonl").read_text().splitlines()
              if '"type": "log"' in line and '"loss"' in line]
    exp = tunewiz("export", str(run), "--merge", cwd=tmp)
    merged = run / "export" / "merged"
    mcfg = json.loads((merged / "config.json").read_text())

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    tok = AutoTokenizer.from_pretrained(run / "final")
    enc = tok.apply_chat_template([{"role": "user", "content": "what is your name"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True).to("cuda")
    with torch.no_grad():
        m = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.bfloat16).cuda().eval()
        merged_logits = m(**enc).logits.float()
        merged_answer = tok.decode(m.generate(**enc, max_new_tokens=8, do_sample=False)[0, enc["input_ids"].shape[1]:])
        del m
        base16 = AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16).cuda()
        ref = PeftModel.from_pretrained(base16, run / "final").eval()
        ref_logits = ref(**enc).logits.float()
        del ref, base16
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        base4 = AutoModelForCausalLM.from_pretrained(model, quantization_config=q, dtype=torch.bfloat16)
        trained = PeftModel.from_pretrained(base4, run / "final").eval()
        trained_logits = trained(**enc).logits.float()
        trained_answer = tok.decode(trained.generate(**enc, max_new_tokens=8, do_sample=False)[0, enc["input_ids"].shape[1]:])
    scale = ref_logits.abs().max().item()
    diff_ref = (merged_logits - ref_logits).abs().max().item()
    diff_trained = (merged_logits - trained_logits).abs().max().item()
    result = {
        "gpu": torch.cuda.get_device_name(0), "train_s": round(train_s, 1), "trainable_params": start.get("trainable_params"),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "merged_dtype": mcfg.get("dtype") or mcfg.get("torch_dtype"), "merged_quantization_config": mcfg.get("quantization_config"),
        "logit_scale": round(scale, 3), "max_abs_diff_vs_16bit_base_plus_adapter": round(diff_ref, 4),
        "rel_diff_vs_16bit_base_plus_adapter": round(diff_ref / scale, 5),
        "max_abs_diff_vs_4bit_base_plus_adapter_as_trained": round(diff_trained, 4),
        "same_greedy_answer_as_trained": merged_answer == trained_answer, "merged_answer": merged_answer,
        "trained_answer": trained_answer, "export_note": exp.stdout.strip().splitlines()[-6:],
    }
    ok = (result["merged_quantization_config"] is None and str(result["merged_dtype"]) in ("bfloat16", "torch.bfloat16")
          and result["rel_diff_vs_16bit_base_plus_adapter"] < 0.02)
    result["ok"] = ok
    for k, v in result.items():
        print(f"{k:48} {v}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "qlora_merge.json").write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
