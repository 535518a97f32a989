"""ResNet-50 v1.5 as torchvision defines it (torchvision.models.resnet50; He et al. 2016, "Deep Residual Learning",
Table 1, with the stride in the bottleneck's 3x3 conv): the 7x7 stride-2 stem and its 3x3 stride-2 max pool (kept,
since it sets the real 56x56 input of every later layer), 16 bottlenecks (1x1 reduce, 3x3, 1x1 expand by 4, a
residual add; the first of each stage has a 1x1 projection shortcut of the stage's stride). Left out: BN, ReLU,
the final pooling and the classifier (2048 x 1000 = 2.05M multiply-adds)."""

from __future__ import annotations

from convbench.models.networks.builder import SkeletonBuilder

STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # (width, blocks, stride of the first block)
EXPANSION = 4
PUBLISHED_MACS = 4_089_184_256  # torchvision's 4.09 GFLOPS: multiply-adds, classifier included


def skeleton(image: int) -> SkeletonBuilder:
    net = SkeletonBuilder(3, image)
    net.conv("conv1", 64, 7, stride=2)
    net.max_pool("maxpool", 3, 2, 1)
    for stage, (width, blocks, first_stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            stride = first_stride if block == 0 else 1
            name = f"layer{stage}.{block}"
            block_in, c_in = net.tensor, net.channels
            net.conv(f"{name}.conv1", width, 1)
            net.conv(f"{name}.conv2", width, 3, stride=stride)
            branch = net.conv(f"{name}.conv3", width * EXPANSION, 1)
            shortcut = block_in
            if stride != 1 or c_in != width * EXPANSION:
                shortcut = net.projection(f"{name}.downsample.0", block_in, width * EXPANSION, stride)
            net.add(f"{name}.add", branch, shortcut)
    return net
