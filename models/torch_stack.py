"""The PyTorch stack: nn.Sequential of bias-free Conv2d layers loaded with the shared weights."""

from __future__ import annotations

import torch
from torch import nn

from convbench.models.variants import VARIANTS
from convbench.models.weights import make_weights
from convbench.spec import StackSpec


def build_torch_stack(spec: StackSpec) -> nn.Sequential:
    """The stack in eval mode on the CPU, float32, NCHW."""
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
    return nn.Sequential(*layers).eval()
