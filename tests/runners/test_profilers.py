"""The profiler parses on real runs: one convolution event per layer per forward, kernel share by FLOPs."""

import functools
import time
from pathlib import Path

import pytest
import torch

from convbench.exporters.torch_onnx import export_torch
from convbench.models.torch_stack import build_torch_stack
from convbench.models.weights import make_input
from convbench.runners.ort_runner import session_options
from convbench.runners.profile_ort import ort_kernel_time
from convbench.runners.profile_torch import torch_kernel_time
from convbench.runners.profilers import PROJECTED_SHARE, profile_forwards
from convbench.spec import SeedStack
from convbench.workers import Worker

pytestmark = pytest.mark.figures  # kernel shares and wall times measured here: make test runs these alone


def torch_profile(spec: SeedStack, forwards: int = 10):
    model = build_torch_stack(spec)
    x = torch.from_numpy(make_input(spec))

    def forward():
        with torch.inference_mode():
            return model(x)

    return torch_kernel_time(forward, None, forwards, cuda=False)


def ort_profile(spec: SeedStack, tmp_path, forwards: int = 10):
    path = tmp_path / f"{spec.stack_id}.onnx"
    export_torch(build_torch_stack(spec), torch.from_numpy(make_input(spec)), path)
    return ort_kernel_time(path, session_options(2), ["CPUExecutionProvider"], make_input(spec), forwards)


def test_torch_profile_sees_one_conv_per_layer_of_a_16_layer_stack():
    kt = torch_profile(SeedStack("conv3x3", 8, layers=16, batch=2, image=8))
    assert kt.conv_events == 16
    assert 0 < kt.kernel_ms <= kt.profiled_wall_ms
    assert kt.host_timed and "every aten operator" in kt.method
    slowest = kt.kernels[0]
    assert slowest.name in ("aten::mkldnn_convolution", "aten::_slow_conv2d_forward")
    assert slowest.calls_per_forward == 16


def test_ort_trace_sees_one_conv_node_per_layer_of_a_16_layer_stack(tmp_path):
    kt = ort_profile(SeedStack("conv3x3dilated", 8, layers=16, batch=2, image=8), tmp_path)
    assert kt.conv_events == 16
    assert 0 < kt.kernel_ms <= kt.profiled_wall_ms


def test_a_heavier_stack_has_a_larger_kernel_share(tmp_path):
    light, heavy = (SeedStack(v, 32, layers=16, batch=4, image=16) for v in ("conv1x1", "conv5x5"))
    for profile in (torch_profile, lambda spec: ort_profile(spec, tmp_path)):
        light_share, heavy_share = (kt.kernel_ms / kt.profiled_wall_ms for kt in map(profile, (light, heavy)))
        assert heavy_share > light_share


@pytest.mark.parametrize(("ms", "forwards"), [(0.01, 50), (10.0, 20), (500.0, 3), (float("nan"), 3)])
def test_profiled_run_length(ms, forwards):
    assert profile_forwards(ms) == forwards


def _tf_profile(spec: SeedStack, predict: bool):
    """Worker side (KERAS_BACKEND=tensorflow): TensorFlow's profiler on the Keras stack, as keras-tf or predict."""
    import tensorflow as tf

    from convbench.models.keras_stack import build_keras_stack
    from convbench.models.weights import nchw_to_nhwc
    from convbench.runners.profile_tf import tf_kernel_time

    model = build_keras_stack(spec)
    x = nchw_to_nhwc(make_input(spec))
    if predict:
        def forward():
            return model.predict(x, batch_size=spec.batch, verbose=0)
    else:
        compiled = tf.function(lambda t: model(t, training=False)).get_concrete_function(tf.constant(x))
        forward = functools.partial(compiled, tf.constant(x))
    return tf_kernel_time(forward, 5, scope=spec.stack_id.replace("-", "_"))


