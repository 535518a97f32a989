"""The Keras stack (channels_last): Conv2D / DepthwiseConv2D layers with the shared weights, transposed.

Import this only after KERAS_BACKEND is set: Keras reads it once, at import.
"""

from __future__ import annotations

import keras

from convbench.models.variants import VARIANTS
from convbench.models.weights import make_weights, to_keras_kernel
from convbench.spec import StackSpec


def build_keras_stack(spec: StackSpec) -> keras.Model:
    """A functional model taking NHWC input of a fixed batch size."""
    conv = VARIANTS[spec.variant]
    inputs = keras.Input((spec.image, spec.image, spec.channels), batch_size=spec.batch, name="input")
    x = inputs
    layers = []
    for i in range(spec.layers):
        if conv.depthwise:
            layer = keras.layers.DepthwiseConv2D(
                conv.kernel, padding="same", dilation_rate=conv.dilation, use_bias=False, name=f"conv{i}"
            )
        else:
            layer = keras.layers.Conv2D(
                spec.channels, conv.kernel, padding="same", dilation_rate=conv.dilation, use_bias=False,
                name=f"conv{i}",
            )
        x = layer(x)
        layers.append(layer)
    model = keras.Model(inputs, x, name=spec.stack_id.replace("-", "_"))
    for layer, weight in zip(layers, make_weights(spec), strict=True):
        layer.set_weights([to_keras_kernel(weight, conv.depthwise)])
    return model
