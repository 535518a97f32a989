"""The PyTorch stack: nn.Sequential of bias-free Conv2d layers loaded with the shared weights."""

from __future__ import annotations

import torch
from torch import nn

from convbench.models.variants import VARIANTS
from convbench.models.weights import make_weights
from convbench.spec import StackSpec

# The dtypes a PyTorch stack is built in (int8 exists only as the quantised ONNX export).
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(spec: StackSpec) -> torch.dtype:
    if spec.dtype not in TORCH_DTYPES:
        raise ValueError(f"no PyTorch stack in {spec.dtype}: {spec.dtype} exists only as the quantised ONNX export "
                         "(timed by ort and openvino)")
    return TORCH_DTYPES[spec.dtype]


def build_torch_stack(spec: StackSpec) -> nn.Sequential:
    """The stack in eval mode on the CPU, NCHW, in the spec's dtype (the float32 weights cast to it)."""
    dtype = torch_dtype(spec)
    conv = VARIANTS[spec.variant]
    layers = []
    for weight in make_weights(spec):
        layer = nn.Conv2d(
            spec.channels,
            spec.channels,
            conv.kernel,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups(spec.channels),
            bias=False,
        )
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
        layers.append(layer)
    return nn.Sequential(*layers).eval().to(dtype)
