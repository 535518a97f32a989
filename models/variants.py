"""The seven conv types of the 2017 experiment, their geometry and their FLOP counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvType:
    """One kind of convolution layer; every layer of a stack keeps channels and spatial size ("same")."""

    name: str
    kernel: tuple[int, int]
    dilation: int = 1
    depthwise: bool = False

    @property
    def padding(self) -> tuple[int, int]:
        """Zero padding (rows, cols) on each side that keeps the spatial size."""
        kh, kw = self.kernel
        return (self.dilation * (kh - 1) // 2, self.dilation * (kw - 1) // 2)

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """Extent of the kernel on the image once dilated (a dilated 3x3 spans 5x5)."""
        kh, kw = self.kernel
        return (self.dilation * (kh - 1) + 1, self.dilation * (kw - 1) + 1)

    def groups(self, channels: int) -> int:
        return channels if self.depthwise else 1

    def layer_flops(self, channels: int, batch: int, image: int) -> int:
        """FLOPs of one layer: 2 * B * H * W * C_out * (C_in / groups) * kh * kw (DESIGN.md)."""
        kh, kw = self.kernel
        return 2 * batch * image * image * channels * (channels // self.groups(channels)) * kh * kw

    def weight_shape(self, channels: int) -> tuple[int, int, int, int]:
        """PyTorch layout (C_out, C_in / groups, kh, kw)."""
        return (channels, channels // self.groups(channels), *self.kernel)


# The seed's column order: conv1x1 conv3x1 conv1x3 conv3x3sep conv3x3 conv5x5 conv3x3dilated.
VARIANTS: dict[str, ConvType] = {
    c.name: c
    for c in (
        ConvType("conv1x1", (1, 1)),
        ConvType("conv3x1", (3, 1)),
        ConvType("conv1x3", (1, 3)),
        ConvType("conv3x3sep", (3, 3), depthwise=True),
        ConvType("conv3x3", (3, 3)),
        ConvType("conv5x5", (5, 5)),
        ConvType("conv3x3dilated", (3, 3), dilation=2),
    )
}
REFERENCE_VARIANT = "conv3x3"


def theoretical_vs_conv3x3(variant: str, channels: int) -> float:
    """FLOPs of `variant` over FLOPs of conv3x3 at the same size (the seed's "theoretical complexity")."""
    return VARIANTS[variant].layer_flops(channels, 1, 1) / VARIANTS[REFERENCE_VARIANT].layer_flops(channels, 1, 1)
