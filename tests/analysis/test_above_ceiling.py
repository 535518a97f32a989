"""Cases above the ceiling: labelled only from evidence (the case's own kernel names, the machine's caches), the
rest shown as unexplained on the report's first screen; never an efficiency above 100%."""

import pandas as pd

from convbench.analysis.above_ceiling import (
    FLAG_COLUMN,
    ceiling_lines,
    efficiency_text,
    unexplained_lines,
    with_ceiling_flags,
)
from convbench.analysis.report import write_report
from tests.analysis.test_report import write_run

# knee = 100 GFLOP/s / 10 GB/s = 10 FLOP per byte; 34 MB of L2 and L3
CEILINGS = {"peak_gflop_per_s": 100.0, "peak_from": "physical", "bandwidth_gb_per_s": 10.0, "matmul_n": 2048,
            "gemm_gflop_per_s_torch": 90.0, "gemm_gflop_per_s_ort": 95.0, "gemm_gflop_per_s_openvino": 80.0,
            "gemm_peak_gflop_per_s": 95.0, "gemm_peak_from": "ort", "measured_clock_ghz": 1.5625,
            "physical_peak_gflop_per_s": 100.0, "physical_peak_source": "2 cores x 1.56 GHz (measured) x 32 FLOP/cycle",
            "cache_mb": 34.0, "cache_source": "sysfs: 2 x 1 MiB L2, 1 x 32 MiB L3"}
KEY = {"runtime": "openvino", "source": "torch.onnx", "device": "cpu", "machine": ""}
# Recorded kernel names (kernels.csv of committed runs): oneDNN's direct brgconv, a oneDNN Winograd primitive and
# cuDNN's FFT kernels name their algorithm; ORT's and torch's CPU names do not.
KERNELS = pd.DataFrame([
    {**KEY, "stack_id": "direct", "kernel": "Convolution: brgconv_avx512_f32"},
    {**KEY, "stack_id": "winograd", "kernel": "Convolution: jit_avx512_core_fp32_wino_conv_4x3"},
    {**KEY, "stack_id": "fft", "kernel": "void fft2d_r2c_32x32<float, false, 0u, false>(float2*, float const*, int)"},
    {**KEY, "stack_id": "ort", "kernel": "Conv (CPUExecutionProvider)"},
])


def _row(stack_id: str, efficiency: float, intensity: float, largest_mb: float, gflop: float, ms: float) -> dict:
    return {**KEY, "stack_id": stack_id, "status": "ok", "efficiency": efficiency, "arithmetic_intensity": intensity,
            "largest_layer_mb": largest_mb, "gflop": gflop, "ms_per_forward": ms, "peak_used": "peak_gflop_per_s"}


def test_a_case_above_its_floor_is_labelled_only_from_its_kernels_or_the_caches_else_unexplained():
    rows = pd.DataFrame([
        _row("winograd", 1.3, 50.0, 100.0, 1.0, 8.0),  # compute-bound, a Winograd kernel by name
        _row("fft", 1.3, 50.0, 100.0, 1.0, 8.0),  # cuDNN's FFT kernels
        _row("direct", 1.3, 50.0, 1.0, 1.0, 8.0),  # compute-bound, a direct conv kernel: nothing explains it
        _row("ort", 1.2, 2.0, 4.0, 0.1, 2.0),  # memory-bound, its layers fit 34 MB, above the compute floor (1 ms)
        _row("ort", 1.2, 2.0, 40.0, 0.1, 2.0),  # memory-bound, but its largest layer does not fit
        _row("ort", 1.2, 2.0, 4.0, 0.1, 0.5),  # fits, but faster than the compute floor: no cache does that
        _row("direct", 0.8, 50.0, 1.0, 1.0, 8.0),  # under its floor: no flag
    ])
    flagged = with_ceiling_flags(rows, {"ceilings": {"cpu": CEILINGS}}, KERNELS)
    assert list(flagged[FLAG_COLUMN]) == ["fast algorithm", "fast algorithm", "unexplained", "in cache", "unexplained",
                                          "unexplained", ""]
    texts = [efficiency_text(e, f) for e, f in zip(flagged["efficiency"], flagged[FLAG_COLUMN], strict=True)]
    assert texts[2:4] == ["above ceiling (unexplained)", "above ceiling (in cache)"] and texts[-1] == "80%"
    # a run that recorded no kernels and no caches explains nothing
    assert set(with_ceiling_flags(rows, {"ceilings": {"cpu": {**CEILINGS, "cache_mb": None}}})[FLAG_COLUMN]) == {
        "unexplained", ""}
    line = unexplained_lines(flagged)[0]
    assert line.startswith("**3 cases ran faster than their roofline floor with no explanation**")
    assert "openvino/cpu" in line and "1.30x" in line


def test_ceiling_lines_give_the_physical_peak_its_clock_and_the_best_gemm_beside_it():
    lines = "\n".join(ceiling_lines(CEILINGS, "cpu"))
    assert "float32 peak, the roofline's: **100 GFLOP/s**, physical: 2 cores x 1.56 GHz (measured)" in lines
    assert "best large GEMM, the practical ceiling: 95 GFLOP/s, 95% of the physical peak (ort; torch 90; openvino 80" \
        in lines
    assert "cpu caches: 34.0 MB (sysfs: 2 x 1 MiB L2, 1 x 32 MiB L3)" in lines
    old = {key: value for key, value in CEILINGS.items() if not key.startswith(("physical", "gemm_peak"))}
    old.update(peak_gflop_per_s=95.0, peak_from="ort", theoretical_peak_gflop_per_s=80.0,
               theoretical_peak_source="2 cores x 1.25 GHz x 32 FLOP/cycle")
    old_lines = "\n".join(ceiling_lines(old, "cpu"))  # a committed run from before the physical peak
    assert "**95 GFLOP/s**, the best large GEMM (ort;" in old_lines and "1.19x it" in old_lines


def test_report_flags_cases_above_their_floor_and_shows_no_efficiency_above_100_percent(tmp_path):
    run_dir = write_run(tmp_path / "run")
    results = pd.read_csv(run_dir / "results.csv")
    # conv3x3 and conv1x1 beat their floor (compute-bound, no kernels recorded), the rest run at half its speed
    results["arithmetic_intensity"] = 50.0
    results["peak_used"] = "peak_gflop_per_s"
    results["efficiency"] = results["variant"].map({"conv3x3": 1.4, "conv1x1": 1.2}).fillna(0.5)
    results.to_csv(run_dir / "results.csv", index=False)
    env = run_dir / "env.json"
    env.write_text(env.read_text().replace('"env_id"', '"ceilings": {"cpu": ' + pd.io.json.ujson_dumps(CEILINGS)
                                           + '}, "env_id"'))
    report = write_report(run_dir).read_text()
    assert "### Cases above the ceiling" in report
    assert "above ceiling (unexplained)" in report and "above ceiling (fast algorithm)" not in report
    first_screen = report[:report.index("### The fastest way")]
    assert "cases ran faster than their roofline floor with no explanation**" in first_screen
    assert "140%" not in report and "120%" not in report
    assert "cpu float32 peak, the roofline's: **100 GFLOP/s**" in report
