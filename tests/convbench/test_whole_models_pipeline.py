"""Whole networks through the real pipeline: torchvision's and keras.applications' MobileNetV2 (every layer) and a
user's torchvision model at 64x64, exported through each framework's own exporter (torch.onnx; tf2onnx and LiteRT),
checked against their own framework, timed and profiled in one runtime of each family, the training step in PyTorch
and in Keras (each against its own framework's float64 gradients), and reported with their multiply-adds, conv share,
memory and energy."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.parity import tolerance
from convbench.results import read_results
from convbench.spec import WholeModel
from tests.conftest import QUICK_TIMING, convbench

USER_MODEL = "torchvision:resnet18"
# 64x64: below it a training step's batch norms take their statistics from a handful of values (convbench.parity)
SWEEP = ["--models", "mobilenet_v2", USER_MODEL, "--image", "64", "--batch", "2"]
# keras-torch: Keras' torch backend on the model TensorFlow's Keras made the reference of (the weights drawn with numpy)
RUNTIMES = ["torch", "keras-tf", "keras-torch", "ort", "openvino", "litert"]
MOBILENET = WholeModel("mobilenet_v2", 2, 64)


@pytest.fixture(scope="module")
def artifacts(workdir: Path) -> Artifacts:
    root = workdir / "whole-artifacts"
    export = convbench("export", *SWEEP, "--sources", "torch.onnx", "tf2onnx", "tflite", "--artifacts", str(root))
    assert export.returncode == 0, export.stdout + export.stderr
    return Artifacts(root)


@pytest.fixture(scope="module")
def whole_run(workdir: Path, artifacts: Artifacts) -> Path:
    run_dir = workdir / "whole-run"
    bench = convbench("bench", *SWEEP, *QUICK_TIMING, "--runtimes", *RUNTIMES, "--pass", "forward", "train",
                      "--profile", "--artifacts", str(artifacts.root), "--run-dir", str(run_dir))
    assert bench.returncode == 0, bench.stdout + bench.stderr
    return run_dir


def test_each_framework_exports_its_own_model_checked_against_itself(artifacts):
    manifest = pd.read_csv(artifacts.manifest_path).set_index(["source", "stack_id"])
    for source in ("torch", "keras", "litert"):
        row = manifest.loc[(source, MOBILENET.stack_id)]
        assert row["status"] == "ok", row["reason"]
        assert row["onnx_rel_err"] <= tolerance("float32", "cpu", whole_model=True)
    torch_out = np.load(artifacts.source_reference_path(MOBILENET, "torch.onnx"))
    keras_out = np.load(artifacts.source_reference_path(MOBILENET, "tf2onnx"))
    assert torch_out.shape == keras_out.shape == (2, 1000)
    assert np.allclose(keras_out.sum(axis=1), 1.0, atol=1e-4)  # Keras' model ends in its softmax, torchvision's not
    assert not np.allclose(torch_out.sum(axis=1), 1.0, atol=1e-2)
    # the same architecture: the same multiply-adds in both graphs (convs and the classifier's matrix product)
    torch_macs = manifest.loc[("torch", MOBILENET.stack_id), "macs"]
    assert torch_macs == manifest.loc[("keras", MOBILENET.stack_id), "macs"] > 2 * 1000 * 1280
    assert "Gemm" in manifest.loc[("torch", MOBILENET.stack_id), "macs_by_op"]


def test_a_user_model_is_exported_by_its_own_library_and_skipped_by_the_other(artifacts):
    manifest = pd.read_csv(artifacts.manifest_path).set_index(["source", "stack_id"])
    stack = WholeModel(USER_MODEL, 2, 64).stack_id
    assert manifest.loc[("torch", stack), "status"] == "ok"
    for source in ("keras", "litert"):
        assert manifest.loc[(source, stack), "status"] == "skipped"
        assert "torchvision model" in manifest.loc[(source, stack), "reason"]


def test_every_runtime_timed_the_whole_model_and_each_native_runtime_its_training_step(whole_run, artifacts):
    results = read_results(whole_run / "results.csv")
    mobilenet = results[results["model"] == "mobilenet_v2"]
    forward = mobilenet[mobilenet["pass"] == "forward"]
    assert (forward["status"] == "ok").all(), forward[["runtime", "source", "reason"]]
    assert set(zip(forward["runtime"], forward["source"], strict=True)) == {
        ("torch", "torch"), ("keras-tf", "keras"), ("keras-torch", "keras"), ("ort", "torch.onnx"), ("ort", "tf2onnx"),
        ("openvino", "torch.onnx"), ("openvino", "tf2onnx"), ("litert", "tflite")}
    step = mobilenet[mobilenet["pass"] == "train"].set_index("runtime")
    timed = step.index[step["status"] != "skipped"]
    assert set(timed) == {"torch", "keras-tf", "keras-torch"}  # the runtimes with a training step
    assert step.loc[step["status"] == "skipped", "reason"].str.contains("inference").all()
    for runtime in timed:
        assert step.loc[runtime, "status"] == "ok", step.loc[runtime, "reason"]
        assert step.loc[runtime, "parity_rel_err"] <= tolerance("float32", "cpu", "train", whole_model=True)
    # each against its own framework's gradients: Keras' model is not torchvision's
    train = WholeModel("mobilenet_v2", 2, 64, pass_="train")
    with np.load(artifacts.gradient_reference_path(train, "keras")) as keras_grads, \
            np.load(artifacts.gradient_reference_path(train)) as torch_grads:
        assert any("expanded_conv_project_BN/gamma" in name for name in keras_grads.files)
        assert any(name.endswith("features.1.conv.2.weight") for name in torch_grads.files)
        assert keras_grads["input"].shape == torch_grads["input"].shape == (2, 3, 64, 64)
    user = results[(results["model"] == USER_MODEL) & (results["pass"] == "forward")].set_index(["runtime", "source"])
    assert user.loc[("torch", "torch"), "status"] == "ok"
    assert user.loc[("keras-tf", "keras"), "status"] == "skipped"
    assert results["network"].isna().all() and results["variant"].isna().all()


def test_memory_is_measured_and_energy_says_why_not_without_a_counter(whole_run):
    ok = read_results(whole_run / "results.csv").query("status == 'ok'")
    assert ok["host_peak_mb"].notna().all() and (ok["host_peak_mb"] >= 0).all()
    assert ok["memory_method"].str.contains("VmHWM").all()
    measured = ok["energy_method"].str.startswith("RAPL")
    assert ok.loc[~measured, "energy_method"].str.startswith("not measured").all()
    assert ok.loc[~measured, "energy_mj_per_forward"].isna().all()
    assert (ok.loc[measured, "energy_mj_per_forward"] > 0).all()


def test_the_report_answers_per_network_with_its_macs_and_conv_share(whole_run):
    report = (whole_run / "report.md").read_text()
    first_screen = report.split("## The answers", 1)[1].split("\n## ", 1)[0]
    answer = first_screen.split("### The fastest way to run each whole network", 1)[1].split("\n### ", 1)[0]
    assert "| mobilenet_v2 " in answer and "| torchvision:resnet18 " in answer and "Keras native / ONNX" in answer
    section = report.split("## Whole networks", 1)[1].split("\n## ", 1)[0]
    assert "**mobilenet_v2, batch 2, float32 on cpu (forward)**: fastest" in section
    assert "fastest native" in section and "fastest on its ONNX file" in section
    assert "ZeroPadding2D" in section  # where the two libraries' definitions differ
    assert "### Where a whole network's kernel time goes, by op kind" in section
    # every native runtime's profile finds the model's ops: Keras' under keras.applications' name for the model
    results = read_results(whole_run / "results.csv")
    keras_tf = results[(results["runtime"] == "keras-tf") & (results["model"] == "mobilenet_v2")].set_index("pass")
    for pass_ in ("forward", "train"):
        assert keras_tf.loc[pass_, "kernel_ms_per_forward"] > 0, keras_tf.loc[pass_, "kernel_method"]
    table = section.split("| model", 1)[1].split("\n\n", 1)[0]
    assert "keras.applications" in table and "torchvision" in table


def test_a_larger_batch_adds_more_host_memory(workdir, artifacts):
    """Each batch in a bench of its own, so that both cases are their worker's first (the same one-time costs)."""
    added = {}
    for batch in (1, 16):
        sweep = ["--models", "mobilenet_v2", "--image", "64", "--batch", str(batch)]
        export = convbench("export", *sweep, "--sources", "torch.onnx", "--artifacts", str(artifacts.root))
        assert export.returncode == 0, export.stdout + export.stderr
        run_dir = workdir / f"whole-memory-b{batch}"
        bench = convbench("bench", *sweep, *QUICK_TIMING, "--runtimes", "ort", "--sources", "torch.onnx",
                          "--artifacts", str(artifacts.root), "--run-dir", str(run_dir))
        assert bench.returncode == 0, bench.stdout + bench.stderr
        added[batch] = float(read_results(run_dir / "results.csv")["host_peak_mb"].iloc[0])
    # MobileNetV2's largest activations at 64x64: 96 x 32 x 32 float32 = 393 kB an image, live two at a time or more
    assert added[16] > added[1] + 15 * 0.39, added


