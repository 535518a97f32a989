"""keras.applications' whole models (convbench.models.whole), built from the workload's seed (import after
KERAS_BACKEND is set, as convbench.models.keras_stack).

Keras draws its initial weights with its backend's own random numbers (TensorFlow's, JAX's, torch's differ for one
seed), so the weights are drawn again with numpy from each variable's own initializer: the same model in every
backend, held to the one reference that TensorFlow's Keras makes at export."""

from __future__ import annotations

import math

import keras
import numpy as np

from convbench.errors import Skip
from convbench.models.whole import KERAS, definition, missing_in


def build_keras_whole(name: str, seed: int, dtype: str, batch: int, image: int, calibration_nhwc: np.ndarray,
                      train: bool = False) -> keras.Model:
    """keras.applications' model `name` with weights=None on `batch` x `image` x `image` x 3 input (a fixed batch, as
    the conv stacks have: the ONNX and LiteRT files take that batch), its weights initialised by
    Keras' own rules from `seed`, its batch norms' moving statistics those of `calibration_nhwc` (one forward in
    training mode, dropout off), every layer computing in `dtype` (the float32 weights cast; float64 for a step's
    reference). For a training step (`train`) it ends in logits (classifier_activation=None), and its dropout layers
    are held off, as torchvision's are (convbench.models.torch_whole), so that its gradients can be checked. Skip
    where the model is torchvision's only."""
    why = missing_in(name, KERAS)
    if why:
        raise Skip(why)
    function_name = definition(name).keras
    function = getattr(keras.applications, str(function_name), None)
    if function is None:
        known = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        raise ValueError(f"keras.applications {keras.__version__} has no model {function_name!r}; it has "
                         f"{len(known)}, e.g. {', '.join(known[:8])}")
    # a step's loss is the output's sum (convbench.passes): of logits, as torchvision's models give them; the sum of
    # a softmax is the batch size whatever the weights, so its gradients are zero up to rounding
    head = {"classifier_activation": None} if train else {}

    def build() -> keras.Model:
        inputs = keras.Input((image, image, 3), batch_size=batch, name="input")
        return function(weights=None, input_tensor=inputs, input_shape=(image, image, 3), **head)

    keras.utils.set_random_seed(seed)
    model = build()
    draw_weights(model, seed)
    _calibrate(model, calibration_nhwc)
    if dtype not in ("float32", "tf32"):
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(dtype)
        try:
            typed = build()
        finally:
            keras.config.set_dtype_policy(policy)
        typed.set_weights(model.get_weights())
        model = typed
    if train:
        for layer in _dropouts(model):
            layer.rate = 0.0
    return model


def _dropouts(model: keras.Model) -> list[keras.layers.Dropout]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]


def _calibrate(model: keras.Model, batch_nhwc: np.ndarray) -> None:
    """Every BatchNormalization's moving mean and variance set to its input's statistics on the batch (momentum 0
    for one forward in training mode, dropout rates 0 meanwhile), then restored to Keras' defaults."""
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = _dropouts(model)
    momenta, rates = [n.momentum for n in norms], [d.rate for d in dropouts]
    for norm in norms:
        norm.momentum = 0.0
    for dropout in dropouts:
        dropout.rate = 0.0
    model(batch_nhwc, training=True)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    for dropout, rate in zip(dropouts, rates, strict=True):
        dropout.rate = rate


# A layer's variable and the initializer attribute that made it (Keras 3's Conv, DepthwiseConv, SeparableConv, Dense,
# BatchNormalization, Embedding).
_INITIALIZED_BY = (("kernel", "kernel_initializer"), ("kernel", "depthwise_initializer"),
                   ("depthwise_kernel", "depthwise_initializer"), ("pointwise_kernel", "pointwise_initializer"),
                   ("bias", "bias_initializer"), ("gamma", "gamma_initializer"), ("beta", "beta_initializer"),
                   ("embeddings", "embeddings_initializer"))
_TRUNCATED_STDDEV = 0.87962566103423978  # Keras' VarianceScaling: the stddev of N(0, 1) truncated at 2


def draw_weights(model: keras.Model, seed: int) -> None:
    """Every variable Keras initialised at random drawn again with numpy, from the seed and the variable's position,
    by its initializer's own rule (VarianceScaling and its Glorot/He/LeCun forms, RandomNormal, RandomUniform,
    TruncatedNormal); constant ones (zeros, ones) stay. Skip for a model with a random initializer of another kind
    (its weights would differ from backend to backend)."""
    drawn: dict[int, tuple[str, keras.initializers.Initializer]] = {}
    for layer in model._flatten_layers(include_self=False):
        for variable_attr, initializer_attr in _INITIALIZED_BY:
            variable, initializer = getattr(layer, variable_attr, None), getattr(layer, initializer_attr, None)
            if isinstance(variable, keras.Variable) and isinstance(initializer, keras.initializers.Initializer):
                drawn[id(variable)] = (f"{layer.name}.{variable_attr}", initializer)
    for position, variable in enumerate(model.weights):
        value = keras.ops.convert_to_numpy(variable.value)
        if value.size < 2 or np.all(value == value.flat[0]):
            continue  # a constant initializer: the same in every backend
        if id(variable) not in drawn:
            raise Skip(f"{model.name}'s variable {variable.path} is initialised at random by a rule convbench cannot "
                       "draw the same in every Keras backend")
        name, initializer = drawn[id(variable)]
        rng = np.random.default_rng([seed, 4, position])
        variable.assign(_draw(initializer, value.shape, rng, name).astype(value.dtype))


def _draw(initializer: keras.initializers.Initializer, shape: tuple[int, ...], rng: np.random.Generator,
          name: str) -> np.ndarray:
    if isinstance(initializer, keras.initializers.VarianceScaling):  # GlorotUniform & co. keep their rule unconfigured
        fan_in, fan_out = _fans(shape, getattr(initializer, "input_axes", None),
                                getattr(initializer, "output_axes", None))
        fan = {"fan_in": fan_in, "fan_out": fan_out}.get(initializer.mode, (fan_in + fan_out) / 2.0)
        scale = initializer.scale / max(1.0, fan)
        if initializer.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV)
        if initializer.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), shape)
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape)
    config = initializer.get_config()
    if isinstance(initializer, keras.initializers.TruncatedNormal):
        return _truncated_normal(rng, shape, config["mean"], config["stddev"])
    if isinstance(initializer, keras.initializers.RandomNormal):
        return rng.normal(config["mean"], config["stddev"], shape)
    if isinstance(initializer, keras.initializers.RandomUniform):
        return rng.uniform(config["minval"], config["maxval"], shape)
    raise Skip(f"{name} is initialised by {type(initializer).__name__}, which convbench cannot draw the same in every "
               "Keras backend")


def _fans(shape: tuple[int, ...], input_axes: list[int] | None, output_axes: list[int] | None) -> tuple[int, int]:
    """Keras' compute_fans: fan in and out of a weight shape (a conv kernel: receptive field x input / output depth)."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float) -> np.ndarray:
    """N(mean, stddev) with every draw beyond 2 stddevs drawn again (Keras' truncated_normal)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return mean + stddev * values
