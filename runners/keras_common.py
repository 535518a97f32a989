"""What every Keras runner (TensorFlow, JAX, torch backends) shares. Import after KERAS_BACKEND is set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import keras
import numpy as np

from convbench.errors import Skip
from convbench.models.keras_stack import KERAS_DTYPES
from convbench.models.weights import from_keras_kernel, nhwc_to_nchw
from convbench.passes import INPUT_GRADIENT
from convbench.skeleton import ConvNode
from convbench.spec import Case, Workload, storage_dtype


def keras_spec(case: Case) -> Workload:
    """The case's stack in the dtype Keras builds it in (float32 for tf32), with the backend's math mode set for
    the case on CUDA (IEEE float32, or TF32 for tf32); Skip where Keras has no stack in that dtype."""
    if case.workload.dtype not in KERAS_DTYPES:
        dtype = case.workload.dtype
        raise Skip(f"Keras has no {dtype} stack; convbench times {dtype} through the quantised "
                   "ONNX files (ort, openvino)")
    if case.device == "cuda":
        set_math_mode(case.workload.tf32)
    return replace(case.workload, dtype=storage_dtype(case.workload.dtype))


def set_math_mode(tf32: bool) -> None:
    """The Keras backend's float32 math on CUDA: TF32 on tensor cores where `tf32`, IEEE float32 otherwise (each
    backend's default differs: TensorFlow's and JAX's run float32 convolutions in TF32 on Ampere and later)."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(tf32)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")
    elif backend == "torch":
        import torch

        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32


def keras_gradients(input_gradient: np.ndarray, kernel_gradients: Sequence[np.ndarray],
                    nodes: Sequence[ConvNode]) -> dict[str, np.ndarray]:
    """A Keras step's gradients (NHWC input, Keras kernel layouts) as convbench.passes names and lays them out."""
    out = {INPUT_GRADIENT: nhwc_to_nchw(np.asarray(input_gradient, dtype=np.float32))}
    for node, grad in zip(nodes, kernel_gradients, strict=True):
        out[node.name] = from_keras_kernel(np.asarray(grad, dtype=np.float32), node.depthwise)
    return out
