"""Cases above the ceiling: flagged with their likely cause from known numbers, never shown as an efficiency
above 100%."""

import pandas as pd

from convbench.analysis.above_ceiling import (
    FLAG_COLUMN,
    cause,
    ceiling_lines,
    efficiency_text,
    with_ceiling_flags,
)
from convbench.analysis.report import write_report
from tests.analysis.test_report import write_run

# knee = 100 GFLOP/s / 10 GB/s = 10 FLOP per byte
CEILINGS = {"peak_gflop_per_s": 100.0, "peak_from": "openvino", "bandwidth_gb_per_s": 10.0, "matmul_n": 2048,
            "gemm_gflop_per_s_torch": 90.0, "gemm_gflop_per_s_ort": 95.0, "gemm_gflop_per_s_openvino": 100.0,
            "theoretical_peak_gflop_per_s": 80.0, "theoretical_peak_source": "2 cores x 1.25 GHz x 32 FLOP/cycle"}


def test_the_cause_follows_the_bound_and_the_conv_type():
    assert cause(0.9, "conv3x3", 50.0, 100.0, 10.0) == ""  # at or under its floor: no flag
    assert cause(1.3, "conv3x3sep", 2.0, 100.0, 10.0) == "in cache"  # memory-bound floor
    assert cause(1.3, "conv3x3", 50.0, 100.0, 10.0) == "fast algorithm"  # compute-bound, Winograd applies
    assert cause(1.3, "conv5x5", 50.0, 100.0, 10.0) == "fast algorithm"
    assert cause(1.3, "conv1x1", 50.0, 100.0, 10.0) == "ceiling too low"  # compute-bound, a plain GEMM
    assert cause(1.3, "conv3x3dilated", 50.0, 100.0, 10.0) == "ceiling too low"


def test_every_efficiency_above_one_gets_a_flag_and_is_never_a_percentage():
    rows = pd.DataFrame({"device": "cpu", "variant": ["conv3x3", "conv1x1", "conv3x3sep", "conv5x5"],
                         "efficiency": [0.8, 1.2, 1.1, float("nan")], "arithmetic_intensity": [50.0, 40.0, 2.0, 60.0],
                         "peak_used": "peak_gflop_per_s"})
    flagged = with_ceiling_flags(rows, {"ceilings": {"cpu": CEILINGS}})
    assert list(flagged[FLAG_COLUMN]) == ["", "ceiling too low", "in cache", ""]
    texts = [efficiency_text(e, f) for e, f in zip(flagged["efficiency"], flagged[FLAG_COLUMN], strict=True)]
    assert texts == ["80%", "above ceiling (ceiling too low)", "above ceiling (in cache)", ""]


def test_ceiling_lines_name_each_gemm_and_the_theoretical_peak_and_say_when_a_gemm_beats_it():
    lines = "\n".join(ceiling_lines(CEILINGS, "cpu"))
    assert "**100 GFLOP/s**" in lines and "(openvino; torch 90; ort 95" in lines
    assert "theoretical float32 peak: 80 GFLOP/s = 2 cores x 1.25 GHz" in lines
    assert "1.25x it" in lines and "boost" in lines


def test_report_flags_cases_above_their_floor_and_shows_no_efficiency_above_100_percent(tmp_path):
    run_dir = write_run(tmp_path / "run")
    results = pd.read_csv(run_dir / "results.csv")
    # conv3x3 and conv1x1 beat their floor (compute-bound), everything else runs at half its floor's speed
    results["arithmetic_intensity"] = 50.0
    results["peak_used"] = "peak_gflop_per_s"
    results["efficiency"] = results["variant"].map({"conv3x3": 1.4, "conv1x1": 1.2}).fillna(0.5)
    results.to_csv(run_dir / "results.csv", index=False)
    env = run_dir / "env.json"
    env.write_text(env.read_text().replace('"env_id"', '"ceilings": {"cpu": ' + pd.io.json.ujson_dumps(CEILINGS)
                                           + '}, "env_id"'))
    report = write_report(run_dir).read_text()
    assert "### Cases above the ceiling" in report
    assert "above ceiling (fast algorithm)" in report and "above ceiling (ceiling too low)" in report
    assert "140%" not in report and "120%" not in report
    assert "cpu float32 peak: **100 GFLOP/s**" in report
