"""The PyTorch model of a workload: bias-free Conv2d layers loaded with the shared weights; a chain (the seed's
stacks) as nn.Sequential, a network's skeleton as a module that runs its nodes in order; a whole model torchvision's."""

from __future__ import annotations

import torch
from torch import nn

from convbench.models.weights import make_calibration_input, make_weights
from convbench.skeleton import INPUT, AddNode, ConvNode, Node, PoolNode, convs, is_chain
from convbench.spec import WholeModel, Workload

# The dtypes a PyTorch model is built in (int8 exists only as the quantised ONNX export).
TORCH_DTYPES = {"float32": torch.float32, "tf32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(spec: Workload) -> torch.dtype:
    if spec.dtype not in TORCH_DTYPES:
        raise ValueError(f"no PyTorch model in {spec.dtype}: {spec.dtype} exists only as the quantised ONNX export "
                         "(timed by ort and openvino)")
    return TORCH_DTYPES[spec.dtype]


def module_name(layer: str) -> str:
    """A layer's name as a PyTorch submodule name (dots are not allowed there)."""
    return layer.replace(".", "_")


def _conv(node: ConvNode) -> nn.Conv2d:
    return nn.Conv2d(node.c_in, node.c_out, node.kernel, stride=node.stride, padding=node.padding,
                     dilation=node.dilation, groups=node.groups, bias=False)


class SkeletonNet(nn.Module):
    """Runs a skeleton's nodes in order: convs are submodules named after their layers (so exporters and profilers
    name them), adds and pools are functional."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        super().__init__()
        self.nodes = nodes
        self.convs = nn.ModuleDict({module_name(n.name): _conv(n) for n in convs(nodes)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors = {INPUT: x}
        for node in self.nodes:
            if isinstance(node, ConvNode):
                out = self.convs[module_name(node.name)](tensors[node.src])
            elif isinstance(node, AddNode):
                out = tensors[node.a] + tensors[node.b]
            elif isinstance(node, PoolNode) and node.op == "mean":
                out = tensors[node.src].mean(dim=(2, 3), keepdim=True)
            else:
                out = nn.functional.max_pool2d(tensors[node.src], node.kernel, node.stride, node.padding)
            tensors[node.name] = out
        return out


def build_torch_stack(spec: Workload) -> nn.Module:
    """The workload in eval mode on the CPU, NCHW, in the spec's dtype (the float32 weights cast to it); a whole
    model is torchvision's (convbench.models.torch_whole), in train mode for a training step."""
    dtype = torch_dtype(spec)
    if isinstance(spec, WholeModel):
        from convbench.models.torch_whole import build_torch_whole

        return build_torch_whole(spec.model, spec.seed, spec.pass_ == "train", make_calibration_input(spec)).to(dtype)
    nodes = spec.nodes
    model = nn.Sequential(*(_conv(n) for n in nodes)) if is_chain(nodes) else SkeletonNet(nodes)
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for layer, weight in zip(layers, make_weights(spec), strict=True):
            layer.weight.copy_(torch.from_numpy(weight))
    return model.eval().to(dtype)


def trained_tensors(model: nn.Module, spec: Workload) -> dict[str, torch.Tensor]:
    """What a training step takes gradients of besides the input (convbench.passes), by name: each conv layer's
    weight under its skeleton name, or, for a whole model, every parameter under its PyTorch name."""
    if isinstance(spec, WholeModel):
        return dict(model.named_parameters())
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    return {node.name: weight for node, weight in zip(convs(spec.nodes), weights, strict=True)}
