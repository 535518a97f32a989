"""What every Keras runner (TensorFlow, JAX, torch backends) shares. Import after KERAS_BACKEND is set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import keras
import numpy as np

from convbench.errors import Skip
from convbench.models.keras_stack import KERAS_DTYPES, conv_kernels
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


Named = Callable[[np.ndarray, Sequence[np.ndarray]], dict[str, np.ndarray]]


def step_variables(model: keras.Model, spec: Workload) -> tuple[list[keras.Variable], Named]:
    """What a Keras training step takes gradients of besides the input, and how its gradients (the input's first,
    NHWC) are named and laid out for convbench.passes: a conv stack's conv kernels under their node names in
    PyTorch's layouts (its reference is PyTorch's); a whole model's every trainable variable, in order, under its
    position and Keras path, in Keras' layouts (its reference is Keras' own, convbench.passes)."""
    if spec.whole_model:
        variables = list(model.trainable_variables)
        names = [f"{i:03d} {v.path}" for i, v in enumerate(variables)]

        def named(input_gradient: np.ndarray, gradients: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
            return {INPUT_GRADIENT: nhwc_to_nchw(np.asarray(input_gradient)),
                    **{name: np.asarray(g) for name, g in zip(names, gradients, strict=True)}}

        return variables, named
    nodes, kernels = zip(*conv_kernels(model, spec), strict=True)
    return list(kernels), lambda input_gradient, gradients: keras_gradients(input_gradient, gradients, nodes)
