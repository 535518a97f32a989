"""The CPU ceiling: every installed runtime's large GEMM measured the same way (real onnxruntime and OpenVINO), the
best of them as the peak, and the theoretical peak from the CPU's vendor, family, flags and clock."""

import pytest

from convbench.ceilings import (
    best_gemm,
    flops_per_cycle,
    openvino_gemm_gflop_per_s,
    ort_gemm_gflop_per_s,
    theoretical_cpu_peak,
)

ZEN4 = ("vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\ncpu MHz\t\t: 2596.146\n"
        "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw\n")
XEON = ("vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\ncpu MHz\t\t: 2000.000\n"
        "flags\t\t: avx fma avx2 avx512f\n")


def test_the_peak_is_the_best_gemm_and_names_its_runtime():
    ceilings = {"peak_gflop_per_s": 150.0, "peak_from": "torch", "gemm_gflop_per_s_torch": 150.0,
                "gemm_gflop_per_s_ort": 160.0, "gemm_gflop_per_s_openvino": "not measured: openvino not installed"}
    best = best_gemm(ceilings)
    assert best["peak_gflop_per_s"] == 160.0 and best["peak_from"] == "ort"
    assert best["gemm_gflop_per_s_torch"] == 150.0  # each runtime's figure is kept


def test_flops_per_cycle_from_vendor_family_and_flags():
    assert flops_per_cycle("AuthenticAMD", 25, 17, {"fma", "avx2", "avx512f"})[0] == 32  # Zen 4: 256-bit datapaths
    assert flops_per_cycle("AuthenticAMD", 26, 2, {"fma", "avx2", "avx512f"})[0] == 64  # Zen 5
    assert flops_per_cycle("AuthenticAMD", 23, 1, {"fma", "avx2"})[0] == 16  # Zen 1
    assert flops_per_cycle("GenuineIntel", 6, 143, {"fma", "avx2", "avx512f"})[0] == 64
    assert flops_per_cycle("GenuineIntel", 6, 60, {"fma", "avx2"})[0] == 32
    assert flops_per_cycle("GenuineIntel", 6, 30, {"sse2"}) is None


def test_theoretical_peak_is_cores_times_clock_times_flops_per_cycle_and_says_where_each_came_from():
    zen4 = theoretical_cpu_peak(2, ZEN4, max_khz="")
    assert zen4["theoretical_peak_gflop_per_s"] == pytest.approx(2 * 2.596146 * 32)
    assert "cpu MHz" in zen4["theoretical_peak_source"] and "Zen" in zen4["theoretical_peak_source"]
    boosted = theoretical_cpu_peak(4, XEON, max_khz="3800000")
    assert boosted["theoretical_peak_gflop_per_s"] == pytest.approx(4 * 3.8 * 64)
    assert "cpuinfo_max_freq" in boosted["theoretical_peak_source"]
    unknown = theoretical_cpu_peak(2, "vendor_id\t: Other\nflags\t\t: sse2\n", max_khz="")
    assert "theoretical_peak_gflop_per_s" not in unknown and "not derived" in unknown["theoretical_peak_source"]


@pytest.mark.parametrize("gemm", [ort_gemm_gflop_per_s, openvino_gemm_gflop_per_s])
def test_each_runtime_times_the_same_onnx_matmul(gemm):
    pytest.importorskip({"ort_gemm_gflop_per_s": "onnxruntime"}.get(gemm.__name__, "openvino"))
    rate = gemm(2, 256)
    assert 0.1 < rate < 100_000  # GFLOP/s of a real 256x256 float32 GEMM on two threads
