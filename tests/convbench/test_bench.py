import json
import shutil

import numpy as np
import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.results import COLUMNS
from convbench.spec import StackSpec
from tests.conftest import QUICK_TIMING, SMALL_SPECS, SMALL_SWEEP, assert_one_line_error, convbench

CONTRACT = ["variant", "channels", "layers", "batch", "image", "runtime", "source", "device", "ms_per_forward",
            "ms_iqr", "cv", "samples", "iterations", "gflop", "status", "reason"]


@pytest.fixture(scope="module")
def results(bench_run) -> pd.DataFrame:
    return pd.read_csv(bench_run.run_dir / "results.csv")


def test_results_have_the_contract_columns(results):
    assert set(CONTRACT) <= set(results.columns)
    assert list(results.columns) == COLUMNS


def test_every_stack_is_timed_five_ways(results):
    ways = {("torch", "torch"), ("keras-tf", "keras"), ("keras-predict", "keras"), ("ort", "torch.onnx"),
            ("ort", "tf2onnx")}
    assert set(zip(results["runtime"], results["source"], strict=True)) == ways
    assert len(results) == len(ways) * len(SMALL_SPECS)
    assert (results["status"] == "ok").all(), results.loc[results["status"] != "ok", ["stack_id", "reason"]]


def test_timings_and_counts_are_sane(results):
    assert (results["ms_per_forward"] > 0).all()
    assert (results["ms_min"] <= results["ms_per_forward"]).all()
    assert (results["ms_iqr"] >= 0).all() and (results["cv"] >= 0).all()
    assert results["samples"].between(3, 5).all()
    assert (results["iterations"] >= 1).all()
    assert (results["parity_rel_err"] < 1e-4).all()
    expected_gflop = results["variant"].map(lambda v: StackSpec(v, 8, 2, 2, 8).flops / 1e9)
    assert np.allclose(results["gflop"], expected_gflop)
    assert np.allclose(results["gflop_per_s"], results["gflop"] / (results["ms_per_forward"] / 1e3))
    assert (results["device"] == "cpu").all()
    assert results["threads"].nunique() == 1


def test_env_json_records_versions_cpu_and_threads(bench_run, results):
    env = json.loads((bench_run.run_dir / "env.json").read_text())
    for package in ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "tf2onnx"):
        assert env["versions"][package], package
    assert env["cpu_model"] and env["cpu_count"] >= 1
    assert env["threads"]["intra_op"] == results["threads"].iloc[0]
    assert "gpus" in env
    assert (results["env_id"] == env["env_id"]).all()


def test_parquet_holds_the_same_table(bench_run, results):
    parquet = pd.read_parquet(bench_run.run_dir / "results.parquet")
    assert len(parquet) == len(results)
    assert np.allclose(parquet["ms_per_forward"], results["ms_per_forward"])


def test_output_ends_with_the_seed_tables(bench_run):
    assert "processing time [s / 100 forwards]" in bench_run.output
    assert "theoretical vs conv3x3" in bench_run.output
    assert "ort [tf2onnx] on cpu, C=8" in bench_run.output
    assert str(bench_run.run_dir.name) in bench_run.output


def test_resume_measures_nothing_twice(bench_run, results, exported):
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--artifacts", str(exported),
                    "--run-dir", str(bench_run.run_dir), "--runtimes", "torch", "ort")
    assert run.returncode == 0, run.stderr
    assert f"{len(SMALL_SPECS) * 3} already measured" in run.stdout
    assert len(pd.read_csv(bench_run.run_dir / "results.csv")) == len(results)


def test_an_onnx_file_that_computes_something_else_is_failed_not_timed(exported, tmp_path):
    artifacts = Artifacts(tmp_path / "artifacts")
    shutil.copytree(exported, artifacts.root)
    conv3x3, conv1x1 = (next(s for s in SMALL_SPECS if s.variant == v) for v in ("conv3x3", "conv1x1"))
    shutil.copy(artifacts.onnx_path("torch", conv1x1), artifacts.onnx_path("torch", conv3x3))
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv3x3", "--runtimes", "ort",
                    "--artifacts", str(artifacts.root), "--results", str(tmp_path / "results"))
    assert run.returncode == 0, run.stderr
    rows = pd.read_csv(tmp_path / "results" / "latest" / "results.csv").set_index("source")
    assert rows.loc["torch.onnx", "status"] == "failed"
    assert "parity" in rows.loc["torch.onnx", "reason"]
    assert pd.isna(rows.loc["torch.onnx", "ms_per_forward"])
    assert rows.loc["torch.onnx", "parity_rel_err"] > 1e-4
    assert rows.loc["tf2onnx", "status"] == "ok"


