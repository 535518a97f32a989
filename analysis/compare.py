"""`convbench compare RUN_A RUN_B`: the same cases in two runs (two machines, two software versions)."""

from __future__ import annotations

import pandas as pd

from convbench.results import KEY_COLUMNS


def compare_runs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per case in both runs (ok in both): both medians, B / A, and whether |B - A| exceeds the two IQRs summed.

    The spread test is deliberately plain: medians further apart than the sum of the two runs' interquartile
    ranges are called a difference; closer ones are within what the runs themselves measured as noise."""
    cols = [*KEY_COLUMNS, "variant", "channels", "ms_per_forward", "ms_iqr"]
    left = a.loc[a["status"] == "ok", cols]
    right = b.loc[b["status"] == "ok", cols]
    both = left.merge(right, on=[*KEY_COLUMNS, "variant", "channels"], suffixes=("_a", "_b"))
    both["b_vs_a"] = both["ms_per_forward_b"] / both["ms_per_forward_a"]
    spread = both["ms_iqr_a"] + both["ms_iqr_b"]
    both["differs"] = (both["ms_per_forward_b"] - both["ms_per_forward_a"]).abs() > spread
    return both.sort_values([*KEY_COLUMNS]).reset_index(drop=True)
