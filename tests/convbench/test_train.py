"""The train pass: one training step per timed call, in one runtime of each family, on the small sweep; its FLOPs,
its gradient parity (a wrong backward is a failed row, never timed), where its kernel time goes, and the runtimes
that run inference only."""

import math
from pathlib import Path

import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.bench import plan_cases, run_bench
from convbench.harness import TimingConfig
from convbench.jobs import RunSettings
from convbench.results import ResultsStore, read_results
from convbench.runners import FAMILY_ENV, RUNTIMES, RuntimeInfo
from convbench.runners.phases import phase_of
from convbench.spec import NetworkConvs, SeedStack, expand_specs
from tests.conftest import QUICK_TIMING, SMALL_SWEEP, assert_one_line_error, convbench

TRAIN_SWEEP = ["--variants", "conv3x3", "conv3x3sep", *SMALL_SWEEP, "--pass", "train"]
# one runtime of each family that trains here (keras-jax needs jax: on the GPU machine), and two that cannot
RUNTIMES_TIMED = ["torch", "torch-channels-last", "keras-tf", "keras-torch", "keras-predict", "ort"]


@pytest.fixture(scope="module")
def train_run(workdir: Path) -> tuple[Path, str]:
    """A train sweep needs no export (its reference gradients are made by bench); a second bench of the forward
    in torch on the export joins the same run, for the report's step / forward."""
    run_dir = workdir / "train-run"
    run = convbench("bench", *TRAIN_SWEEP, *QUICK_TIMING, "--runtimes", *RUNTIMES_TIMED, "--profile",
                    "--artifacts", str(workdir / "train-artifacts"), "--run-dir", str(run_dir))
    assert run.returncode == 0, run.stdout + run.stderr
    return run_dir, run.stdout


@pytest.fixture(scope="module")
def mixed_run(exported: Path, workdir: Path) -> Path:
    """Forward and train of three conv types in torch and keras-tf, in one sweep."""
    run_dir = workdir / "mixed-run"
    run = convbench("bench", "--variants", "conv3x3", "conv3x3sep", "conv1x1", *SMALL_SWEEP, "--pass", "forward",
                    "train", *QUICK_TIMING, "--runtimes", "torch", "keras-tf", "--artifacts", str(exported),
                    "--run-dir", str(run_dir))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "training step" in run.stdout  # the closing tables name the pass
    return run_dir


def test_a_train_step_counts_three_forwards_of_flops():
    forward, train = SeedStack("conv3x3", 64), SeedStack("conv3x3", 64, pass_="train")
    assert train.flops == 3 * forward.flops
    assert train.stack_id == "conv3x3-c64-l16-b32-i32-train" and train.reference == forward
    assert train.as_file == forward and train.columns()["pass"] == "train"
    network = NetworkConvs("mobilenet_v2", 1, pass_="train")
    assert network.flops == 3 * NetworkConvs("mobilenet_v2", 1).flops
    assert [s.pass_ for s in expand_specs(["conv1x1"], [8], passes=["forward", "train"])] == ["forward", "train"]


def test_every_training_runtime_timed_a_step_that_matches_pytorchs_gradients(train_run, workdir):
    run_dir, _ = train_run
    results = read_results(run_dir / "results.csv")
    ok = results[results["status"] == "ok"]
    assert set(ok["runtime"]) == {"torch", "torch-channels-last", "keras-tf", "keras-torch"}
    assert len(ok) == 8 and (ok["pass"] == "train").all() and ok["stack_id"].str.endswith("-train").all()
    assert (ok["parity_rel_err"] < 1e-4).all()
    expected = ok["variant"].map(lambda v: SeedStack(v, 8, 2, 2, 8, pass_="train").flops / 1e9)
    assert ok["gflop"].to_numpy() == pytest.approx(expected.to_numpy())
    gradients = Artifacts(workdir / "train-artifacts").gradient_reference_path(SeedStack("conv3x3", 8, 2, 2, 8))
    assert gradients.exists()


def test_inference_only_runtimes_are_skipped_rows_that_say_why(train_run):
    run_dir, stdout = train_run
    results = read_results(run_dir / "results.csv")
    skipped = results[results["runtime"].isin(["ort", "keras-predict"])]
    assert len(skipped) == 6 and (skipped["status"] == "skipped").all()
    assert skipped["reason"].str.contains("inference").all()
    processes = read_results(run_dir / "processes.csv")
    assert not processes["runtime"].isin(["ort", "keras-predict"]).any()  # no worker was started for them


def test_each_profiled_step_splits_its_kernel_time_into_forward_and_both_backwards(train_run):
    run_dir, _ = train_run
    ok = read_results(run_dir / "results.csv").query("status == 'ok'").set_index(["runtime", "variant"])
    for runtime in ("torch", "keras-tf"):  # oneDNN's log and TensorFlow's op types
        for variant in ("conv3x3", "conv3x3sep"):
            row = ok.loc[(runtime, variant)]
            parts = [row["kernel_forward_ms"], row["kernel_backward_data_ms"], row["kernel_backward_weights_ms"]]
            assert all(p > 0 for p in parts), (runtime, variant, row["phase_method"])
            assert row["kernel_backward_ms"] == pytest.approx(parts[1] + parts[2])
    assert ok["phase_method"].notna().all()