def test_a_run_whose_every_case_failed_still_reports_each_reason(workdir, artifacts):
    """An export whose Keras model failed (its manifest row failed, no reference): the runs fail saying so, and the
    run still gets its tables and its report (graphs.csv with its header and no file; no whole-network table)."""
    import shutil

    broken = workdir / "whole-artifacts-failed"
    shutil.copytree(artifacts.root, broken)
    manifest = pd.read_csv(broken / "onnx" / "manifest.csv")
    manifest["status"], manifest["reason"], manifest["path"] = "failed", "KeyError: 'mode'", ""
    manifest.to_csv(broken / "onnx" / "manifest.csv", index=False)
    Artifacts(broken).reference_path(MOBILENET, "keras").unlink()
    run_dir = workdir / "whole-run-failed"
    bench = convbench("bench", "--models", "mobilenet_v2", "--image", "64", "--batch", "2", *QUICK_TIMING,
                      "--runtimes", "keras-tf", "--artifacts", str(broken), "--run-dir", str(run_dir))
    assert bench.returncode == 1, bench.stdout + bench.stderr
    results = read_results(run_dir / "results.csv")
    assert (results["status"] == "failed").all() and results["reason"].str.contains("KeyError: 'mode'").all()
    assert list(pd.read_csv(run_dir / "graphs.csv").columns)[:3] == ["source", "parity_rel_err", "file"]
    report = (run_dir / "report.md").read_text()
    assert "No good ONNX file in the export manifest" in report and "KeyError: 'mode'" in report
