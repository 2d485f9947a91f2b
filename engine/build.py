"""Building the library objects from a Config: hardware defaults, SFTConfig / TrainingArguments,
LoraConfig, quantization. No weights are loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import config, fields
from engine.config import Config
from engine.errors import Problem, TunewizError
from engine.i18n import _, ngettext

# Options tunewiz implements in its own data path; TRL would re-do them on raw data, so they are not
# passed on (their meaning is kept: see engine/data/pipeline.py).
HANDLED_HERE = ("assistant_only_loss", "completion_only_loss")


@dataclass(frozen=True)
class Hardware:
    """What a machine offers the run: CUDA devices (names, the first one's memory and compute capability), bf16,
    bitsandbytes, the varlen attention kernel for padding-free batches, liger-kernel. `hardware()` reads this
    machine; engine.speed describes other machines for the review's what-if."""

    cuda: bool = False
    devices: tuple[str, ...] = ()
    gpu_gib: float | None = None
    capability: int = 0
    bf16: bool = False
    bitsandbytes: bool = False
    liger: bool = False
    varlen_attention: str | None = None
    fp8: bool = False  # FP8 matmuls (Ada / Hopper or newer): engine.fp8


def hardware() -> Hardware:
    """This machine (imports torch)."""
    import importlib.util

    import torch

    from engine import attention, fp8

    cuda = torch.cuda.is_available()
    props = torch.cuda.get_device_properties(0) if cuda else None
    return Hardware(
        cuda=cuda,
        devices=tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else (),
        gpu_gib=props.total_memory / 1024**3 if props else None,
        capability=props.major if props else 0,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        liger=importlib.util.find_spec("liger_kernel") is not None,
        varlen_attention=attention.choose(cuda),
        fp8=bool(cuda and fp8.supported()),
    )


def resolve_training(cfg: Config, hw: Hardware) -> dict[str, Any]:
    """The preset's training keys plus the defaults this machine needs; the user's keys always win."""
    t = dict(cfg.training)
    # a run directory of its own, never the Trainer's `trainer_output`
    t.setdefault("output_dir", config.default_output_dir("run"))
    if not hw.cuda:
        t.setdefault("use_cpu", True)
        t.setdefault("bf16", False)
    elif not t.get("fp16"):
        t.setdefault("bf16", hw.bf16)
        if not hw.bf16:
            t.setdefault("fp16", True)
    # tokens seen feed the tokens/s panel of the monitor
    t.setdefault("include_num_input_tokens_seen", "non_padding")
    # progress goes to events.jsonl; tqdm bars in a log file are one endless line
    t.setdefault("disable_tqdm", True)
    return t


INTEGRATIONS = {"wandb": "wandb", "tensorboard": "tensorboard", "mlflow": "mlflow", "comet_ml": "comet_ml",
                "clearml": "clearml", "neptune": "neptune", "dvclive": "dvclive", "codecarbon": "codecarbon",
                "swanlab": "swanlab", "trackio": "trackio", "dagshub": "dagshub"}


def check_integrations(training: dict[str, Any]) -> None:
    """report_to names a logger that is not installed: the Trainer would fail after loading the model."""
    import importlib.util

    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    from engine.errors import did_you_mean

    wanted = training.get("report_to")
    names = [wanted] if isinstance(wanted, str) else list(wanted or [])
    known = sorted(INTEGRATION_TO_CALLBACK)
    unknown = [n for n in names if n not in known and n not in ("none", "all")]
    if unknown:
        hint = did_you_mean(unknown[0], known)
        names_given = ", ".join(map(repr, unknown))
        raise TunewizError.at("training.report_to", _("{names}: no such logger; {hint}").format(names=names_given, hint=hint) if hint
                              else _("{names}: no such logger").format(names=names_given),
                              _("report_to takes none, all, or: {loggers}").format(loggers=", ".join(known)))
    missing = [n for n in names if n in INTEGRATIONS and importlib.util.find_spec(INTEGRATIONS[n]) is None]
    if missing:
        raise TunewizError.at("training.report_to", ngettext("{names} is not installed", "{names} are not installed",
                                                             len(missing)).format(names=", ".join(missing)),
                              _("pip install {packages}, or set training.report_to: none").format(packages=" ".join(missing)))


# Optimizers (TrainingArguments.optim) that need a package of their own: (module, pip name). The groups are
# transformers' own lists, so a new member of a family is covered; singles are named here.
OPTIM_GROUPS = {"_BITSANDBYTES_OPTIMIZERS": ("bitsandbytes", "bitsandbytes"), "_GALORE_OPTIMIZERS": ("galore_torch", "galore-torch"),
                "_APOLLO_OPTIMIZERS": ("apollo_torch", "apollo-torch"), "_TORCHAO_OPTIMIZERS": ("torchao", "torchao"),
                "_SCHEDULE_FREE_OPTIMIZERS": ("schedulefree", "schedulefree")}
OPTIM_SINGLE = {"grokadamw": ("grokadamw", "grokadamw"), "stable_adamw": ("optimi", "torch-optimi"),
                "lomo": ("lomo_optim", "lomo-optim"), "adalomo": ("lomo_optim", "lomo-optim"),
                "adamw_anyprecision": ("torchdistx", "torchdistx"), "adamw_torch_xla": ("torch_xla", "torch-xla"),
                "adamw_torch_npu_fused": ("torch_npu", "torch-npu")}


def optimizer_package(optim: str) -> tuple[str, str] | None:
    """(module, pip name) an optimizer needs beyond torch, or None."""
    from transformers import trainer_optimizer

    for group, pkg in OPTIM_GROUPS.items():
        if optim in {str(getattr(o, "value", o)) for o in getattr(trainer_optimizer, group, ())}:
            return pkg
    return OPTIM_SINGLE.get(optim)


def check_optimizer(training: dict[str, Any]) -> None:
    """An optimizer whose package is missing: the Trainer would fail after loading the model."""
    import importlib.util

    optim = training.get("optim")
    pkg = optimizer_package(str(optim)) if optim else None
    if pkg and importlib.util.find_spec(pkg[0]) is None:
        raise TunewizError.at("training.optim", _("{optim} needs the {package} package, which is not installed").format(
                                  optim=optim, package=pkg[1]),
                              _("pip install {package}, or use optim: adamw_torch (the default)").format(package=pkg[1]))


def check_quantization(cfg: Config, hw: Hardware) -> None:
    q = cfg.model.quantization
    if q == "none":
        return
    problems = []
    if not hw.cuda:
        problems.append(Problem("model.quantization", _("{quantization} loading (QLoRA) needs a CUDA GPU and there is none here")
                                .format(quantization=q), _("set model.quantization: none, or run on a GPU machine")))
    elif not hw.bitsandbytes:
        problems.append(Problem("model.quantization", _("{quantization} loading needs bitsandbytes, which is not installed")
                                .format(quantization=q), "pip install bitsandbytes"))
    if not cfg.lora_enabled:
        problems.append(Problem("model.quantization", _("a quantized model cannot be fully fine-tuned"),
                                _("enable lora (QLoRA) or set quantization: none")))
    if problems:
        raise TunewizError(problems)


def training_args(cfg: Config, training: dict[str, Any]) -> Any:
    """The method's trl config (SFTConfig, DPOConfig, ...) for a causal LM, TrainingArguments for classification,
    built by the library itself."""
    kwargs = {k: v for k, v in training.items() if k not in HANDLED_HERE}
    method = cfg.model.method
    cls: Any
    if cfg.model.task == "causal-lm" and method != "sft":
        cls = fields.method_config(method)
        if method == "orpo":
            # the collator is handed to ORPOTrainer (the preview's), and it only turns this off for its own
            kwargs.setdefault("remove_unused_columns", False)
        if method == "kto":
            # TRL's KL estimate pairs each answer with its neighbour's in a batch drawn in order: the rows are
            # shuffled once when prepared (engine/data/preference.py) instead
            kwargs.setdefault("train_sampling_strategy", "sequential")
    elif cfg.model.task == "causal-lm":
        from trl import SFTConfig

        cls = SFTConfig
        kwargs["dataset_kwargs"] = {"skip_prepare_dataset": True}
        if kwargs.get("padding_free") and not kwargs.get("packing"):
            kwargs["max_length"] = None  # rows are already truncated (engine/data/pipeline.py); TRL insists on None here
    else:
        from transformers import TrainingArguments

        cls = TrainingArguments
        kwargs.pop("max_length", None)
    _check_installed_fields(fields.section_of("training", cfg.model.method), cls, kwargs)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise TunewizError.at("training", str(e).strip(),
                              _("fix the training: section (names are those of {config})").format(config=cls.__name__)) from e


def _check_installed_fields(section: str, cls: type, kwargs: dict[str, Any]) -> None:
    """A key the snapshot knows but the installed (older) library does not: say so, with the version."""
    import dataclasses
    import importlib.metadata

    from engine import fields

    known = {f.name for f in dataclasses.fields(cls) if f.init}
    problems = []
    for k in kwargs:
        if k in known:
            continue
        spec = fields.fields(section).get(k, {})
        lib = "transformers" if spec.get("source") == "TrainingArguments" else cls.__module__.split(".")[0]
        problems.append(Problem(f"{section}.{k}", _("the installed {library} {version} has no {key} (it is newer)").format(
                                    library=lib, version=importlib.metadata.version(lib), key=k),
                                _("upgrade {library} (pip install -U {library}), or use the older name of this option").format(
                                    library=lib)))
    if problems:
        raise TunewizError(problems)


def lora_config(cfg: Config) -> Any:
    """peft.LoraConfig, or None for full fine-tuning."""
    if not cfg.lora_enabled:
        return None
    from peft import LoraConfig

    kwargs = {k: v for k, v in cfg.lora.items() if k not in config.LORA_OWN_KEYS}
    want = "CAUSAL_LM" if cfg.model.task == "causal-lm" else "SEQ_CLS"
    given = kwargs.setdefault("task_type", want)
    if given is not None and str(given).upper() != want:
        what = (_("{given} contradicts model.task {task} (which needs {want}): peft would wrap the model as the other kind "
                  "and leave the new classifier head untrained and unsaved") if want == "SEQ_CLS" else
                _("{given} contradicts model.task {task} (which needs {want}): peft would wrap the model as the other kind"))
        raise TunewizError.at("lora.task_type", what.format(given=given, task=cfg.model.task, want=want),
                              _("remove lora.task_type (tunewiz sets {want} from model.task), or set it to {want}").format(want=want))
    _check_installed_fields("lora", LoraConfig, kwargs)
    try:
        return LoraConfig(**kwargs)
    except (ValueError, TypeError) as e:
        raise TunewizError.at("lora", str(e).strip(), _("fix the lora: section (names are those of peft.LoraConfig)")) from e


def model_kwargs(cfg: Config, hw: Hardware) -> dict[str, Any]:
    """from_pretrained keyword arguments: dtype, revision, remote code, attention, quantization."""
    import torch

    m = cfg.model
    if m.dtype == "auto":
        dtype = torch.bfloat16 if hw.bf16 else (torch.float16 if hw.cuda and m.quantization != "none" else torch.float32)
    else:
        dtype = getattr(torch, m.dtype)
    kw: dict[str, Any] = {"dtype": dtype, "trust_remote_code": m.trust_remote_code}
    if m.revision:
        kw["revision"] = m.revision
    if m.attn_implementation:
        kw["attn_implementation"] = m.attn_implementation
    if m.quantization != "none":
        from transformers import BitsAndBytesConfig

        if m.quantization == "4bit":
            kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
        else:
            kw["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    return kw
