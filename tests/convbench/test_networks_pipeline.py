"""A real network through the whole pipeline: EfficientNet-B0's 81 conv layers (strided, unequal channels, residual
adds, 3x3 and 5x5 depthwise, squeeze-excite) at 32x32 and batch 2, exported from both frameworks with parity,
timed and profiled in one runtime of each family, attributed per layer, and reported by conv kind."""

from pathlib import Path

import pandas as pd
import pytest

from convbench.analysis.graph import inspect_onnx
from convbench.artifacts import Artifacts
from convbench.models.networks import NETWORKS
from convbench.results import read_results
from convbench.skeleton import convs
from convbench.spec import NetworkConvs
from tests.conftest import QUICK_TIMING, convbench

SMALL_NETWORK = ["--networks", "efficientnet_b0", "--image", "32", "--batch", "2"]
SPEC = NetworkConvs("efficientnet_b0", 2, 32)
RUNTIMES = ["torch", "keras-tf", "ort", "openvino"]


@pytest.fixture(scope="module")
def network_run(workdir: Path) -> Path:
    artifacts = workdir / "network-artifacts"
    export = convbench("export", *SMALL_NETWORK, "--artifacts", str(artifacts))
    assert export.returncode == 0, export.stdout + export.stderr
    run_dir = workdir / "network-run"
    bench = convbench("bench", *SMALL_NETWORK, *QUICK_TIMING, "--runtimes", *RUNTIMES, "--profile",
                      "--artifacts", str(artifacts), "--run-dir", str(run_dir))
    assert bench.returncode == 0, bench.stdout + bench.stderr
    return run_dir


def test_both_exports_hold_every_conv_layer_with_the_definitions_macs_and_parity(network_run, workdir):
    artifacts = Artifacts(workdir / "network-artifacts")
    manifest = pd.read_csv(artifacts.manifest_path)
    assert (manifest["status"] == "ok").all() and manifest["native_rel_err"].max() < 1e-4
    macs = sum(node.macs(SPEC.batch) for node in convs(SPEC.nodes))
    for framework in ("torch", "keras"):
        summary = inspect_onnx(artifacts.onnx_path(framework, SPEC))
        assert summary.op_counts["Conv"] == 81
        assert summary.macs == macs


def test_every_runtime_timed_it_and_its_rows_name_the_network(network_run):
    results = read_results(network_run / "results.csv")
    assert (results["status"] == "ok").all(), results[["runtime", "source", "reason"]]
    assert set(results["runtime"]) == set(RUNTIMES)
    assert (results["network"] == "efficientnet_b0").all() and (results["layers"] == 81).all()
    assert results["gflop"].iloc[0] == pytest.approx(SPEC.flops / 1e9)
    assert results["variant"].isna().all()


def test_each_profiled_runtime_attributes_its_kernel_time_to_every_layer(network_run):
    layers = read_results(network_run / "layers.csv")
    per_case = layers.groupby(["runtime", "source"])
    assert set(per_case.groups) == {("torch", "torch"), ("keras-tf", "keras"), ("ort", "torch.onnx"),
                                    ("ort", "tf2onnx"), ("openvino", "torch.onnx"), ("openvino", "tf2onnx")}
    names = [node.name for node in convs(SPEC.nodes)]
    for _, rows in per_case:
        assert list(rows["layer"]) == names
        assert (rows["ms_per_forward"] > 0).all()
        assert rows["layer_share"].sum() == pytest.approx(1.0)
    kinds = set(layers["conv_kind"])
    assert {"pointwise 1x1", "depthwise 3x3", "depthwise 5x5", "strided 3x3", "squeeze-excite"} <= kinds


def test_the_report_says_where_the_time_goes_by_conv_kind(network_run):
    report = (network_run / "report.md").read_text()
    assert "## Real networks' conv layers" in report
    assert "### Where the time goes, by conv kind" in report
    assert "efficientnet_b0, batch 2, float32" in report
    assert "depthwise convs are" in report and "of the conv FLOPs" in report
    assert (network_run / "kinds-efficientnet_b0-b2.png").exists()
    assert "## The 2017 table" not in report  # no seed stack in this run


@pytest.fixture(scope="module")
def networks_at_224(workdir: Path) -> Path:
    """The three networks exported at their real size, batch 1, from PyTorch (one export for the three)."""
    artifacts = workdir / "networks-224"
    export = convbench("export", "--networks", *NETWORKS, "--batch", "1", "--sources", "torch",
                       "--artifacts", str(artifacts))
    assert export.returncode == 0, export.stdout + export.stderr
    return artifacts


@pytest.mark.parametrize("network", NETWORKS)
def test_inspect_counts_each_networks_published_macs_at_224(network, networks_at_224):
    """The export at the networks' real size, as `convbench inspect` reads it: conv MACs equal the definition's,
    and with the classifier left out they are the published figure (see tests/models/test_networks.py)."""
    artifacts = networks_at_224
    spec = NetworkConvs(network, 1)
    summary = inspect_onnx(Artifacts(artifacts).onnx_path("torch", spec))
    assert summary.macs == pytest.approx(sum(n.macs(1) for n in convs(spec.nodes)), rel=0.01)
    assert summary.macs == sum(n.macs(1) for n in convs(spec.nodes))
