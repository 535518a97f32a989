"""The networks' tables say why a kernel or overhead cell is empty."""

import math
import shutil
from pathlib import Path

import pandas as pd

from convbench.analysis.networks import NOT_PROFILED, empty_kernel_reasons
from convbench.analysis.report import write_report

NAN = math.nan


def _rows(*cells: tuple[str, float, float, object]) -> pd.DataFrame:
    return pd.DataFrame([{"status": "ok", "runtime": runtime, "source": "keras", "device": "cuda", "dtype": "float32",
                          "kernel_ms_per_forward": kernel, "overhead_ms_per_forward": overhead,
                          "kernel_method": method} for runtime, kernel, overhead, method in cells])


def test_each_empty_cell_gets_its_runtime_and_reason_counted():
    lines = empty_kernel_reasons(_rows(
        ("keras-jax", 2.0, 0.5, "CUPTI device records"),
        ("keras-tf", NAN, NAN, "not measured: no profiler here"),
        ("keras-tf", NAN, NAN, "not measured: no profiler here"),
        ("keras-jax", NAN, NAN, NAN),
        ("keras-torch", 3.0, NAN, "CUPTI device records; overhead not given: 1.2x"),
    ))
    assert lines == ["keras-tf[keras]/cuda, 2 case(s): no kernel ms, no profiler here",
                     f"keras-jax[keras]/cuda, 1 case(s): no kernel ms, {NOT_PROFILED}",
                     "1 case(s) have kernel ms but no overhead: their profiled process ran other kernels than the "
                     "timed ones (each row's kernel_method gives the ratio)"]


def test_a_run_that_profiled_nothing_or_everything_has_nothing_to_explain():
    assert empty_kernel_reasons(_rows(("keras-tf", NAN, NAN, NAN))) == []
    assert empty_kernel_reasons(_rows(("keras-jax", 2.0, 0.5, "CUPTI device records"))) == []


def test_the_committed_h200_keras_run_says_why_its_keras_rows_have_no_kernel_time(tmp_path):
    committed = Path(__file__).parents[2] / "docs" / "results" / "h200-keras-2026-12-02"
    run_dir = tmp_path / "run"
    shutil.copytree(committed, run_dir, ignore=shutil.ignore_patterns("report*", "*.png", "NOTES.md", "first-machine"))
    report = write_report(run_dir).read_text()
    forward = report[report.index("## Real networks' conv layers"):report.index("### Where the time goes")]
    assert "- keras-tf[keras]/cuda, 3 case(s): no kernel ms, TensorFlow's GPU kernels" in forward
    steps = report[report.index("### Real networks' training step"):report.index("\n## How far the numbers")]
    assert f"- keras-jax[keras]/cuda bfloat16, 2 case(s): no kernel ms, {NOT_PROFILED}" in steps


def test_the_depthwise_verdict_gives_one_figure_where_one_runtime_was_profiled_and_ranges_over_several():
    from convbench.analysis.networks import depthwise_verdicts

    shares = pd.DataFrame({"network": "mobilenet_v2", "batch": 32, "dtype": "float16",
                           "conv kind": ["pointwise 1x1", "depthwise 3x3"], "layers": [34, 17],
                           "FLOP share": [0.93, 0.07], "a/cuda": [0.5, 0.5]})
    one = depthwise_verdicts(shares)[0]
    assert "and 50.0% of the conv kernel time (7.1x their FLOP share in a/cuda, the only runtime" in one
    assert "**holds**" in one
    two = depthwise_verdicts(shares.assign(**{"b/cuda": [0.9, 0.1]}))[0]
    assert "10.0%-50.0% of the conv kernel time (1.4x-7.1x their FLOP share over 2 runtimes; slowest" in two
    assert "**holds in part**" in two
