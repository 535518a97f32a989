"""EfficientNet-B0 as torchvision defines it (torchvision.models.efficientnet_b0; Tan and Le 2019, "EfficientNet",
Table 1): the stem's 3x3 stride-2 conv, 16 MBConv blocks (1x1 expand by 6 except in the first stage, kxk
depthwise of the stage's stride, squeeze-excite to input channels / 4, 1x1 project, a residual add where stride is
1 and channels in equal channels out), and the 1x1 conv to 1280 channels. Squeeze-excite keeps its global mean
(its convs' real input is 1x1) and adds its result back in place of the sigmoid-and-scale. Left out: BN, SiLU,
squeeze-excite's biases, stochastic depth, the final pooling and the classifier (1280 x 1000 = 1.28M
multiply-adds)."""

from __future__ import annotations

from convbench.models.networks.builder import SkeletonBuilder

# (expansion, kernel, stride, channels out, blocks), torchvision's _efficientnet_conf for B0 (width and depth 1.0)
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
PUBLISHED_MACS = 390_000_000  # torchvision's 0.39 GFLOPS, rounded: multiply-adds, classifier included


def skeleton(image: int) -> SkeletonBuilder:
    net = SkeletonBuilder(3, image)
    net.conv("features.0", 32, 3, stride=2)
    for stage, (t, k, s, c, n) in enumerate(STAGES, start=1):
        for i in range(n):
            stride = s if i == 0 else 1
            name = f"features.{stage}.{i}.block"
            block_in, c_in = net.tensor, net.channels
            layer = 0
            if t != 1:
                net.conv(f"{name}.{layer}", c_in * t, 1)
                layer += 1
            net.depthwise(f"{name}.{layer}", k, stride)
            net.squeeze_excite(f"{name}.{layer + 1}", max(1, c_in // 4))
            net.conv(f"{name}.{layer + 2}", c, 1)
            if stride == 1 and c_in == c:
                net.add(f"features.{stage}.{i}.add", block_in, net.tensor)
    net.conv("features.8", 1280, 1)
    return net