def test_bench_ends_with_the_report_and_the_graph_inventory(bench_run):
    report = (bench_run.run_dir / "report.md").read_text()
    assert "## Findings" in report and "## Native vs ONNX" in report
    assert len(list(bench_run.run_dir.glob("seed-*.png"))) == 5
    assert (bench_run.run_dir / "native-vs-onnx.png").exists()
    graphs = pd.read_csv(bench_run.run_dir / "graphs.csv")
    assert len(graphs) == 2 * len(SMALL_SPECS) and (graphs["conv_nodes"] == 2).all()


def test_compare_and_report_commands_on_a_real_run(bench_run, tmp_path):
    run = convbench("compare", str(bench_run.run_dir), str(bench_run.run_dir), "--csv", str(tmp_path / "c.csv"))
    assert run.returncode == 0, run.stderr
    assert f"{5 * len(SMALL_SPECS)} cases in both runs; 0 differ" in run.stdout
    assert (pd.read_csv(tmp_path / "c.csv")["b_vs_a"] == 1.0).all()
    assert convbench("report", str(bench_run.run_dir)).returncode == 0
    assert_one_line_error(convbench("compare", str(bench_run.run_dir), str(tmp_path)), str(tmp_path), "results.csv")


def test_more_runtimes_on_cpu_run_or_skip_with_a_reason(exported, tmp_path):
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv3x3sep", "--artifacts", str(exported),
                    "--results", str(tmp_path), "--runtimes", "torch-channels-last", "keras-torch", "keras-jax",
                    "torch-cuda-graph", "ort-iobinding")
    assert run.returncode == 0, run.stderr
    rows = pd.read_csv(tmp_path / "latest" / "results.csv").set_index(["runtime", "source"])
    for ok in [("torch-channels-last", "torch"), ("keras-torch", "keras")]:
        assert rows.loc[ok, "status"] == "ok", rows.loc[ok, "reason"]
        assert rows.loc[ok, "parity_rel_err"] < 1e-4
    jax_missing = rows.loc[("keras-jax", "keras")]
    assert jax_missing["status"] == "skipped" and "jax" in jax_missing["reason"]
    assert rows.loc[("torch-cuda-graph", "torch"), "status"] == "skipped"
    assert (rows.loc["ort-iobinding", "status"] == "skipped").all()


def test_profiled_kernel_time_is_within_the_wall_time_and_sees_every_layer(results):
    measured = results[results["kernel_ms_per_forward"].notna()]
    assert set(measured["runtime"]) == {"torch", "ort"}  # TensorFlow's kernel time is not parsed: NaN + reason
    assert (measured["kernel_ms_per_forward"] > 0).all()
    assert (measured["kernel_ms_per_forward"] <= measured["ms_per_forward"]).all()
    assert np.allclose(measured["kernel_ms_per_forward"] + measured["overhead_ms_per_forward"],
                       measured["ms_per_forward"])
    assert (measured["conv_events_per_forward"] == 2).all()  # 2 layers
    keras = results[results["runtime"].str.startswith("keras")]
    assert keras["kernel_method"].str.startswith("not measured: TensorFlow").all()


def test_every_case_has_a_floor_from_measured_ceilings(bench_run, results):
    ceilings = json.loads((bench_run.run_dir / "env.json").read_text())["ceilings"]["cpu"]
    assert ceilings["peak_gflop_per_s"] > 1 and ceilings["bandwidth_gb_per_s"] > 0.1
    assert (results["floor_ms"] > 0).all()
    assert np.allclose(results["efficiency"], results["floor_ms"] / results["ms_per_forward"])
    assert (results["efficiency"] < 1).all()  # nothing beats its roofline floor
    report = (bench_run.run_dir / "report.md").read_text()
    assert "## Kernel vs overhead, and the roofline" in report and "roofline-cpu.png" in report
    assert len(list(bench_run.run_dir.glob("kernel-*.png"))) == 3  # torch, ort x 2 exports
