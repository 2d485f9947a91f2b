"""The preset's typed sections as pydantic models: `model`, `dataset`, `launch`, `speed`, `evaluate`, and the whole
`Config` (its `training:` and `lora:` stay mappings, checked against the libraries' fields by engine.config).

The attribute docstrings are the help texts (the wizard and the fix lines show them). engine.config imports this
module on first use, not at its own import: importing pydantic and building these classes costs ~0.1 s, and
`import engine.config` is on the path of every command and of the wizard's first screen
(tests/tui/test_startup.py: the first screen paints before pydantic loads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.defaults import DEFAULT_DATASET, DEFAULT_MODEL, FORMATS, SCHEMA_VERSION, Method, Task
from engine.i18n import N_


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

class ModelSection(Section):
    name_or_path: str = DEFAULT_MODEL
    """Hub id (org/name), local folder, a .gguf file, or a bundled demo (demo:smollm2-135m-instruct, demo:minilm-l6)."""
    task: Task = "causal-lm"
    """causal-lm: a language model (trained by model.method); sequence-classification: text -> label."""
    method: Method = "sft"
    """How a causal LM learns: sft (supervised: the answers are targets), dpo (pairs: prefer the chosen answer over the rejected one, against the base as reference), kto (answers labelled desirable or not), orpo (pairs, no reference model). training: then takes trl's SFTConfig / DPOConfig / KTOConfig / ORPOConfig fields."""
    revision: str | None = None
    """Hub branch, tag or commit to load."""
    trust_remote_code: bool = False
    """Run Python code shipped with the model repository. Off unless you trust the repository."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """Weight dtype: auto = bfloat16 on a GPU that supports it, float32 on CPU."""
    attn_implementation: str | None = None
    """Attention kernel (sdpa, eager, flash_attention_2, ...); null lets transformers choose."""
    quantization: Literal["none", "4bit", "8bit"] = "none"
    """Load the base model quantized with bitsandbytes (4bit + LoRA = QLoRA). Needs a CUDA GPU."""
    chat_template: str | None = None
    """null = the tokenizer's own; chatml or plain = a named fallback; or a Jinja template (text or .jinja path)."""

