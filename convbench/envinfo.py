"""Environment metadata stored once per run (env.json): versions, CPU, threads, GPU. Imports no framework."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

import convbench
from convbench.machines import LABEL_VARIABLE
from convbench.malloc_settings import workers_malloc

# Distribution names to look up; the first installed name of each group is reported under the group's key.
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime-gpu", "onnxruntime"),  # where both are installed the GPU build is the one used
    "onnxscript": ("onnxscript",),
    "tf2onnx": ("tf2onnx",),
    "jax": ("jax",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
}


def installed_distribution(names: tuple[str, ...]) -> str | None:
    """The first of `names` that is installed."""
    for name in names:
        try:
            metadata.version(name)
            return name
        except metadata.PackageNotFoundError:
            continue
    return None


def package_version(names: tuple[str, ...]) -> str | None:
    name = installed_distribution(names)
    return metadata.version(name) if name else None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpus() -> list[dict[str, str]]:
    """Name, driver and memory of each NVIDIA GPU that nvidia-smi lists; [] where there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[part.strip() for part in line.split(",")] for line in out.strip().splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) >= 3]


def collect_env(threads: int) -> dict[str, object]:
    env: dict[str, object] = {
        "convbench": convbench.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": {
            "intra_op": threads,
            "inter_op": 1,
            "how": "torch.set_num_threads; tf.config.threading intra/inter; ORT SessionOptions intra/inter; "
            "OMP_NUM_THREADS and MKL_NUM_THREADS in every worker",
        },
        "malloc": workers_malloc(),
        "versions": {key: package_version(names) for key, names in PACKAGES.items()},
        "onnxruntime_distribution": installed_distribution(PACKAGES["onnxruntime"]),
        "gpus": gpus(),
    }
    if os.environ.get(LABEL_VARIABLE):  # the machine's name, where its owner gave one (convbench.machines)
        env["machine_name"] = os.environ[LABEL_VARIABLE]
    env["env_id"] = env_id(env)
    return env


def env_id(env: dict[str, object]) -> str:
    """Short hash of everything that identifies the environment (not the time)."""
    body = {k: v for k, v in env.items() if k != "env_id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
