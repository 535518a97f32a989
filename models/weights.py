"""The one source of a stack's numbers: weights and input made from the spec's seed with numpy.

Weights are drawn N(0, 1/fan_in) with fan_in = (C_in / groups) * kh * kw, so with no activation each layer
keeps the variance of its input (away from the zero-padded border) and 16 layers neither explode nor vanish. (In
a network each residual add sums two such tensors: ResNet-50's 16 adds grow the output's spread about 2^8-fold,
well inside float16's range.)
"""

from __future__ import annotations

import numpy as np

from convbench.skeleton import convs
from convbench.spec import Workload


def make_weights(spec: Workload) -> list[np.ndarray]:
    """One float32 array per conv layer, in the skeleton's order, in PyTorch layout (C_out, C_in / groups, kh, kw),
    drawn N(0, 1/fan_in) from the spec's seed."""
    rng = np.random.default_rng([spec.seed, 1])
    weights = []
    for node in convs(spec.nodes):
        shape = node.weight_shape
        std = 1.0 / np.sqrt(shape[1] * shape[2] * shape[3])
        weights.append((rng.standard_normal(shape) * std).astype(np.float32))
    return weights


def make_input(spec: Workload) -> np.ndarray:
    """Standard-normal float32 input in NCHW layout."""
    rng = np.random.default_rng([spec.seed, 2])
    return rng.standard_normal(spec.input_shape_nchw).astype(np.float32)


CALIBRATION_BATCH = 8  # images a whole model's batch norms take their statistics from


def make_calibration_input(spec: Workload) -> np.ndarray:
    """A whole model's calibration batch (convbench.models.whole): CALIBRATION_BATCH standard-normal float32 images
    in NCHW at the workload's size, drawn from its seed apart from the timed input."""
    rng = np.random.default_rng([spec.seed, 3])
    return rng.standard_normal((CALIBRATION_BATCH, *spec.input_shape_nchw[1:])).astype(np.float32)


def nchw_to_nhwc(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def nhwc_to_nchw(array: np.ndarray) -> np.ndarray:
    """An NHWC image tensor in NCHW; any other (a whole model's logits, batch x classes) as it is: it has no layout."""
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2) if array.ndim == 4 else array)


KERAS_KERNEL_AXES = {False: (2, 3, 1, 0), True: (2, 3, 0, 1)}  # by depthwise: OIHW -> Keras's kernel layout


def from_keras_kernel(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """The inverse of to_keras_kernel: a Keras kernel (or its gradient) in PyTorch's (C_out, C_in/g, kh, kw)."""
    return np.ascontiguousarray(kernel.transpose(np.argsort(KERAS_KERNEL_AXES[depthwise])))


def to_keras_kernel(weight_oihw: np.ndarray, depthwise: bool) -> np.ndarray:
    """PyTorch (C_out, C_in/g, kh, kw) -> Keras Conv2D (kh, kw, C_in, C_out) or DepthwiseConv2D (kh, kw, C, 1)."""
    return np.ascontiguousarray(weight_oihw.transpose(KERAS_KERNEL_AXES[depthwise]))
