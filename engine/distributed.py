"""More than one process: the `launch:` section turned into one launcher command (accelerate launch on
GPUs, with a generated accelerate config in the run directory; torchrun for CPU processes, since
accelerate's --cpu runs only one) and the checks that can be made before anything starts.
"""

from __future__ import annotations

import importlib.util
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import fields
from engine.config import Config
from engine.errors import Problem, TunewizError
from engine.i18n import _, ngettext

if TYPE_CHECKING:
    from engine.build import Hardware

ACCELERATE_CONFIG = "accelerate_config.yaml"


@dataclass
class LaunchPlan:
    """How the training process(es) start, and the batch arithmetic to show before they do."""

    launcher: str  # python | torchrun | accelerate
    processes: int  # on this machine
    world_size: int
    gpus: list[int]
    accelerate_config: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def command(self, run_dir: Path, resume: bool = False, launch: Any = None, smoke_steps: int | None = None) -> list[str]:
        """The command that starts training for this machine (`smoke_steps`: a smoke test, engine.smoke)."""
        tail = ["-m", "engine.train", str(run_dir)] + (["--resume"] if resume else []) + (["--smoke", str(smoke_steps)] if smoke_steps else [])
        if self.launcher == "python":
            return [sys.executable, *tail]
        if self.launcher == "torchrun":
            return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={self.processes}",
                    f"--nnodes={launch.num_machines}", f"--node_rank={launch.machine_rank}",
                    f"--master_addr={launch.main_address or '127.0.0.1'}", f"--master_port={launch.main_port}", *tail]
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(run_dir / ACCELERATE_CONFIG), *tail]


def plan(cfg: Config, hw: Hardware) -> LaunchPlan:
    """Decide the launcher; raise TunewizError with every problem found (no process is started)."""
    ln = cfg.launch
    problems: list[Problem] = []
    visible = list(range(len(hw.devices)))
    gpus = list(ln.gpus) if ln.gpus is not None else visible
    for g in gpus:
        if g not in visible:
            problems.append(Problem("launch.gpus", _("GPU {gpu} is not visible here (visible: {visible})").format(
                gpu=g, visible=visible or _("none")), _("list visible GPUs (nvidia-smi), or check CUDA_VISIBLE_DEVICES")))
    if hw.cuda:
        procs = len(gpus) if ln.processes == "auto" else int(ln.processes)
        if procs > len(gpus):
            problems.append(Problem("launch.processes", _("{processes} processes but {gpus} GPUs").format(processes=procs, gpus=len(gpus)),
                                    _("use one process per GPU")))
    else:
        procs = 1 if ln.processes == "auto" else int(ln.processes)
        if ln.strategy != "ddp" and procs > 1:
            problems.append(Problem("launch.strategy", _("{strategy} needs GPUs; on CPU only ddp (gloo) runs").format(strategy=ln.strategy),
                                    _("use strategy: ddp")))
    if procs < 1:
        problems.append(Problem("launch.processes", _("must be at least 1"), _("auto = one per GPU")))
    quantized = cfg.model.quantization != "none"
    if quantized and ln.strategy == "deepspeed-zero3":
        problems.append(Problem("launch.strategy", _("QLoRA (a quantized base model) cannot be sharded by ZeRO-3"),
                                _("use ddp (each GPU holds the small 4-bit model) or deepspeed-zero2")))
    if quantized and ln.strategy == "fsdp":
        problems.append(Problem("launch.strategy", _("QLoRA with FSDP needs bnb_4bit_quant_storage set to the compute dtype, which "
                                                     "tunewiz does not do yet"), _("use ddp")))
    if ln.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        problems.append(Problem("launch.strategy", _("{strategy} needs DeepSpeed, which is not installed").format(strategy=ln.strategy),
                                "pip install deepspeed"))
    if ln.num_machines > 1:
        if not ln.main_address:
            problems.append(Problem("launch.main_address", _("several machines need the address of machine 0"),
                                    _("set launch.main_address: <host or IP>")))
        if not 0 <= ln.machine_rank < ln.num_machines:
            problems.append(Problem("launch.machine_rank", _("must be between 0 and {last}").format(last=ln.num_machines - 1), ""))
    elif ln.machine_rank:
        problems.append(Problem("launch.machine_rank", _("machine_rank is set but num_machines is 1"), _("set launch.num_machines")))
    world = procs * ln.num_machines
    if world > 1 and ln.machine_rank == 0 and not port_free(ln.main_port, wait=PORT_WAIT):
        problems.append(Problem("launch.main_port", _("port {port} is in use on this machine").format(port=ln.main_port),
                                _("pick another, e.g. --set launch.main_port=29600")))
    if problems:
        raise TunewizError(problems)
    if world == 1:
        return LaunchPlan("python", 1, 1, gpus[:1])
    if not hw.cuda:
        return LaunchPlan("torchrun", procs, world, [], notes=[_("CPU processes talk through gloo (torchrun)")])
    return LaunchPlan("accelerate", procs, world, gpus[:procs], accelerate_config=accelerate_config(cfg, procs, gpus[:procs], hw))


