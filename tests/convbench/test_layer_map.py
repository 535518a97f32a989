"""Profiler events to layers: names as each profiler gives them, and the refusals when they cannot be told apart."""

import pytest

from convbench.errors import Skip
from convbench.layer_map import attribute, layer_tokens, resolver, token_index
from convbench.spec import NetworkConvs, SeedStack

RESNET = NetworkConvs("resnet50", 1, 32)


def test_keras_and_torch_names_find_their_layer_and_not_a_prefix_of_it():
    tokens = layer_tokens(RESNET)
    conv1, stage = tokens.index("conv1"), tokens.index("layer1_0_conv1")
    assert token_index("resnet50_b1_i32_1/conv1_1/convolution", tokens) == conv1  # Keras adds "_1"
    assert token_index("convs.layer1_0_conv1.weight", tokens) == stage  # torch.onnx's weight name
    assert token_index("resnet50_b1_i32_1/layer1_0_conv1_1/convolution", tokens) == stage
    assert token_index("node_Conv_425", tokens) is None


def test_positions_map_to_layers_in_order_and_unknown_events_are_refused():
    resolve = resolver(RESNET, None)
    times = attribute([(f"#{i}", float(i)) for i in range(RESNET.layers)], resolve, RESNET.layers)
    assert times == [float(i) for i in range(RESNET.layers)]
    with pytest.raises(Skip, match="matches no layer"):
        attribute([("#99", 1.0)], resolve, RESNET.layers)
    with pytest.raises(Skip, match="had no event"):
        attribute([("#0", 1.0)], resolve, RESNET.layers)
    with pytest.raises(Skip, match="names no conv event"):
        attribute([], resolve, RESNET.layers)


def test_a_chain_of_identical_layers_maps_by_position():
    spec = SeedStack("conv3x3", 8, 3, 2, 8)
    assert attribute([("#0", 1.0), ("#1", 2.0), ("#2", 3.0)], resolver(spec, None), 3) == [1.0, 2.0, 3.0]
