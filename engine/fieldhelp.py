"""Help for a newcomer on the fields people set most: what the field does, a safe value, and what goes wrong when
it is off, in two to four short sentences. It is tunewiz's own word, shown in the user's language before the
library's own (English) help text, which stays as the library wrote it.

`HELP` is keyed by "section.key" (training.learning_rate, lora.r, dataset.eval_size, model.method, ...); a key
that means something else under another model.method has its own entry in `BY_METHOD` (ORPO's beta). The texts
are the English source of the catalog (N_); `text()` gives one in the user's language.
"""

from __future__ import annotations

from engine.i18n import N_, _

HELP: dict[str, str] = {
    # ----------------------------------------------------------------------------------- training:
    "training.output_dir": N_(
        "The folder where the checkpoints, the logs and the trained model are written. Leave it blank for a new "
        "folder per run (runs/<preset>-<time>). Reusing a folder mixes two runs and can overwrite the earlier model."),
    "training.num_train_epochs": N_(
        "How many times training goes through the whole dataset. 1 to 3 is safe; fractions work (0.5 is half). "
        "Too many epochs on a small dataset make the model memorize it: the training loss keeps falling while the "
        "eval loss rises."),
    "training.max_steps": N_(
        "Stops training after this many steps, whatever the epochs say. Keep -1 (off) to train by epochs, or set "
        "e.g. 30 for a quick try. Too few steps leave the model nearly unchanged."),
    "training.per_device_train_batch_size": N_(
        "How many rows each GPU (or the CPU) works on at once. Start with 8, or 1 to 4 for a large model or long "
        "rows. Too large runs out of memory (CUDA out of memory); raise gradient accumulation instead."),
    "training.gradient_accumulation_steps": N_(
        "Adds up the gradients of this many batches before each update: a larger effective batch without more "
        "memory. 1 is fine; raise it (4 to 8) when the batch size must stay small. Each step then takes that many "
        "times longer."),
    "training.learning_rate": N_(
        "How big a change each update makes to the weights. Safe: 2e-4 for LoRA, 2e-5 for full fine-tuning, "
        "5e-6 to 5e-5 for DPO/KTO/ORPO with LoRA. Too high and the loss jumps or turns nan; too low and the model "
        "hardly learns."),
    "training.lr_scheduler_type": N_(
        "How the learning rate changes during training. linear (the default) and cosine are safe: both lower it "
        "to 0 by the end. constant never lowers it, and the loss can stay noisy until the end."),
    "training.warmup_steps": N_(
        "Raises the learning rate from 0 over the first steps. A whole number is a step count; below 1 it is a "
        "share of all steps (0.03 to 0.1 is safe). Without warmup, a high learning rate can make the loss spike "
        "at the start."),
    "training.weight_decay": N_(
        "Pulls the weights slightly toward zero at each update, a mild guard against overfitting. 0 (the default) "
        "or 0.01 is safe. Large values (above 0.1) hold the model back from learning."),
    "training.logging_strategy": N_(
        "When the loss and the learning rate are recorded: every N steps (steps), once per epoch, or never (no). "
        "Keep steps. With no, the monitor has no loss to show."),
    "training.logging_steps": N_(
        "Records the loss every this many steps. 10 is fine; use 1 for a run of a few dozen steps. Large values "
        "leave few points on the loss curve; below 1 it is a share of all steps."),
    "training.eval_strategy": N_(
        "When to measure the loss on the held-out rows (dataset.eval_size): every N steps, once per epoch, or "
        "never. epoch is a safe start, steps for a long run. It needs held-out rows, and a large eval set slows "
        "training down."),
    "training.eval_steps": N_(
        "With Evaluate: steps, evaluates every this many steps; blank uses the logging interval. A few "
        "evaluations per run is enough (e.g. total steps / 5). Too often slows training; too rarely misses where "
        "overfitting starts."),
    "training.save_strategy": N_(
        "When to save a checkpoint (a copy of the weights a run can resume from): every N steps, once per epoch, "
        "at a new best eval (best), or never (no). steps or epoch is safe. With no, a crash loses the whole run."),
    "training.save_steps": N_(
        "With Save checkpoints: steps, saves every this many steps. Aim for a few saves per run (500 is the "
        "default; lower it for a short run). Saving very often fills the disk, above all with full fine-tuning."),
    "training.save_total_limit": N_(
        "Keeps only the newest this many checkpoints and deletes older ones. 2 or 3 is safe. Blank keeps them "
        "all, which can fill the disk on a long run."),
    "training.seed": N_(
        "The starting point of the random choices (row order, dropout, new weights). Keep 42, or any number, to "
        "repeat a run exactly. Changing only the seed changes the results a little: that much of a difference is "
        "chance."),
    "training.precision": N_(
        "The number format of training: bf16 and fp16 need half the memory of fp32 and run faster on a GPU. Keep "
        "auto: bf16 where the GPU has it, fp16 on older GPUs, fp32 on CPU. fp16 can overflow (a loss of nan); "
        "bf16 on a GPU without it stops with an error."),
    "training.bf16": N_(
        "Trains in bfloat16 mixed precision: about half the memory and faster on recent GPUs (NVIDIA Ampere and "
        "newer). Leave it unset: tunewiz turns it on where the GPU has it. Set on a GPU without bf16, training "
        "stops with an error."),
    "training.fp16": N_(
        "Trains in float16 mixed precision, for older GPUs without bf16. Leave it unset: tunewiz turns it on "
        "there by itself. float16 can overflow, which shows as a loss of nan."),
    "training.gradient_checkpointing": N_(
        "Saves memory by computing parts of the model again in the backward pass instead of keeping them. Keep "
        "it on (the default): training is about 20% slower but needs much less memory. Off, a long max_length or "
        "a large batch can run out of memory."),
    "training.max_length": N_(
        "The longest a row may be, in tokens; longer rows are cut. 512 to 2048 fits most chat data: the Tokens "
        "step shows your rows' lengths. Too short cuts off answers, and the model learns cut-off replies; too "
        "long needs more memory."),
    "training.packing": N_(
        "Joins short rows into blocks of max_length tokens, so less compute goes to padding. Turn it on for many "
        "short rows; off (the default) is always safe. There are then fewer, fuller steps, so the step counts "
        "change."),
    "training.assistant_only_loss": N_(
        "tunewiz trains only the assistant's answers of chat data; the user's turns are context. Leave it unset "
        "to keep that. false trains every token, and the model also learns to write the user's side."),
    "training.completion_only_loss": N_(
        "tunewiz trains only the completion of prompt-completion data; the prompt is context. Leave it unset to "
        "keep that. false trains the prompt too, and the model also learns to write prompts."),
    "training.optim": N_(
        "The algorithm that updates the weights. Keep the default (adamw_torch_fused, which is AdamW). adamw_8bit "
        "or paged_adamw_8bit save memory but need bitsandbytes and a CUDA GPU; another optimizer may need another "
        "learning rate."),
    "training.max_grad_norm": N_(
        "Caps the size of each update (gradient clipping), so one bad batch cannot wreck the model. 1.0 (the "
        "default) is safe. 0 turns it off, and the loss can then spike."),
    "training.neftune_noise_alpha": N_(
        "Adds a little random noise to the token embeddings during training, which can improve the answers of an "
        "instruction-tuned model. Leave it blank (off), or try 5. Large values (above 15) add too much noise."),
    "training.beta": N_(
        "How far the trained model may move from the model it started from (the reference). 0.1 (the default) is "
        "safe. Higher keeps it close and changes little; too low lets it drift into odd text."),
    "training.loss_type": N_(
        "The formula that turns the chosen and rejected answers into a loss. Keep sigmoid (the DPO paper's). The "
        "others (ipo, hinge, ...) come from other papers and need their own beta and learning rate."),
    "training.desirable_weight": N_(
        "How much the answers labelled desirable count. Keep 1.0 when both kinds are about as many. Otherwise "
        "desirable_weight x their count should be 1 to 4/3 times undesirable_weight x theirs; out of balance, the "
        "model learns mostly from one kind."),
    "training.undesirable_weight": N_(
        "How much the answers labelled undesirable count. Keep 1.0 when both kinds are about as many. Otherwise "
        "desirable_weight x their count should be 1 to 4/3 times undesirable_weight x theirs; out of balance, the "
        "model learns mostly from one kind."),
    # --------------------------------------------------------------------------------------- lora:
    "lora.enabled": N_(
        "LoRA trains small adapters beside the frozen model; full fine-tuning trains every weight. LoRA is the "
        "safe choice: far less memory, a small file, and usually as good. QLoRA loads the model in 4 bit to save "
        "more (a CUDA GPU and bitsandbytes); full fine-tuning needs several times the model's size in GPU memory."),
    "lora.r": N_(
        "The rank: the size of the small matrices LoRA trains. 16 is safe; 8 to 64 is usual. Too low may not "
        "learn a new skill; very high costs memory and can overfit a small dataset."),
    "lora.lora_alpha": N_(
        "Scales the LoRA update: its strength is lora_alpha / r. Use 2 x r (32 for r 16). Changing r without "
        "alpha changes the strength, as if the learning rate changed."),
    "lora.lora_dropout": N_(
        "Drops a random part of the LoRA input during training, against overfitting. 0.0 (fastest) or 0.05 is "
        "safe. Above 0.1 slows learning; it must stay under 1."),
    "lora.bias": N_(
        "Whether the bias terms are trained too: none, all, or those of the LoRA layers (lora_only). Keep none. "
        "With the others, the model differs from the base even with the adapter turned off."),
    "lora.target_modules": N_(
        "The layers LoRA adapts. all-linear (every linear layer but the output) is safe and usually best. "
        "Attention only trains fewer parameters and learns less; a name the model does not have stops the run."),
    "lora.use_rslora": N_(
        "Scales LoRA by lora_alpha / sqrt(r) instead of lora_alpha / r, which keeps a high rank stable. Leave it "
        "off unless r is large (64 or more). On, the same alpha gives a stronger update: lower alpha or the "
        "learning rate."),
    "lora.modules_to_save": N_(
        "Layers trained in full and saved with the adapter, beside the LoRA layers (a classifier's head). Leave it "
        "blank: a classifier's head is added by itself. Large layers (embed_tokens, lm_head) make the adapter "
        "big and need much more memory."),
    # ------------------------------------------------------------------------------------ dataset:
    "dataset.path": N_(
        "Where the data comes from: a local file or folder (.jsonl .json .csv .parquet .txt), a Hub dataset id "
        "(org/name), or a bundled sample. Try a sample (sample:identity) first to test the setup. A wrong path, "
        "or a private Hub dataset without a login, stops at the check."),
    "dataset.format": N_(
        "How the rows are laid out (alpaca, messages, prompt-completion, text, ...). Keep auto: tunewiz tells "
        "the format from the columns and says why. A wrong format trains the wrong tokens or fails on a missing "
        "column."),
    "dataset.columns": N_(
        "Maps your column names to the roles tunewiz reads (text: review, label: sentiment). Leave it empty when "
        "the columns have the usual names. A wrong mapping trains on the wrong column or stops at the check."),
    "dataset.eval_size": N_(
        "The rows held out to test the model on data it did not train on: a share (0.1 is 10%) or a row count "
        "(200). 0.1, or 100 to 500 rows, is safe. 0 means no evaluation; too large leaves fewer rows to train on."),
    "dataset.max_rows": N_(
        "Uses only the first N rows; blank uses all of them. 200 to 1000 rows make a quick first run; clear it "
        "afterwards. Left set, the model learns from only part of your data."),
    "dataset.template": N_(
        "For data in no known format: a prompt text and a completion text, with column names in braces filled in "
        "from each row; only the completion is trained. Leave it unset when the format is known. A column name "
        "the data does not have stops at the check."),
    # -------------------------------------------------------------------------------------- model:
    "model.name_or_path": N_(
        "The model to start from: a Hub id (org/name), a local folder, a .gguf file or a bundled demo. Start "
        "small (demo:smollm2-135m-instruct) to check the setup. A model too big for the GPU runs out of memory; "
        "for chat data, pick an Instruct model."),
    "model.method": N_(
        "How the model learns: sft learns the answers; dpo and orpo learn from pairs of a better and a worse "
        "answer; kto from answers labelled good or bad. Start with sft. Each needs its own kind of data, and "
        "dpo/kto/orpo a much lower learning rate."),
    "model.task": N_(
        "causal-lm writes text (chat, instructions); sequence-classification gives each text a label (positive "
        "or negative, a topic). Pick what your data teaches. A classifier needs a label column; a text model "
        "needs the text to write."),
    "model.dtype": N_(
        "The number format the weights are loaded in. Keep auto: bfloat16 on a GPU that has it, float32 on CPU. "
        "float32 on a GPU doubles the memory; float16 can overflow in training."),
    "model.quantization": N_(
        "Loads the model in 4 or 8 bit to save memory; 4bit with LoRA is QLoRA. Keep none unless the model does "
        "not fit; it needs a CUDA GPU and bitsandbytes. Training is slower, and full fine-tuning cannot use it."),
    "model.chat_template": N_(
        "The template that turns a chat into the model's text. Leave it blank to use the tokenizer's own. A model "
        "without one needs chatml or plain for chat data; a template unlike the model's own makes it answer "
        "worse."),
    "model.trust_remote_code": N_(
        "Runs the Python code shipped with the model's repository. Leave it off unless the model needs it and you "
        "trust its author. On, that code runs on your machine with your rights."),
}

# a key whose meaning depends on model.method: (method, "section.key") -> help
BY_METHOD: dict[tuple[str, str], str] = {
    ("orpo", "training.beta"): N_(
        "The weight of the preference part of the ORPO loss against its plain SFT part (lambda in the paper). "
        "0.1 (the default) is safe. Too high can make the answers themselves worse; too low and the preferences "
        "barely count."),
    ("kto", "training.loss_type"): N_(
        "The formula of the KTO loss. Keep kto (the KTO paper's). apo_zero_unpaired comes from another paper "
        "and needs its own beta and learning rate."),
}


def source(name: str, method: str = "sft") -> str | None:
    """The English help of "section.key" under `method` (the catalog's msgid), or None where tunewiz has none."""
    return BY_METHOD.get((method, name)) or HELP.get(name)


def text(name: str, method: str = "sft") -> str:
    """The help of "section.key" in the user's language ("" where tunewiz has none)."""
    msg = source(name, method)
    return _(msg) if msg else ""


def first_sentence(text: str) -> str:
    """The first sentence of a help text (English or Korean: both end a sentence with '. ')."""
    head, sep, _rest = text.partition(". ")
    return head + ("." if sep else "")
