import shutil

import pandas as pd
import pytest

from tests.conftest import QUICK_TIMING, SMALL_SWEEP, assert_one_line_error, convbench


@pytest.mark.parametrize("command", ["export", "bench"])
def test_unknown_conv_type_names_the_valid_ones(command):
    run = convbench(command, "--variants", "conv3x3,conv7x7")
    assert_one_line_error(run, "'conv7x7'", "conv1x1", "conv3x3sep", "conv3x3dilated")


def test_unknown_runtime_names_the_valid_ones():
    assert_one_line_error(convbench("bench", "--runtimes", "tensorrt"), "'tensorrt'", "torch", "keras-predict", "ort")


@pytest.mark.parametrize(("flag", "value"), [("--channels", "0"), ("--channels", "-8"), ("--channels", "eight"),
                                             ("--layers", "0"), ("--batch", "1.5"), ("--image", "-1")])
def test_sizes_must_be_positive_integers(flag, value):
    assert_one_line_error(convbench("export", flag, value), flag, repr(value), "positive integer")


def test_kernel_larger_than_the_image():
    run = convbench("export", "--variants", "conv3x3dilated", "--image", "4")
    assert_one_line_error(run, "conv3x3dilated", "5x5", "4x4")


def test_unknown_source_and_device():
    assert_one_line_error(convbench("export", "--sources", "mxnet"), "'mxnet'", "torch", "keras")
    assert_one_line_error(convbench("bench", "--device", "tpu"), "'tpu'", "cpu", "cuda")


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    assert_one_line_error(convbench("bench", "--device", "cuda", *SMALL_SWEEP), "--device cuda", "no NVIDIA GPU")


def test_bench_before_export_says_what_to_run(tmp_path):
    run = convbench("bench", *SMALL_SWEEP, "--artifacts", str(tmp_path / "none"), "--results", str(tmp_path / "r"))
    assert_one_line_error(run, "conv1x1-c8-l2-b2-i8", "convbench export")
    assert not (tmp_path / "r").exists()


def test_unknown_flag_is_one_line():
    assert_one_line_error(convbench("bench", "--fast"), "--fast")


def test_unknown_bench_source_and_a_runtime_left_with_no_source_are_one_line_errors():
    assert_one_line_error(convbench("bench", "--sources", "onnx"), "'onnx'", "torch.onnx", "tf2onnx", "tflite")
    run = convbench("bench", "--runtimes", "ort", "torch", "--sources", "torch")
    assert_one_line_error(run, "--sources torch", "ort", "torch.onnx, tf2onnx")


def test_bench_sources_time_only_those_files(exported, tmp_path):
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv3x3", "--runtimes", "ort", "--sources",
                    "tf2onnx", "--artifacts", str(exported), "--results", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    rows = pd.read_csv(tmp_path / "latest" / "results.csv")
    assert list(rows["source"]) == ["tf2onnx"] and list(rows["status"]) == ["ok"]
