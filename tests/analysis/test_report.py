"""The report from results with known numbers: tables, pictures, findings that follow the numbers."""

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from convbench.analysis.compare import compare_runs
from convbench.analysis.findings import findings
from convbench.analysis.report import write_report
from convbench.models.variants import VARIANTS
from convbench.results import ResultsStore, case_row
from convbench.spec import Case, SeedStack

# ms per forward at C=64 and C=8; conv3x3 = 100 ms at C=64 so "vs conv3x3" is ms / 100
KNOWN_MS = {"conv1x1": 20.0, "conv3x1": 35.0, "conv1x3": 36.0, "conv3x3sep": 10.0, "conv3x3": 100.0,
            "conv5x5": 300.0, "conv3x3dilated": 150.0}
RUNTIMES = [("torch", "torch"), ("keras-tf", "keras"), ("ort", "torch.onnx"), ("ort", "tf2onnx")]


def write_run(run_dir, ms=KNOWN_MS, device="cpu", runtimes=RUNTIMES, scale=None):
    store = ResultsStore(run_dir)
    store.open()
    scale = scale or {}
    for runtime, source in runtimes:
        for variant, t in ms.items():
            for channels, factor in ((8, 0.1), (64, 1.0)):
                case = Case(SeedStack(variant, channels), runtime, source, device)
                median = t * factor * scale.get(runtime, 1.0)
                store.append(case_row(case, status="ok", reason="", ms_per_forward=median, ms_iqr=median * 0.02,
                                      cv=0.01, samples=5, iterations=1, parity_rel_err=1e-7))
    store.write_env({"cpu_model": "test CPU", "cpu_count": 2, "versions": {"torch": "x"}, "gpus": [],
                     "threads": {"intra_op": 2, "inter_op": 1}, "env_id": "abc"})
    return run_dir


def test_report_tables_from_known_numbers(tmp_path):
    report = write_report(write_run(tmp_path / "run")).read_text()
    assert "### torch[torch]/cpu" in report and "At C=64:" in report
    vs_row = next(line for line in report.splitlines() if line.startswith("| vs conv3x3"))
    assert [cell.strip() for cell in vs_row.split("|")[2:-1]] == ["0.200", "0.350", "0.360", "0.100", "1.000",
                                                                   "3.000", "1.500"]
    time_row = next(line for line in report.splitlines() if line.startswith("| processing time"))
    # 100 ms per forward = 10 s per 100 forwards; at C=64 every time is >= 1 s, so 3 decimals
    assert [cell.strip() for cell in time_row.split("|")[2:-1]] == ["2.000", "3.500", "3.600", "1.000", "10.000",
                                                                     "30.000", "15.000"]
    assert "2017 pytorch gpu (default)" in report and "16.447" in report  # the seed's depthwise on GPU
    assert "| torch       | cpu      | float32 |         64 | conv3x3" in report  # native vs ONNX table


def test_every_picture_exists_and_is_an_image(tmp_path):
    run_dir = write_run(tmp_path / "run")
    report = write_report(run_dir).read_text()
    pictures = sorted(p.name for p in run_dir.glob("*.png"))
    assert len(pictures) == len(RUNTIMES) + 2  # one seed plot per runtime, native vs ONNX, the fastest way
    for name in pictures:
        assert f"({name})" in report
        image = plt.imread(run_dir / name)
        assert image.shape[0] > 300 and image.shape[1] > 500


def test_findings_follow_the_numbers(tmp_path):
    slow = findings(pd.read_csv(write_run(tmp_path / "a") / "results.csv"))
    fast_ms = {**KNOWN_MS, "conv3x3sep": 1.0, "conv3x3dilated": 100.0}
    fast = findings(pd.read_csv(write_run(tmp_path / "b", ms=fast_ms) / "results.csv"))
    assert slow[0].text.startswith("Holds in all 4") and "0.10x" in slow[0].text  # 10 ms vs 100: 6x its FLOP share
    assert fast[0].text.startswith("Does not hold in any") and "0.01x" in fast[0].text
    assert slow[1].text.startswith("Holds in all 4")  # (35 + 36) / 100 = 0.71, within 25% of 0.667
    assert slow[4].text.startswith("Holds") and fast[4].text.startswith("Does not hold")
    for finding in (slow[2], slow[3]):  # GPU-only conclusions on a CPU-only run
        assert finding.text.startswith("Not measured")


