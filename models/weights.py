"""The one source of a stack's numbers: weights and input made from the spec's seed with numpy.

Weights are drawn N(0, 1/fan_in) with fan_in = (C_in / groups) * kh * kw, so with no activation each layer
keeps the variance of its input (away from the zero-padded border) and 16 layers neither explode nor vanish.
"""

from __future__ import annotations

import numpy as np

from convbench.models.variants import VARIANTS
from convbench.spec import StackSpec


def make_weights(spec: StackSpec) -> list[np.ndarray]:
    """One float32 array per layer in PyTorch layout (C_out, C_in / groups, kh, kw)."""
    rng = np.random.default_rng([spec.seed, 1])
    shape = VARIANTS[spec.variant].weight_shape(spec.channels)
    fan_in = shape[1] * shape[2] * shape[3]
    std = 1.0 / np.sqrt(fan_in)
    return [(rng.standard_normal(shape) * std).astype(np.float32) for _ in range(spec.layers)]


def make_input(spec: StackSpec) -> np.ndarray:
    """Standard-normal float32 input in NCHW layout."""
    rng = np.random.default_rng([spec.seed, 2])
    return rng.standard_normal(spec.input_shape_nchw).astype(np.float32)


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def nhwc_to_nchw(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


def to_keras_kernel(weight_oihw: np.ndarray, depthwise: bool) -> np.ndarray:
    """PyTorch (C_out, C_in/g, kh, kw) -> Keras Conv2D (kh, kw, C_in, C_out) or DepthwiseConv2D (kh, kw, C, 1)."""
    axes = (2, 3, 0, 1) if depthwise else (2, 3, 1, 0)
    return np.ascontiguousarray(weight_oihw.transpose(axes))
