"""The fastest way to run each conv: per device, dtype, channel count and conv type, the fastest runtime/config of the
run, its speed-up over each framework's plain default, and its efficiency against the roofline floor (flagged, not a
number, where it beat the floor)."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.above_ceiling import FLAG_COLUMN, efficiency_text
from convbench.analysis.ratios import label
from convbench.models.variants import VARIANTS

# The plain default of each framework, against which the fastest config's speed-up is given.
DEFAULTS = {"torch eager": ("torch", "torch"), "keras-tf": ("keras-tf", "keras")}
FASTEST = "fastest"  # the runtime name of the pseudo-runtime made of each case's fastest config
CELL = ["device", "dtype", "channels", "variant"]  # the fastest config is chosen within each of these



def fastest_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per device x channels x conv type with an ok case: which runtime was fastest, its ms per forward,
    the speed-up over each framework default (default / fastest), and floor / fastest (efficiency) as text: a
    percentage, or "above ceiling (cause)" where the case beat its floor (analysis.ceiling)."""
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    best = ok.loc[ok.groupby(CELL)["ms_per_forward"].idxmin()]
    rows = []
    for row in best.itertuples():
        same = ok[(ok[CELL] == [row.device, row.dtype, row.channels, row.variant]).all(axis=1)]
        entry = {"device": row.device, "dtype": row.dtype, "C": row.channels, "conv type": row.variant,
                 "fastest": label(row.runtime, row.source, row.device).rsplit("/", 1)[0],
                 "ms_per_forward": row.ms_per_forward}
        for name, (runtime, source) in DEFAULTS.items():
            default = same[(same["runtime"] == runtime) & (same["source"] == source)]["ms_per_forward"]
            entry[f"x vs {name}"] = float(default.iloc[0]) / row.ms_per_forward if len(default) else float("nan")
        entry["vs roofline floor"] = efficiency_text(getattr(row, "efficiency", float("nan")),
                                                     getattr(row, FLAG_COLUMN, ""))
        entry["unstable"] = _flag(getattr(row, "unstable", False))
        if "library_floor_ms" in results:
            entry["library floor ms"] = getattr(row, "library_floor_ms", float("nan"))
        rows.append(entry)
    table = pd.DataFrame(rows)
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values(["device", "dtype", "C", "conv type"], key=lambda c: c.map(order)
                             if c.name == "conv type" else c).reset_index(drop=True)


def fastest_as_runtime(results: pd.DataFrame) -> pd.DataFrame:
    """The run's result rows reduced to the fastest config of each device x dtype x channels x conv type, relabelled as
    one runtime ("fastest", source "any config"), so every analysis of a runtime (the 2017 findings) applies."""
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return ok
    best = ok.loc[ok.groupby(CELL)["ms_per_forward"].idxmin()].copy()
    best["ranked_runtime"], best["ranked_source"] = best["runtime"], best["source"]  # its rounds' key
    best["runtime"], best["source"] = FASTEST, "any config"
    return best


def _flag(value: object) -> bool:
    """A flag cell as a bool: NA (not judged) is False."""
    return bool(pd.notna(value) and value)
