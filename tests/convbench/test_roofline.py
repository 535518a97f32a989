import pytest

from convbench.derived import roofline_columns
from convbench.roofline import arithmetic_intensity, floor_ms, layer_bytes, stack_bytes
from convbench.spec import Case, SeedStack


def test_bytes_match_hand_computed_values():
    # conv3x3 C=64 B=32 32x32: activations 32*64*32*32 = 2_097_152 elements in and out, weights 64*64*9 = 36_864
    spec = SeedStack("conv3x3", 64)
    assert layer_bytes(spec.nodes[0], spec.batch, spec.dtype) == (2 * 2_097_152 + 36_864) * 4 == 16_924_672
    assert stack_bytes(spec) == 16 * 16_924_672
    # depthwise at C=8, B=2, 8x8: activations 1024 each, weights 8*1*3*3 = 72
    small = SeedStack("conv3x3sep", 8, 2, 2, 8)
    assert layer_bytes(small.nodes[0], small.batch, small.dtype) == (2 * 1024 + 72) * 4


def test_a_strided_layer_moves_its_smaller_output():
    # ResNet-50's layer2.0.conv2: 128 -> 128 channels, 3x3 stride 2, 56x56 in, 28x28 out
    from convbench.spec import NetworkConvs

    node = next(n for n in NetworkConvs("resnet50", 1).nodes if n.name == "layer2.0.conv2")
    assert node.out_hw == (28, 28)
    assert layer_bytes(node, 1, "float32") == (128 * 56 * 56 + 128 * 28 * 28 + 128 * 128 * 9) * 4


def test_floor_is_the_larger_of_compute_and_memory_time():
    spec = SeedStack("conv3x3", 64)  # 38.65 GFLOP, 270.8 MB per forward
    assert spec.flops == 16 * 2_415_919_104
    compute_bound = floor_ms(spec, peak_gflop_per_s=1000.0, bandwidth_gb_per_s=1e6)
    assert compute_bound == pytest.approx(spec.flops / 1e12 * 1e3)
    memory_bound = floor_ms(spec, peak_gflop_per_s=1e9, bandwidth_gb_per_s=100.0)
    assert memory_bound == pytest.approx(stack_bytes(spec) / 100e9 * 1e3)
    assert arithmetic_intensity(spec) == pytest.approx(spec.flops / stack_bytes(spec))


def test_roofline_columns_use_the_peak_of_the_dtypes_math_mode():
    fp32_case = Case(SeedStack("conv3x3", 64), "torch", "torch", "cuda")
    tf32_case = Case(SeedStack("conv3x3", 64, dtype="tf32"), "torch", "torch", "cuda")
    ceilings = {"peak_gflop_per_s": 50_000.0, "peak_tf32_gflop_per_s": 400_000.0, "bandwidth_gb_per_s": 3000.0}
    fp32 = roofline_columns(fp32_case, 2.0, ceilings)
    tf32 = roofline_columns(tf32_case, 2.0, ceilings)
    assert fp32["floor_ms"] == pytest.approx(fp32_case.workload.flops / 50e12 * 1e3)
    assert fp32["peak_used"] == "peak_gflop_per_s" and tf32["peak_used"] == "peak_tf32_gflop_per_s"
    # at 400 TFLOP/s the 38.65 GFLOP take 0.0966 ms, still just above the 270.8 MB at 3 TB/s (0.0903 ms)
    assert tf32["floor_ms"] == pytest.approx(tf32_case.workload.flops / 400e12 * 1e3)
    assert tf32["floor_ms"] > stack_bytes(tf32_case.workload) / 3000e9 * 1e3
    assert fp32["efficiency"] == pytest.approx(fp32["floor_ms"] / 2.0)
    assert fp32["largest_layer_mb"] == pytest.approx((2 * 32 * 64 * 32 * 32 + 64 * 64 * 9) * 4 / 1e6)
    assert "floor_ms" not in roofline_columns(fp32_case, 2.0, None)
