"""Chat on a GPU (or wherever torch finds one): a tiny random Llama with SmolLM2's tokenizer and a LoRA adapter,
written as a run directory, then engine.generate as `tunewiz chat` uses it.

    python bench/chat_gpu_check.py TOKENIZER_DIR WORK_DIR

TOKENIZER_DIR: a folder with SmolLM2's tokenizer files (tokenizer.json, tokenizer_config.json, chat_template.jinja),
e.g. copied from the demo's converted folder, so the check needs no model weights carried to the GPU machine.
Prints the device and dtype, whether streaming gives the non-streamed text, whether the base answer (adapter
disabled) equals a plain load of the base model, and tokens/s. On one H200 (2026-12-04, torch 2.11, transformers 5.17):
cuda bf16, both True, 20-23 tokens/s and a first token in 0.16-0.22 s (this tiny model is launch-bound: the
CPU here did 80-115 tokens/s).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402

from engine import generate as g  # noqa: E402


def main() -> None:
    work = Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                      num_key_value_heads=4, max_position_embeddings=512, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    base, run = work / "base", work / "run"
    LlamaForCausalLM(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    (run / "final").mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(f"version: 1\nmodel:\n  name_or_path: {base}\n  task: causal-lm\ntraining:\n  output_dir: {run}\n")
    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # a non-zero adapter
    get_peft_model(LlamaForCausalLM.from_pretrained(base), lora).save_pretrained(run / "final")
    tok.save_pretrained(run / "final")

    t0 = time.perf_counter()
    c = g.load(run)
    print(f"load {time.perf_counter() - t0:.2f} s; device {c.model.device} {c.model.dtype}; cpu threads {c.threads}")
    ask = [{"role": "user", "content": "What is your name?"}]
    settings = g.Settings(max_new_tokens=64)
    list(c.stream(ask, "tuned", g.Settings(max_new_tokens=4)))  # warm-up
    texts = {}
    for which in g.WHICH:
        whole = c.answer(ask, which, settings)
        *pieces, streamed = list(c.stream(ask, which, settings))
        texts[which] = whole.text
        print(f"{which}: stream == answer: {''.join(pieces) == whole.text}; {g.summary(streamed)}")
    plain = LlamaForCausalLM.from_pretrained(base, dtype=c.model.dtype).to(c.model.device).eval()
    enc = c.encode(ask)
    out = plain.generate(**enc, generation_config=settings.generation_config(c.tokenizer))
    want = c.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"base == a plain load of the base: {want == texts['base']}; tuned differs: {texts['tuned'] != texts['base']}")


if __name__ == "__main__":
    main()
