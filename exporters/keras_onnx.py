"""Keras -> ONNX through tf2onnx, from a tf.function of the model with an explicit input signature."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx
from onnx import TensorProto, numpy_helper
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from convbench.exporters import OPSET


def export_keras(model: keras.Model, input_shape: tuple[int, ...], path: Path, dtype: str = "float32") -> str:
    """Write `model` for `dtype` input of exactly `input_shape` (NHWC) to `path`; return tf2onnx's version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    forward = tf.function(lambda inputs: model(inputs, training=False))
    signature = [tf.TensorSpec(input_shape, tf.as_dtype(dtype), name="input")]
    concrete = forward.get_concrete_function(*signature)
    if any(t.dtype != tf.resource for t in concrete.captured_inputs):
        # The model holds constants as tensors, not variables (keras.applications' EfficientNet: its Normalization
        # layer's mean and variance): tf2onnx would leave them as graph inputs. Freeze every capture first.
        frozen = convert_variables_to_constants_v2(concrete)
        proto, _ = tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(),
                                                  input_names=[t.name for t in frozen.inputs],
                                                  output_names=[t.name for t in frozen.outputs], opset=OPSET)
    else:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    onnx.save(float_pad_values(proto), str(path))
    return tf2onnx.__version__


def float_pad_values(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each Pad that tf2onnx runs in float32 given a float32 pad value.

    tf2onnx (1.17, opset 11 and later) converts a float16 PadV2 (a constant pad value, such as the -inf before
    ResNet-50's max pool) by casting the data to float32 and the result back, but leaves the pad value in float16:
    onnxruntime then refuses the file ("Type parameter (T) of Optype (Pad) bound to different types"). The value is
    made float32 here, as the data it pads is; the graph is otherwise tf2onnx's."""
    made_by = {output: node for node in model.graph.node for output in node.output}
    initializers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Pad" or len(node.input) < 3 or node.input[2] not in initializers:
            continue
        source = made_by.get(node.input[0])
        to = {a.name: a.i for a in source.attribute}.get("to") if source is not None and source.op_type == "Cast" \
            else None
        value = initializers[node.input[2]]
        if to == TensorProto.FLOAT and value.data_type != TensorProto.FLOAT:
            value.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(value).astype(np.float32), value.name))
    return model
