"""The Keras stack (channels_last): Conv2D / DepthwiseConv2D layers with the shared weights, transposed.

Import this only after KERAS_BACKEND is set: Keras reads it once, at import.
"""

from __future__ import annotations

import keras

from convbench.models.variants import VARIANTS
from convbench.models.weights import make_weights, to_keras_kernel
from convbench.spec import StackSpec

KERAS_DTYPES = ("float32", "float16", "bfloat16")  # int8 exists only as the quantised ONNX export


def build_keras_stack(spec: StackSpec) -> keras.Model:
    """A functional model taking NHWC input of a fixed batch size, every layer computing in the spec's dtype
    (its dtype policy; the float32 weights are cast when set)."""
    if spec.dtype not in KERAS_DTYPES:
        raise ValueError(f"no Keras stack in {spec.dtype}: {spec.dtype} exists only as the quantised ONNX export "
                         "(timed by ort and openvino)")
    conv = VARIANTS[spec.variant]
    inputs = keras.Input((spec.image, spec.image, spec.channels), batch_size=spec.batch, name="input",
                         dtype=spec.dtype)
    x = inputs
    layers = []
    for i in range(spec.layers):
        if conv.depthwise:
            layer = keras.layers.DepthwiseConv2D(
                conv.kernel, padding="same", dilation_rate=conv.dilation, use_bias=False, name=f"conv{i}",
                dtype=spec.dtype,
            )
        else:
            layer = keras.layers.Conv2D(
                spec.channels, conv.kernel, padding="same", dilation_rate=conv.dilation, use_bias=False,
                name=f"conv{i}", dtype=spec.dtype,
            )
        x = layer(x)
        layers.append(layer)
    model = keras.Model(inputs, x, name=spec.stack_id.replace("-", "_"))
    for layer, weight in zip(layers, make_weights(spec), strict=True):
        layer.set_weights([to_keras_kernel(weight, conv.depthwise)])
    return model
