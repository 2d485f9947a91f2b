"""The training process: `python -m engine.train RUN_DIR [--resume]`.

Reads the run directory's config.yaml, trains through TRL's SFTTrainer (causal LM) or the Trainer
(sequence classification), writes events and status, saves the result in RUN_DIR/final. Started by
`tunewiz run` in its own session with output to stdout.log; never attached to a terminal or a pipe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # python -m engine.train: a stop while it still imports ends it as stopped, not as a crash
    signal.signal(signal.SIGTERM, signal.default_int_handler)

from engine import build, config, fields, models, rundir, system
from engine.errors import TunewizError
from engine.i18n import _, ngettext
from engine.models import load_model, load_tokenizer


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def classification_metrics(pred: Any) -> dict[str, float]:
    """Accuracy and macro F1 over the eval split."""
    import numpy as np

    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    y_pred, y = np.argmax(logits, axis=-1), pred.label_ids
    f1s = []
    for c in np.unique(np.concatenate([y, y_pred])):
        tp: Any = np.sum((y_pred == c) & (y == c))
        denom: Any = np.sum(y_pred == c) + np.sum(y == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return {"accuracy": float(np.mean(y_pred == y)), "f1": float(np.mean(f1s))}


def regression_metrics(pred: Any) -> dict[str, float]:
    """MSE, Pearson and Spearman correlation over the eval split (GLUE's STS-B metrics)."""
    import numpy as np

    out = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    y_pred, y = np.asarray(out, dtype=np.float64).reshape(-1), np.asarray(pred.label_ids, dtype=np.float64).reshape(-1)
    return {"mse": float(np.mean((y_pred - y) ** 2)), "pearson": _corr(y_pred, y), "spearman": _corr(_ranks(y_pred), _ranks(y))}


def _corr(a: Any, b: Any) -> float:
    import numpy as np

    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")  # a constant prediction (or label) has no correlation
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(x: Any) -> Any:
    """Ranks with ties averaged (as scipy.stats.rankdata)."""
    import numpy as np

    order = np.argsort(x, kind="mergesort")
    ranks: Any = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


@dataclass
class Setup:
    """What the stages of `build_trainer` decide, in order: the machine, the model's files, its tokenizer and the
    prepared rows (`setup_data`); the resolved defaults, the trainer's config and the adapter (`setup_config`)."""

    cfg: config.Config
    hw: build.Hardware
    path: Any
    tok: Any
    method: str  # model.method for a causal LM; sft for a classifier
    prepared: Any
    resolved: Any = None  # engine.speed.Resolved
    args: Any = None
    lora: Any = None  # peft.LoraConfig, or None (full fine-tuning, or already applied to the model)
    smoke_plan: dict[str, Any] | None = None
    info: Any = None  # engine.inspect.ModelInfo, when the model's shapes could be read


def build_trainer(cfg: config.Config, run_dir: Path, callbacks: list[Any], smoke_steps: int | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Everything up to `trainer.train()`: returns (trainer, prepared data, facts for the start event).
    `smoke_steps`: the run as configured (same defaults, micro-batch and estimate), cut to that many steps
    without saving or evaluation (engine.smoke)."""
    s = setup_data(cfg)
    setup_config(s, smoke_steps)
    model = setup_model(s)
    trainer = setup_trainer(s, model, callbacks)
    fp8_layers(s, trainer)
    compile_layers(s, trainer)
    return trainer, s.prepared, start_facts(s, trainer)


def setup_data(cfg: config.Config) -> Setup:
    """The machine, the model's files, its tokenizer, and every row through the one data path."""
    from engine.data import pipeline

    hw = build.hardware()
    path = models.materialize(models.resolve(cfg.model.name_or_path, cfg.model.revision))
    tok = load_tokenizer(cfg, path)
    method = cfg.model.method if cfg.model.task == "causal-lm" else "sft"
    return Setup(cfg, hw, path, tok, method, pipeline.prepare(cfg, tok))


def setup_config(s: Setup, smoke_steps: int | None = None) -> None:
    """The fast defaults and the memory estimate for this machine and data (the same function, on the same inputs, as
    validate / run, the review and the preset header: one figure), the attention kernel, a smoke test's cut, the
    trainer's config and the adapter's."""
    from engine import attention, speed
    from engine.data import pipeline
    from engine.inspect import inspect_model

    info = None
    try:
        info = inspect_model(s.path, trust_remote_code=s.cfg.model.trust_remote_code, task=s.cfg.model.task)
    except TunewizError:
        pass  # no shapes, no estimate: the defaults that need one stay as written
    world = int(os.environ.get("WORLD_SIZE", "1"))
    s.info = info
    s.resolved = resolved = speed.for_data(s.cfg, s.hw, info, pipeline.lengths(s.prepared.train, s.method), world=world)
    s.cfg = cfg = resolved.cfg
    if cfg.model.attn_implementation == attention.NAME:
        try:
            attention.register()
        except RuntimeError as e:  # the kernel is wrong on this GPU/torch: padded batches over sdpa instead
            cfg.model.attn_implementation = None
            cfg.training.pop("padding_free", None)
            resolved.applied = [a for a in resolved.applied if a.key not in ("training.padding_free", "model.attn_implementation")]
            resolved.notes.append(_("padding-free off: {error}").format(error=e))
    if smoke_steps:
        from engine import smoke

        s.smoke_plan = smoke.plan(cfg.training, smoke_steps, len(s.prepared.train), world)
        cfg.training = smoke.overrides(cfg.training, s.smoke_plan)
    s.args = build.training_args(cfg, cfg.training)
    if s.method == "kto" and s.args.per_device_train_batch_size != s.prepared.batch:
        s.prepared = pipeline.prepare(cfg, s.tok, args=s.args)  # KTO's KL pairs neighbours within the run's micro-batch
    s.lora = build.lora_config(cfg)


def setup_model(s: Setup) -> Any:
    """The weights, the pad token, and the adapter where tunewiz applies it itself (peft's dtype switch, a classifier's
    head); otherwise the trainer applies `s.lora`."""
    cfg, plan = s.cfg, s.prepared.plan
    if plan.template and cfg.model.task == "causal-lm":
        s.tok.chat_template = plan.template  # saved with the result: inference uses the template trained on
    model = load_model(cfg, s.path, plan.label_names, s.hw, regression=plan.regression)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = s.tok.pad_token_id
    if s.lora is not None and s.method == "sft" and (cfg.lora.get("autocast_adapter_dtype") is False or cfg.model.task != "causal-lm"):
        from peft import get_peft_model
        from transformers import set_seed

        set_seed(s.args.seed)
        model = get_peft_model(model, s.lora, autocast_adapter_dtype=cfg.lora.get("autocast_adapter_dtype", True))
        s.lora = None
    return model


def setup_trainer(s: Setup, model: Any, callbacks: list[Any]) -> Any:
    """The library's trainer for the method, given the prepared rows and the collator the preview uses."""
    from engine.data import pipeline

    cfg, args, tok, plan = s.cfg, s.args, s.tok, s.prepared.plan
    collator = pipeline.build_collator(cfg.model.task, args, tok, s.method)
    train_ds = pipeline.model_inputs(s.prepared.train, s.method)
    eval_ds = pipeline.model_inputs(s.prepared.eval, s.method) if s.prepared.eval is not None else None
    if s.method != "sft":
        from engine.data import preference

        # the reference: with LoRA, the base with the adapter switched off (TRL's default when it wraps the model)
        trainer = preference.prepared_trainer(s.method)(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                                        processing_class=tok, peft_config=s.lora, data_collator=collator,
                                                        callbacks=callbacks)
        if s.lora is not None and cfg.lora.get("autocast_adapter_dtype") is False:
            preference.adapters_in_model_dtype(trainer.model)
        return trainer
    if cfg.model.task == "causal-lm":
        from trl import SFTTrainer

        return SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tok,
                          peft_config=s.lora, data_collator=None if pipeline.padding_free(args) else collator,
                          callbacks=callbacks)
    from transformers import Trainer

    return Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tok,
                   data_collator=collator, callbacks=callbacks,
                   compute_metrics=regression_metrics if plan.regression else classification_metrics)