class DatasetSection(Section):
    path: str = DEFAULT_DATASET
    """Local file or folder (.json .jsonl .csv .tsv .parquet .txt), hub id, or a bundled sample (sample:identity, sample:sentiment)."""
    name: str | None = None
    """Hub dataset configuration name."""
    split: str = "train"
    """Split to train on (hub datasets and folders)."""
    format: Literal[FORMATS] = "auto"  # type: ignore[valid-type]
    """auto | alpaca | messages | sharegpt | prompt-completion | text | classification | tokenized."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Role -> column, e.g. {text: sentence1, text_pair: sentence2, label: label} or {messages: dialog}."""
    template: dict[str, str] | None = None
    """For data in no known format: {prompt: '### Question: {instruction}\\n### Answer: ', completion: '{output}'}; only the completion is trained."""
    max_rows: int | None = None
    """Use only the first N rows (null = all)."""
    eval_size: float = 0.1
    """Held-out evaluation share (0 < x < 1) or row count (x >= 1); 0 = no evaluation split."""

    @field_validator("max_rows")
    @classmethod
    def _positive_rows(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(N_("must be at least 1 (or null for all rows)"))
        return v

    @field_validator("eval_size")
    @classmethod
    def _eval_size(cls, v: float) -> float:
        if v < 0 or (v >= 1 and v != int(v)):
            raise ValueError(N_("must be a share between 0 and 1 (e.g. 0.1) or a whole number of rows"))
        return v

class LaunchSection(Section):
    processes: int | Literal["auto"] = "auto"
    """Processes on this machine: auto = one per visible GPU (one on CPU); on CPU, N > 1 runs N gloo processes."""
    gpus: list[int] | None = None
    """GPU indices to use (null = all visible)."""
    strategy: Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = "ddp"
    """How processes share the work: ddp (a full copy per GPU, best for LoRA), fsdp or DeepSpeed ZeRO (sharded, for big full fine-tunes)."""
    offload: bool = False
    """Offload optimizer states (and ZeRO-3/FSDP parameters) to CPU memory: fits bigger models, runs slower."""
    num_machines: int = 1
    """Machines in the job; each runs the same command with its own machine_rank."""
    machine_rank: int = 0
    """This machine's rank (0 = the main machine)."""
    main_address: str | None = None
    """Address of machine 0, reachable from every machine (several machines only)."""
    main_port: int = 29500
    """A free TCP port on machine 0 for the processes to meet."""

    @field_validator("num_machines", "main_port")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(N_("must be at least 1"))
        return v

class SpeedSection(Section):
    auto: bool = True
    """Fill in the fast defaults for this machine where the preset leaves a key out (padding-free batches with varlen attention, no gradient checkpointing when it fits, bf16 adapters, Liger kernels when installed, bf16/tf32); the review and the run's start event list each one and why. false = the libraries' own defaults."""
    split_batch: bool = True
    """Re-split the effective batch (per_device_train_batch_size x gradient_accumulation_steps) into the largest micro-batch that fits the GPU: the same optimizer steps in fewer, bigger passes. false = keep both numbers as written."""
    expandable_segments: bool = True
    """Start the training processes with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (less memory lost to fragmentation when batch shapes change); ignored where the variable is already set."""
    compile_layers: bool | None = None
    """Compile each of the model's repeated decoder layers with torch.compile (regional compilation, dynamic shapes; the saved weights are unchanged): fewer kernel launches and fused RMSNorm/SwiGLU/RoPE (instead of Liger's kernels, which torch.compile cannot trace), after a compile at the start. null = on for LoRA on a CUDA GPU when the run has enough steps to pay the compile back; true / false = always / never. CUDA only."""
    fp8: bool | None = None
    """LoRA only: the frozen base weights multiply in FP8 (e4m3, one scale a token and one a weight row, cuBLASLt's FP8 GEMM) in the forward and the input gradient; the adapters, their gradients and the optimizer stay in bf16. Faster on large models; each matmul is about 3% off bf16's (bench/RESULTS.md measures the loss). null = tunewiz decides (see the review); true / false = always / never. Needs a GPU with FP8 (Ada or Hopper)."""

class EvaluateSection(Section):
    at_end: bool = False
    """When the run finishes: measure the result on the rows it held out, tuned vs base (what `tunewiz eval RUN` does; eval.json), shown in the monitor and in `tunewiz runs`. Needs dataset.eval_size > 0."""
    rows: int | None = 50
    """Held-out rows to measure at the end (null = all of them)."""
    max_new_tokens: int = 128
    """Longest generated answer a row, in tokens (a language model's ROUGE-L / chrF)."""

    @field_validator("rows", "max_new_tokens")
    @classmethod
    def _positive_count(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(N_("must be at least 1"))
        return v

class Config(Section):
    """A whole preset."""

    version: int = SCHEMA_VERSION
    """Preset schema version."""
    model: ModelSection = Field(default_factory=ModelSection)
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    lora: dict[str, Any] = Field(default_factory=lambda: {"enabled": True})
    """peft.LoraConfig fields plus `enabled` (false = full fine-tuning)."""
    training: dict[str, Any] = Field(default_factory=dict)
    """trl.SFTConfig / transformers.TrainingArguments fields."""
    launch: LaunchSection = Field(default_factory=LaunchSection)
    """Processes, GPUs, strategy and machines (accelerate launch / torchrun)."""
    speed: SpeedSection = Field(default_factory=SpeedSection)
    """tunewiz's fast defaults for the hardware (each one can be turned off)."""
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    """What is measured after the run (on the rows it held out)."""

    @property
    def lora_enabled(self) -> bool:
        return bool(self.lora.get("enabled", True))

    @property
    def output_dir(self) -> Path:
        return Path(self.training["output_dir"])


SECTION_MODELS = {"model": ModelSection, "dataset": DatasetSection, "launch": LaunchSection,
                   "speed": SpeedSection, "evaluate": EvaluateSection}
