"""A workload's conv skeleton: its conv layers at their real shapes and how they connect.

Every workload (the seed's uniform stacks, a real network's conv layers) is a list of nodes in execution order,
each reading tensors that earlier nodes (or the input, "input") produced; the last node's output is the
workload's output. Builders (PyTorch, Keras), FLOP and byte counts, and per-layer analysis all read this list.

- Conv: a bias-free convolution (no BN, no activation, as in the 2017 experiment).
- Add: an element-wise add (a residual add; or a squeeze-excite branch's 1x1 result broadcast over the block's
  tensor, standing in for its sigmoid-and-scale).
- Pool: a pooling op kept only where a layer's real input shape needs it: a global mean feeding squeeze-excite's
  convs (their input is 1x1), ResNet's stem max pool (3x3, stride 2) that halves 112x112 to 56x56.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INPUT = "input"

# Conv kinds (`ConvNode.kind`): what a layer is, for the "time share vs FLOP share" analysis.
SQUEEZE_EXCITE = "squeeze-excite"
PROJECTION = "projection"


@dataclass(frozen=True)
class ConvNode:
    """One conv layer: `c_in` x `in_hw` input (NCHW per sample), bias-free, read from tensor `src`."""

    name: str
    src: str
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    in_hw: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)
    dilation: int = 1
    groups: int = 1
    role: str = ""  # "", PROJECTION (a shortcut's 1x1) or SQUEEZE_EXCITE (a squeeze-excite conv)

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (size + 2 * pad - self.dilation * (k - 1) - 1) // self.stride + 1
            for size, pad, k in zip(self.in_hw, self.padding, self.kernel, strict=True))

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.c_in == self.c_out

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """PyTorch layout (C_out, C_in / groups, kh, kw)."""
        return (self.c_out, self.c_in // self.groups, *self.kernel)

    @property
    def kind(self) -> str:
        """pointwise 1x1, depthwise kxk, full kxk, strided kxk (a full conv of stride > 1), projection (a
        shortcut's conv) or squeeze-excite."""
        if self.role:
            return self.role
        size = "x".join(map(str, self.kernel))
        if self.depthwise:
            return f"depthwise {size}"
        if self.stride > 1:
            return f"strided {size}"
        if self.kernel == (1, 1):
            return "pointwise 1x1"
        return f"full {size}"

    def macs(self, batch: int) -> int:
        """Multiply-adds of the layer: B x H_out x W_out x C_out x (C_in / groups) x kh x kw."""
        return batch * math.prod(self.out_hw) * math.prod(self.weight_shape)

    def flops(self, batch: int) -> int:
        return 2 * self.macs(batch)

    def activation_elements(self, batch: int) -> int:
        """Input plus output elements."""
        return batch * (self.c_in * math.prod(self.in_hw) + self.c_out * math.prod(self.out_hw))


@dataclass(frozen=True)
class AddNode:
    """a + b; b may be 1x1 in space (broadcast: a squeeze-excite branch added back)."""

    name: str
    a: str
    b: str


@dataclass(frozen=True)
class PoolNode:
    """Global mean over H and W (keepdims), or a max pool of `kernel`, `stride` and `padding` (padded with -inf,
    as PyTorch's MaxPool2d)."""

    name: str
    src: str
    op: str  # "mean" or "max"
    kernel: int = 1
    stride: int = 1
    padding: int = 0


Node = ConvNode | AddNode | PoolNode


def convs(nodes: tuple[Node, ...] | list[Node]) -> list[ConvNode]:
    return [n for n in nodes if isinstance(n, ConvNode)]


def is_chain(nodes: tuple[Node, ...] | list[Node]) -> bool:
    """A plain chain of convs, each reading the one before (the seed's stacks)."""
    previous = INPUT
    for node in nodes:
        if not isinstance(node, ConvNode) or node.src != previous:
            return False
        previous = node.name
    return True


def check(nodes: tuple[Node, ...] | list[Node], c_in: int, in_hw: tuple[int, int]) -> None:
    """ValueError unless every node reads tensors made before it, with the channels and size it expects."""
    shapes: dict[str, tuple[int, tuple[int, int]]] = {INPUT: (c_in, in_hw)}
    for node in nodes:
        if node.name in shapes:
            raise ValueError(f"{node.name}: a second node of that name")
        if isinstance(node, ConvNode):
            channels, size = shapes[node.src]
            if (channels, size) != (node.c_in, node.in_hw):
                raise ValueError(f"{node.name} expects {node.c_in}x{node.in_hw} from {node.src}, which is "
                                 f"{channels}x{size}")
            shapes[node.name] = (node.c_out, node.out_hw)
        elif isinstance(node, AddNode):
            (ca, sa), (cb, sb) = shapes[node.a], shapes[node.b]
            if ca != cb or (sb != sa and sb != (1, 1)):
                raise ValueError(f"{node.name}: cannot add {cb}x{sb} ({node.b}) to {ca}x{sa} ({node.a})")
            shapes[node.name] = (ca, sa)
        else:
            channels, (h, w) = shapes[node.src]
            if node.op == "mean":
                shapes[node.name] = (channels, (1, 1))
            else:
                size = tuple((s + 2 * node.padding - node.kernel) // node.stride + 1 for s in (h, w))
                shapes[node.name] = (channels, size)  # type: ignore[assignment]
