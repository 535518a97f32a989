"""Keras -> ONNX through tf2onnx on the graphs tf2onnx gets wrong by itself."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from convbench.exporters.keras_onnx import export_keras
from convbench.skeleton import PoolNode


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_minus_inf_padded_max_pool_exports_loads_and_matches_pytorch(tmp_path, dtype):
    # ResNet-50's stem pool: PyTorch's MaxPool2d(3, 2, 1), padded with -inf (a PadV2 in TensorFlow); in float16
    # tf2onnx alone wrote a file onnxruntime refused to load
    import keras

    from convbench.models.keras_stack import max_pool

    shape = (2, 8, 8, 4)
    inputs = keras.Input(batch_shape=shape, dtype=dtype)
    model = keras.Model(inputs, max_pool(PoolNode("maxpool", "input", "max", 3, 2, 1), inputs))
    path = tmp_path / "pool.onnx"
    export_keras(model, shape, path, dtype)
    x = -np.abs(np.random.default_rng(0).standard_normal(shape)).astype(dtype)  # all negative: a zero pad would win
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2), 3, 2, 1)
    np.testing.assert_array_equal(out.astype(np.float32), expected.permute(0, 2, 3, 1).numpy())


def test_a_model_holding_constants_as_tensors_exports_them_frozen_not_as_graph_inputs(tmp_path):
    # keras.applications' EfficientNetB0: its Normalization layer keeps its mean and variance as tensors, which
    # tf2onnx alone left as graph inputs (onnxruntime then asked for them in the feed)
    import keras

    shape = (2, 8, 8, 3)
    inputs = keras.Input(batch_shape=shape)
    norm = keras.layers.Normalization(axis=-1)
    outputs = norm(inputs)
    norm.adapt(np.random.default_rng(0).standard_normal((16, 8, 8, 3)).astype(np.float32) * 3 + 1)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "norm.onnx"
    export_keras(model, shape, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert len(session.get_inputs()) == 1
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(out, np.asarray(model(x)), rtol=1e-5, atol=1e-6)
