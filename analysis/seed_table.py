"""The 2017 experiment's table: seconds per 100 forwards per conv type, "vs conv3x3", theoretical ratio."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import times_at_largest_channels
from convbench.models.variants import REFERENCE_VARIANT, VARIANTS, theoretical_vs_conv3x3

TIME_ROW = "processing time [s / 100 forwards]"
STEP_TIME_ROW = "processing time [s / 100 training steps]"  # the same table for the train pass
RATIO_ROW = "vs conv3x3"
THEORY_ROW = "theoretical vs conv3x3"


def seed_tables(results: pd.DataFrame, time_row: str = TIME_ROW
                ) -> list[tuple[tuple[str, str, str], int, pd.DataFrame]]:
    """One seed table per runtime/source/device that has an ok case, at its largest channel count: three rows
    x the run's conv types in the seed's order; a case that is not ok shows as NaN. `time_row` names the time row
    (STEP_TIME_ROW for training steps)."""
    times = times_at_largest_channels(results)
    variants = [v for v in VARIANTS if v in times.columns]
    tables = []
    for key, row in times.iterrows():
        channels = int(row["channels"])
        seconds = row[variants].astype(float) * 100 / 1e3
        table = pd.DataFrame({
            time_row: seconds,
            RATIO_ROW: seconds / seconds.get(REFERENCE_VARIANT, float("nan")),
            THEORY_ROW: pd.Series({v: theoretical_vs_conv3x3(v, channels) for v in variants}),
        }).T[variants]
        tables.append((key, channels, table))
    return tables
