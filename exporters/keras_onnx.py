"""Keras -> ONNX through tf2onnx, from a tf.function of the model with an explicit input signature."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf
import tf2onnx

from convbench.exporters import OPSET


def export_keras(model: keras.Model, input_shape: tuple[int, ...], path: Path, dtype: str = "float32") -> str:
    """Write `model` for `dtype` input of exactly `input_shape` (NHWC) to `path`; return tf2onnx's version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    forward = tf.function(lambda inputs: model(inputs, training=False))
    signature = [tf.TensorSpec(input_shape, tf.as_dtype(dtype), name="input")]
    tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET, output_path=str(path))
    return tf2onnx.__version__