def fp8_layers(s: Setup, trainer: Any) -> None:
    """speed.fp8: the frozen base weights multiply in FP8 (engine.fp8; resolved to false where it cannot apply)."""
    if s.cfg.speed.fp8 and s.hw.cuda:
        from engine import fp8

        n = fp8.apply(trainer.model)
        s.resolved.notes.append(ngettext("speed.fp8: {n} frozen linear layer computes in FP8",
                                         "speed.fp8: {n} frozen linear layers compute in FP8", n).format(n=n) if n else
                                _("speed.fp8: no frozen bf16 linear layer found in the decoder layers; nothing in FP8"))


def _warm_mark_class() -> Any:
    from transformers import TrainerCallback

    class WarmMark(TrainerCallback):
        """After the first optimizer step of a compiled run: this shape's layers are in the compile cache."""

        def __init__(self, key: str | None):
            self.key, self.t0 = key, 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            import time

            self.t0 = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            import time

            from engine import speed

            if self.key is not None and state.is_world_process_zero:
                speed.mark_warm(self.key, time.monotonic() - self.t0)
                self.key = None

    return WarmMark


def compile_layers(s: Setup, trainer: Any) -> None:
    """speed.compile_layers: the decoder layers compiled in place (CUDA only)."""
    from engine import speed

    if s.cfg.speed.compile_layers and s.hw.cuda:
        speed.compile_cache()
        n = speed.compile_layers(trainer.model)
        if n:
            trainer.add_callback(_warm_mark_class()(speed.warm_key(s.info, s.hw, bool(s.cfg.speed.fp8))))
        s.resolved.notes.append(ngettext("speed.compile_layers: {n} decoder layer compiled (torch.compile, dynamic shapes)",
                                         "speed.compile_layers: {n} decoder layers compiled (torch.compile, dynamic shapes)",
                                         n).format(n=n) if n else
                                _("speed.compile_layers: no repeated decoder layer found; nothing compiled"))


