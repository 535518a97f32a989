"""Memory and energy: each runtime's peak memory and energy per forward per workload, from known numbers."""

import pandas as pd

from convbench.analysis.memory_energy import memory_energy_lines, memory_energy_table
from convbench.analysis.report import write_report
from tests.analysis.test_report import write_run

RUNTIMES = [("torch", "torch"), ("ort", "torch.onnx")]


def _with_memory(run_dir, device: str = "cuda") -> pd.DataFrame:
    results = pd.read_csv(run_dir / "results.csv")
    ort = results["runtime"] == "ort"
    results["host_peak_mb"] = 100.0
    results["memory_method"] = "VmHWM"
    results["device_peak_mb"] = results["channels"] * 2.0 + ort * 50.0  # ort's arena holds 50 MB more
    results["device_memory_method"] = ort.map({True: "NVML", False: "torch"})
    results["energy_mj_per_forward"] = results["ms_per_forward"] * 0.3  # 300 W
    results["mean_watts"] = 300.0
    results["energy_method"] = "NVML energy"
    results.to_csv(run_dir / "results.csv", index=False)
    return results


def test_the_table_keeps_each_runtimes_largest_stack_and_the_lines_name_the_leanest(tmp_path):
    results = _with_memory(write_run(tmp_path / "run", device="cuda", runtimes=RUNTIMES))
    table = memory_energy_table(results)
    assert len(table) == 2 * 7 and set(table["workload"]) == set(results["variant"])
    conv3x3 = table[table["workload"] == "conv3x3"].set_index("runtime")
    assert conv3x3.loc["torch[torch]", "device MB"] == 128.0 and conv3x3.loc["ort[torch.onnx]", "device MB"] == 178.0
    lines = "\n".join(memory_energy_lines(table, results))
    assert "`device_memory_method`: torch (14 rows); NVML (14 rows)" in lines
    assert "least device memory added torch[torch] 128 MB (most 178 MB, ort[torch.onnx])" in lines
    assert "least energy" in lines and "mJ per forward" in lines


def test_the_report_shows_memory_and_energy_with_a_picture_of_time_against_memory(tmp_path):
    run_dir = write_run(tmp_path / "run", device="cuda", runtimes=RUNTIMES)
    _with_memory(run_dir)
    report = write_report(run_dir).read_text()
    assert "## Memory and energy" in report and "time against memory" in report
    assert (run_dir / "memory-cuda-float32-forward.png").stat().st_size > 1000
    assert memory_energy_table(pd.DataFrame({"status": ["ok"], "ms_per_forward": [1.0]})).empty  # an older run
