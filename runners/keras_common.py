"""What every Keras runner (TensorFlow, JAX, torch backends) shares. Import after KERAS_BACKEND is set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convbench.errors import Skip
from convbench.models.keras_stack import KERAS_DTYPES
from convbench.models.weights import from_keras_kernel, nhwc_to_nchw
from convbench.passes import INPUT_GRADIENT
from convbench.skeleton import ConvNode
from convbench.spec import Case, Workload


def keras_spec(case: Case) -> Workload:
    """The case's stack, if Keras builds it in that dtype; Skip otherwise."""
    if case.workload.dtype not in KERAS_DTYPES:
        dtype = case.workload.dtype
        raise Skip(f"Keras has no {dtype} stack; convbench times {dtype} through the quantised "
                   "ONNX files (ort, openvino)")
    return case.workload


def keras_gradients(input_gradient: np.ndarray, kernel_gradients: Sequence[np.ndarray],
                    nodes: Sequence[ConvNode]) -> dict[str, np.ndarray]:
    """A Keras step's gradients (NHWC input, Keras kernel layouts) as convbench.passes names and lays them out."""
    out = {INPUT_GRADIENT: nhwc_to_nchw(np.asarray(input_gradient, dtype=np.float32))}
    for node, grad in zip(nodes, kernel_gradients, strict=True):
        out[node.name] = from_keras_kernel(np.asarray(grad, dtype=np.float32), node.depthwise)
    return out