def test_gpu_findings_are_computed_when_cuda_rows_exist(tmp_path):
    results = pd.read_csv(write_run(tmp_path / "g", device="cuda", runtimes=[("torch", "torch")]) / "results.csv")
    five_by_five = findings(results)[3]
    assert five_by_five.text.startswith("Holds in all 1") and "torch[torch]/cuda 3.00x" in five_by_five.text


def test_compare_judges_against_the_spread_between_processes():
    """Two runs 5% apart, each steady within its processes (IQR 1%): the IQRs alone would call it a difference,
    but run A's processes disagreed by 8%, so it is not; with processes that agree it is."""
    def run(median, lo, hi):
        return pd.DataFrame([{"stack_id": "s", "runtime": "torch", "source": "torch", "device": "cpu",
                              "variant": "conv3x3", "channels": 8, "status": "ok", "ms_per_forward": median,
                              "ms_iqr": 0.01 * median, "ms_process_min": lo, "ms_process_max": hi}])

    assert not compare_runs(run(100.0, 96.0, 104.0), run(105.0, 104.5, 105.5))["differs"].item()
    assert compare_runs(run(100.0, 99.5, 100.5), run(105.0, 104.5, 105.5))["differs"].item()
    old_format = run(100.0, 0, 0).drop(columns=["ms_process_min", "ms_process_max"])  # before repeats: IQR only
    assert compare_runs(old_format, run(105.0, 104.5, 105.5))["differs"].item()


def test_unstable_cases_are_listed_and_findings_say_they_rest_on_them(tmp_path):
    run_dir = write_run(tmp_path / "u")
    results = pd.read_csv(run_dir / "results.csv")
    results["processes"], results["process_spread"], results["unstable"] = 3, 0.02, False
    results["ms_process_min"] = results["ms_process_max"] = results["ms_per_forward"]
    shaky = (results["runtime"] == "torch") & (results["variant"] == "conv3x3sep") & (results["channels"] == 64)
    results.loc[shaky, ["process_spread", "unstable"]] = [0.5, True]
    results.to_csv(run_dir / "results.csv", index=False)
    depthwise = findings(results)[0].text
    assert "Rests on cases whose processes disagreed (unstable): torch[torch]/cpu conv3x3sep." in depthwise
    assert "unstable" not in findings(results)[1].text  # 3x1 + 1x3 does not use the depthwise case
    report = write_report(run_dir).read_text()
    assert "1 unstable case(s), with each process's median:" in report
    assert "| conv3x3sep-c64-l16-b32-i32 torch[torch]/cpu |" in report


def test_conditions_warn_about_a_busy_machine_dropped_clocks_and_other_gpu_processes():
    from convbench.analysis.trust import conditions_lines

    gpu = {"index": 0, "sm_clock_mhz": 1980, "sm_clock_max_mhz": 1980, "temperature_c": 40,
           "clock_event_reasons": [], "compute_processes": [], "other_processes": []}
    calm = [{"family": "torch", "process": 0, "phase": phase, "loadavg_1min": 1.9, "cpu_busy_fraction": 0.02,
             "cpu_mhz_min": 2400,
             "cpu_mhz_max": 2400, "cpu_governor": None, "gpus": [gpu]} for phase in ("before", "after")]
    lines = conditions_lines(calm, cpu_count=2)
    assert not any("Warning" in line for line in lines) and "No other process was seen on the GPU." in lines
    hot = {**gpu, "sm_clock_mhz": 1200, "clock_event_reasons": ["sw_power_cap"],
           "other_processes": [{"pid": 4242, "used_mib": 900}]}
    busy = [{**calm[0], "cpu_busy_fraction": 0.6}, {**calm[1], "gpus": [hot]}]
    text = "\n".join(conditions_lines(busy, cpu_count=2))
    assert "other processes kept 60% of the CPUs busy just before torch process 0" in text
    assert "SM clock 1200 MHz of 1980, held down by sw_power_cap" in text
    assert "another process (pid 4242) was using the GPU around torch process 0" in text


def test_compare_runs_ratio_and_spread(tmp_path):
    a = pd.read_csv(write_run(tmp_path / "a") / "results.csv")
    b = pd.read_csv(write_run(tmp_path / "b", scale={"torch": 2.0, "ort": 1.01}) / "results.csv")
    table = compare_runs(a, b).set_index(["runtime", "source", "stack_id"]).sort_index()
    torch_rows = table.loc[("torch", "torch")]
    assert torch_rows["b_vs_a"].tolist() == pytest.approx([2.0] * len(torch_rows))
    assert torch_rows["differs"].all()
    ort_rows = table.loc[("ort", "torch.onnx")]
    assert not ort_rows["differs"].any()  # 1% apart, IQRs of 2% each: within the spread
    assert len(table) == 2 * len(VARIANTS) * len(RUNTIMES)


