"""Repeats in fresh processes (pyperf's rule): the order each process runs a family's cases in, the one result
row made from a case's per-process rows, and when the spread between processes calls a case unstable."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# A case is unstable when its processes' medians spread (max - min over the median) further than both
# UNSTABLE_IQR_FACTOR times the within-process interquartile range (relative to the median) and UNSTABLE_SPREAD.
UNSTABLE_IQR_FACTOR = 4.0
UNSTABLE_SPREAD = 0.10

# Per-process columns whose result is the median over processes (the statistics of one process's samples).
MEDIAN_OVER_PROCESSES = ("ms_per_forward", "ms_iqr", "cv", "latency_ms_p50", "latency_ms_p90", "latency_ms_p99",
                         "import_ms")
# The cold start's columns: the median over the processes that compiled cold, where an on-disk compile cache
# served the others (torch.compile's later processes), else over every process.
COLD_START = ("setup_ms", "compile_ms", "first_forward_ms")


def process_orders(items: Sequence[T], processes: int) -> list[list[T]]:
    """The order each of `processes` workers runs `items` in: the first as given, each later one a seeded shuffle
    that differs from the previous one's wherever two items allow it (reversed where the shuffle matched)."""
    orders = [list(items)]
    for k in range(1, processes):
        order = list(items)
        random.Random(k).shuffle(order)
        if order == orders[-1]:
            order.reverse()
        orders.append(order)
    return orders


def is_unstable(process_spread: float, within_iqr_rel: float) -> bool:
    """True when processes disagree far beyond what each process's own samples vary by."""
    return bool(process_spread > UNSTABLE_SPREAD and process_spread > UNSTABLE_IQR_FACTOR * within_iqr_rel)


def _median(rows: Sequence[dict[str, object]], column: str) -> float:
    values = [float(v) for r in rows if (v := r.get(column)) is not None and v == v]  # drop None and NaN
    return float(np.median(values)) if values else float("nan")


def aggregate(rows: Sequence[dict[str, object]]) -> dict[str, object]:
    """One result row from a case's ok per-process rows: the median over processes of each process's median
    (and of its other statistics), the processes' range and spread, and the unstable flag. The cold start
    (COLD_START) is the median over the processes whose compile was cold, where others' was warm."""
    if not rows:
        raise ValueError("no process rows to aggregate")
    medians = [float(r["ms_per_forward"]) for r in rows]
    out: dict[str, object] = {column: _median(rows, column) for column in MEDIAN_OVER_PROCESSES}
    caches = [r.get("compile_cache") for r in rows]
    cold = [r for r, cache in zip(rows, caches, strict=True) if cache == "cold"]
    out.update({column: _median(cold or rows, column) for column in COLD_START})
    out["compile_cache"] = "cold" if cold else "warm" if "warm" in caches else None
    median = out["ms_per_forward"]
    spread = (max(medians) - min(medians)) / median if median else float("nan")
    within = _median([{"rel": float(r["ms_iqr"]) / float(r["ms_per_forward"])} for r in rows], "rel")
    out.update(
        ms_min=min(float(r["ms_min"]) for r in rows),
        samples=int(sum(int(r["samples"]) for r in rows)),
        iterations=int(np.median([int(r["iterations"]) for r in rows])),
        latency_forwards=int(sum(int(r["latency_forwards"]) for r in rows)),
        processes=len(rows),
        ms_process_min=min(medians),
        ms_process_max=max(medians),
        process_spread=spread,
        unstable=is_unstable(spread, within) if len(rows) > 1 else False,
        parity_rel_err=max(float(r["parity_rel_err"]) for r in rows),
    )
    return out
