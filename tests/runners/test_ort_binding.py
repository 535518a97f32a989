"""IO binding (ort-iobinding, ort-cuda-graph, ort-cuda-nhwc, ort-cuda-heuristic) binds an output buffer of the
model's output shape, which in a real network is not the input's. Checked on the CPU, where onnxruntime binds too:
the binding code is the same, only the device differs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from convbench.runners.ort_runner import OrtRunner


def _strided_conv(batch: int | str) -> bytes:
    """3 -> 4 channels, stride 2: a 1x3x8x8 input gives a 1x4x4x4 output, like a network's first layer."""
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])], "strided",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 4, 4])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("batch", [1, "N"], ids=["static-shape", "dynamic-batch"])
def test_a_bound_run_returns_the_models_output_not_a_buffer_shaped_like_the_input(batch):
    model = _strided_conv(batch)
    onnx.checker.check_model(onnx.load_from_string(model))
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    forward, to_numpy, sync = OrtRunner._bound(session, x, "cpu")
    output = forward()
    sync(output)
    got = to_numpy(output)
    assert got.shape == (1, 4, 4, 4)
    np.testing.assert_allclose(got, session.run(None, {"x": x})[0], rtol=1e-6)