def test_tensorflow_profile_sees_one_conv_per_layer_and_the_same_kernels_under_predict():
    # batch 32 at 16x16: oneDNN's conv op (AVX-512 CPUs) logs two trace events per run at this size, one at batch 2
    spec = SeedStack("conv3x3", 8, layers=16, batch=32, image=16)
    with Worker("tensorflow", 2, {"KERAS_BACKEND": "tensorflow"}) as worker:
        direct, predict = (worker.call(_tf_profile, spec, p, timeout_s=300) for p in (False, True))
    for kt in (direct, predict):
        assert kt.conv_events == 16
        assert 0 < kt.kernel_ms <= kt.profiled_wall_ms
        conv = next(r for r in kt.kernels if "Conv2D" in r.name)  # Conv2D, or oneDNN's _MklNativeConv2D
        assert conv.calls_per_forward == 16
    assert not any("Iterator" in r.name or "Dataset" in r.name for r in predict.kernels)  # predict's own work
    assert predict.profiled_wall_ms > direct.profiled_wall_ms  # ... is overhead, not kernel
    assert predict.share < PROJECTED_SHARE  # so a slower timed median is overhead: kernels taken as profiled
    assert predict.kernel_ms_for(2 * predict.profiled_wall_ms) == predict.kernel_ms


def _keras_tf_cuda_step(artifacts_root: str):
    """Worker side (KERAS_BACKEND=tensorflow): keras-tf's profiled training step on the GPU, or why there is none."""
    import tensorflow as tf

    from convbench.artifacts import Artifacts
    from convbench.runners import RUNTIMES, get_runner
    from convbench.runners.phases import phase_columns
    from convbench.spec import Case

    if not tf.config.list_physical_devices("GPU"):
        return "TensorFlow sees no GPU here"
    spec = SeedStack("conv3x3", 16, layers=4, batch=8, image=16, pass_="train")
    kt = get_runner(RUNTIMES["keras-tf"], 2).kernel_time(Case(spec, "keras-tf", "keras", "cuda"),
                                                         Artifacts(Path(artifacts_root)), 5)
    return kt, phase_columns(kt)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: keras-tf's GPU kernels come from CUPTI")
def test_keras_tf_on_cuda_takes_its_step_kernels_from_cupti_and_splits_them_by_direction(tmp_path):
    with Worker("tensorflow", 2, {"KERAS_BACKEND": "tensorflow"}) as worker:
        result = worker.call(_keras_tf_cuda_step, str(tmp_path), timeout_s=300)
    if isinstance(result, str):
        pytest.skip(result)
    kt, phases = result
    assert "CUPTI" in kt.method and 0 < kt.kernel_ms <= kt.profiled_wall_ms
    assert phases["kernel_forward_ms"] > 0 and phases["kernel_backward_ms"] > 0, phases


def test_openvino_perf_counters_see_one_conv_per_layer(tmp_path):
    from convbench.runners.openvino_runner import OpenVinoCpu
    from convbench.runners.profile_openvino import openvino_kernel_time

    spec = SeedStack("conv3x3sep", 8, layers=16, batch=2, image=8)
    path = tmp_path / f"{spec.stack_id}.onnx"
    export_torch(build_torch_stack(spec), torch.from_numpy(make_input(spec)), path)
    request = OpenVinoCpu(2).compile(path, profile=True).create_infer_request()
    kt = openvino_kernel_time(request, make_input(spec), 5)
    assert kt.conv_events == 16
    assert 0 < kt.kernel_ms <= kt.profiled_wall_ms
    assert any(r.name.startswith("GroupConvolution") and r.calls_per_forward == 16 for r in kt.kernels)


def test_gpu_idle_time_between_kernels_on_known_intervals():
    from convbench.runners.profile_torch import gpu_idle_ms

    forwards = [(0.0, 100.0), (200.0, 300.0)]  # host ranges, µs
    kernels = [(10, 20), (30, 40), (35, 50), (210, 260)]  # second and third overlap; the fourth alone
    assert gpu_idle_ms(forwards, kernels) == pytest.approx((10 / 1e3 + 0.0) / 2)  # median of 10 µs and 0