def start_facts(s: Setup, trainer: Any) -> dict[str, Any]:
    """What the start event says about the run: data, parameters, device, the defaults applied and the estimate."""
    cfg, prepared, resolved = s.cfg, s.prepared, s.resolved
    plan, train_ds, eval_ds = prepared.plan, trainer.train_dataset, trainer.eval_dataset
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    if s.method != "sft":
        from engine.data import preference

        resolved.notes.append(preference.reference_note(s.method, cfg.lora_enabled))
    facts = {"model": cfg.model.name_or_path, "task": cfg.model.task, "method": s.method, "format": plan.format.name,
             "template": plan.template_source, "train_rows": len(train_ds), "eval_rows": len(eval_ds) if eval_ds else 0,
             "dropped_rows": prepared.dropped, "dropped": prepared.drops, "trainable_params": trainable, "total_params": total,
             "device": s.hw.devices[0] if s.hw.devices else "cpu", "lora": cfg.lora_enabled,
             "defaults": [a.__dict__ for a in resolved.applied], "notes": resolved.notes,
             "batch": [cfg.training.get("per_device_train_batch_size", fields.default("per_device_train_batch_size")),
                       cfg.training.get("gradient_accumulation_steps", fields.default("gradient_accumulation_steps"))]}
    if resolved.estimate is not None:
        facts["estimate_gib"] = round(resolved.estimate.total / 1024**3, 2)
    if s.smoke_plan:
        facts["smoke"] = s.smoke_plan
    return facts


def use_expandable_segments(cfg: config.Config) -> None:
    """Before CUDA starts: the allocator setting (unless the user's environment sets one)."""
    from engine import speed

    os.environ.update(speed.allocator_env(cfg))


