"""The smoke test's arithmetic: the training section it runs, and what it reports from the step times."""

from types import SimpleNamespace

from engine import smoke


def test_overrides_cut_the_run_to_a_few_steps_without_saving_or_evaluating():
    t = {"num_train_epochs": 3, "logging_steps": 10, "save_strategy": "steps", "eval_strategy": "steps",
         "load_best_model_at_end": True, "metric_for_best_model": "eval_loss", "learning_rate": 2e-4,
         "per_device_train_batch_size": 4, "report_to": "wandb"}
    out = smoke.overrides(t, 10)
    assert "gradient_accumulation_steps" not in out
    assert out["max_steps"] == 10 and out["save_strategy"] == "no" and out["eval_strategy"] == "no"
    assert out["report_to"] == "none" and "load_best_model_at_end" not in out and "metric_for_best_model" not in out
    assert out["logging_steps"] == 2  # a line every few steps, not every one (each costs a GPU sync)
    assert out["learning_rate"] == 2e-4 and out["per_device_train_batch_size"] == 4  # the run as configured
    assert "max_steps" not in t


def P(full_steps, accum=1, smoke_accum=None, full_micro=None):
    """A smoke plan for measure()."""
    return {"steps": 0, "accumulation": smoke_accum or accum, "full_steps": full_steps, "full_accumulation": accum,
            "full_micro_batches": full_micro or full_steps * accum, "budget_s": 60.0}


def marks(times, ends=None, tokens=1000.0):
    return [(t, True if ends is None else ends[i], tokens * (i + 1)) for i, t in enumerate(times)]


def test_the_first_step_is_not_timed_and_the_eta_is_the_full_runs():
    m = SimpleNamespace(t0=0.0, marks=marks([5.0, 5.5, 6.0, 6.5]))
    res = smoke.measure(m, P(1200), estimate_gib=2.0)
    assert res["first_step_s"] == 5.0 and res["step_s"] == 0.5
    assert res["tokens_per_s"] == 2000.0 and res["eta_s"] == 5.0 + 0.5 * 1199
    text = "\n".join(smoke.lines(res))
    assert "0.500 s an optimizer step" in text and "2,000 tokens/s" in text and "1,200 steps, about 10m04s" in text


def test_the_first_third_of_the_micro_batches_is_left_out():
    # a compile in the first step, a recompile in the third: the speed is timed from the end of step 3 of 9
    m = SimpleNamespace(t0=0.0, marks=marks([40.0, 40.2, 45.0, 45.2, 45.4, 45.6, 45.8, 46.0, 46.2], tokens=100.0))
    res = smoke.measure(m, P(100), estimate_gib=None)
    assert res["warmup_micro_batches"] == 3 and res["warmup_s"] == 45.0
    assert res["step_s"] == 0.2 and res["tokens_per_s"] == 500.0 and res["eta_s"] == 45.0 + 0.2 * 97
    assert "timed after the first 3 (45.0 s" in "\n".join(smoke.lines(res))


def test_one_micro_batch_measures_no_speed():
    res = smoke.measure(SimpleNamespace(t0=0.0, marks=[(3.0, True, 10.0)]), P(5), estimate_gib=None)
    assert "step_s" not in res and "needs at least 2 micro-batches" in "\n".join(smoke.lines(res))


def test_a_run_of_one_step_and_64_accumulations_is_cut_to_a_few_micro_batches():
    """#14: a run of 1 optimizer step x 64 accumulation made 10 x 64 = 640 micro-batches (13 minutes)."""
    t = {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 64, "num_train_epochs": 1}
    p = smoke.plan(t, smoke.DEFAULT_STEPS, rows=58)
    assert p["steps"] == 1 and p["full_steps"] == 1 and p["full_micro_batches"] == 58  # the Trainer's short last step
    assert p["micro_batches"] <= smoke.MAX_MICRO_BATCHES and p["accumulation"] == smoke.MAX_MICRO_BATCHES
    out = smoke.overrides(t, p)
    assert out["max_steps"] == 1 and out["gradient_accumulation_steps"] == smoke.MAX_MICRO_BATCHES
    # a short run that accumulates a little: all of it, as configured
    p = smoke.plan({**t, "gradient_accumulation_steps": 4, "max_steps": 3}, 10, rows=58)
    assert (p["steps"], p["accumulation"], p["micro_batches"], p["full_micro_batches"]) == (3, 4, 12, 12)
    # a long run: 10 steps, fewer micro-batches each
    p = smoke.plan({**t, "num_train_epochs": 100}, 10, rows=58)
    assert (p["steps"], p["accumulation"], p["full_accumulation"]) == (10, 2, 64)


