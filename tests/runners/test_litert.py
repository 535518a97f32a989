"""LiteRT end to end on the small sweep, for real: the Keras models converted to .tflite (float32 and full-integer
int8), the manifest's rows, and both litert runtimes timed with their parity checked."""

import json

import pandas as pd
import pytest

from tests.conftest import QUICK_TIMING, SMALL_SWEEP, convbench

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (the cpu extra has it)")
pytest.importorskip("tensorflow", reason="the .tflite files are converted with TensorFlow")


@pytest.fixture(scope="module")
def litert_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("litert")
    sweep = [*SMALL_SWEEP, "--variants", "conv3x3sep", "conv3x3", "--dtype", "float32", "int8"]
    export = convbench("export", *sweep, "--sources", "torch", "litert", "--artifacts", str(root / "artifacts"))
    assert export.returncode == 0, export.stdout + export.stderr
    bench = convbench("bench", *sweep, *QUICK_TIMING, "--runtimes", "litert", "litert-builtin", "--profile",
                      "--artifacts", str(root / "artifacts"), "--results", str(root / "results"))
    assert bench.returncode == 0, bench.stdout + bench.stderr
    manifest = pd.read_csv(root / "artifacts" / "onnx" / "manifest.csv")
    return manifest[manifest["source"] == "litert"].set_index("stack_id"), pd.read_csv(
        root / "results" / "latest" / "results.csv")


def test_the_tflite_files_are_in_the_manifest_with_their_operators_hash_and_parity(litert_run):
    manifest, _ = litert_run
    assert set(manifest["status"]) == {"ok"} and len(manifest) == 4
    depthwise = manifest.loc["conv3x3sep-c8-l2-b2-i8"]
    assert json.loads(depthwise["node_counts"]) == {"DEPTHWISE_CONV_2D": 2}  # float32: the math unchanged
    assert depthwise["exporter"] == "tf.lite.TFLiteConverter" and len(depthwise["sha256"]) == 64
    assert depthwise["onnx_rel_err"] < 1e-5
    int8 = manifest.loc["conv3x3-c8-l2-b2-i8-int8"]
    assert json.loads(int8["node_counts"]) == {"CONV_2D": 2, "DEQUANTIZE": 1, "QUANTIZE": 1}  # full-integer inside
    assert 1e-4 < int8["onnx_rel_err"] < 0.3  # int8's error against the float32 reference, kept, not hidden


def test_both_litert_runtimes_time_every_case_with_the_delegate_in_each_row(litert_run):
    _, results = litert_run
    assert len(results) == 8 and set(results["status"]) == {"ok"}
    assert (results["ms_per_forward"] > 0).all()
    delegates = {r: json.loads(o)["delegate"] for r, o in zip(results["runtime"], results["options"], strict=True)}
    assert delegates["litert"].startswith("XNNPACK") and delegates["litert-builtin"].startswith("none")
    assert results.loc[results["dtype"] == "float32", "parity_rel_err"].max() < 1e-5
    assert results["kernel_method"].str.contains("no per-op timing").all()  # NaN kernel time, with the reason
    assert set(results["source"]) == {"tflite"}
