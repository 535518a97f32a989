"""The profiler parses on real runs: one convolution event per layer per forward, kernel share by FLOPs."""

import pytest
import torch

from convbench.exporters.torch_onnx import export_torch
from convbench.models.torch_stack import build_torch_stack
from convbench.models.weights import make_input
from convbench.runners.ort_runner import session_options
from convbench.runners.profilers import ort_kernel_time, profile_forwards, torch_kernel_time
from convbench.spec import StackSpec


def torch_profile(spec: StackSpec, forwards: int = 10):
    model = build_torch_stack(spec)
    x = torch.from_numpy(make_input(spec))

    def forward():
        with torch.inference_mode():
            return model(x)

    return torch_kernel_time(forward, None, forwards, cuda=False)


def ort_profile(spec: StackSpec, tmp_path, forwards: int = 10):
    path = tmp_path / f"{spec.stack_id}.onnx"
    export_torch(build_torch_stack(spec), torch.from_numpy(make_input(spec)), path)
    return ort_kernel_time(path, session_options(2), ["CPUExecutionProvider"], make_input(spec), forwards)


def test_torch_profile_sees_one_conv_per_layer_of_a_16_layer_stack():
    kt = torch_profile(StackSpec("conv3x3", 8, layers=16, batch=2, image=8))
    assert kt.conv_events == 16
    assert 0 < kt.kernel_ms <= kt.profiled_wall_ms
    assert kt.host_timed and "aten convolution" in kt.method


def test_ort_trace_sees_one_conv_node_per_layer_of_a_16_layer_stack(tmp_path):
    kt = ort_profile(StackSpec("conv3x3dilated", 8, layers=16, batch=2, image=8), tmp_path)
    assert kt.conv_events == 16
    assert 0 < kt.kernel_ms <= kt.profiled_wall_ms


def test_a_heavier_stack_has_a_larger_kernel_share(tmp_path):
    light, heavy = (StackSpec(v, 32, layers=16, batch=4, image=16) for v in ("conv1x1", "conv5x5"))
    for profile in (torch_profile, lambda spec: ort_profile(spec, tmp_path)):
        light_share, heavy_share = (kt.kernel_ms / kt.profiled_wall_ms for kt in map(profile, (light, heavy)))
        assert heavy_share > light_share


def test_kernel_share_applies_to_the_timed_median_for_host_timed_profilers():
    kt = torch_profile(StackSpec("conv1x1", 8, layers=2, batch=2, image=8))
    assert kt.kernel_ms_for(1.0) == pytest.approx(kt.kernel_ms / kt.profiled_wall_ms)


@pytest.mark.parametrize(("ms", "forwards"), [(0.01, 50), (10.0, 30), (500.0, 3), (float("nan"), 3)])
def test_profiled_run_length(ms, forwards):
    assert profile_forwards(ms) == forwards
