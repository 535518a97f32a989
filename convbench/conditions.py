"""The machine's conditions around a timing: CPU frequency and governor, load average, how busy the CPUs were
just before (other processes: none of this run's workers is running then), and on NVIDIA GPUs the SM
clock, temperature, clock-event (throttle) reasons and other processes, read through NVML (nvidia-ml-py).

A snapshot is a plain dict, stored one JSON line each in the run directory's conditions.jsonl, before and after
each family's process times its cases. Nothing here imports a framework."""

from __future__ import annotations

import glob
import os
import time
from datetime import datetime
from pathlib import Path

from convbench.errors import Skip

# NVML clock-event reasons that mean the clocks were held down (not idling, not an application clock setting).
SLOWDOWN_REASONS = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                    "hw_power_brake_slowdown", "sync_boost")


def cpu_busy_fraction(seconds: float = 0.25) -> float | None:
    """Fraction of all CPU time that was busy over the next `seconds` (/proc/stat). Taken while this run has no
    worker timing anything, it is what other processes are doing to the machine."""
    def ticks() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = ticks()
        time.sleep(seconds)
        total1, idle1 = ticks()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else None


def cpu_conditions(busy_sample: bool) -> dict[str, object]:
    freqs = []
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            freqs.append(int(Path(path).read_text()) / 1e3)
        except (OSError, ValueError):
            continue
    if not freqs:  # no cpufreq in many VMs: /proc/cpuinfo's "cpu MHz" is what the kernel reports
        try:
            freqs = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("cpu MHz")]
        except (OSError, ValueError):
            freqs = []
    governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    load1, load5, _ = os.getloadavg()
    return {
        "cpu_busy_fraction": cpu_busy_fraction() if busy_sample else None,
        "cpu_mhz_min": min(freqs) if freqs else None,
        "cpu_mhz_max": max(freqs) if freqs else None,
        "cpu_governor": governor.read_text().strip() if governor.exists() else None,
        "loadavg_1min": load1,
        "loadavg_5min": load5,
    }


def gpu_conditions() -> list[dict[str, object]] | Skip:
    """Per NVIDIA GPU: clocks, temperature, active clock-event reasons, other compute processes; or Skip saying why
    there are none (conditions.jsonl keeps its reason as the `gpus` text)."""
    try:
        import pynvml
    except ImportError:
        return Skip("nvidia-ml-py (pynvml) not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return Skip(f"NVML unavailable: {error}")
    try:
        prefix = "nvmlClocksThrottleReason"  # the older spelling, which every nvidia-ml-py release has
        reasons = {_snake(name.removeprefix(prefix)): bit for name, bit in vars(pynvml).items()
                   if name.startswith(prefix) and not name.endswith(("All", "None")) and isinstance(bit, int)}
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            active = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
            processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            gpus.append({
                "index": index,
                "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
                "sm_clock_max_mhz": pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM),
                "temperature_c": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
                "clock_event_reasons": sorted(name for name, bit in reasons.items() if active & bit),
                "compute_processes": [{"pid": p.pid, "used_mib": (p.usedGpuMemory or 0) // 2**20}
                                      for p in processes],
            })
        return gpus
    except pynvml.NVMLError as error:
        return Skip(f"NVML query failed: {error}")
    finally:
        pynvml.nvmlShutdown()


def _snake(name: str) -> str:
    """SwPowerCap -> sw_power_cap."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def snapshot(family: str, process: int, phase: str, worker_pids: tuple[int, ...] = ()) -> dict[str, object]:
    """The conditions now. GPU processes other than this run's own workers are listed as `other_processes`."""
    gpus = gpu_conditions()
    ours = {os.getpid(), *worker_pids}
    if not isinstance(gpus, Skip):
        for gpu in gpus:
            gpu["other_processes"] = [p for p in gpu["compute_processes"] if p["pid"] not in ours]
    return {"at": datetime.now().isoformat(timespec="seconds"), "family": family, "process": process,
            "phase": phase, **cpu_conditions(busy_sample=phase == "before"),
            "gpus": gpus.reason if isinstance(gpus, Skip) else gpus}
