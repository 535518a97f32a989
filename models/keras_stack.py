"""The Keras model of a workload (channels_last): Conv2D / DepthwiseConv2D layers with the shared weights,
transposed; a network's adds and pools as Keras ops.

Padding follows PyTorch's: a stride-1 conv whose padding is "same" uses Keras's "same" (symmetric there); any
other (a strided conv, where TensorFlow's "same" pads more at the bottom and right than PyTorch) is an explicit
ZeroPadding2D and a "valid" conv, so both frameworks compute the same numbers.

Import this only after KERAS_BACKEND is set: Keras reads it once, at import.
"""

from __future__ import annotations

import keras

from convbench.models.weights import make_calibration_input, make_weights, nchw_to_nhwc, to_keras_kernel
from convbench.skeleton import INPUT, AddNode, ConvNode, PoolNode, convs
from convbench.spec import WholeModel, Workload

# tf32: built in float32 (a math mode); int8 exists only as the quantised ONNX export
KERAS_DTYPES = ("float32", "tf32", "float16", "bfloat16")


def layer_name(node: ConvNode) -> str:
    """A layer's name as a Keras layer name (the seed's stacks keep conv0, conv1, ...)."""
    return node.name.replace(".", "_")


def _same(node: ConvNode) -> bool:
    return node.stride == 1 and all(p == node.dilation * (k - 1) // 2 and k % 2 == 1
                                    for p, k in zip(node.padding, node.kernel, strict=True))


def _conv(node: ConvNode, x, dtype: str):
    """The node's conv layer applied to x; returns (layer, output)."""
    padding = "same"
    if not _same(node):
        if any(node.padding):
            x = keras.layers.ZeroPadding2D(node.padding, name=f"{layer_name(node)}_pad", dtype=dtype)(x)
        padding = "valid"
    common = dict(strides=node.stride, padding=padding, dilation_rate=node.dilation, use_bias=False,
                  name=layer_name(node), dtype=dtype)
    if node.depthwise:
        layer = keras.layers.DepthwiseConv2D(node.kernel, **common)
    elif node.groups == 1:
        layer = keras.layers.Conv2D(node.c_out, node.kernel, **common)
    else:
        raise ValueError(f"{node.name}: grouped convs other than depthwise are not built in Keras")
    return layer, layer(x)


def max_pool(node: PoolNode, x):
    """PyTorch's MaxPool2d: padded with -inf, then a "valid" pool."""
    pad = node.padding
    if pad:
        x = keras.ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=float("-inf"))
    return keras.layers.MaxPooling2D(node.kernel, node.stride, padding="valid", name=node.name.replace(".", "_"))(x)


def build_keras_stack(spec: Workload) -> keras.Model:
    """A functional model taking NHWC input of a fixed batch size, every layer computing in the spec's dtype
    (its dtype policy; the float32 weights are cast when set); a whole model is keras.applications'
    (convbench.models.keras_whole)."""
    if spec.dtype not in KERAS_DTYPES:
        raise ValueError(f"no Keras model in {spec.dtype}: {spec.dtype} exists only as the quantised ONNX export "
                         "(timed by ort and openvino)")
    if isinstance(spec, WholeModel):
        from convbench.models.keras_whole import build_keras_whole

        return build_keras_whole(spec.model, spec.seed, spec.dtype, spec.batch, spec.image,
                                 nchw_to_nhwc(make_calibration_input(spec)), train=spec.pass_ == "train")
    batch, channels, height, width = spec.input_shape_nchw
    inputs = keras.Input((height, width, channels), batch_size=batch, name="input", dtype=spec.dtype)
    tensors = {INPUT: inputs}
    layers = []
    for node in spec.nodes:
        if isinstance(node, ConvNode):
            layer, out = _conv(node, tensors[node.src], spec.dtype)
            layers.append((layer, node))
        elif isinstance(node, AddNode):
            out = keras.ops.add(tensors[node.a], tensors[node.b])
        elif node.op == "mean":
            out = keras.ops.mean(tensors[node.src], axis=(1, 2), keepdims=True)
        else:
            out = max_pool(node, tensors[node.src])
        tensors[node.name] = out
    model = keras.Model(inputs, out, name=spec.stack_id.replace("-", "_"))
    assert len(layers) == len(convs(spec.nodes))
    for (layer, node), weight in zip(layers, make_weights(spec), strict=True):
        layer.set_weights([to_keras_kernel(weight, node.depthwise)])
    return model


def conv_kernels(model: keras.Model, spec: Workload) -> list[tuple[ConvNode, keras.Variable]]:
    """Each conv layer's node and kernel variable, in the skeleton's order (the order of its gradients)."""
    out = []
    for node in convs(spec.nodes):
        layer = model.get_layer(layer_name(node))
        out.append((node, layer.kernel))  # Keras 3 names a DepthwiseConv2D's kernel `kernel` too
    return out
