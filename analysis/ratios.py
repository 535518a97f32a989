"""Per runtime/source/device: median ms per forward of each conv type at the largest channel count, and ratios."""

from __future__ import annotations

import pandas as pd

from convbench.models.variants import REFERENCE_VARIANT, VARIANTS

GROUP = ["runtime", "source", "device", "dtype"]  # one "runtime" of the report: a runtime on a model, device, dtype


def label(runtime: str, source: str, device: str, dtype: str = "float32") -> str:
    """How a runtime is named in the report, e.g. `ort[tf2onnx]/cpu`, `torch[torch]/cuda float16`."""
    return f"{runtime}[{source}]/{device}" + ("" if dtype == "float32" else f" {dtype}")


def ok_at_largest_channels(results: pd.DataFrame) -> pd.DataFrame:
    """The ok rows of each runtime/source/device/dtype at that group's largest channel count."""
    ok = results[results["status"] == "ok"]
    largest = ok.groupby(GROUP)["channels"].transform("max")
    return ok[ok["channels"] == largest]


def times_at_largest_channels(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (runtime, source, device, dtype) with an ok case, indexed by those: the median ms per forward
    of each conv type of the run (seed order; NaN where not ok) at that group's largest ok channel count, and
    `channels`."""
    variants = [v for v in VARIANTS if v in set(results["variant"])]
    ok = results[results["status"] == "ok"]
    rows = {}
    for key, group in ok.groupby(GROUP, sort=False):
        channels = int(group["channels"].max())
        medians = group[group["channels"] == channels].groupby("variant")["ms_per_forward"].median()
        rows[key] = {**{v: medians.get(v, float("nan")) for v in variants}, "channels": channels}
    if not rows:
        return pd.DataFrame(columns=[*variants, "channels"])
    times = pd.DataFrame.from_dict(rows, orient="index")
    times.index = pd.MultiIndex.from_tuples(times.index, names=GROUP)
    return times


def medians_at_common_channels(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, pd.Series, pd.Series] | None:
    """The largest channel count both groups of ok rows were timed at, and each group's median ms per forward per
    conv type there; None where they share none."""
    common = set(a["channels"]) & set(b["channels"])
    if not common:
        return None
    channels = max(common)
    return (channels, *(g[g["channels"] == channels].groupby("variant")["ms_per_forward"].median() for g in (a, b)))


def vs_conv3x3(times: pd.DataFrame) -> pd.DataFrame:
    """Each conv type's time over conv3x3's, per row of `times_at_largest_channels`."""
    variants = [v for v in VARIANTS if v in times.columns]
    return times[variants].div(times[REFERENCE_VARIANT], axis=0)
