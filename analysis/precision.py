"""What lower precision buys: per runtime and conv type, the speed-up of each dtype over the same runtime's
float32, at the largest channel count both were timed at."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import label, medians_at_common_channels
from convbench.models.variants import VARIANTS
from convbench.spec import REFERENCE_DTYPE

SAME_RUNTIME = ["runtime", "source", "device"]


def precision_speedups(results: pd.DataFrame) -> pd.DataFrame:
    """Rows: runtime (with its dtype) x conv type columns; cells: float32 ms / that dtype's ms (above 1: faster).
    Also the relative error of that dtype against the float32 reference, its worst case, as the last column."""
    ok = results[results["status"] == "ok"]
    rows = []
    for key, group in ok.groupby(SAME_RUNTIME, sort=False):
        base = group[group["dtype"] == REFERENCE_DTYPE]
        for dtype, low in group[group["dtype"] != REFERENCE_DTYPE].groupby("dtype", sort=False):
            common = medians_at_common_channels(base, low)
            if common is None:
                continue
            channels, base_ms, low_ms = common
            row = {"runtime": label(*key, dtype), "C": channels}
            row.update({v: base_ms[v] / low_ms[v] for v in VARIANTS if v in base_ms and v in low_ms})
            row["worst parity_rel_err"] = low["parity_rel_err"].max()
            rows.append(row)
    return pd.DataFrame(rows)
