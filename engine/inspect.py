"""Looking at a model without loading its weights: architecture, size, context, vocabulary, chat
template, task, and its linear layers (the LoRA targets), built on the meta device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine import models
from engine.i18n import N_, _

UNSTATED_DTYPE = N_("float32 (not stated)")  # shown translated: _(info.dtype)
ENCODER_TYPES = {"bert", "roberta", "distilbert", "deberta", "deberta-v2", "electra", "xlm-roberta", "modernbert", "mpnet", "albert"}


@dataclass
class Linear:
    """All linear layers that share a name (q_proj, ...): the first one's shape, how many there are, and
    the sum of in + out features over all of them (BERT's `dense` comes in three shapes)."""

    name: str
    in_features: int
    out_features: int
    count: int
    in_plus_out: int = 0
    shapes: int = 1  # distinct (in, out) shapes under this name

    def __post_init__(self) -> None:
        if not self.in_plus_out:  # all of one shape unless told otherwise
            self.in_plus_out = (self.in_features + self.out_features) * self.count


@dataclass
class ModelInfo:
    """What the wizard shows about a model and what the LoRA step needs."""

    ref: str
    kind: str
    path: str
    architecture: str
    model_type: str
    parameters: int
    dtype: str
    context_length: int | None
    vocab_size: int | None
    has_chat_template: bool
    task: str
    linears: list[Linear] = field(default_factory=list)
    output_layer: str | None = None
    linear_paths: list[str] = field(default_factory=list)  # full names of the linear layers (what a regex target matches)

    def lora_parameters(self, r: int, targets: list[str] | str) -> int:
        """Trainable LoRA parameters for rank r on the chosen layer names ('all-linear' = all but the output layer)."""
        chosen = [lin for lin in self.linears if lin.name != self.output_layer] if targets == "all-linear" else \
            [lin for lin in self.linears if lin.name in set(targets)]
        return sum(r * lin.in_plus_out for lin in chosen)


def inspect_model(ref_str: str, revision: str | None = None, trust_remote_code: bool = False, task: str | None = None) -> ModelInfo:
    """Resolve, read config and tokenizer, build the model on the meta device; raises TunewizError."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from engine.errors import TunewizError

    ref = models.resolve(ref_str, revision)
    path = models.materialize(ref)
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision:
        kw["revision"] = revision
    try:
        config = AutoConfig.from_pretrained(path, **kw)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e
        raise TunewizError.at("model.name_or_path", _("not a model ({error})").format(error=first),
                              _("pick a folder with config.json, a .gguf file, or a hub model id")) from e
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        has_template = bool(getattr(tok, "chat_template", None))
        tok_max = getattr(tok, "model_max_length", None)
    except Exception:
        has_template, tok_max = False, None
    archs = getattr(config, "architectures", None) or []
    model_type = getattr(config, "model_type", "")
    if task is None:
        task = ref.task or _guess_task(archs, model_type)
    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    with torch.device("meta"):
        try:
            model = auto.from_config(config, trust_remote_code=trust_remote_code)
        except ValueError as e:
            raise TunewizError.at("model.task", _("{ref} cannot be loaded as {task} ({error})").format(
                ref=ref_str, task=task, error=str(e).splitlines()[0]), _("pick the other task, or another model")) from e
    from transformers.pytorch_utils import Conv1D

    linears: dict[str, Linear] = {}
    seen: dict[str, set[tuple[int, int]]] = {}
    paths: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear | Conv1D):  # GPT-2's projections are Conv1D: peft adapts both
            paths.append(name)
            n_in, n_out = module.weight.shape if isinstance(module, Conv1D) else (module.in_features, module.out_features)
            short = name.rsplit(".", 1)[-1]
            lin = linears.setdefault(short, Linear(short, n_in, n_out, 0))
            seen.setdefault(short, set()).add((n_in, n_out))
            lin.shapes = len(seen[short])
            lin.count += 1
            lin.in_plus_out += n_in + n_out
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    output_layer = next((n.rsplit(".", 1)[-1] for n, m in model.named_modules() if out is not None and m is out), None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    ctx = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None)
    if ctx is None and tok_max and tok_max < 1_000_000:
        ctx = tok_max
    dtype = getattr(config, "dtype", None)
    return ModelInfo(
        ref=ref_str, kind=ref.kind, path=path, architecture=archs[0] if archs else type(model).__name__,
        model_type=model_type, parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(dtype).removeprefix("torch.") if dtype else UNSTATED_DTYPE, context_length=ctx,
        vocab_size=getattr(text, "vocab_size", None), has_chat_template=has_template, task=task,
        linears=sorted(linears.values(), key=lambda lin: lin.name), output_layer=output_layer, linear_paths=paths,
    )


def _guess_task(archs: list[str], model_type: str) -> str:
    if any(a.endswith(("ForSequenceClassification", "ForTokenClassification")) for a in archs):
        return "sequence-classification"
    if model_type in ENCODER_TYPES or any(a.endswith(("Model", "ForMaskedLM")) and not a.endswith("LMHeadModel") for a in archs):
        return "sequence-classification"
    return "causal-lm"
