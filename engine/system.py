"""Machine stats for the monitor: per-GPU utilisation, memory, temperature and power from NVML, and
CPU / RAM (psutil) when there is no GPU. Written by the training process as `gpu` events."""

from __future__ import annotations

import threading
from typing import Any


def open_nvml() -> Any:
    """pynvml, initialised, or None without an NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no NVIDIA driver, or nvidia-ml-py missing
        return None


def sample(nvml: Any = None) -> dict[str, Any]:
    """One reading: {"gpus": [...], "cpu_percent", "ram_used_gib", "ram_total_gib"}."""
    import psutil

    out: dict[str, Any] = {"gpus": []}
    if nvml is not None:
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            gpu = {"index": i, "name": _str(nvml.nvmlDeviceGetName(h)), "util": nvml.nvmlDeviceGetUtilizationRates(h).gpu,
                   "mem_used_gib": round(mem.used / 2**30, 2), "mem_total_gib": round(mem.total / 2**30, 2)}
            try:
                gpu["temp_c"] = nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
                gpu["power_w"] = round(nvml.nvmlDeviceGetPowerUsage(h) / 1000, 1)
            except Exception:  # not every board reports these
                pass
            out["gpus"].append(gpu)
    vm = psutil.virtual_memory()
    out.update(cpu_percent=psutil.cpu_percent(interval=None), ram_used_gib=round((vm.total - vm.available) / 2**30, 2),
               ram_total_gib=round(vm.total / 2**30, 2))
    return out


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class Sampler:
    """A daemon thread that calls `emit(sample)` every `every` seconds until stopped."""

    def __init__(self, emit: Any, every: float = 10.0):
        self.emit = emit
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tunewiz-system-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        nvml = open_nvml()
        import psutil

        psutil.cpu_percent(interval=None)  # the first reading primes the counter
        wait = 1.0  # the first reading soon after the start, then every `every` seconds
        while not self._stop.wait(wait):
            wait = self.every
            try:
                self.emit(sample(nvml))
            except Exception:  # a failing sensor must never stop training
                return
