import json

import onnx
import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.exporters import OPSET
from convbench.models.variants import VARIANTS
from tests.conftest import SMALL_SPECS, SMALL_SWEEP, convbench

MANIFEST_COLUMNS = {"source", "stack_id", "exporter", "exporter_version", "opset", "node_counts", "sha256",
                    "export_s", "native_rel_err", "onnx_rel_err", "parity_ok", "status", "path"}


@pytest.fixture(scope="module")
def manifest(exported) -> pd.DataFrame:
    return pd.read_csv(Artifacts(exported).manifest_path)


def test_manifest_has_one_good_row_per_file(manifest):
    assert set(manifest.columns) >= MANIFEST_COLUMNS
    assert len(manifest) == 2 * len(SMALL_SPECS)
    assert set(manifest["exporter"]) == {"torch.onnx", "tf2onnx"}
    assert (manifest["status"] == "ok").all(), manifest[["stack_id", "source", "reason"]]
    assert (manifest["opset"] == OPSET).all()


def test_four_way_parity_under_1e4(manifest):
    # native Keras vs the PyTorch reference, and onnxruntime on each file vs its own native model
    assert manifest["native_rel_err"].max() < 1e-4
    assert manifest["onnx_rel_err"].max() < 1e-4
    assert manifest["parity_ok"].all()


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=lambda s: s.stack_id)
def test_files_pass_the_checker_and_hold_one_conv_per_layer(exported, spec):
    artifacts = Artifacts(exported)
    conv = VARIANTS[spec.variant]
    for framework in ("torch", "keras"):
        path = artifacts.onnx_path(framework, spec)
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        assert len(convs) == spec.layers, framework
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in convs[0].attribute}
        assert list(attrs["kernel_shape"]) == list(conv.kernel)
        assert attrs.get("group", 1) == conv.groups(spec.channels)
        assert list(attrs.get("dilations", [1, 1])) == [conv.dilation] * 2


def test_keras_export_has_layout_transposes_and_torch_export_none(manifest):
    counts = manifest.set_index(["source", "stack_id"])["node_counts"].map(json.loads)
    for spec in SMALL_SPECS:
        assert "Transpose" not in counts[("torch", spec.stack_id)]
        assert counts[("keras", spec.stack_id)].get("Transpose", 0) >= 1


def test_a_second_export_is_up_to_date_and_keeps_the_files(exported, manifest):
    run = convbench("export", *SMALL_SWEEP, "--variants", "conv3x3", "--artifacts", str(exported))
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("up to date") == 2
    hashes = pd.read_csv(Artifacts(exported).manifest_path).set_index(["source", "stack_id"])["sha256"]
    assert hashes.equals(manifest.set_index(["source", "stack_id"])["sha256"])
