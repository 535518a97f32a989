import json
import shutil

import numpy as np
import pandas as pd
import pytest

from convbench.artifacts import Artifacts, combined_sha256, file_hashes
from convbench.bench import worker_groups
from convbench.results import COLUMNS
from convbench.spec import Case, SeedStack
from tests.conftest import (
    PROCESSES,
    QUICK_TIMING,
    SMALL_SPECS,
    SMALL_SWEEP,
    assert_one_line_error,
    bench_conv3x3_in_ort,
    convbench,
)

CONTRACT = ["variant", "channels", "layers", "batch", "image", "runtime", "source", "device", "ms_per_forward",
            "ms_iqr", "cv", "samples", "iterations", "gflop", "status", "reason"]


@pytest.fixture(scope="module")
def results(bench_run) -> pd.DataFrame:
    return pd.read_csv(bench_run.run_dir / "results.csv")


def test_every_timed_value_is_kept_and_reads_back_as_the_process_rows_say(bench_run):
    """samples.parquet: every throughput sample and latency of every process; each process's median of its own
    samples is the ms_per_forward its processes.csv row gives, and their counts agree."""
    from convbench.results import ResultsStore

    samples = ResultsStore(bench_run.run_dir).read_samples()
    assert (bench_run.run_dir / "samples.parquet").exists() and not samples.empty
    processes = pd.read_csv(bench_run.run_dir / "processes.csv")
    processes = processes[processes["status"] == "ok"]
    keys = ["stack_id", "runtime", "source", "device", "machine", "process"]
    throughput = samples[samples["sample_kind"] == "throughput"].groupby(keys)["ms_per_forward"]
    latency = samples[samples["sample_kind"] == "latency"].groupby(keys)["ms_per_forward"]
    joined = processes.set_index(keys).join(throughput.median().rename("median_of_samples"))
    joined = joined.join(throughput.size().rename("throughput_n")).join(latency.size().rename("latency_n"))
    assert len(joined) == len(processes) and joined["median_of_samples"].notna().all()
    assert (joined["median_of_samples"] - joined["ms_per_forward"]).abs().max() < 1e-9
    assert (joined["throughput_n"] == joined["samples"]).all()
    assert (joined["latency_n"] == joined["latency_forwards"]).all()


def test_each_round_times_a_users_own_script_beside_the_workers(bench_run):
    """bare.csv: per round, a plain process times torch eager and onnxruntime on the sweep's conv1x1 as a user's
    script would; the report sets it beside the worker of the same case and round."""
    bare = pd.read_csv(bench_run.run_dir / "bare.csv")
    assert sorted(zip(bare["runtime"], bare["process"], bare["malloc"], strict=True)) == [
        (runtime, process, malloc) for runtime in ("ort", "torch") for process in (0, 1)
        for malloc in ("default", "pinned")]
    assert (bare["status"] == "ok").all() and (bare["ms_per_forward"] > 0).all()
    assert set(bare["stack_id"]) == {"conv1x1-c8-l2-b2-i8"}
    report = (bench_run.run_dir / "report.md").read_text()
    assert "### convbench's workers against a user's own script" in report
    assert "worker / bare pinned" in report and "worker / bare default" in report
    assert "- malloc: glibc malloc pinned in every worker" in report


def test_every_timed_row_says_how_much_host_memory_its_case_added(results):
    ok = results[results["status"] == "ok"]
    assert (ok["host_peak_mb"] >= 0).all() and (ok["host_peak_mb"] < 4000).all() and (ok["host_peak_mb"] > 0).any()
    assert ok["memory_method"].str.startswith("VmHWM").all()


def test_on_the_cpu_device_memory_is_empty_and_energy_says_why_it_was_not_measured(results):
    from pathlib import Path

    ok = results[results["status"] == "ok"]
    assert ok["device_peak_mb"].isna().all() and ok["device_memory_method"].isna().all()
    if list(Path("/sys/class/powercap").glob("intel-rapl:*")):
        pytest.skip("this machine exposes RAPL: tests/convbench/test_energy.py reads it")
    assert ok["energy_mj_per_forward"].isna().all()
    assert ok["energy_method"].str.startswith("not measured: no RAPL counter here").all()


