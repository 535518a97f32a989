"""The energy a case's forwards spend, from the hardware's own cumulative energy counter, read in the harness's last
phase: forwards back to back for at least --energy-seconds between two updates of the counter (convbench.harness's
energy_window; a counter advances in steps, so a window that is not bounded by its updates is off by up to a step).

- CUDA: NVML's total-energy counter of the GPU (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver
  loaded; Volta and later). It covers the whole GPU, so a case's figure is right only while nothing else runs on it.
- CPU: RAPL's package counters (/sys/class/powercap/intel-rapl:N/energy_uj, microjoules, wrapping at
  max_energy_range_uj) where the kernel exposes them; the package includes every core, so other processes count.
  VMs expose none: the columns are then empty and `energy_method` says why.

A meter is a zero-argument callable giving the counter in millijoules; `energy_columns` turns two readings and the
forwards between them into the results' columns."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from convbench.errors import Skip

Meter = Callable[[], float]  # the cumulative counter now, in millijoules
POWERCAP = Path("/sys/class/powercap")
NVML_METHOD = ("NVML nvmlDeviceGetTotalEnergyConsumption between two of its updates, forwards back to back (the whole "
               "GPU)")
RAPL_METHOD = "RAPL package energy_uj between two of its updates, forwards back to back (every core of the package)"


def nvml_index() -> int:
    """NVML's index of the GPU this process's device 0 is: the first of CUDA_VISIBLE_DEVICES where it is an index."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    return int(first) if first.isdigit() else 0


@functools.cache
def nvml_handle():  # -> pynvml's device handle
    """NVML, started once per process, and the handle of this process's GPU (nvml_index). Raises ImportError where
    pynvml is not installed, pynvml.NVMLError where NVML cannot start (a failure is not cached)."""
    import pynvml

    pynvml.nvmlInit()
    return pynvml.nvmlDeviceGetHandleByIndex(nvml_index())


def nvml_meter() -> tuple[Meter, str]:
    """The GPU's energy counter; Skip saying why where NVML or the counter is missing."""
    try:
        import pynvml
    except ImportError:
        raise Skip("not measured: pynvml (nvidia-ml-py) is not installed") from None
    try:
        handle = nvml_handle()
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except pynvml.NVMLError as error:
        raise Skip(f"not measured: NVML has no energy counter here ({error})") from None
    return (lambda: float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))), NVML_METHOD


def rapl_domains(root: Path = POWERCAP) -> list[Path]:
    """The package-level RAPL domains (intel-rapl:0, intel-rapl:1, ...; AMD's kernels name them so too)."""
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1 and (p / "energy_uj").exists())


def rapl_meter(root: Path = POWERCAP) -> tuple[Meter, str]:
    """The CPU packages' energy counters summed, each unwrapped; Skip saying why where none is readable."""
    domains = rapl_domains(root)
    if not domains:
        raise Skip(f"not measured: no RAPL counter here ({root}/intel-rapl:* absent, as in most VMs)")
    try:
        ranges = [int((d / "max_energy_range_uj").read_text()) for d in domains]
        last = [int((d / "energy_uj").read_text()) for d in domains]
    except (OSError, ValueError) as error:
        raise Skip(f"not measured: RAPL's counters are not readable ({error})") from None
    total_uj = [0]

    def read() -> float:
        for i, domain in enumerate(domains):
            now = int((domain / "energy_uj").read_text())
            total_uj[0] += now - last[i] if now >= last[i] else now + ranges[i] - last[i]  # wrapped
            last[i] = now
        return total_uj[0] / 1e3

    return read, RAPL_METHOD


def meter_for(device: str) -> tuple[Meter | None, str]:
    """The device's meter and how it measures, or None and why not."""
    try:
        return nvml_meter() if device == "cuda" else rapl_meter()
    except Skip as why:
        return None, why.reason


def energy_columns(energy_mj: float, seconds: float, forwards: int, method: str) -> dict[str, object]:
    """energy_mj_per_forward, mean_watts and energy_method of `forwards` that spent `energy_mj` in `seconds`. A
    counter that did not move twice gives empty columns, saying so."""
    if energy_mj <= 0 or forwards <= 0 or seconds <= 0:
        return {"energy_method": f"not measured: the counter did not update twice in {seconds * 1e3:.0f} ms of "
                                 f"forwards ({method})"}
    return {"energy_mj_per_forward": energy_mj / forwards, "mean_watts": energy_mj / 1e3 / seconds,
            "energy_method": f"{method} {seconds:.2f} s apart"}
