"""The smoke test's arithmetic: the training section it runs, and what it reports from the step times."""

from types import SimpleNamespace

from engine import smoke


def test_overrides_cut_the_run_to_a_few_steps_without_saving_or_evaluating():
    t = {"num_train_epochs": 3, "logging_steps": 10, "save_strategy": "steps", "eval_strategy": "steps",
         "load_best_model_at_end": True, "metric_for_best_model": "eval_loss", "learning_rate": 2e-4,
         "per_device_train_batch_size": 4, "report_to": "wandb"}
    out = smoke.overrides(t, 10)
    assert out["max_steps"] == 10 and out["save_strategy"] == "no" and out["eval_strategy"] == "no"
    assert out["report_to"] == "none" and "load_best_model_at_end" not in out and "metric_for_best_model" not in out
    assert out["logging_steps"] == 2  # a line every few steps, not every one (each costs a GPU sync)
    assert out["learning_rate"] == 2e-4 and out["per_device_train_batch_size"] == 4  # the run as configured
    assert "max_steps" not in t


def test_the_first_step_is_not_timed_and_the_eta_is_the_full_runs():
    m = SimpleNamespace(t0=0.0, marks=[(5.0, 1, 1000.0), (5.5, 2, 2000.0), (6.0, 3, 3000.0), (6.5, 4, 4000.0)])
    res = smoke.measure(m, full_steps=1200, estimate_gib=2.0)
    assert res["first_step_s"] == 5.0 and res["step_s"] == 0.5
    assert res["tokens_per_s"] == 2000.0 and res["eta_s"] == 5.0 + 0.5 * 1199
    text = "\n".join(smoke.lines(res))
    assert "0.500 s a step" in text and "2,000 tokens/s" in text and "1,200 steps, about 10m04s" in text


def test_the_first_third_of_the_steps_is_left_out():
    # a compile in the first step, a recompile in the third: the speed is timed from the end of step 3 of 9
    times = [40.0, 40.2, 45.0, 45.2, 45.4, 45.6, 45.8, 46.0, 46.2]
    m = SimpleNamespace(t0=0.0, marks=[(t, i + 1, 100.0 * (i + 1)) for i, t in enumerate(times)])
    res = smoke.measure(m, full_steps=100, estimate_gib=None)
    assert res["warmup_steps"] == 3 and res["warmup_s"] == 45.0
    assert res["step_s"] == 0.2 and res["tokens_per_s"] == 500.0 and res["eta_s"] == 45.0 + 0.2 * 97
    assert "timed after the first 3 (45.0 s" in "\n".join(smoke.lines(res))


def test_one_step_measures_no_speed():
    res = smoke.measure(SimpleNamespace(t0=0.0, marks=[(3.0, 1, 10.0)]), full_steps=5, estimate_gib=None)
    assert "step_s" not in res and "needs at least 2 steps" in "\n".join(smoke.lines(res))


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
