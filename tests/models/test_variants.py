from pathlib import Path

import pytest

from convbench.models.variants import VARIANTS, theoretical_vs_conv3x3
from convbench.spec import SeedStack


def test_seven_conv_types_in_the_seed_order():
    assert list(VARIANTS) == ["conv1x1", "conv3x1", "conv1x3", "conv3x3sep", "conv3x3", "conv5x5", "conv3x3dilated"]


@pytest.mark.parametrize(
    ("variant", "channels", "batch", "image", "flops"),
    [
        # 2 * B * H * W * C_out * (C_in / groups) * kh * kw, worked out by hand
        ("conv3x3", 64, 32, 32, 2 * 32 * 32 * 32 * 64 * 64 * 9),  # 2_415_919_104
        ("conv3x3", 64, 32, 32, 2_415_919_104),
        ("conv3x3sep", 64, 32, 32, 37_748_736),  # groups = C: C_in / groups = 1
        ("conv1x3", 8, 2, 8, 49_152),
        ("conv3x1", 8, 2, 8, 49_152),
        ("conv1x1", 16, 1, 4, 8_192),
        ("conv5x5", 8, 1, 8, 204_800),
        ("conv3x3dilated", 8, 1, 8, 73_728),  # dilation spreads the kernel, not its FLOPs
    ],
)
def test_layer_flops_match_hand_computed_values(variant, channels, batch, image, flops):
    assert VARIANTS[variant].layer_flops(channels, batch, image) == flops


def test_stack_flops_are_layers_times_layer_flops():
    spec = SeedStack("conv3x3", 64, layers=16, batch=32, image=32)
    assert spec.flops == 16 * 2_415_919_104


def test_theoretical_row_matches_the_seed_at_c64():
    seed = {"conv1x1": 0.111, "conv3x1": 0.333, "conv1x3": 0.333, "conv3x3sep": 0.016, "conv3x3": 1.000,
            "conv5x5": 2.778, "conv3x3dilated": 1.000}
    assert {v: round(theoretical_vs_conv3x3(v, 64), 3) for v in VARIANTS} == seed


@pytest.mark.parametrize(("variant", "padding", "span"), [
    ("conv1x1", (0, 0), (1, 1)), ("conv3x1", (1, 0), (3, 1)), ("conv1x3", (0, 1), (1, 3)),
    ("conv3x3", (1, 1), (3, 3)), ("conv5x5", (2, 2), (5, 5)), ("conv3x3dilated", (2, 2), (5, 5)),
])
def test_same_padding_and_span(variant, padding, span):
    assert VARIANTS[variant].padding == padding
    assert VARIANTS[variant].effective_kernel == span


def test_stack_ids_name_a_dtype_other_than_float32_and_share_the_float32_reference():
    from convbench.artifacts import Artifacts

    plain, half = SeedStack("conv3x3", 64), SeedStack("conv3x3", 64, dtype="float16")
    assert plain.stack_id == "conv3x3-c64-l16-b32-i32"  # unchanged: earlier runs and exports stay valid
    assert half.stack_id == "conv3x3-c64-l16-b32-i32-float16"
    assert half.reference == plain and half.flops == plain.flops
    artifacts = Artifacts(Path("a"))
    assert artifacts.reference_path(half) == artifacts.reference_path(plain)
