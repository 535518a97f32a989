"""Which machine timed a row: its label (the hardware a reader compares: the CPU model and its usable cores, or the
GPU model), its host name and, in a cluster, its Ray node. A run keys its rows by machine as well as by case, so one
run (a cluster's) or a merge of runs can hold the same case timed on several machines.

CONVBENCH_MACHINE, where set, is the label instead (a cloud instance type, a rack name); set it before `ray start`
for a cluster node, so that its tasks inherit it."""

from __future__ import annotations

import os
import platform

LABEL_VARIABLE = "CONVBENCH_MACHINE"


def machine_label(env: dict, device: str) -> str:
    """The label of the machine described by `env` (convbench.envinfo.collect_env) for rows timed on `device`."""
    if env.get("machine_name"):  # CONVBENCH_MACHINE where the env was collected
        return str(env["machine_name"])
    if device == "cuda":
        gpus = env.get("gpus") or []
        return str(gpus[0]["name"]) if gpus else "no GPU"
    return f"{env.get('cpu_model', 'unknown CPU')} ({env.get('cpu_affinity') or env.get('cpu_count')} cores)"


def this_host() -> str:
    return platform.node() or "unknown host"


def machine_ceilings(env: dict, machine: object, device: str) -> dict:
    """The ceilings of `machine` on `device`: its own where env.json keeps machines (a cluster or a merged run), else
    the run's (a run timed on one machine)."""
    own = ((env.get("machines") or {}).get(str(machine)) or {}).get("ceilings") or {}
    return own.get(device) or (env.get("ceilings") or {}).get(device) or {}


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which a CPU runtime's threads share."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