def run(run_dir: Path, resume: bool, smoke_steps: int | None = None) -> str:
    """Train; returns the final state (finished or stopped). `smoke_steps`: a smoke test (engine.smoke)."""
    from engine.callbacks import DiskCallback, EventsCallback, StopCallback

    cfg = config.load(run_dir / rundir.CONFIG, source=str(run_dir / rundir.CONFIG))
    use_expandable_segments(cfg)
    events = rundir.EventLog(run_dir, enabled=is_main_process())
    stop = StopCallback(run_dir / rundir.STOP, save=not smoke_steps)
    stop.install()
    disk = DiskCallback(run_dir)
    sampler = None
    try:
        info: dict[str, Any] = {}
        trainer, prepared, info = build_trainer(cfg, run_dir, [stop, disk], smoke_steps=smoke_steps)
        if events.enabled and not smoke_steps:
            from engine import evaluate

            evaluate.record_split(run_dir, cfg, prepared)  # the rows `tunewiz eval` measures on: never trained on
        if events.enabled:
            sampler = system.Sampler(lambda reading: events.emit("gpu", **reading), every=2.0 if smoke_steps else 10.0)
        if smoke_steps:
            return _smoke(trainer, info, events, run_dir, stop, sampler)
        # the first system reading right after the start event, then one every 10 s
        trainer.add_callback(EventsCallback(events, {**info, "resumed": resume}, after_start=sampler.start if sampler else None))
        trainer.train(resume_from_checkpoint=_resume_checkpoint(run_dir) if resume else None)
        if disk.problem:
            raise DiskFull(disk.problem)
        if stop.requested and trainer.state.global_step < trainer.state.max_steps:
            return "stopped"
        # a stop that lands on the last step: the run is complete, and finishes (final eval, final/)
        evaluated = [e.get("step") for e in trainer.state.log_history if "eval_loss" in e]
        if prepared.eval is not None and trainer.state.global_step not in evaluated:
            trainer.evaluate()
        final = run_dir / rundir.FINAL
        trainer.save_model(str(final))
        if is_main_process():
            _portable(final, cfg, trainer.model, prepared.plan, info)
        step = trainer.state.global_step
        if cfg.evaluate.at_end and is_main_process() and prepared.eval is not None and prepared.plan.method == "sft":
            del trainer  # the training copy of the model goes before the evaluation loads the result
            _evaluate_at_end(run_dir, cfg, events)
        events.emit("end", state="finished", step=step, final=str(final))
        return "finished"
    except KeyboardInterrupt:
        return "stopped"
    finally:
        if sampler is not None:
            sampler.stop()
        events.close()


def _evaluate_at_end(run_dir: Path, cfg: config.Config, events: rundir.EventLog) -> None:
    """evaluate.at_end: what `tunewiz eval RUN` does, as the run's last stage (eval.json; a `held_out` event with
    the main metric). A failure here is told and the run still finishes: its result is saved."""
    import gc

    from engine import evaluate

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    rows = cfg.evaluate.rows
    print(_("tunewiz: measuring the result on up to {rows} held-out rows (evaluate.at_end) ...").format(rows=rows) if rows else
          _("tunewiz: measuring the result on all held-out rows (evaluate.at_end) ..."), flush=True)
    try:
        result = evaluate.run_eval(run_dir, rows=rows, max_new_tokens=cfg.evaluate.max_new_tokens)
    except Exception as e:  # noqa: BLE001 - the trained result is saved; the measurement is told as failed
        message = "; ".join(str(p) for p in getattr(e, "problems", [])) or f"{type(e).__name__}: {e}"
        events.emit("held_out", error=message)
        print(_("tunewiz: the evaluation at the end failed: {message} (try again: tunewiz eval {run})").format(
            message=message, run=run_dir), flush=True)
        return
    events.emit("held_out", rows=result["rows"], **result["main"])
    print("\n".join(evaluate.table(result)), flush=True)


def _portable(final: Path, cfg: config.Config, model: Any, plan: Any, info: dict[str, Any]) -> None:
    """final/ names its base by hub id or demo reference and carries the label names (engine.export)."""
    from engine import export

    if plan.label_names and not plan.regression:
        names = plan.label_names
        (final / "label_mapping.json").write_text(json.dumps(
            {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)}},
            indent=1, ensure_ascii=False), encoding="utf-8")
    export.make_portable(final, cfg, model, plan.label_names, plan.regression, info)


def _resume_checkpoint(run_dir: Path) -> str:
    """The newest complete checkpoint (the Trainer's own choice, `True`, would take the highest-numbered folder,
    even one cut short by a kill while it was being written)."""
    cp = rundir.last_checkpoint(run_dir)
    if cp is None:
        raise TunewizError.at(str(run_dir), _("there is no complete checkpoint to resume from"),
                              _("run without --resume (with --overwrite to start the directory over)"))
    return str(cp)


