"""The device (GPU) memory a case adds, per case in the worker that times it, from the framework's allocator where it
has one, NVML otherwise.

- torch's caching allocator (torch runtimes, Keras on torch): its peak is reset before the case
  (`reset_peak_memory_stats`); the case's figure is `max_memory_allocated` during it less what was allocated before:
  the tensors the case held at its most, as the allocator counts them (not its cached blocks).
- Anything else (onnxruntime's arena, XLA's allocator): NVML's device memory of this process after the case's timing
  less before it (`nvmlDeviceGetComputeRunningProcesses`; the whole device's used memory where NVML does not list
  the process, as in a container with its own process ids). Those allocators keep what they reserved, so this is
  the reservation the case grew, at its most; memory an earlier case reserved and the next reuses is not counted
  again, so a lower bound, like host_peak_mb."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from convbench.energy import nvml_handle

TORCH_METHOD = "torch.cuda.max_memory_allocated during the case, above what was allocated before it"
NVML_METHOD = "NVML: this process's device memory after the timing, above before the case"
NVML_DEVICE_METHOD = "NVML: the device's used memory after the timing, above before the case (the process not listed)"


@dataclass
class Start:
    """What was there before the case: torch's allocated bytes (None where torch has not started CUDA), and NVML's
    bytes with how they were read (None where NVML cannot read them)."""

    torch_bytes: int | None
    nvml_bytes: int | None
    nvml_method: str


def _torch_cuda():
    """torch, where this process imported it and started CUDA; else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized() else None


def _nvml_bytes() -> tuple[int | None, str]:
    try:
        import pynvml

        handle = nvml_handle()
        mine = [p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
                if p.pid == os.getpid() and p.usedGpuMemory is not None]
        if mine:
            return int(mine[0]), NVML_METHOD
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used), NVML_DEVICE_METHOD
    except Exception as error:  # pynvml missing, or NVML without a driver
        return None, f"not measured: NVML cannot read the device's memory ({type(error).__name__}: {error})"


def start(device: str) -> Start | None:
    """Before a case on `device`: reset torch's peak and read NVML; None off CUDA."""
    if device != "cuda":
        return None
    torch = _torch_cuda()
    torch_bytes = None
    if torch is not None:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        torch_bytes = int(torch.cuda.memory_allocated())
    nvml_bytes, method = _nvml_bytes()
    return Start(torch_bytes, nvml_bytes, method)


def added(before: Start | None) -> dict[str, object]:
    """After the case's timing: device_peak_mb and device_memory_method (empty off CUDA)."""
    if before is None:
        return {}
    torch = _torch_cuda()
    if torch is not None and torch.cuda.max_memory_allocated() > (before.torch_bytes or 0):
        return {"device_peak_mb": (torch.cuda.max_memory_allocated() - (before.torch_bytes or 0)) / 1e6,
                "device_memory_method": TORCH_METHOD}
    after, method = _nvml_bytes()
    if before.nvml_bytes is None or after is None:
        return {"device_memory_method": method if after is None else before.nvml_method}
    if method != before.nvml_method:
        return {"device_memory_method": f"not measured: NVML read one way before the case ({before.nvml_method}) "
                                        f"and another after it ({method})"}
    return {"device_peak_mb": max(after - before.nvml_bytes, 0) / 1e6, "device_memory_method": method}