def test_results_have_the_contract_columns(results):
    assert set(CONTRACT) <= set(results.columns)
    assert list(results.columns) == COLUMNS


WAYS = {("torch", "torch"), ("torch-channels-last", "torch"), ("torch-compile", "torch"), ("keras-tf", "keras"),
        ("keras-predict", "keras"), ("ort", "torch.onnx"), ("ort", "tf2onnx"), ("openvino", "torch.onnx"),
        ("openvino", "tf2onnx")}


def test_every_stack_is_timed_in_every_default_cpu_runtime(results):
    ways = WAYS
    assert set(zip(results["runtime"], results["source"], strict=True)) == ways
    assert len(results) == len(ways) * len(SMALL_SPECS)
    assert (results["status"] == "ok").all(), results.loc[results["status"] != "ok", ["stack_id", "reason"]]


def test_timings_and_counts_are_sane(results):
    assert (results["ms_per_forward"] > 0).all()
    assert (results["ms_min"] <= results["ms_per_forward"]).all()
    assert (results["ms_iqr"] >= 0).all() and (results["cv"] >= 0).all()
    assert results["samples"].between(3 * PROCESSES, 5 * PROCESSES).all()
    assert (results["iterations"] >= 1).all()
    assert (results["parity_rel_err"] < 1e-4).all()
    expected_gflop = results["variant"].map(lambda v: SeedStack(v, 8, 2, 2, 8).flops / 1e9)
    assert np.allclose(results["gflop"], expected_gflop)
    assert np.allclose(results["gflop_per_s"], results["gflop"] / (results["ms_per_forward"] / 1e3))
    assert (results["device"] == "cpu").all()
    assert results["threads"].nunique() == 1


def test_repeats_latency_and_cold_start_columns_are_filled_and_sane(results):
    assert (results["processes"] == PROCESSES).all()
    assert (results["ms_process_min"] <= results["ms_per_forward"]).all()
    assert (results["ms_per_forward"] <= results["ms_process_max"]).all()
    assert np.allclose(results["process_spread"],
                       (results["ms_process_max"] - results["ms_process_min"]) / results["ms_per_forward"])
    assert results["unstable"].isin([True, False]).all()
    assert (results["latency_ms_p50"] <= results["latency_ms_p90"]).all()
    assert (results["latency_ms_p90"] <= results["latency_ms_p99"]).all()
    assert (results["latency_forwards"] >= PROCESSES).all()
    for column in ("setup_ms", "first_forward_ms", "import_ms"):
        assert (results[column] > 0).all(), column
    keras_tf = results[results["runtime"] == "keras-tf"]
    assert (keras_tf["compile_ms"] > 0).all()  # tf.function tracing, done before the first forward
    assert (keras_tf["compile_ms"] < keras_tf["setup_ms"]).all()
    compiled = results[results["runtime"] == "torch-compile"]
    assert (compiled["compile_ms"] > 0).all() and (compiled["compile_ms"] < compiled["setup_ms"]).all()
    assert compiled["options"].str.contains('"graph_breaks": "none').all()
    assert results.loc[results["runtime"] == "torch", "compile_ms"].isna().all()  # eager: nothing to compile


def test_every_case_has_a_row_per_process(bench_run, results):
    processes = pd.read_csv(bench_run.run_dir / "processes.csv")
    assert len(processes) == PROCESSES * len(results)
    assert sorted(processes["process"].unique()) == list(range(PROCESSES))
    per_case = processes.groupby(["stack_id", "runtime", "source"])
    assert (per_case["pid"].nunique() == PROCESSES).all()  # each repeat in a process of its own
    medians = per_case["ms_per_forward"].median()
    merged = results.set_index(["stack_id", "runtime", "source"])["ms_per_forward"]
    assert np.allclose(merged.loc[medians.index], medians)


