import pandas as pd
import pytest

from convbench.analysis.seed_table import RATIO_ROW, THEORY_ROW, TIME_ROW, seed_tables
from convbench.models.variants import VARIANTS


def results_with(ms: dict[str, float], channels: int = 64, runtime: str = "torch") -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "channels": channels, "runtime": runtime, "source": "torch", "device": "cpu",
                          "dtype": "float32", "status": "ok", "ms_per_forward": t} for v, t in ms.items()])


def test_seed_table_rows_from_known_numbers():
    ms = {"conv1x1": 50.0, "conv3x3": 400.0, "conv5x5": 1200.0}
    [(_, channels, table)] = seed_tables(results_with(ms))
    assert channels == 64
    assert list(table.columns) == ["conv1x1", "conv3x3", "conv5x5"]  # seed order
    assert table.loc[TIME_ROW].tolist() == [5.0, 40.0, 120.0]  # seconds per 100 forwards
    assert table.loc[RATIO_ROW].tolist() == [0.125, 1.0, 3.0]
    assert table.loc[THEORY_ROW].round(3).tolist() == [0.111, 1.0, 2.778]


def test_a_failed_case_shows_as_missing_and_largest_channels_are_used():
    rows = pd.concat([results_with(dict.fromkeys(VARIANTS, 10.0), 64), results_with({"conv3x3": 1.0}, 8)])
    rows.loc[(rows["variant"] == "conv5x5"), "status"] = "failed"
    [(key, channels, table)] = seed_tables(rows)
    assert key == ("torch", "torch", "cpu", "float32") and channels == 64
    assert pd.isna(table.loc[TIME_ROW, "conv5x5"])
    assert table.loc[RATIO_ROW, "conv1x1"] == pytest.approx(1.0)
