"""The launch: section: launcher choice, generated accelerate config, preflight refusals, commands."""

import socket
from pathlib import Path

import pytest
import yaml

from engine import build, config, distributed
from engine.errors import TunewizError

GPU4 = build.Hardware(cuda=True, devices=("NVIDIA H200",) * 4, bf16=True, bitsandbytes=True)
CPU = build.Hardware()


def cfg(**launch):
    return config.from_dict({"launch": launch, "training": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2}})


def test_one_process_by_default():
    p = distributed.plan(cfg(), CPU)
    assert p.launcher == "python" and p.command(Path("r"))[1:] == ["-m", "engine.train", "r"]


def test_all_visible_gpus_with_ddp_through_accelerate():
    c = cfg(main_port=29611)
    p = distributed.plan(c, GPU4)
    assert (p.launcher, p.world_size, p.gpus) == ("accelerate", 4, [0, 1, 2, 3])
    assert p.accelerate_config["distributed_type"] == "MULTI_GPU" and p.accelerate_config["num_processes"] == 4
    assert p.accelerate_config["mixed_precision"] == "bf16" and p.accelerate_config["gpu_ids"] == "0,1,2,3"
    cmd = p.command(Path("runs/x"), resume=True)
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--config_file", "runs/x/accelerate_config.yaml"]
    assert cmd[-3:] == ["engine.train", "runs/x", "--resume"]
    assert distributed.batch_lines(c, p) == ["batch     8 per GPU x 2 accumulation x 4 GPUs = 64 sequences per optimizer step"]


def test_deepspeed_and_fsdp_configs(monkeypatch):
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name: object())
    p = distributed.plan(cfg(strategy="deepspeed-zero3", offload=True, gpus=[1, 2], main_port=29612), GPU4)
    ds = p.accelerate_config["deepspeed_config"]
    assert p.accelerate_config["distributed_type"] == "DEEPSPEED" and p.gpus == [1, 2]
    assert (ds["zero_stage"], ds["offload_optimizer_device"], ds["offload_param_device"]) == (3, "cpu", "cpu")
    assert ds["gradient_accumulation_steps"] == 2
    p = distributed.plan(cfg(strategy="fsdp", main_port=29613), GPU4)
    assert p.accelerate_config["fsdp_config"]["fsdp_version"] == 2


def test_refusals_name_the_field_and_the_fix():
    c = config.from_dict({"model": {"quantization": "4bit"}, "launch": {"strategy": "deepspeed-zero3", "gpus": [0, 7],
                                                                        "num_machines": 2, "main_port": 29614}})
    with pytest.raises(TunewizError) as e:
        distributed.plan(c, GPU4)
    text = str(e.value)
    assert "GPU 7 is not visible" in text and "QLoRA" in text and "ZeRO-3" in text and "launch.main_address" in text
    with pytest.raises(TunewizError, match="fsdp needs GPUs"):
        distributed.plan(cfg(strategy="fsdp", processes=2), CPU)


def test_busy_port_is_refused_before_launch(monkeypatch):
    monkeypatch.setattr(distributed, "PORT_WAIT", 0.5)
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(TunewizError, match=f"port {port} is in use"):
            distributed.plan(cfg(processes=2, main_port=port), CPU)


def test_a_port_freed_within_the_wait_is_taken():
    """A stopped run's launcher lets go of its port a moment after the run's state says stopped."""
    import threading

    s = socket.socket()
    s.bind(("", 0))
    s.listen()
    port = s.getsockname()[1]
    threading.Timer(1.0, s.close).start()
    assert not distributed.port_free(port)  # busy now
    assert distributed.port_free(port, wait=10)  # freed a second later: taken


def test_cpu_processes_use_torchrun():
    p = distributed.plan(cfg(processes=2, main_port=29615), CPU)
    cmd = p.command(Path("r"), launch=cfg(processes=2, main_port=29615).launch)
    assert p.launcher == "torchrun" and "--nproc_per_node=2" in cmd and "--master_port=29615" in cmd


def test_several_machines_commands_and_slurm():
    c = cfg(num_machines=3, main_address="10.0.0.1", main_port=29616)
    p = distributed.plan(c, GPU4)
    assert p.world_size == 12 and p.accelerate_config["main_process_ip"] == "10.0.0.1"
    assert distributed.node_commands(c, "my.yaml") == [f"tunewiz run my.yaml --set launch.machine_rank={r}" for r in range(3)]
    script = distributed.slurm_script(c, "my.yaml", gpus_per_node=4)
    assert "#SBATCH --nodes=3" in script and "launch.machine_rank=$SLURM_NODEID" in script and "--gpus-per-node=4" in script


def test_launch_section_round_trips():
    c = config.from_dict({"launch": {"strategy": "fsdp", "gpus": [0, 1]}})
    again = config.from_dict(yaml.safe_load(config.dump(c)))
    assert again.launch == c.launch
    with pytest.raises(TunewizError, match="launch.stratgy.*did you mean strategy"):
        config.from_dict({"launch": {"stratgy": "ddp"}})