def test_each_process_ran_its_family_in_another_order(bench_run):
    processes = pd.read_csv(bench_run.run_dir / "processes.csv")
    torch_rows = processes[processes["runtime"] == "torch"]
    orders = [list(group["stack_id"]) for _, group in torch_rows.groupby("process", sort=True)]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])


def test_torch_compile_runs_in_workers_of_its_own_and_every_group_in_interleaved_rounds(bench_run):
    # a compile of minutes per case gets workers of its own, so it holds back no other runtime's process
    processes = pd.read_csv(bench_run.run_dir / "processes.csv")
    compiled = processes[processes["runtime"] == "torch-compile"]
    eager = processes[processes["runtime"].isin(["torch", "torch-channels-last"])]
    assert len(compiled) and len(eager) and not set(compiled["pid"]) & set(eager["pid"])
    # round k + 1 of any group starts once round k of every group has ended (finished_at: to the second)
    finished = pd.to_datetime(processes["finished_at"])
    for k in range(1, PROCESSES):
        assert finished[processes["process"] == k].min() >= finished[processes["process"] == k - 1].max()
    # each process says whether inductor compiled or its on-disk cache served it; eager has no such cache
    assert set(compiled["compile_cache"]) <= {"cold", "warm"} and eager["compile_cache"].isna().all()


def test_worker_groups_put_each_compile_runtime_after_its_family():
    cases = [Case(spec, runtime, "torch" if runtime.startswith("torch") else "torch.onnx", "cuda")
             for runtime in ("torch-compile-max-autotune", "torch", "ort", "torch-compile", "torch-cuda-graph")
             for spec in SMALL_SPECS[:2]]
    groups = [(family, sorted({c.runtime for c in group})) for family, group in worker_groups(cases)]
    assert groups == [("torch", ["torch", "torch-cuda-graph"]), ("torch", ["torch-compile-max-autotune"]),
                      ("torch", ["torch-compile"]), ("onnxruntime", ["ort"])]


def test_conditions_are_recorded_before_and_after_each_family_process(bench_run):
    lines = [json.loads(line) for line in (bench_run.run_dir / "conditions.jsonl").read_text().splitlines()]
    families = {"torch", "tensorflow", "onnxruntime", "openvino"}
    seen = {(c["family"], c["process"], c["phase"]) for c in lines}
    assert seen == {(f, p, phase) for f in families for p in range(PROCESSES) for phase in ("before", "after")}
    assert all(c["loadavg_1min"] >= 0 for c in lines)
    report = (bench_run.run_dir / "report.md").read_text()
    assert "## How far the numbers can be trusted" in report and "Load average (1 min)" in report
    assert "## Time to first result" in report and "## Latency beside throughput" in report


def test_terminal_output_is_quiet(bench_run):
    for chatter in ("cpu_feature_guard", "absl::InitializeLog", "oneDNN", "Traceback", "Warning"):
        assert chatter not in bench_run.output, chatter
    assert (bench_run.run_dir / "workers.log").exists()


def test_a_reason_repeated_across_cases_is_printed_once_with_a_count(exported, tmp_path):
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--artifacts", str(exported), "--results", str(tmp_path),
                    "--runtimes", "torch-cuda-graph", "torch", "--profile")
    assert run.returncode == 0, run.stderr
    reason = "CUDA-graph replay needs a CUDA device"
    assert run.stdout.count(reason) == 3  # its line, the count line, the closing summary
    assert f"({len(SMALL_SPECS) - 1} more case(s) with the reason: {reason})" in run.stdout
    assert f"and {len(SMALL_SPECS) - 1} more: {reason}" in run.stdout


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
    assert "ort[tf2onnx]/cpu, C=8" in bench_run.output
    assert str(bench_run.run_dir.name) in bench_run.output