def test_phases_are_read_from_the_names_cudnn_pytorch_and_tensorflow_give():
    assert phase_of("sm90_xmma_fprop_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc") == "forward"
    assert phase_of("sm80_xmma_dgrad_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc") == "backward_data"
    assert phase_of("sm90_xmma_wgrad_implicit_gemm_bf16bf16") == "backward_weights"
    assert phase_of("void at::native::(anonymous namespace)::conv_depthwise2d_grad_weight_kernel<float>") == \
        "backward_weights"
    assert phase_of("void at::native::(anonymous namespace)::conv_depthwise2d_backward_kernel<3>") == "backward_data"
    assert phase_of("_MklNativeDepthwiseConv2dNativeBackpropFilter") == "backward_weights"
    assert phase_of("Conv2DBackpropInput") == "backward_data"
    assert phase_of("_MklNativeConv2D") == "forward"
    assert phase_of("aten::convolution_backward") == "backward"
    assert phase_of("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_64x64_16x6_nn_align4>") is None
    # as CUPTI named them on an H200 (h200-cupti-2026-12-02): inductor's max-autotune conv, TensorFlow's depthwise
    assert phase_of("triton_tem_fused_convolution_0") == "forward"
    assert phase_of("void tensorflow::DepthwiseConv2dGPUKernelNCHWSmall<float, "
                    "(tensorflow::DepthwiseConv2dDirection)0, 3, 3, 2, true>") == "forward"
    assert phase_of("void tensorflow::DepthwiseConv2dBackpropInputGPUKernelNCHW<float, 3, 3, 1>") == "backward_data"
    assert phase_of("void tensorflow::DepthwiseConv2dBackpropFilterGPUKernelNCHWSmall<float, 3, 3, 2, 32>") == \
        "backward_weights"
    assert phase_of("void tensorflow::S2B<float, 2, true>(int, float*, tensorflow::S2BParameters<2>, float*)") is None


def test_a_wrong_backward_is_a_failed_row_and_never_timed(exported, tmp_path, monkeypatch):
    monkeypatch.setitem(RUNTIMES, "fake-wrongbackward",
                        RuntimeInfo("fake-wrongbackward", "fake", ("torch",),
                                    "tests.convbench.fake_runtimes:WrongBackward", (), "test"))
    monkeypatch.setitem(FAMILY_ENV, "fake", {})
    store = ResultsStore(tmp_path / "run")
    store.open()
    specs = expand_specs(["conv3x3", "conv1x1"], [8], layers=2, batch=2, image=8, passes=["train"])
    config = TimingConfig(warmup_seconds=0.01, sample_seconds=0.005, budget_seconds=0.02, min_samples=2,
                          max_samples=3, processes=1)
    run_bench(plan_cases(specs, ["fake-wrongbackward"], "cpu"), store, Artifacts(exported),
              RunSettings(config, 1, "env"), lambda case, row: None)
    results = pd.read_csv(store.csv_path).set_index("variant")
    assert results.loc["conv1x1", "status"] == "ok"
    row = results.loc["conv3x3"]
    assert row["status"] == "failed" and math.isnan(row["ms_per_forward"])
    assert row["reason"].startswith("parity: relative error 1.") and "in the gradient of conv1 " in row["reason"]
    assert "(float32 train); not timed" in row["reason"]


def test_an_unknown_pass_is_one_line_naming_the_valid_ones(exported):
    run = convbench("bench", "--pass", "backward", "--artifacts", str(exported))
    assert_one_line_error(run, "unknown pass 'backward'; valid: forward, train")


@pytest.mark.figures  # a step against its forward, both measured: make test runs it alone
def test_the_report_sets_a_step_against_its_forward_and_names_the_cheapest_to_train_and_to_deploy(mixed_run):
    report = (mixed_run / "report.md").read_text()
    training = report[report.index("## The training step"):]
    assert "### What a step costs per conv type" in training
    assert "### Cheapest to train, cheapest to deploy" in training and "cheapest to train **" in training
    assert "### The 2017 conclusions, re-tested on the training step" in training
    assert "processing time [s / 100 training steps]" in training
    assert "processing time [s / 100 training steps]" not in report[:report.index("## The training step")]
    results = read_results(mixed_run / "results.csv")
    assert sorted(results["pass"].unique()) == ["forward", "train"] and (results["status"] == "ok").all()
    from convbench.analysis.training import step_costs
    from convbench.analysis.workloads import pass_rows

    costs = step_costs(pass_rows(results, "train"), pass_rows(results, "forward"))
    assert len(costs) == 6 and (costs["step / forward"] > 1).all()  # a step is never cheaper than its forward


def test_export_of_a_train_sweep_makes_the_forwards_files_once(tmp_path):
    run = convbench("export", "--variants", "conv1x1", *SMALL_SWEEP, "--pass", "forward", "train", "--sources",
                    "torch", "--artifacts", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in (tmp_path / "onnx" / "torch").glob("*.onnx")) == ["conv1x1-c8-l2-b2-i8.onnx"]


def test_a_gradient_that_is_zero_by_construction_is_judged_against_the_largest_not_its_own_noise():
    import numpy as np

    from convbench.passes import worst_error

    rng = np.random.default_rng(0)
    expected = {"input": rng.standard_normal(100), "bias": rng.standard_normal(8) * 1e-9}  # 1e-9: rounding noise
    got = {"input": expected["input"] * (1 + 1e-7), "bias": rng.standard_normal(8) * 1e-9}
    error, name = worst_error(got, expected)
    assert error < 1e-5  # 1e-9 of noise against 1e-4 of the input gradient's norm (about 10)
    got["input"] = expected["input"] * 1.01
    assert worst_error(got, expected) == (pytest.approx(0.01), "input")
