"""How far from the best kernel: runtimes' times and kernel times over the library floor, from known numbers."""

import pandas as pd

from convbench.analysis.floor_gap import AT, BEAT, floor_lines, floor_table, gap_table
from convbench.analysis.report import write_report
from tests.analysis.test_report import write_run

RUNTIMES = [("torch", "torch"), ("torch-cuda-graph", "torch")]
SCALE = {"torch-cuda-graph": 0.625}


def _with_floors(run_dir):
    results = pd.read_csv(run_dir / "results.csv")
    # one floor per case, whatever ran it: torch eager runs at 2x it, the CUDA graph (scaled 0.625) at 1.25x
    eager = results[results["runtime"] == "torch"].set_index(["variant", "channels"])["ms_per_forward"]
    results["library_floor_ms"] = [eager[(v, c)] / 2 for v, c in zip(results["variant"], results["channels"],
                                                                      strict=True)]
    results["library_floor_plan"] = "fprop NHWC eng0"
    results["kernel_vs_library_floor"] = 1.1
    results.loc[(results["runtime"] == "torch") & (results["variant"] == "conv1x1"), "kernel_vs_library_floor"] = 0.97
    results.loc[(results["runtime"] == "torch") & (results["variant"] == "conv3x3sep"), "kernel_vs_library_floor"] = 0.8
    results.to_csv(run_dir / "results.csv", index=False)
    return results


def test_floor_table_and_lines_from_known_numbers(tmp_path):
    results = _with_floors(write_run(tmp_path / "run", device="cuda", runtimes=RUNTIMES, scale=SCALE))
    table = floor_table(results)
    assert len(table) == 2 * 7 and set(table["C"]) == {64}  # each runtime's largest channel count
    graph = table[table["runtime"] == "torch-cuda-graph[torch]"]
    assert graph["time / floor"].round(6).eq(1.25).all()
    beat = table[table["note"] == BEAT]
    assert list(table.loc[table["note"] == AT, "workload"]) == ["conv1x1"]  # within 5%: at the floor, not beaten
    assert list(beat["workload"]) == ["conv3x3sep"] and list(beat["runtime"]) == ["torch[torch]"]
    line = floor_lines(results)[0]
    assert "median 1.25x cuDNN's best plans" in line and "1 runtime/workload pairs' kernels beat the floor" in line


def test_report_answers_with_the_floor_and_shows_how_far_from_the_best_kernel(tmp_path):
    run_dir = write_run(tmp_path / "run", device="cuda", runtimes=RUNTIMES, scale=SCALE)
    _with_floors(run_dir)
    report = write_report(run_dir).read_text()
    answers = report.split("## Environment")[0]
    assert "cuda float32: cuDNN floor" in answers and "(fastest at 1.25x)" in answers
    assert "Library floor on cuda float32 (forward)" in answers
    assert "## How far from the best kernel" in report and BEAT in report


def test_every_gap_over_1_15x_names_its_cause_from_the_profile(tmp_path):
    results = _with_floors(write_run(tmp_path / "run", device="cuda", runtimes=RUNTIMES, scale=SCALE))
    # the CUDA graph (the fastest, 1.25x its floor) at C=64: conv3x3 launch-bound, conv5x5 other kernels, conv1x1
    # not profiled; the rest launch-bound
    graph = results["runtime"] == "torch-cuda-graph"
    results.loc[graph, "gpu_idle_ms_per_forward"], results.loc[graph, "launches_per_forward"] = 0.05, 1
    results.loc[graph & (results["variant"] == "conv5x5"), "kernel_vs_library_floor"] = 1.24
    results.loc[graph & (results["variant"] == "conv1x1"), "kernel_vs_library_floor"] = float("nan")
    five = results[graph & (results["variant"] == "conv5x5") & (results["channels"] == 64)].iloc[0]
    kernels = pd.DataFrame([{"stack_id": five["stack_id"], "runtime": "torch-cuda-graph", "source": "torch",
                             "device": "cuda", "kind": "kernel", "kernel": name, "share": share}
                            for name, share in (("sm90_xmma_fprop_implicit_gemm_f32f32", 0.7),
                                                ("void fft2d_r2c_32x32<float>", 0.3))])
    gaps = gap_table(results, kernels).set_index("workload")
    assert len(gaps) == 7 and gaps["time / floor"].round(6).eq(1.25).all()
    assert gaps.loc["conv3x3", "cause"].startswith("launch-bound: its kernels take 1.10x the floor")
    assert "GPU idle 0.05 ms per forward between kernels, 1 launches" in gaps.loc["conv3x3", "cause"]
    assert gaps.loc["conv5x5", "cause"].startswith("other kernels: its kernels take 1.24x the floor; it ran "
                                                   "sm90_xmma_fprop_implicit_gemm_f32f32 70%; void fft2d_r2c_32x32")
    assert "against the floor's fprop NHWC eng0" in gaps.loc["conv5x5", "cause"]
    assert gaps.loc["conv1x1", "cause"].startswith("not profiled")
