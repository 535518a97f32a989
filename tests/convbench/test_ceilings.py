"""The CPU ceiling: the physical peak (cores x the measured clock x FLOPs per cycle from the CPU's vendor, family and
flags) as the roofline's, and every installed runtime's large GEMM measured the same way (real onnxruntime and
OpenVINO), the best of them as the practical ceiling beside it."""

from pathlib import Path

import pytest

from convbench.ceilings import (
    best_gemm,
    cpu_cache_mb,
    cpu_peak,
    flops_per_cycle,
    openvino_gemm_gflop_per_s,
    ort_gemm_gflop_per_s,
    physical_cpu_peak,
)
from convbench.cpu_clock import chain_code, measure_clock_ghz

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


RECORDED = Path(__file__).parent / "cpuinfo"  # /proc/cpuinfo's first processor, as recorded on each machine


def test_physical_peak_on_recorded_cpuinfo_of_both_cpu_kinds_uses_the_measured_clock():
    measured = {"measured_clock_ghz": 4.3, "clock_method": "a chain of adds"}
    epyc = physical_cpu_peak(2, (RECORDED / "amd-epyc-2core-vm.txt").read_text(), measured, max_khz="")
    assert epyc["physical_peak_gflop_per_s"] == pytest.approx(2 * 4.3 * 64)  # Zen 5: 64 FLOP/cycle
    assert "measured" in epyc["physical_peak_source"] and "Zen 5" in epyc["physical_peak_source"]
    xeon = physical_cpu_peak(16, (RECORDED / "intel-xeon-gpu-host.txt").read_text(), measured, max_khz="")
    assert xeon["physical_peak_gflop_per_s"] == pytest.approx(16 * 4.3 * 64)  # AVX-512, 2 FMA units
    assert "Intel AVX-512" in xeon["physical_peak_source"]
    assert xeon["measured_clock_ghz"] == 4.3 and xeon["clock_method"] == "a chain of adds"


def test_without_a_measured_clock_the_peak_says_which_clock_it_took_and_that_it_may_be_low():
    not_measured = {"clock_method": "not measured: the add chain is x86-64 Linux machine code; this is Linux arm64"}
    nominal = physical_cpu_peak(2, ZEN4, not_measured, max_khz="")
    assert nominal["physical_peak_gflop_per_s"] == pytest.approx(2 * 2.596146 * 32)
    assert "nominal" in nominal["physical_peak_source"] and "arm64" in nominal["physical_peak_source"]
    boosted = physical_cpu_peak(4, XEON, not_measured, max_khz="3800000")
    assert boosted["physical_peak_gflop_per_s"] == pytest.approx(4 * 3.8 * 64)
    assert "cpuinfo_max_freq" in boosted["physical_peak_source"]
    unknown = physical_cpu_peak(2, "vendor_id\t: Other\nflags\t\t: sse2\n", not_measured, max_khz="")
    assert "physical_peak_gflop_per_s" not in unknown and "not derived" in unknown["physical_peak_source"]


def test_the_roofline_peak_is_the_physical_one_and_the_best_gemm_stays_beside_it():
    gemms = {"peak_gflop_per_s": 150.0, "peak_from": "torch", "gemm_gflop_per_s_torch": 150.0,
             "gemm_gflop_per_s_ort": 160.0}
    peak = cpu_peak(gemms, {"physical_peak_gflop_per_s": 200.0, "physical_peak_source": "2 x 3.1 GHz x 32"})
    assert peak["peak_gflop_per_s"] == 200.0 and peak["peak_from"] == "physical"
    assert peak["gemm_peak_gflop_per_s"] == 160.0 and peak["gemm_peak_from"] == "ort"
    wrong_rule = cpu_peak(gemms, {"physical_peak_gflop_per_s": 100.0})
    assert wrong_rule["peak_gflop_per_s"] == 160.0 and "does not hold" in wrong_rule["peak_from"]
    assert cpu_peak(gemms, {"physical_peak_source": "not derived"})["peak_from"] == "ort"


def test_the_clock_chain_is_the_machine_code_it_claims_and_measures_a_plausible_clock():
    code = chain_code(3)
    assert code.count(bytes.fromhex("4801ca")) == 3 and code.endswith(bytes.fromhex("4889d0c3"))
    with pytest.raises(ValueError):
        chain_code(42)
    try:
        clocks = measure_clock_ghz(2, iterations=200_000, repeats=3)
    except OSError as error:  # not x86-64 Linux, or no executable pages allowed: the ceiling then says why
        pytest.skip(f"the add chain cannot run here: {error}")
    assert len(clocks) == 2 and all(0.5 < clock < 7.0 for clock in clocks)  # GHz: any x86-64 core of today


def test_cache_sizes_from_sysfs_count_each_shared_cache_once(tmp_path):
    for cpu in (0, 1):
        for index, (level, kind, size, shared) in enumerate([("1", "Data", "48K", str(cpu)),
                                                             ("2", "Unified", "1024K", str(cpu)),
                                                             ("3", "Unified", "32768K", "0-1")]):
            folder = tmp_path / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, text in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (folder / name).write_text(text + "\n")
    caches = cpu_cache_mb(tmp_path)
    assert caches["cache_mb"] == pytest.approx((2 * 1024 + 32768) * 1024 / 1e6)
    assert caches["cache_source"] == "sysfs: 2 x 1 MiB L2, 1 x 32 MiB L3"
    assert "not known" in cpu_cache_mb(tmp_path / "none")["cache_source"]


@pytest.mark.parametrize("gemm", [ort_gemm_gflop_per_s, openvino_gemm_gflop_per_s])
def test_each_runtime_times_the_same_onnx_matmul(gemm):
    pytest.importorskip({"ort_gemm_gflop_per_s": "onnxruntime"}.get(gemm.__name__, "openvino"))
    rate = gemm(2, 256)
    assert 0.1 < rate < 100_000  # GFLOP/s of a real 256x256 float32 GEMM on two threads
