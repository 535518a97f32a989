"""A small helper that lays a network's conv skeleton down layer by layer, tracking the current tensor's name,
channels and size, so a network module lists its layers as the published definition does."""

from __future__ import annotations

from convbench.skeleton import INPUT, PROJECTION, SQUEEZE_EXCITE, AddNode, ConvNode, Node, PoolNode


class SkeletonBuilder:
    def __init__(self, channels: int, image: int) -> None:
        self.nodes: list[Node] = []
        self.tensor = INPUT
        self.channels = channels
        self.hw = (image, image)
        self._shapes = {INPUT: (channels, self.hw)}

    def _emit(self, node: Node, channels: int, hw: tuple[int, int]) -> str:
        self.nodes.append(node)
        self._shapes[node.name] = (channels, hw)
        self.tensor, self.channels, self.hw = node.name, channels, hw
        return node.name

    def at(self, tensor: str) -> SkeletonBuilder:
        """Continue from an earlier tensor (a branch)."""
        self.tensor = tensor
        self.channels, self.hw = self._shapes[tensor]
        return self

    def conv(self, name: str, c_out: int, kernel: int, stride: int = 1, groups: int = 1, role: str = "") -> str:
        """A conv with PyTorch's padding (kernel - 1) // 2, as torchvision's networks use."""
        node = ConvNode(name, self.tensor, self.channels, c_out, (kernel, kernel), self.hw, stride,
                        ((kernel - 1) // 2, (kernel - 1) // 2), 1, groups, role)
        return self._emit(node, c_out, node.out_hw)

    def depthwise(self, name: str, kernel: int, stride: int = 1) -> str:
        return self.conv(name, self.channels, kernel, stride, groups=self.channels)

    def projection(self, name: str, src: str, c_out: int, stride: int) -> str:
        """A shortcut's 1x1 conv from `src` (ResNet's downsample)."""
        self.at(src)
        return self.conv(name, c_out, 1, stride, role=PROJECTION)

    def add(self, name: str, a: str, b: str) -> str:
        channels, hw = self._shapes[a]
        return self._emit(AddNode(name, a, b), channels, hw)

    def squeeze_excite(self, name: str, squeeze: int) -> str:
        """Squeeze-excite on the current tensor: global mean, 1x1 reduce to `squeeze`, 1x1 expand back, and the
        result added back over the tensor (in place of its sigmoid-and-scale)."""
        block, channels, hw = self.tensor, self.channels, self.hw
        self._emit(PoolNode(f"{name}.avgpool", block, "mean"), channels, (1, 1))
        self.conv(f"{name}.fc1", squeeze, 1, role=SQUEEZE_EXCITE)
        self.conv(f"{name}.fc2", channels, 1, role=SQUEEZE_EXCITE)
        return self._emit(AddNode(f"{name}.scale", block, self.tensor), channels, hw)

    def max_pool(self, name: str, kernel: int, stride: int, padding: int) -> str:
        size = tuple((s + 2 * padding - kernel) // stride + 1 for s in self.hw)
        return self._emit(PoolNode(name, self.tensor, "max", kernel, stride, padding), self.channels, size)
