"""Repeats in fresh processes (pyperf's rule): the order each process runs a family's cases in, the one result
row made from a case's per-process rows, and when the spread between processes calls a case unstable."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from convbench.schema import combined

T = TypeVar("T")

# A case is unstable when its processes' medians spread (max - min over the median) further than both
# UNSTABLE_IQR_FACTOR times the within-process interquartile range (relative to the median) and UNSTABLE_SPREAD.
UNSTABLE_IQR_FACTOR = 4.0
UNSTABLE_SPREAD = 0.10

def round_order(items: Sequence[T], k: int) -> list[T]:
    """The order of `items` in round k (as process_orders gives it, for a k beyond their count too)."""
    return process_orders(items, k + 1)[k]


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


def _values(rows: Sequence[dict[str, object]], column: str) -> list[float]:
    """The column's numbers in `rows`, without missing cells (None, NaN)."""
    values = [float(v) for r in rows if (v := r.get(column)) is not None and v != ""]
    return [v for v in values if not math.isnan(v)]


def _median(rows: Sequence[dict[str, object]], column: str) -> float:
    values = _values(rows, column)
    return float(np.median(values)) if values else math.nan


def _joined(rows: Sequence[dict[str, object]], column: str) -> str:
    return ", ".join(dict.fromkeys(str(v) for r in rows if isinstance(v := r.get(column), str) and v))


def _first(rows: Sequence[dict[str, object]], column: str) -> object:
    return next((v for r in rows if (v := r.get(column)) is not None and v != ""), None)


# How each rule of convbench.schema's `combine` makes a result value from the process rows (all ok; for
# median_cold: the cold ones where any was cold). "repeats" columns are computed by `aggregate` itself.
COMBINE: dict[str, Callable[[Sequence[dict[str, object]], str], object]] = {
    "median": _median,
    "median_cold": _median,
    "min": lambda rows, column: min(_values(rows, column), default=math.nan),
    "max": lambda rows, column: max(_values(rows, column), default=math.nan),
    "sum": lambda rows, column: int(sum(_values(rows, column))),
    "first": _first,
    "join": _joined,
}


def aggregate(rows: Sequence[dict[str, object]]) -> dict[str, object]:
    """One result row from a case's ok per-process rows: each column both tables carry combined by its rule in
    convbench.schema (the median over processes of each process's median, the fastest sample, the samples'
    sum, the worst parity ...; the cold start over the processes whose compile was cold, where others' was warm),
    then the spread between processes: their range, its share of the median, and the unstable flag."""
    if not rows:
        raise ValueError("no process rows to aggregate")
    caches = [r.get("compile_cache") for r in rows]
    cold = [r for r, cache in zip(rows, caches, strict=True) if cache == "cold"]
    out: dict[str, object] = {}
    for rule, combine in COMBINE.items():
        over = (cold or rows) if rule == "median_cold" else rows
        out.update({column: combine(over, column) for column in combined(rule)})  # type: ignore[arg-type]
    out["iterations"] = int(out["iterations"])  # type: ignore[call-overload]
    out["compile_cache"] = "cold" if cold else "warm" if "warm" in caches else None
    medians = [float(r["ms_per_forward"]) for r in rows]
    median = float(out["ms_per_forward"])  # type: ignore[arg-type]
    spread = (max(medians) - min(medians)) / median if median else math.nan
    within = _median([{"rel": float(r["ms_iqr"]) / float(r["ms_per_forward"])} for r in rows], "rel")
    out.update(
        processes=len(rows),
        ms_process_min=min(medians),
        ms_process_max=max(medians),
        process_spread=spread,
        unstable=is_unstable(spread, within) if len(rows) > 1 else False,
    )
    missing = set(combined("repeats")) - set(out)
    if missing:
        raise ValueError(f"convbench.schema says repeats computes {sorted(missing)}, which aggregate does not")
    return out
