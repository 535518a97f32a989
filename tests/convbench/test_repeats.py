"""Repeats in fresh processes, on known numbers: orders, aggregation, the unstable rule."""

import pytest

from convbench.repeats import aggregate, is_unstable, process_orders


def test_each_process_runs_the_cases_in_an_order_different_from_the_one_before():
    for n in (2, 3, 7, 20):
        orders = process_orders(list(range(n)), 5)
        assert orders[0] == list(range(n))
        for before, after in zip(orders, orders[1:], strict=False):
            assert sorted(after) == sorted(before) and after != before
    assert process_orders(["only"], 3) == [["only"]] * 3


def _row(median, iqr, samples=5, latency=(1.0, 2.0, 3.0)):
    return {"ms_per_forward": median, "ms_iqr": iqr, "ms_min": median * 0.9, "cv": 0.01, "samples": samples,
            "iterations": 4, "latency_ms_p50": latency[0], "latency_ms_p90": latency[1],
            "latency_ms_p99": latency[2], "latency_forwards": 20, "setup_ms": 10.0, "first_forward_ms": 5.0,
            "compile_ms": None, "import_ms": 100.0, "parity_rel_err": 1e-7}


def test_aggregate_is_the_median_of_process_medians_with_their_range():
    out = aggregate([_row(12.0, 0.2), _row(10.0, 0.1), _row(11.0, 0.3, latency=(1.5, 2.5, 9.0))])
    assert out["ms_per_forward"] == 11.0
    assert (out["ms_process_min"], out["ms_process_max"]) == (10.0, 12.0)
    assert out["process_spread"] == pytest.approx(2 / 11)
    assert out["ms_iqr"] == 0.2 and out["ms_min"] == pytest.approx(9.0)
    assert out["samples"] == 15 and out["latency_forwards"] == 60 and out["processes"] == 3
    assert out["latency_ms_p99"] == 3.0  # median of the processes' p99s
    assert out["compile_ms"] != out["compile_ms"]  # NaN where no process separated compilation
    assert out["unstable"]  # 18% apart, each process within ~2%: far beyond


def test_the_cold_start_is_the_cold_processes_where_a_compile_cache_served_the_others():
    cold = {**_row(10.0, 0.1), "setup_ms": 19000.0, "compile_ms": 18500.0, "compile_cache": "cold"}
    warm = [{**_row(10.0, 0.1), "setup_ms": 2500.0, "compile_ms": 2400.0, "compile_cache": "warm"} for _ in range(2)]
    out = aggregate([warm[0], cold, warm[1]])
    assert (out["setup_ms"], out["compile_ms"], out["compile_cache"]) == (19000.0, 18500.0, "cold")
    out = aggregate(warm)  # a machine that compiled the case before: every process warm, and the row says so
    assert (out["compile_ms"], out["compile_cache"]) == (2400.0, "warm")
    assert aggregate([_row(10.0, 0.1)])["compile_cache"] is None  # a runtime without such a cache


def test_unstable_rule_on_known_numbers():
    assert is_unstable(0.68, 0.05)  # the conv1x1 C=8: 4.3 vs 11.6 vs 12.2 ms
    assert is_unstable(0.13, 0.01)  # conv5x5 C=64: 278 vs 316 ms, cv under 2%
    assert not is_unstable(0.08, 0.001)  # under 10% apart: not worth a flag however steady each process is
    assert not is_unstable(0.30, 0.10)  # noisy processes that agree within four IQRs
    assert not aggregate([_row(10.0, 0.01)])["unstable"]  # one process cannot disagree with itself
