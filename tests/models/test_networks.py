"""The networks' conv skeletons against their published definitions: layer counts, shapes, kinds and MACs."""

import pytest

from convbench.models.networks import NETWORKS
from convbench.skeleton import PROJECTION, SQUEEZE_EXCITE, AddNode, ConvNode, PoolNode, check, convs
from convbench.spec import NetworkConvs

CLASSIFIER_MACS = {"mobilenet_v2": 1280 * 1000, "resnet50": 2048 * 1000, "efficientnet_b0": 1280 * 1000}
CONV_LAYERS = {"mobilenet_v2": 52, "resnet50": 53, "efficientnet_b0": 81}


@pytest.mark.parametrize("network", NETWORKS)
def test_conv_macs_plus_the_left_out_classifier_match_the_published_count(network):
    spec = NetworkConvs(network, 1)
    macs = sum(node.macs(1) for node in convs(spec.nodes))
    published = NETWORKS[network].PUBLISHED_MACS
    # mobilenet_v2 and resnet50: the exact multiply-add counts; efficientnet_b0: torchvision's 0.39 G, rounded to
    # two digits (0.386 G rounds to it)
    assert macs + CLASSIFIER_MACS[network] == pytest.approx(published, rel=0.015 if network == "efficientnet_b0"
                                                            else 1e-9)
    assert spec.flops == 2 * macs
    assert spec.layers == CONV_LAYERS[network]


@pytest.mark.parametrize("network", NETWORKS)
def test_every_node_reads_what_an_earlier_node_made_and_ends_at_7x7(network):
    spec = NetworkConvs(network, 1)
    check(spec.nodes, 3, (224, 224))
    last = convs(spec.nodes)[-1]
    assert last.out_hw == (7, 7) and last.c_out == (2048 if network == "resnet50" else 1280)


def test_resnet50_v1_5_has_its_stride_in_the_3x3_and_projection_shortcuts():
    nodes = {n.name: n for n in NetworkConvs("resnet50", 1).nodes}
    assert nodes["layer2.0.conv1"].stride == 1 and nodes["layer2.0.conv2"].stride == 2
    assert nodes["layer2.0.conv2"].kind == "strided 3x3"
    shortcuts = [n for n in nodes.values() if isinstance(n, ConvNode) and n.kind == PROJECTION]
    assert [n.name for n in shortcuts] == [f"layer{i}.0.downsample.0" for i in range(1, 5)]
    assert nodes["layer1.0.conv1"].in_hw == (56, 56)  # after the stem's max pool
    assert isinstance(nodes["maxpool"], PoolNode)
    assert sum(isinstance(n, AddNode) for n in nodes.values()) == 16


def test_mobilenet_v2_blocks_expand_six_times_and_add_where_shapes_allow():
    nodes = {n.name: n for n in NetworkConvs("mobilenet_v2", 1).nodes}
    expand, depthwise, project = (nodes[f"features.2.conv.{i}"] for i in range(3))
    assert (expand.c_in, expand.c_out, depthwise.groups, depthwise.stride, project.c_out) == (16, 96, 96, 2, 24)
    assert depthwise.kind == "depthwise 3x3" and expand.kind == "pointwise 1x1"
    assert sum(isinstance(n, AddNode) for n in nodes.values()) == 10


def test_efficientnet_b0_has_5x5_depthwise_and_squeeze_excite_on_1x1_inputs():
    nodes = convs(NetworkConvs("efficientnet_b0", 1).nodes)
    se = [n for n in nodes if n.kind == SQUEEZE_EXCITE]
    assert len(se) == 32 and all(n.in_hw == (1, 1) for n in se)
    first = next(n for n in se if n.name.startswith("features.2.0"))
    assert (first.c_in, first.c_out) == (96, 4)  # expanded 16*6 channels squeezed to input channels / 4
    assert sum(n.kind == "depthwise 5x5" for n in nodes) == 9