def test_a_run_shorter_than_the_warm_up_takes_what_the_smoke_test_took():
    """#14: the ETA of a 2-step run was the warm-up time of a 10-step smoke test's first 3 steps."""
    m = SimpleNamespace(t0=0.0, marks=marks([4.0, 4.5]))
    res = smoke.measure(m, P(2), estimate_gib=None)
    assert res["eta_s"] == 4.5 and res["covered"]
    assert "no longer than this test: about 0m04s" in "\n".join(smoke.lines(res))
    m = SimpleNamespace(t0=0.0, marks=marks([9.0]))  # one step, one micro-batch: the run's time, no speed
    res = smoke.measure(m, P(1), estimate_gib=None)
    assert res["eta_s"] == 9.0 and "step_s" not in res


def test_the_eta_scales_micro_batches_and_optimizer_steps_apart():
    # the smoke test: 2 steps of 4 micro-batches (0.5 s each; the optimizer step adds 0.3 s); the run: 3 steps of 64
    times, ends, t = [], [], 1.5
    for i in range(8):
        t += 0.5 + (0.3 if i % 4 == 3 else 0.0)
        times.append(t)
        ends.append(i % 4 == 3)
    res = smoke.measure(SimpleNamespace(t0=0.0, marks=marks(times, ends)), P(3, accum=64, smoke_accum=4), None)
    assert res["micro_batch_s"] == 0.5 and res["step_s"] == 64 * 0.5 + 0.3
    assert res["eta_s"] == round(times[1] + 0.5 * (192 - 2) + 0.3 * 3, 1)
    text = "\n".join(smoke.lines(res))
    assert "8 micro-batches run (2 optimizer steps of 4)" in text and "3 steps (192 micro-batches)" in text


def test_the_time_budget_ends_the_test_at_an_optimizer_step():
    from transformers import TrainerControl

    m = smoke.meter(budget_s=0.0)
    state = SimpleNamespace(global_step=1, max_steps=10, num_input_tokens_seen=0)
    m.on_train_begin(None, state, TrainerControl())
    assert not m.on_substep_end(None, state, TrainerControl())  # never inside an accumulation
    control = m.on_step_end(None, state, TrainerControl())
    assert control.should_training_stop and m.stopped_by == "time"
    res = smoke.measure(m, P(10), None)
    assert "ended by the 60 s budget" in smoke.lines(res)[0]


def test_gpu_peak_is_compared_with_the_estimate():
    res = {"steps": 10, "first_step_s": 2.0, "step_s": 0.2, "tokens_per_s": 40000.0, "full_steps": 100, "eta_s": 20.0,
           "device": "cuda", "peak_allocated_gib": 9.0, "peak_reserved_gib": 10.5, "context_gib": 1.0, "peak_gib": 10.0,
           "estimate_gib": 9.5}
    text = "\n".join(smoke.lines(res))
    assert "peak GPU memory: 10.00 GiB (allocated 9.00 + CUDA context 1.00)" in text and "(+5%)" in text


def test_the_smoke_directory_is_beside_the_run():
    assert str(smoke.run_dir_for("runs/x/")) == "runs/x-smoke" and str(smoke.run_dir_for("runs/x")) == "runs/x-smoke"


def test_a_stopped_smoke_test_saves_no_checkpoint(tmp_path):
    from transformers import TrainerControl

    from engine.callbacks import StopCallback

    (tmp_path / "STOP").touch()
    args, state = SimpleNamespace(world_size=1), SimpleNamespace()
    smoke_stop = StopCallback(tmp_path / "STOP", save=False).on_step_end(args, state, TrainerControl())
    run_stop = StopCallback(tmp_path / "STOP").on_step_end(args, state, TrainerControl())
    assert smoke_stop.should_training_stop and not smoke_stop.should_save
    assert run_stop.should_training_stop and run_stop.should_save  # a real run keeps its checkpoint


def test_the_full_run_is_counted_as_the_trainer_counts_it():
    from engine import speed

    # the demo preset's 58 training rows at batch 4 for 3 epochs: a real run went to step 45/45 (15 a epoch)
    t = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "num_train_epochs": 3}
    assert speed.optimizer_steps(t, 58) == 45
    assert speed.optimizer_steps({**t, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4}, 58) == 24
    assert speed.optimizer_steps({**t, "num_train_epochs": 0.5}, 58) == 8
    assert speed.optimizer_steps({**t, "max_steps": 7}, 58) == 7
    assert speed.optimizer_steps(t, 58, world=2) == 24
