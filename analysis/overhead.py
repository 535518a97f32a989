"""Kernel vs overhead and the roofline, from the results' profiler and floor columns."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import GROUP, label
from convbench.models.variants import VARIANTS


def kernel_split(results: pd.DataFrame) -> pd.DataFrame:
    """Per runtime/source/device and conv type at that group's largest channel count: wall, kernel and overhead
    ms per forward, overhead per layer in microseconds, kernel share; only cases with a kernel time."""
    if "kernel_ms_per_forward" not in results:
        return pd.DataFrame()
    ok = results[(results["status"] == "ok") & results["kernel_ms_per_forward"].notna()]
    rows = []
    for key, group in ok.groupby(GROUP, sort=False):
        at_c = group[group["channels"] == group["channels"].max()]
        for row in at_c.itertuples():
            rows.append({"runtime": label(*key), "device": key[2], "channels": row.channels, "variant": row.variant,
                         "ms_per_forward": row.ms_per_forward, "kernel_ms": row.kernel_ms_per_forward,
                         "overhead_ms": row.overhead_ms_per_forward,
                         "overhead_us_per_layer": row.overhead_ms_per_forward * 1e3 / row.layers,
                         "kernel_share": row.kernel_ms_per_forward / row.ms_per_forward})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values(["runtime", "variant"], key=lambda c: c.map(order) if c.name == "variant" else c,
                             kind="stable").reset_index(drop=True)


def overhead_paragraph(split: pd.DataFrame, results: pd.DataFrame) -> str:
    """Which runtime has the least overhead per layer, and which conv types sit furthest from their floor."""
    sentences = []
    if not split.empty:
        per_runtime = split.groupby("runtime")["overhead_us_per_layer"].median().sort_values()
        best, worst = per_runtime.index[0], per_runtime.index[-1]
        sentences.append(
            f"Least overhead: {best}, a median {per_runtime.iloc[0]:.1f} µs per layer beyond its kernels "
            f"(most: {worst}, {per_runtime.iloc[-1]:.1f} µs per layer), over the conv types at the largest "
            f"channel count.")
    else:
        sentences.append("No runtime in this run has a kernel time (bench without --profile, or no profiler).")
    if "efficiency" in results and results["efficiency"].notna().any():
        ok = results[(results["status"] == "ok") & results["efficiency"].notna()]
        under = ok[ok["efficiency"] <= 1]
        at_c = under[under["channels"] == under["channels"].max()]
        if not at_c.empty:
            per_variant = at_c.groupby("variant")["efficiency"].median().sort_values()
            far = ", ".join(f"{v} at {e:.1%} of its floor's speed" for v, e in per_variant.head(3).items())
            sentences.append(f"Furthest from the roofline floor at C={int(at_c['channels'].max())} (median over "
                             f"runtimes, cases at or under the ceiling): {far}; closest: {per_variant.index[-1]} at "
                             f"{per_variant.iloc[-1]:.1%}.")
        above = ok[ok["efficiency"] > 1]
        if not above.empty:
            variants = ", ".join(sorted(set(above["variant"].dropna())))
            sentences.append(f"{len(above)} of {len(ok)} cases ran faster than their floor ({variants}): \"Cases "
                             "above the ceiling\" below gives each one's cause, or says that none is known.")
    else:
        sentences.append("No roofline floor: the machine's ceilings were not measured in this run.")
    return " ".join(sentences)
