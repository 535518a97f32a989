"""GPU code paths on a machine without CUDA: which runtimes a device gets, and the skips with their reasons."""

import pytest

from convbench.bench import not_runnable, plan_cases
from convbench.runners import RUNTIMES, default_runtimes, get_runner
from convbench.spec import SeedStack

CUDA_ONLY = ["torch-cudnn-benchmark", "torch-channels-last-cudnn-benchmark", "torch-cuda-graph",
             "torch-channels-last-cuda-graph", "torch-cuda-graph-cudnn-benchmark",
             "torch-channels-last-cuda-graph-cudnn-benchmark", "torch-compile-cuda-graph",
             "ort-iobinding", "ort-cuda-graph", "ort-cuda-nhwc", "ort-cuda-heuristic"]


def test_cpu_default_is_the_seed_set_plus_what_a_cpu_user_reaches_for_and_cuda_default_is_the_gpu_set():
    assert default_runtimes("cpu") == ["torch", "torch-channels-last", "torch-compile", "keras-tf", "keras-predict",
                                       "ort", "openvino"]
    cpu_only = ("openvino", "litert", "litert-builtin")
    assert default_runtimes("cuda") == [name for name in RUNTIMES if name not in cpu_only]
    assert "litert" not in default_runtimes("cpu")  # asked for by name: the default sweep's time (README)


@pytest.mark.parametrize("name", CUDA_ONLY)
def test_cuda_only_modes_skip_on_cpu_with_their_reason_before_any_worker_starts(name):
    reason = not_runnable(plan_cases([SeedStack("conv1x1", 8, 2, 2, 8)], [name], "cpu")[0])
    assert reason == RUNTIMES[name].cuda_only and ("cuda" in reason or "CUDA" in reason)
    assert not_runnable(plan_cases([SeedStack("conv1x1", 8, 2, 2, 8)], [name], "cuda")[0]) is None
    assert {n for n, info in RUNTIMES.items() if info.cuda_only} == set(CUDA_ONLY)


@pytest.mark.parametrize("name", ["torch", "torch-channels-last", "ort"])
def test_cuda_without_a_gpu_is_a_skip_not_a_crash(name):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    reason = get_runner(RUNTIMES[name], 1).available("cuda").reason
    assert "CUDA" in reason or "cuda" in reason


def test_tf32_is_a_dtype_of_its_own_that_runs_float32_files_and_is_skipped_on_the_cpu_with_its_reason():
    from convbench.request import Sweep

    tf32 = SeedStack("conv3x3", 8, 2, 2, 8, dtype="tf32")
    assert tf32.stack_id == "conv3x3-c8-l2-b2-i8-tf32" and tf32.tf32 and not tf32.reference.tf32
    assert tf32.as_file == SeedStack("conv3x3", 8, 2, 2, 8)  # float32's exported files
    assert [w.dtype for w in Sweep(variants=("conv3x3",), channels=(8,), dtypes=("tf32",)).resolved("cuda").workloads(
        with_reference=True)] == ["float32", "tf32"]
    for name in ("torch", "ort", "keras-tf"):
        reason = not_runnable(plan_cases([tf32], [name], "cpu")[0])
        assert reason and "math mode of NVIDIA tensor cores" in reason
        assert not_runnable(plan_cases([tf32], [name], "cuda")[0]) is None


def test_keras_tf_on_cuda_names_tensorflow_seeing_no_gpu():
    reason = get_runner(RUNTIMES["keras-tf"], 1).available("cuda").reason
    assert reason.startswith("TensorFlow sees no GPU")