def test_resume_from_the_run_directory_alone_measures_nothing_twice(bench_run, results, exported):
    """`bench --run-dir X` and no other flag: the run's request.json says what it was asked."""
    run = convbench("bench", "--run-dir", str(bench_run.run_dir))
    assert run.returncode == 0, run.stderr
    assert f"{len(results)} cases x {PROCESSES} processes, {len(results)} cases already measured" in run.stdout
    assert len(pd.read_csv(bench_run.run_dir / "results.csv")) == len(results)
    processes = pd.read_csv(bench_run.run_dir / "processes.csv")
    assert len(processes) == len(results) * PROCESSES  # no process row added


def test_an_onnx_file_that_computes_something_else_is_failed_not_timed(exported, tmp_path):
    """An exporter bug, as it would look: a file whose manifest row matches it but whose graph is wrong."""
    artifacts = Artifacts(tmp_path / "artifacts")
    shutil.copytree(exported, artifacts.root)
    conv3x3, conv1x1 = (next(s for s in SMALL_SPECS if s.variant == v) for v in ("conv3x3", "conv1x1"))
    shutil.copy(artifacts.onnx_path("torch", conv1x1), artifacts.onnx_path("torch", conv3x3))
    manifest = pd.read_csv(artifacts.manifest_path)
    wrong = (manifest["source"] == "torch") & (manifest["stack_id"] == conv3x3.stack_id)
    hashes = file_hashes(artifacts.onnx_path("torch", conv3x3))
    manifest.loc[wrong, "files"] = json.dumps(hashes)
    manifest.loc[wrong, "sha256"] = combined_sha256(hashes)
    manifest.to_csv(artifacts.manifest_path, index=False)
    rows = bench_conv3x3_in_ort(artifacts.root, tmp_path / "results")
    assert rows.loc["torch.onnx", "status"] == "failed"
    assert "parity" in rows.loc["torch.onnx", "reason"]
    assert pd.isna(rows.loc["torch.onnx", "ms_per_forward"])
    assert rows.loc["torch.onnx", "parity_rel_err"] > 1e-4
    assert rows.loc["tf2onnx", "status"] == "ok"


def test_bench_ends_with_the_report_and_the_graph_inventory(bench_run):
    report = (bench_run.run_dir / "report.md").read_text()
    assert "## Findings" in report and "## Native vs ONNX" in report
    assert len(list(bench_run.run_dir.glob("seed-*.png"))) == len(WAYS)
    assert (bench_run.run_dir / "native-vs-onnx.png").exists()
    graphs = pd.read_csv(bench_run.run_dir / "graphs.csv")
    assert len(graphs) == 2 * len(SMALL_SPECS) and (graphs["conv_nodes"] == 2).all()


def test_compare_and_report_commands_on_a_real_run(bench_run, tmp_path):
    run = convbench("compare", str(bench_run.run_dir), str(bench_run.run_dir), "--csv", str(tmp_path / "c.csv"))
    assert run.returncode == 0, run.stderr
    assert f"{len(WAYS) * len(SMALL_SPECS)} cases in both runs; 0 differ by more than the two runs' noise" in run.stdout
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


def _counters_unresolved(results: pd.DataFrame) -> pd.Series:
    """Rows whose OpenVINO counters all read 0 us (nodes under their 1 us resolution: the 2-layer 8x8 conv1x1 in one
    fresh clone's run): their kernel time is NaN with that reason, never 0. Only OpenVINO's, and not all of them."""
    from convbench.runners.profile_openvino import COUNTERS_UNRESOLVED

    unresolved = results["kernel_method"].str.contains(COUNTERS_UNRESOLVED, regex=False, na=False)
    assert (results.loc[unresolved, "runtime"] == "openvino").all()
    assert results.loc[unresolved, "kernel_ms_per_forward"].isna().all()
    assert (~unresolved[results["runtime"] == "openvino"]).any()
    return unresolved