def _smoke(trainer: Any, info: dict[str, Any], events: rundir.EventLog, run_dir: Path, stop: Any, sampler: Any) -> str:
    """Train the smoke run's few steps, then write what was measured (a `smoke` event and smoke.json)."""
    from engine import smoke
    from engine.callbacks import EventsCallback

    meter = smoke.meter(info["smoke"]["budget_s"])
    trainer.add_callback(meter)
    trainer.add_callback(EventsCallback(events, {**info, "resumed": False}, after_start=sampler.start if sampler else None))
    trainer.train()
    if stop.requested:
        return "stopped"
    res = smoke.measure(meter, info["smoke"], info.get("estimate_gib"))
    if events.enabled:
        rundir.write_json_atomic(run_dir / smoke.RESULT, res)
        events.emit("smoke", **res)
        events.emit("end", state="finished", step=trainer.state.global_step, smoke=True)
    return "finished"


class DiskFull(Exception):
    """The run's disk has no room for the next checkpoint (engine.callbacks.DiskCallback) or for final/."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0]).resolve()
    resume = "--resume" in argv
    smoke_steps = int(argv[argv.index("--smoke") + 1]) if "--smoke" in argv else None
    main_proc = is_main_process()
    try:
        if main_proc:
            rundir.reserve(run_dir)
            # pid stays the launcher's (the process group leader that stop and kill address)
            rundir.update_status(run_dir, state="running", worker_pid=os.getpid(), pgid=os.getpgid(0))
        state = run(run_dir, resume, smoke_steps)
    except KeyboardInterrupt:  # stopped before training started
        state = "stopped"
    except TunewizError as e:
        _fail(run_dir, main_proc, str(e), kind="input", problems=[p.__dict__ for p in e.problems])
        print(f"tunewiz: {e}", file=sys.stderr)
        return 2
    except DiskFull as e:
        _fail(run_dir, main_proc, str(e), kind="disk", fix=_disk_fix(run_dir))
        return 1
    except Exception as e:
        tb = traceback.format_exc()
        if rundir.is_disk_full(e, run_dir):
            _fail(run_dir, main_proc, rundir.disk_full_message(run_dir), kind="disk", fix=_disk_fix(run_dir),
                  traceback=tb[-4000:])
            return 1
        print(tb, file=sys.stderr, flush=True)
        _fail(run_dir, main_proc, f"{type(e).__name__}: {e}", kind="exception", traceback=tb[-4000:])
        return 1
    finally:
        if main_proc:  # rank 0's reserve: another rank ending first leaves it alone
            rundir.release(run_dir)
    if main_proc:
        (run_dir / rundir.STOP).unlink(missing_ok=True)
        if state == "stopped":
            rundir.EventLog(run_dir).emit("end", state="stopped", checkpoint=str(rundir.last_checkpoint(run_dir) or ""))
        rundir.update_status(run_dir, state=state)
    return 0


def _disk_fix(run_dir: Path) -> str:
    cp = rundir.last_checkpoint(run_dir)
    if cp:
        return _("free space on that disk (or keep fewer checkpoints: training.save_total_limit), then resume: tunewiz "
                 "resume {run}; the last complete checkpoint, {checkpoint}, is kept").format(run=run_dir, checkpoint=cp.name)
    return _("free space on that disk (or keep fewer checkpoints: training.save_total_limit), then resume: tunewiz "
             "resume {run}; no checkpoint was completed").format(run=run_dir)


def _fail(run_dir: Path, main_proc: bool, message: str, **extra: Any) -> None:
    """The end of a failed run: an error and an end event, status failed. On a full disk the reserved MiB is
    given back first, so that these few lines fit; a write that still fails is left (readers see the cause)."""
    if not main_proc:
        return
    rundir.release(run_dir)
    (run_dir / rundir.STOP).unlink(missing_ok=True)
    try:
        log = rundir.EventLog(run_dir)
        log.emit("error", message=message, **extra)
        log.emit("end", state="failed")
        log.close()
    except OSError:
        pass
    try:
        rundir.update_status(run_dir, state="failed", error=message)
    except OSError:
        pass
    print(_("tunewiz: failed: {message}").format(message=message)
          + ("\n  " + _("fix: {fix}").format(fix=extra["fix"]) if extra.get("fix") else ""), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
