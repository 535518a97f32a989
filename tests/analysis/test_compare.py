"""Two runs' answers compared: decided, tied, undecided, and contradictions (analysis.compare.ranking_agreement)."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.compare import ranking_agreement


def _run(times: dict[str, tuple[float, float, float]]) -> tuple[pd.DataFrame, dict]:
    """One case (conv3x3 C=64 on the CPU) timed by each runtime in three rounds."""
    rows, rounds = [], {}
    for runtime, per_round in times.items():
        key = ("conv3x3-c64", runtime, "torch", "cpu", "m")
        rows.append({"stack_id": key[0], "runtime": runtime, "source": "torch", "device": "cpu", "machine": "m",
                     "status": "ok", "variant": "conv3x3", "channels": 64, "ms_per_forward": sorted(per_round)[1]})
        rounds[key] = dict(enumerate(per_round))
    return pd.DataFrame(rows), rounds


def test_a_winner_beaten_in_the_other_run_is_a_contradiction_and_a_tie_is_not():
    a, rounds_a = _run({"x": (10.0, 10.1, 10.0), "y": (20.0, 20.2, 19.9), "torch": (30.0, 30.5, 29.8)})
    b, rounds_b = _run({"x": (20.0, 20.1, 20.2), "y": (10.0, 10.0, 10.1), "torch": (15.0, 15.2, 14.9)})
    flipped = ranking_agreement(a, b, rounds_a, rounds_b)
    assert flipped["A: one fastest"] == flipped["B: one fastest"] == 1 and flipped["contradictions"] == 2
    assert flipped["speedups compared"] == 1 and flipped["speedup intervals overlap"] == 0  # 3.0x against 1.5x
    tied, rounds_t = _run({"x": (10.0, 10.2, 10.1), "y": (10.1, 10.0, 10.2), "torch": (30.0, 30.5, 29.8)})
    same = ranking_agreement(a, tied, rounds_a, rounds_t)
    assert same["B: tie"] == 1 and same["contradictions"] == 0  # B names no one fastest; A's, x, is not beaten in B
