"""The 2017 experiment's table: seconds per 100 forwards per conv type, "vs conv3x3", theoretical ratio."""

from __future__ import annotations

import pandas as pd

from convbench.models.variants import REFERENCE_VARIANT, VARIANTS, theoretical_vs_conv3x3

TIME_ROW = "processing time [s / 100 forwards]"
RATIO_ROW = "vs conv3x3"
THEORY_ROW = "theoretical vs conv3x3"
GROUP = ["runtime", "source", "device"]


def seed_table(results: pd.DataFrame, channels: int) -> pd.DataFrame:
    """Three rows x the conv types present (seed order) for one runtime/source/device at `channels`.

    `results` holds the rows of that one group; cases that are not ok show as NaN."""
    at_c = results[(results["channels"] == channels) & (results["status"] == "ok")]
    ms = at_c.groupby("variant")["ms_per_forward"].median()
    variants = [v for v in VARIANTS if v in set(results["variant"])]
    seconds = pd.Series({v: ms.get(v, float("nan")) * 100 / 1e3 for v in variants}, dtype=float)
    reference = seconds.get(REFERENCE_VARIANT, float("nan"))
    return pd.DataFrame(
        {
            TIME_ROW: seconds,
            RATIO_ROW: seconds / reference,
            THEORY_ROW: pd.Series({v: theoretical_vs_conv3x3(v, channels) for v in variants}),
        }
    ).T[variants]


def seed_tables(results: pd.DataFrame) -> list[tuple[tuple[str, str, str], int, pd.DataFrame]]:
    """One seed table per runtime/source/device that has an ok case, at its largest channel count."""
    tables = []
    for key, group in results.groupby(GROUP, sort=False):
        ok = group[group["status"] == "ok"]
        if ok.empty:
            continue
        channels = int(ok["channels"].max())
        tables.append((tuple(key), channels, seed_table(group, channels)))
    return tables