def test_report_from_a_copied_run_directory(tmp_path):
    run_dir = write_run(tmp_path / "elsewhere" / "20260101-000000")
    assert json.loads((run_dir / "env.json").read_text())["cpu_model"] == "test CPU"
    assert "test CPU" in write_report(run_dir).read_text()


def test_kernel_paragraph_names_least_overhead_and_cases_above_their_floor(tmp_path):
    from convbench.analysis.overhead import kernel_split, overhead_paragraph

    results = pd.read_csv(write_run(tmp_path / "k") / "results.csv")
    results["kernel_ms_per_forward"] = results["ms_per_forward"] * results["runtime"].map(
        {"torch": 0.5, "keras-tf": 0.9, "ort": 0.99})
    results["overhead_ms_per_forward"] = results["ms_per_forward"] - results["kernel_ms_per_forward"]
    results["efficiency"] = 0.5
    results.loc[results["variant"] == "conv3x3sep", "efficiency"] = 1.5
    split = kernel_split(results)
    assert set(split["channels"]) == {64}
    # 100 ms x (1 - kernel share) / 16 layers, in µs: keras-tf, ort x 2, torch (runtime names in order)
    assert split.loc[split["variant"] == "conv3x3", "overhead_us_per_layer"].round(3).tolist() == [
        625.0, 62.5, 62.5, 3125.0]
    text = overhead_paragraph(split, results)
    assert "Least overhead: ort[" in text and "(most: torch[torch]/cpu" in text
    assert "150" not in text, "an efficiency above 1 is never shown as a percentage"
    assert "at 50.0%" in text and "ran faster than their floor (conv3x3sep)" in text


def test_findings_on_a_run_of_two_conv_types_say_not_measured(tmp_path):
    run = write_run(tmp_path / "two", ms={"conv3x3": 100.0, "conv5x5": 300.0})
    texts = [f.text for f in findings(pd.read_csv(run / "results.csv"))]
    assert texts[0].startswith("Not measured") and texts[4].startswith("Not measured")
    assert "## Findings" in write_report(run).read_text()


def test_report_of_a_renamed_run_directory_names_the_run_its_rows_record(tmp_path):
    run_dir = write_run(tmp_path / "cpu-2core")
    table = pd.read_csv(run_dir / "results.csv")
    table["run_id"] = "20261125-070233"
    table.to_csv(run_dir / "results.csv", index=False)
    title = write_report(run_dir).read_text().splitlines()[0]
    assert title == "# convbench report: run 20261125-070233 (folder cpu-2core)"
    table["run_id"] = "cpu-2core"
    table.to_csv(run_dir / "results.csv", index=False)
    assert write_report(run_dir).read_text().splitlines()[0] == "# convbench report: run cpu-2core"


def test_a_compiled_gpu_run_says_why_no_layer_times_and_shows_its_steps_and_their_cold_start(tmp_path):
    """An H200 run (torch.compile's CUDA-graph mode: kernels profiled, layers not told apart) is read as committed."""
    import shutil
    from pathlib import Path

    committed = Path(__file__).parents[2] / "docs" / "results" / "h200-compile-train-2026-12-02"
    run_dir = tmp_path / "run"
    shutil.copytree(committed, run_dir, ignore=shutil.ignore_patterns("report*", "*.png", "NOTES.md"))
    report = write_report(run_dir).read_text()
    assert "No per-layer kernel times: the profiled runtimes' kernels could not be matched to the layers" in report
    assert "run `bench --profile`" not in report
    steps = report[report.index("### Real networks' training step"):]
    assert "ms per step" in steps.splitlines()[4] and "ms per forward" not in steps[:steps.index("\n## ")]
    assert "first result s" in steps.splitlines()[4]  # a compiled network's step: seconds before the first one
    first = report[report.index("### Time to the first step"):].splitlines()
    assert "time to first step" in first[4] and "first forward" not in first[4]
    assert any(line.startswith("| torch-compile[torch]/cuda ") and "| cold " in line for line in first[6:12])
