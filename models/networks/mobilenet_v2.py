"""MobileNetV2, width 1.0, as torchvision defines it (torchvision.models.mobilenetv2, after Sandler et al. 2018,
"MobileNetV2: Inverted Residuals and Linear Bottlenecks", Table 2): the stem's 3x3 stride-2 conv, 17 inverted
residual blocks (1x1 expand by t, 3x3 depthwise of stride s, 1x1 project; a residual add where stride is 1 and
channels in equal channels out), and the 1x1 conv to 1280 channels. Left out: BN, ReLU6, the final pooling and the
classifier (1280 x 1000 = 1.28M multiply-adds)."""

from __future__ import annotations

from convbench.models.networks.builder import SkeletonBuilder

# (expansion t, channels c, blocks n, stride s of the first block), torchvision's inverted_residual_setting
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]
PUBLISHED_MACS = 300_774_272  # torchvision's 0.30 GFLOPS: multiply-adds, classifier included


def skeleton(image: int) -> SkeletonBuilder:
    net = SkeletonBuilder(3, image)
    net.conv("features.0", 32, 3, stride=2)
    index = 1
    for t, c, n, s in SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            block_in, c_in = net.tensor, net.channels
            name = f"features.{index}.conv"
            layer = 0
            if t != 1:
                net.conv(f"{name}.{layer}", c_in * t, 1)
                layer += 1
            net.depthwise(f"{name}.{layer}", 3, stride)
            net.conv(f"{name}.{layer + 1}", c, 1)
            if stride == 1 and c_in == c:
                net.add(f"features.{index}.add", block_in, net.tensor)
            index += 1
    net.conv(f"features.{index}", 1280, 1)
    return net
