"""Real networks' conv layers: where the time goes by conv kind against where the FLOPs are, the layers slowest
for their FLOPs, and the seed's depthwise conclusion re-tested inside MobileNetV2 and EfficientNet-B0.

Reads results.csv's network rows and layers.csv (each conv layer's kernel time, as the runtime's profiler timed
it, where the profiler tells the layers apart); runs nothing."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import label
from convbench.analysis.trust import time_to_first_result_ms
from convbench.results import KEY_COLUMNS

CASE = KEY_COLUMNS  # a case on one machine
NETWORK_GROUP = ["network", "batch", "dtype"]
DEPTHWISE_NETWORKS = ("mobilenet_v2", "efficientnet_b0")


def runtime_label(row: pd.Series) -> str:
    return label(row["runtime"], row["source"], row["device"], row["dtype"])


def network_times(results: pd.DataFrame) -> pd.DataFrame:
    """One row per network case that ran ok: ms per forward with its spread between processes, GFLOP, achieved
    GFLOP/s, p50 latency, kernel and overhead ms (where profiled), and the time to its first result in seconds."""
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "network": ok["network"], "batch": ok["batch"], "dtype": ok["dtype"],
        "runtime": ok.apply(runtime_label, axis=1),
        "ms per forward": ok["ms_per_forward"],
        "processes (min-max ms)": [f"{a:.3g}-{b:.3g}" for a, b in zip(ok["ms_process_min"], ok["ms_process_max"],
                                                                          strict=True)],
        "GFLOP": ok["gflop"], "GFLOP/s": ok["gflop_per_s"], "p50 latency ms": ok["latency_ms_p50"],
        "kernel ms": ok["kernel_ms_per_forward"], "overhead ms": ok["overhead_ms_per_forward"],
        "first result s": time_to_first_result_ms(ok) / 1e3,
    }).sort_values(["network", "batch", "dtype", "ms per forward"]).reset_index(drop=True)


NOT_PROFILED = ("timed, not profiled: the run stopped before its profile (`bench --run-dir` with the same flags and "
                "--profile profiles it)")


def empty_kernel_reasons(results: pd.DataFrame) -> list[str]:
    """Why network_times leaves a kernel or overhead cell empty, one line per runtime and reason (its
    kernel_method's words, or that the case was never profiled); nothing for a run that profiled no case."""
    ok = results[results["status"] == "ok"]
    if ok.empty or "kernel_method" not in ok or ok["kernel_method"].isna().all():
        return []
    lines = []
    no_kernel = ok[ok["kernel_ms_per_forward"].isna()]
    if not no_kernel.empty:
        reasons = no_kernel["kernel_method"].where(no_kernel["kernel_method"].notna(), NOT_PROFILED).astype(str)
        counted = pd.DataFrame({"runtime": no_kernel.apply(runtime_label, axis=1),
                                "reason": reasons.str.removeprefix("not measured: ")}).value_counts(sort=False)
        lines += [f"{runtime}, {n} case(s): no kernel ms, {reason}" for (runtime, reason), n in counted.items()]
    no_overhead = ok[ok["kernel_ms_per_forward"].notna() & ok["overhead_ms_per_forward"].isna()]
    if len(no_overhead):
        lines.append(f"{len(no_overhead)} case(s) have kernel ms but no overhead: their profiled process ran other "
                     "kernels than the timed ones (each row's kernel_method gives the ratio)")
    return lines


def _with_case(layers: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """layers.csv rows of the network cases that ran ok, with their network, batch, dtype and runtime label."""
    ok = results[results["status"] == "ok"]
    if layers.empty or ok.empty:
        return pd.DataFrame()
    cases = ok[[*CASE, *NETWORK_GROUP]].assign(label=ok.apply(runtime_label, axis=1))
    return layers.merge(cases, on=CASE)


def kind_shares(layers: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Per network, batch, dtype and conv kind: its share of the conv FLOPs, and its share of the conv kernel time
    in each runtime whose profiler timed every layer (one column per runtime)."""
    merged = _with_case(layers, results)
    if merged.empty:
        return pd.DataFrame()
    rows = []
    for (network, batch, dtype), group in merged.groupby(NETWORK_GROUP, sort=False):
        one_case = group[group["label"] == group["label"].iloc[0]]
        flops = one_case.groupby("conv_kind")["gflop"].sum()
        time = group.groupby(["conv_kind", "label"])["layer_share"].sum().unstack("label")
        for kind in flops.sort_values(ascending=False).index:
            rows.append({"network": network, "batch": batch, "dtype": dtype, "conv kind": kind,
                         "layers": int((one_case["conv_kind"] == kind).sum()),
                         "FLOP share": flops[kind] / flops.sum(), **time.loc[kind].to_dict()})
    return pd.DataFrame(rows)


def slowest_for_flops(layers: pd.DataFrame, results: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """Per network, batch and dtype: the layers whose time share is largest against their FLOP share (the median
    of that ratio over the runtimes that timed every layer), with their kind, GFLOP and each runtime's ms."""
    merged = _with_case(layers, results)
    if merged.empty:
        return pd.DataFrame()
    merged = merged.assign(flop_share=merged["gflop"] / merged.groupby(CASE)["gflop"].transform("sum"))
    merged = merged.assign(ratio=merged["layer_share"] / merged["flop_share"])
    rows = []
    for (network, batch, dtype), group in merged.groupby(NETWORK_GROUP, sort=False):
        per_layer = group.groupby(["layer", "conv_kind"], sort=False).agg(
            gflop=("gflop", "first"), ratio=("ratio", "median"), ms=("ms_per_forward", "median"))
        for (layer, kind), row in per_layer.sort_values("ratio", ascending=False).head(top).iterrows():
            rows.append({"network": network, "batch": batch, "dtype": dtype, "layer": layer, "conv kind": kind,
                         "GFLOP": row["gflop"], "time share / FLOP share (median over runtimes)": row["ratio"],
                         "kernel ms (median over runtimes)": row["ms"]})
    return pd.DataFrame(rows)


def depthwise_verdicts(shares: pd.DataFrame) -> list[str]:
    """The 2017 depthwise conclusion (far slower than its FLOPs predict) re-tested where depthwise convs matter:
    their share of the conv time against their share of the FLOPs, per network, batch and dtype."""
    if shares.empty:
        return []
    lines = []
    for (network, batch, dtype), group in shares.groupby(NETWORK_GROUP, sort=False):
        if network not in DEPTHWISE_NETWORKS:
            continue
        depthwise = group[group["conv kind"].str.startswith("depthwise")]
        if depthwise.empty:
            continue
        runtimes = [c for c in group.columns if c not in ("network", "batch", "dtype", "conv kind", "layers",
                                                          "FLOP share")]
        flop_share = depthwise["FLOP share"].sum()
        time_share = depthwise[runtimes].sum()
        time_share = time_share[time_share > 0]
        if time_share.empty:
            continue
        ratio = time_share / flop_share
        verdict = "holds" if ratio.min() > 1.5 else "does not hold" if ratio.max() < 1.5 else "holds in part"
        over = (f"over {len(ratio)} runtimes; slowest for its FLOPs: {ratio.idxmax()}" if len(ratio) > 1 else
                f"in {ratio.index[0]}, the only runtime profiled by layer")
        lines.append(f"**{network}, batch {batch}, {dtype}:** depthwise convs are {flop_share:.1%} of the conv FLOPs "
                     f"and {_span(time_share, '.1%')} of the conv kernel time ({_span(ratio, '.1f', 'x')} their FLOP "
                     f"share {over}). The 2017 conclusion (depthwise far slower than its FLOPs predict, taken as over "
                     f"1.5x its FLOP share in every runtime) **{verdict}** here.")
    return lines


def _span(values: pd.Series, fmt: str, unit: str = "") -> str:
    """The lowest and highest of `values` as "low-high" (each with `unit`), or one value where both read the same."""
    low, high = format(values.min(), fmt) + unit, format(values.max(), fmt) + unit
    return low if low == high else f"{low}-{high}"
