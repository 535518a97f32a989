"""keras.applications' whole models (convbench.models.whole), built from the workload's seed (import after
KERAS_BACKEND is set, as convbench.models.keras_stack)."""

from __future__ import annotations

import keras
import numpy as np

from convbench.errors import Skip
from convbench.models.whole import KERAS, definition, missing_in


def build_keras_whole(name: str, seed: int, dtype: str, batch: int, image: int, calibration_nhwc: np.ndarray
                      ) -> keras.Model:
    """keras.applications' model `name` with weights=None on `batch` x `image` x `image` x 3 input (a fixed batch, as
    the conv stacks have: the ONNX and LiteRT files take that batch), its weights initialised by
    Keras' own rules from `seed`, its batch norms' moving statistics those of `calibration_nhwc` (one forward in
    training mode, dropout off), every layer computing in `dtype` (the float32 weights cast). Skip where the model
    is torchvision's only."""
    why = missing_in(name, KERAS)
    if why:
        raise Skip(why)
    function_name = definition(name).keras
    function = getattr(keras.applications, str(function_name), None)
    if function is None:
        known = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        raise ValueError(f"keras.applications {keras.__version__} has no model {function_name!r}; it has "
                         f"{len(known)}, e.g. {', '.join(known[:8])}")
    def build() -> keras.Model:
        inputs = keras.Input((image, image, 3), batch_size=batch, name="input")
        return function(weights=None, input_tensor=inputs, input_shape=(image, image, 3))

    keras.utils.set_random_seed(seed)
    model = build()
    _calibrate(model, calibration_nhwc)
    if dtype in ("float32", "tf32"):
        return model
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        typed = build()
    finally:
        keras.config.set_dtype_policy(policy)
    typed.set_weights(model.get_weights())
    return typed


def _calibrate(model: keras.Model, batch_nhwc: np.ndarray) -> None:
    """Every BatchNormalization's moving mean and variance set to its input's statistics on the batch (momentum 0
    for one forward in training mode, dropout rates 0 meanwhile), then restored to Keras' defaults."""
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
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