def test_host_timed_kernels_that_are_most_of_the_profiled_run_take_their_share_of_the_timed_median():
    """Node times that overlap (OpenVINO's, seen summing to 104-110% of the wall) are not capped: the kernel time
    passes the timed median, and the overhead is then not given (never a clamp's zero, never negative)."""
    from convbench.runners.profilers import KernelTime

    assert KernelTime(5.0, 10.0, 16, "m").kernel_ms_for(8.0) == 4.0
    assert "share of the profiled run applied" in KernelTime(5.0, 10.0, 16, "m").applied(8.0)
    overlapping = KernelTime(kernel_ms=11.0, profiled_wall_ms=10.0, conv_events=16, method="m")
    assert overlapping.share == pytest.approx(1.1) and overlapping.kernel_ms_for(8.0) == pytest.approx(8.8)
    assert "summed to 110% of the profiled wall: they overlap" in overlapping.applied(8.0)
    from convbench.derived import profiled_overhead

    overhead, why = profiled_overhead(8.0, overlapping.kernel_ms_for(8.0), host_timed=True)
    assert overhead != overhead and "add up to 1.100x the timed median (their node times overlap" in why


def test_host_timed_kernels_under_half_the_profiled_run_are_taken_as_profiled():
    """model.predict: its wall moves between forwards outside its kernels, so a slower timed median is overhead."""
    from convbench.runners.profilers import KernelTime

    predict_like = KernelTime(kernel_ms=2.0, profiled_wall_ms=10.0, conv_events=16, method="m")
    assert predict_like.kernel_ms_for(30.0) == 2.0  # not 30 * 0.2 = 6
    assert predict_like.applied(30.0).startswith(", as profiled (the kernels were 20% of the profiled wall")
    assert predict_like.kernel_ms_for(1.5) == 2.0 and "capped" not in predict_like.applied(1.5)


def test_device_timed_kernels_are_taken_as_the_device_timed_them():
    from convbench.runners.profilers import KernelTime

    cupti = KernelTime(kernel_ms=0.3, profiled_wall_ms=1.0, conv_events=16, method="m", host_timed=False)
    assert cupti.kernel_ms_for(0.5) == 0.3 and cupti.applied(0.5) == ""


def test_kernels_well_over_the_timed_median_give_no_overhead_and_say_why():
    """An H200 run: the profiled process's NCHW 5x5 step ran FFT kernels for 8.2 ms, the timed ones 5.5 ms per step."""
    from convbench.derived import profiled_overhead

    assert profiled_overhead(5.0, 4.0) == (pytest.approx(1.0), "")
    assert profiled_overhead(1.0, 1.0) == (0.0, "")  # kernels are the whole forward: zero, measured
    within_noise, why = profiled_overhead(1.0, 1.02)  # not -0.02: no negative overhead
    assert within_noise != within_noise and "1.020x the timed median" in why and "no overhead is left" in why
    overhead, why = profiled_overhead(5.46, 8.2)
    assert overhead != overhead and "1.50x the timed median" in why and why.startswith("; overhead not given")
    assert profiled_overhead(5.0, float("nan"))[1] == ""


def test_reading_an_older_run_drops_the_overhead_of_kernels_that_disagree(tmp_path):
    """Runs profiled before that rule hold a negative overhead; reading them gives what bench writes now."""
    import pandas as pd

    from convbench.results import read_results

    rows = pd.DataFrame({"stack_id": ["a", "b", "c", "d"], "runtime": "torch", "source": "torch", "device": "cuda",
                         "machine": "m", "ms_per_forward": [5.46, 1.0, 1.0, 2.0],
                         "kernel_ms_per_forward": [8.2, 0.9, 1.041, 2.0],
                         "overhead_ms_per_forward": [-2.74, 0.1, -0.041, 0.0],
                         "kernel_method": ["CUPTI", "CUPTI", "CUPTI", "m, as profiled, capped at the timed median"],
                         })
    rows.to_csv(tmp_path / "results.csv", index=False)
    table = read_results(tmp_path / "results.csv")
    assert table["overhead_ms_per_forward"].isna().tolist() == [True, False, True, True]  # no negative, no clamp
    assert "overhead not given" in table.at[0, "kernel_method"] and table.at[1, "kernel_method"] == "CUPTI"
    assert "the zero was a cap" in table.at[3, "kernel_method"]


def test_settle_runs_at_least_the_forwards_and_the_seconds_asked_for():
    from convbench.runners.profilers import settle

    calls = []
    settle(lambda: calls.append(1), forwards=3, seconds=0.0)
    assert len(calls) == 3
    calls.clear()
    settle(lambda: calls.append(time.sleep(0.01)), forwards=1, seconds=0.05)
    assert len(calls) >= 4  # 10 ms forwards until 50 ms have passed
