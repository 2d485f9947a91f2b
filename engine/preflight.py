"""Every check that can be made before loading weights: library configs, model reference, tokenizer,
dataset, format, chat template, labels, the first rows through the data path. Used by `validate`,
`run` (before anything is started) and `preview`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import build, models
from engine.config import Config
from engine.errors import TunewizError
from engine.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from engine.build import Hardware

# the labels of the summary's lines (a column 10 cells wide), translated where the summary is made
WARNING, NOTE = N_("warning"), N_("note")
LABEL_WIDTH = 10


def cells(text: str) -> int:
    """Terminal cells `text` takes (Hangul and other wide characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def label(name: str, text: str) -> str:
    """One summary line: `name` (a marked label, translated here) in a 10-cell column, then `text`."""
    shown = _(name)
    return shown + " " * max(1, LABEL_WIDTH - cells(shown)) + text


def is_warning(line: str) -> bool:
    """Whether a summary line is a warning (its label says so, in the language the summary was made in)."""
    return line.startswith(_(WARNING) + " ")


@dataclass
class Checked:
    """What preflight found: the training keys this machine needs, library objects (built with the fast defaults
    of engine.speed, in `speed`), tokenizer and the data plan."""

    cfg: Config
    hardware: Hardware
    training: dict[str, Any]
    args: Any
    lora: Any
    model_ref: models.ModelRef
    model_path: str
    tokenizer: Any
    raw: Any
    plan: Any
    launch: Any = None  # engine.distributed.LaunchPlan
    speed: Any = None  # engine.speed.Resolved: the fast defaults applied on this machine
    prepared: Any = None  # engine.data.pipeline.Prepared: every row through the data path

    def data_lines(self) -> list[str]:
        """What the data checks found (rows left out, flags, language), warnings first, each with its fix."""
        from engine import checks

        if self.prepared is None:
            return []
        found = sorted(checks.data_checks(self.prepared, self.tokenizer), key=lambda c: c.level != "warning")
        return [label(WARNING if c.level == "warning" else NOTE, _("{message}; {fix}").format(message=c.message, fix=c.fix))
                for c in found if c.level == "warning" or c.name.startswith("dropped") or c.name in checks.FLAGS]

    def run_warnings(self) -> list[str]:
        """Values that make the run useless although they are valid (a pasted blog's warm-up for a 1-step run)."""
        return run_warnings(self.args, self.hardware, len(self.prepared.train) if self.prepared is not None else None,
                            self.launch.world_size if self.launch is not None else 1, set(self.cfg.training),
                            lora=self.lora is not None,
                            method=self.cfg.model.method if self.cfg.model.task == "causal-lm" else "sft")

    def summary(self) -> list[str]:
        """What the run will be, a line per fact (warnings among them: `is_warning`), in the user's language."""
        p, hw = self.plan, self.hardware
        columns = ", ".join(f"{r}={c}" for r, c in p.format.columns.items()) or "-"
        lines = [
            label(N_("model"), f"{self.cfg.model.name_or_path} ({self.cfg.model.task})"),
            label(N_("dataset"), _("{path}: {n} rows, format {format} ({reason})").format(
                path=self.cfg.dataset.path, n=len(self.raw), format=p.format.name, reason=p.format.reason)),
            label(N_("columns"), columns),
        ]
        if self.cfg.model.task == "causal-lm" and p.method != "sft" and not p.conversational:
            lines.append(label(N_("template"), _("none: the rows are plain text (TRL's standard preference format, no chat "
                                                 "template)")))
        elif self.cfg.model.task == "causal-lm":
            lines.append(label(N_("template"), str(p.template_source)))
        elif p.regression:
            lines.append(label(N_("labels"), _("{label}: a score (float) to predict: regression, one output, MSE loss"
                                               ).format(label=p.label_names[0])))
        else:
            lines.append(label(N_("labels"), ", ".join(p.label_names)))
        targets = self.lora.target_modules if self.lora is not None else None
        targets = ", ".join(sorted(targets)) if isinstance(targets, set | list) else targets
        method = (_("full fine-tuning") if self.lora is None else
                  _("LoRA r={r} alpha={alpha} on {targets}").format(r=self.lora.r, alpha=self.lora.lora_alpha, targets=targets))
        if self.cfg.model.quantization != "none":
            method += _(" ({quantization} base: QLoRA)").format(quantization=self.cfg.model.quantization)
        pref = self.cfg.model.method if self.cfg.model.task == "causal-lm" else "sft"
        if pref != "sft":
            from engine.data import preference

            a = self.args
            loss = getattr(a, "loss_type", None)
            loss = ", ".join(loss) if isinstance(loss, list) else loss
            method = ((_("{name} (beta {beta:g}, loss {loss}), {method}; {note}") if loss
                       else _("{name} (beta {beta:g}), {method}; {note}")).format(
                name=preference.NAMES[pref], beta=a.beta, loss=loss, method=method,
                note=preference.reference_note(pref, self.lora is not None)))
        lines.append(label(N_("method"), method))
        a = self.args
        steps = (f"max_steps={a.max_steps}" if a.max_steps > 0 else
                 ngettext("{n:g} epoch", "{n:g} epochs", 1 if a.num_train_epochs == 1 else 2).format(n=a.num_train_epochs))
        lines.append(label(N_("training"), _("{steps}, lr {lr:g}, batch {batch} x accum {accum}").format(
            steps=steps, lr=a.learning_rate, batch=a.per_device_train_batch_size, accum=a.gradient_accumulation_steps)))
        precision = "bf16" if a.bf16 else "fp16" if a.fp16 else "fp32"
        lines.append(label(N_("device"), f"{', '.join(hw.devices) or 'cpu'} ({precision})"))
        if self.launch is not None and self.launch.world_size > 1:
            from engine.distributed import batch_lines

            gpus = ",".join(map(str, self.launch.gpus))
            lines.append(label(N_("launch"), (_("{launcher}, {n} processes, {strategy} on GPUs {gpus}") if self.launch.gpus
                                              else _("{launcher}, {n} processes, {strategy}")).format(
                launcher=self.launch.launcher, n=self.launch.world_size, strategy=self.cfg.launch.strategy, gpus=gpus)))
            lines += batch_lines(self.cfg, self.launch)
        lines += [label(WARNING, w) for w in self.run_warnings()]
        lines += self.data_lines()
        lines.append(label(N_("output"), str(a.output_dir)))
        if self.speed is not None:
            for i, d in enumerate(self.speed.applied):
                lines.append(label(N_("defaults"), d.line()) if i == 0 else " " * LABEL_WIDTH + d.line())
            lines += [label(NOTE, n) for n in self.speed.notes]
            if self.speed.estimate is not None:
                e = self.speed.estimate
                size = f"{e.total / 1024**3:.1f}"
                if e.fits is None:
                    memory = _("about {size} GiB a device ({basis}; `tunewiz smoke` measures it)")
                elif e.fits:
                    memory = _("about {size} GiB a device ({basis}; fits {gpu:.0f} GiB; `tunewiz smoke` measures it)")
                else:
                    memory = _("about {size} GiB a device ({basis}; does NOT fit {gpu:.0f} GiB; `tunewiz smoke` measures it)")
                lines.append(label(N_("memory"), memory.format(size=size, basis=e.basis(), gpu=e.gpu_gib or 0)))
        return lines


# Learning rates above these are far outside what the method uses (LoRA: 1e-4 to 1e-3; full fine-tuning: 1e-6 to
# 1e-4): the loss diverges, or the weights turn to NaN, within a few steps.
LR_HIGH = {True: 1e-2, False: 1e-3}
LORA_LR_LOW = 5e-5  # below this, LoRA learns little (TRL's SFT default, 2e-5, is a full fine-tuning rate)
PREF_LR_HIGH = {True: 1e-4, False: 1e-5}  # DPO / KTO / ORPO: TRL's examples use 5e-7 (full) to 5e-6 (LoRA); 5e-5 is common


def run_warnings(args: Any, hw: Hardware, rows: int | None, world: int = 1, given: set[str] | None = None,
                 lora: bool | None = None, method: str = "sft") -> list[str]:
    """Warnings, each with its fix, about settings that are valid but defeat the run: a learning rate far above what
    the method uses, warm-up as long as the run, logging / saving / eval intervals (that the preset sets) longer than
    it, a precision the device cannot honour, an epoch of one step."""
    given = set(args.to_dict()) if given is None else given
    from engine import speed

    out: list[str] = []
    pref = {"dpo": "DPO", "kto": "KTO", "orpo": "ORPO"}.get(method, "")
    if pref and lora is not None and args.learning_rate > PREF_LR_HIGH[lora]:
        out.append((_("learning_rate {lr:g} is far above what {method} with LoRA uses (5e-6 to 5e-5; 5e-5 is common): "
                      "preference losses pull the model away from its reference fast, and answers degenerate within a few "
                      "steps (an SFT rate carried over?); fix: learning_rate: 5e-5") if lora else
                    _("learning_rate {lr:g} is far above what {method} full fine-tuning uses (5e-7 to 5e-6; 5e-7 is TRL's "
                      "example): preference losses pull the model away from its reference fast, and answers degenerate "
                      "within a few steps (an SFT rate carried over?); fix: learning_rate: 5e-7")
                    ).format(lr=args.learning_rate, method=pref))
    elif lora is not None and args.learning_rate > LR_HIGH[lora]:
        out.append((_("learning_rate {lr:g} is far above what LoRA uses (1e-4 to 1e-3; 2e-4 is common): the loss diverges "
                      "or turns to NaN within a few steps; fix: learning_rate: 2e-4") if lora else
                    _("learning_rate {lr:g} is far above what full fine-tuning uses (1e-6 to 1e-4; 2e-5 is common): the loss "
                      "diverges or turns to NaN within a few steps; fix: learning_rate: 2e-5")).format(lr=args.learning_rate))
    elif lora and method == "sft" and "learning_rate" not in given and args.learning_rate < LORA_LR_LOW:
        # the preset leaves it to TRL, whose default (2e-5) is a full fine-tuning rate: LoRA then barely moves
        out.append(_("learning_rate is not set: TRL's default {lr:g} is a full fine-tuning rate, and LoRA learns little "
                     "at it (it uses 1e-4 to 1e-3; 2e-4 is common); fix: learning_rate: 2e-4").format(lr=args.learning_rate))
    t = {k: getattr(args, k) for k in ("max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps")}
    steps = speed.optimizer_steps(t, rows, world)
    if not steps:
        return out
    s = ngettext("{n} optimizer step", "{n} optimizer steps", steps).format(n=steps)
    warm = args.warmup_steps
    if warm >= 1 and warm >= steps:
        out.append(_("warmup_steps {warm:g} >= the run's {steps}: the learning rate never leaves warm-up (it never reaches "
                     "learning_rate); fix: warmup_steps: 0.1 (a tenth of the run)").format(warm=warm, steps=s))
    elif 0 < warm < 1 and math.ceil(warm * steps) >= steps:  # a share rounds up to whole steps (transformers)
        out.append(_("warmup_steps {warm:g} is a share of the run, and of its {steps} it takes them all: the learning "
                     "rate stays in warm-up (the first step trains at 0); fix: warmup_steps: 0 for a run this "
                     "short").format(warm=warm, steps=s))
    if "logging_steps" in given and args.logging_steps >= 1 and args.logging_steps > steps:
        out.append(_("logging_steps {every:g} > the run's {steps}: no training loss is logged during the run; "
                     "fix: logging_steps: {fix}").format(every=args.logging_steps, steps=s, fix=max(1, steps // 10)))
    if "save_steps" in given and str(args.save_strategy).endswith(("steps", "STEPS")) and args.save_steps >= 1 and args.save_steps > steps:
        out.append(_("save_steps {every:g} > the run's {steps}: no checkpoint before the end, so a stop or a crash "
                     "keeps nothing to resume from; fix: save_steps: {fix}").format(every=args.save_steps, steps=s,
                                                                                   fix=max(1, steps // 4)))
    if "eval_steps" in given and str(args.eval_strategy).endswith(("steps", "STEPS")) and (args.eval_steps or 0) >= 1 and args.eval_steps > steps:
        out.append(_("eval_steps {every:g} > the run's {steps}: evaluated only once, at the end; fix: eval_steps: "
                     "{fix}").format(every=args.eval_steps, steps=s, fix=max(1, steps // 4)))
    if not hw.cuda and args.fp16:
        out.append(_("fp16: true on a machine without a CUDA GPU: float16 mixed precision is made for GPUs (on a CPU it is "
                     "slow or unsupported); fix: fp16: false (the CPU trains in fp32), or bf16: true on a CPU that has "
                     "bfloat16"))
    if rows and args.max_steps <= 0:
        per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * world
        if rows > args.per_device_train_batch_size * world and rows <= per_step:
            fit = max(1, rows // (10 * args.per_device_train_batch_size * world))
            message = (_("a batch of {per_step} rows ({batch} x {accumulation} accumulation x {world} processes) holds all "
                         "{rows} rows: each epoch is one optimizer step, {steps} in all, and the model barely moves; fix: "
                         "gradient_accumulation_steps: {fix}") if world > 1 else
                       _("a batch of {per_step} rows ({batch} x {accumulation} accumulation) holds all {rows} rows: each "
                         "epoch is one optimizer step, {steps} in all, and the model barely moves; fix: "
                         "gradient_accumulation_steps: {fix}"))
            out.append(message.format(per_step=per_step, batch=args.per_device_train_batch_size,
                                      accumulation=args.gradient_accumulation_steps, world=world, rows=rows, steps=s, fix=fit))
    return out


def check(cfg: Config) -> Checked:
    """Raise TunewizError on the first layer of problems; never loads model weights."""
    from engine import distributed, speed
    from engine.data import load, pipeline
    from engine.inspect import inspect_model

    hw = build.hardware()
    training = machine = build.resolve_training(cfg, hw)
    check_output_dir(training["output_dir"])
    _check_eval(cfg, training)
    build.check_quantization(cfg, hw)
    build.check_integrations(training)
    build.check_optimizer(training)
    launch_plan = distributed.plan(cfg, hw)
    build.training_args(cfg, training)
    build.lora_config(cfg)
    ref = models.resolve(cfg.model.name_or_path, cfg.model.revision)
    path = models.materialize(ref)
    if ref.task and ref.task != cfg.model.task:
        raise TunewizError.at("model.task", _("{model} is a {model_task} model but the task is {task}").format(
            model=ref.display, model_task=ref.task, task=cfg.model.task),
            _("set model.task: {model_task}, or pick another model").format(model_task=ref.task))
    _check_model_config(cfg, path)
    try:
        info = inspect_model(path, trust_remote_code=cfg.model.trust_remote_code, task=cfg.model.task)
    except TunewizError:
        info = None
    _check_targets(cfg, info)
    resolved = speed.resolve(cfg, hw, info)
    training = resolved.cfg.training
    args = build.training_args(resolved.cfg, training)
    lora = build.lora_config(resolved.cfg)
    tok = _load_tokenizer(cfg, path)
    raw = load.load_dataset(cfg.dataset)
    prepared = pipeline.prepare(cfg, tok, raw)  # every row, as training will: bad rows and rows left out are known now
    plan = prepared.plan
    # the defaults and the memory estimate as the run makes them: from the rows' real lengths over the run's steps
    resolved = speed.for_data(cfg, hw, info, pipeline.lengths(prepared.train), launch_plan.world_size if launch_plan else 1)
    # `training` for the run directory: the keys this machine needs (precision, use_cpu), not the speed defaults,
    # which the worker decides from the data's real lengths and the run's length (written, they would read as
    # the user's own keys and pin the worker to decisions made without them)
    return Checked(cfg, hw, machine, args, lora, ref, path, tok, raw, plan, launch_plan, resolved, prepared)


def check_output_dir(output_dir: str | Path) -> None:
    """The run directory can be made and written: not a file, not under a file, on a writable filesystem (said here,
    not as a traceback once the run starts). Creates nothing."""
    import os

    d = Path(output_dir).expanduser()
    where = "training.output_dir"
    if d.exists() and not d.is_dir():
        raise TunewizError.at(where, _("{path} is a file, not a folder").format(path=d),
                              _("choose another output_dir (a folder tunewiz makes), or move the file away"))
    parent = d
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise TunewizError.at(where, _("{parent} is a file, so {path} cannot be made under it").format(parent=parent, path=d),
                              _("choose an output_dir whose folders are folders, e.g. runs/my-run"))
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise TunewizError.at(where, _("cannot write in {parent} (no write permission, or a read-only filesystem), so the "
                                       "run directory {path} cannot be made there").format(parent=parent, path=d),
                              _("choose an output_dir where you can write, e.g. runs/my-run in your own folder, "
                                "or fix the permissions (ls -ld {parent})").format(parent=parent))


def _check_eval(cfg: Config, training: dict[str, Any]) -> None:
    """Evaluation settings that need held-out rows, or each other (the Trainer says so only after loading the model,
    or in its own words)."""
    def value(key: str, default: str) -> str:
        v = training.get(key, default)
        return str(getattr(v, "value", v))

    held_out = bool(cfg.dataset.eval_size)
    ev, save = value("eval_strategy", "no"), value("save_strategy", "steps")
    if ev != "no" and not held_out:
        raise TunewizError.at("training.eval_strategy", _("{strategy} evaluates on held-out rows, and dataset.eval_size is "
                                                          "0: there are none").format(strategy=ev),
                              _("set dataset.eval_size (e.g. 0.1 holds out a tenth of the rows), or set eval_strategy: no"))
    if cfg.evaluate.at_end and not held_out:
        raise TunewizError.at("evaluate.at_end", _("measures the result on the rows the run held out, and "
                                                   "dataset.eval_size is 0: there are none"),
                              _("set dataset.eval_size (e.g. 0.1 holds out a tenth of the rows), or set evaluate.at_end: "
                                "false"))
    if not training.get("load_best_model_at_end"):
        return
    if not held_out:
        raise TunewizError.at("training.load_best_model_at_end", _("keeps the checkpoint with the best eval score, and "
                                                                   "dataset.eval_size is 0: nothing is evaluated"),
                              _("set dataset.eval_size (e.g. 0.1 holds out a tenth of the rows) and set eval_strategy: "
                                "steps (or epoch), or remove load_best_model_at_end"))
    if ev == "no":
        raise TunewizError.at("training.load_best_model_at_end", _("keeps the checkpoint with the best eval score, and "
                                                                   "eval_strategy is no: nothing is evaluated during the run"),
                              _("set eval_strategy: {strategy} (the same as save_strategy), or remove "
                                "load_best_model_at_end").format(strategy=save if save in ("steps", "epoch") else "epoch"))
    if save not in (ev, "best"):
        raise TunewizError.at("training.load_best_model_at_end", _("needs a checkpoint at each evaluation, and "
                                                                   "save_strategy is {save} while eval_strategy is {eval}"
                                                                   ).format(save=save, eval=ev),
                              _("set save_strategy: {eval} (with steps: save_steps a multiple of eval_steps)").format(eval=ev))


def _check_targets(cfg: Config, info: Any) -> None:
    """LoRA target names that are no layer of this model (peft would fail only once the weights are loaded).
    A list entry matches a layer by its last name part, as peft matches; a string other than all-linear is a
    regular expression that must match a whole layer name (re.fullmatch, as peft does)."""
    import re

    targets = cfg.lora.get("target_modules") if cfg.lora_enabled else None
    if info is None or not info.linears or targets is None or targets == "all-linear":
        return
    names = sorted({lin.name for lin in info.linears})
    if isinstance(targets, str):
        try:
            hits = [p for p in info.linear_paths if re.fullmatch(targets, p)]
        except re.error as e:
            raise TunewizError.at("lora.target_modules", _("{pattern!r} is not a valid regular expression ({error})").format(
                pattern=targets, error=e), _("fix the pattern, or give a list of layer names")) from None
        if not hits:
            example = info.linear_paths[0] if info.linear_paths else ""
            raise TunewizError.at("lora.target_modules", _("the pattern {pattern!r} matches no linear layer of {model} (it must "
                                                           "match a whole name, such as {example!r})").format(
                pattern=targets, model=cfg.model.name_or_path, example=example),
                _("e.g. '.*\\.(q_proj|v_proj)' or a list of names; the model's linear layers are: {names}").format(
                    names=", ".join(names)))
        return
    if not isinstance(targets, list):
        return
    missing = [t for t in targets if str(t).rsplit(".", 1)[-1] not in names]
    if missing:
        raise TunewizError.at("lora.target_modules", _("{targets}: no such layer in {model}").format(
            targets=", ".join(map(str, missing)), model=cfg.model.name_or_path),
            _("the model's linear layers are: {names} (or use all-linear)").format(names=", ".join(names)))


def _check_model_config(cfg: Config, path: str) -> None:
    from transformers import AutoConfig

    kw: dict[str, Any] = {"trust_remote_code": cfg.model.trust_remote_code}
    if cfg.model.revision:
        kw["revision"] = cfg.model.revision
    try:
        AutoConfig.from_pretrained(path, **kw)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        fix = _("check the id and your connection (or HF_TOKEN for gated models)")
        if "trust_remote_code" in str(e):
            fix = _("this model ships its own code: set model.trust_remote_code: true if you trust the repository")
        raise TunewizError.at("model.name_or_path", _("could not read the model config of {model}: {error}").format(
            model=cfg.model.name_or_path, error=msg), fix) from e


def _load_tokenizer(cfg: Config, path: str) -> Any:
    try:
        return models.load_tokenizer(cfg, path)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TunewizError.at("model.name_or_path", _("could not load the tokenizer of {model}: {error}").format(
            model=cfg.model.name_or_path, error=msg), _("check that the model folder has its tokenizer files")) from e