@pytest.mark.figures  # asserts on measured figures: make test runs it alone (see pyproject's markers)
def test_every_cpu_runtime_has_a_kernel_time_within_the_wall_time_that_sees_every_layer(results):
    results = results[~_counters_unresolved(results)]
    assert results["kernel_ms_per_forward"].notna().all(), results.loc[results["kernel_ms_per_forward"].isna(),
                                                                       ["runtime", "kernel_method"]]
    assert (results["kernel_ms_per_forward"] > 0).all()
    # kernels that add up past the timed median (host-timed node times overlap; the profiled process was slower: seen
    # at 1.04x for keras-tf) leave no overhead to give, and the row says why; everywhere else kernel + overhead = time
    over = results["kernel_ms_per_forward"] > results["ms_per_forward"]
    assert results.loc[over, "overhead_ms_per_forward"].isna().all()
    assert results.loc[over, "kernel_method"].str.contains("overhead not given").all()
    within = results[~over]
    assert np.allclose(within["kernel_ms_per_forward"] + within["overhead_ms_per_forward"], within["ms_per_forward"])
    compiled = results["runtime"] == "torch-compile"  # inductor's wrapper calls the conv kernel, not aten::conv2d
    assert (results.loc[~compiled, "conv_events_per_forward"] == 2).all()  # 2 layers
    keras = results[results["runtime"].str.startswith("keras")]
    assert keras["kernel_method"].str.startswith("TensorFlow profiler (framework_op_stats)").all()


@pytest.mark.figures  # asserts on measured figures: make test runs it alone (see pyproject's markers)
def test_kernels_csv_has_a_row_per_case_and_kernel_with_shares_summing_to_one(bench_run, results):
    kernels = pd.read_csv(bench_run.run_dir / "kernels.csv")
    assert len(kernels.groupby(["stack_id", "runtime", "source"])) == len(results)
    assert not kernels.duplicated(["stack_id", "runtime", "source", "kernel", "kind"]).any()
    unresolved = results.loc[_counters_unresolved(results), ["stack_id", "runtime", "source"]]
    kernels = kernels.merge(unresolved, how="left", indicator=True)
    assert kernels.loc[kernels["_merge"] == "both", "share"].isna().all()  # no share of a time not measured
    cases = kernels[kernels["_merge"] == "left_only"].groupby(["stack_id", "runtime", "source"])
    assert np.allclose(cases["share"].sum(), 1.0)
    assert (kernels["calls_per_layer"] == kernels["calls_per_forward"] / 2).all()
    ov = kernels[(kernels["runtime"] == "openvino") & kernels["kernel"].str.startswith(("Convolution", "Group"))]
    assert (ov.groupby(["stack_id", "source"])["calls_per_layer"].sum() == 1).all()  # one conv primitive per layer
    report = (bench_run.run_dir / "report.md").read_text()
    assert "### What each runtime ran" in report and "DepthwiseConv2dNative" in report


@pytest.mark.figures  # asserts on measured figures: make test runs it alone (see pyproject's markers)
def test_every_case_has_a_floor_from_measured_ceilings(bench_run, results):
    ceilings = json.loads((bench_run.run_dir / "env.json").read_text())["ceilings"]["cpu"]
    assert ceilings["peak_gflop_per_s"] > 1 and ceilings["bandwidth_gb_per_s"] > 0.1
    assert (results["floor_ms"] > 0).all()
    assert np.allclose(results["efficiency"], results["floor_ms"] / results["ms_per_forward"])
    assert (results["efficiency"] < 1).all()  # nothing beats its roofline floor
    report = (bench_run.run_dir / "report.md").read_text()
    assert "## Kernel vs overhead, and the roofline" in report and "roofline-cpu.png" in report
    assert len(list(bench_run.run_dir.glob("kernel-*.png"))) == len(WAYS)  # every runtime has a kernel time
