"""The preset's names and defaults that the schema, the loader and the screens share: the schema version, the demo
model and sample, and the formats, tasks and methods a preset may name (no imports: read at every start)."""

from __future__ import annotations

from typing import Literal

SCHEMA_VERSION = 1
DEFAULT_MODEL = "demo:smollm2-135m-instruct"
DEFAULT_DATASET = "sample:identity"
FORMATS = ("auto", "alpaca", "messages", "sharegpt", "prompt-completion", "text", "classification", "tokenized",
           "preference", "kto")
TASKS = ("causal-lm", "sequence-classification")
# How a causal LM is trained: SFT on answers, or preference tuning on pairs (DPO, ORPO) or labelled answers (KTO)
METHODS = ("sft", "dpo", "kto", "orpo")
Task = Literal["causal-lm", "sequence-classification"]
Method = Literal["sft", "dpo", "kto", "orpo"]