def accelerate_config(cfg: Config, procs: int, gpus: list[int], hw: Hardware) -> dict[str, Any]:
    """An accelerate config file (as `accelerate config` writes it) for this launch section."""
    ln = cfg.launch
    out: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE", "debug": False, "downcast_bf16": "no", "enable_cpu_affinity": False,
        "gpu_ids": ",".join(map(str, gpus)), "machine_rank": ln.machine_rank, "main_training_function": "main",
        "mixed_precision": "bf16" if hw.bf16 else "fp16", "num_machines": ln.num_machines,
        "num_processes": procs * ln.num_machines, "rdzv_backend": "static", "same_network": True, "use_cpu": False,
        "main_process_port": ln.main_port,
    }
    if ln.num_machines > 1:
        out["main_process_ip"] = ln.main_address
    if ln.strategy == "ddp":
        out["distributed_type"] = "MULTI_GPU"
    elif ln.strategy == "fsdp":
        out["distributed_type"] = "FSDP"
        out["fsdp_config"] = {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "fsdp_cpu_ram_efficient_loading": True,
                              "fsdp_offload_params": ln.offload, "fsdp_reshard_after_forward": True,
                              "fsdp_state_dict_type": "SHARDED_STATE_DICT"}
    else:
        out["distributed_type"] = "DEEPSPEED"
        stage = 3 if ln.strategy.endswith("3") else 2
        out["deepspeed_config"] = {"zero_stage": stage, "offload_optimizer_device": "cpu" if ln.offload else "none",
                                   "offload_param_device": "cpu" if ln.offload and stage == 3 else "none",
                                   "zero3_init_flag": stage == 3, "gradient_accumulation_steps": int(cfg.training.get("gradient_accumulation_steps", 1))}
    return out


PORT_WAIT = 15.0  # seconds a busy port is waited for before it is a problem


def port_free(port: int, wait: float = 0.0) -> bool:
    """Whether the launcher can listen on the port, waiting up to `wait` seconds for it (a run that was just stopped
    frees its port a few seconds after its state says so, while torchrun's agent closes). SO_REUSEADDR as torch's
    TCPStore sets it, so a port left in TIME_WAIT counts as free."""
    import time

    deadline = time.monotonic() + wait
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("", port))
                return True
            except OSError:
                pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def batch_lines(cfg: Config, p: LaunchPlan) -> list[str]:
    """The batch arithmetic per GPU (process) and in total."""
    bs = int(cfg.training.get("per_device_train_batch_size", fields.default("per_device_train_batch_size")))
    acc = int(cfg.training.get("gradient_accumulation_steps", 1))
    line = ngettext("batch     {bs} per GPU x {acc} accumulation x {n} GPU = {total} sequences per optimizer step",
                    "batch     {bs} per GPU x {acc} accumulation x {n} GPUs = {total} sequences per optimizer step", p.world_size) \
        if p.gpus else ngettext("batch     {bs} per process x {acc} accumulation x {n} process = {total} sequences per optimizer step",
                                "batch     {bs} per process x {acc} accumulation x {n} processes = {total} sequences per optimizer "
                                "step", p.world_size)
    return [line.format(bs=bs, acc=acc, n=p.world_size, total=bs * acc * p.world_size)]


def node_commands(cfg: Config, preset: str) -> list[str]:
    """The command to type on every machine of a multi-machine job."""
    return [f"tunewiz run {shlex.quote(preset)} --set launch.machine_rank={r}" for r in range(cfg.launch.num_machines)]


def slurm_script(cfg: Config, preset: str, gpus_per_node: int | None = None) -> str:
    """A SLURM batch script: one tunewiz process per node, machine 0's address from the allocation."""
    ln = cfg.launch
    g = gpus_per_node or (len(ln.gpus) if ln.gpus else 8)
    return f"""#!/bin/bash
#SBATCH --job-name=tunewiz
#SBATCH --nodes={ln.num_machines}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={g}
#SBATCH --cpus-per-task={8 * g}
#SBATCH --output=tunewiz-%j.log
# Generated by tunewiz from {preset}. Submit with: sbatch this-file
set -euo pipefail
MAIN=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun bash -c 'tunewiz run {shlex.quote(preset)} --set launch.num_machines=$SLURM_NNODES --set launch.machine_rank=$SLURM_NODEID \\
    --set launch.main_address='"$MAIN"' --set launch.main_port={ln.main_port}'
"""
