import numpy as np
import pytest
import torch

from convbench.models.torch_stack import build_torch_stack
from convbench.models.variants import VARIANTS
from convbench.models.weights import make_input, make_weights
from convbench.spec import SeedStack


def test_weights_are_deterministic_per_seed():
    spec = SeedStack("conv3x3", 8, layers=3, batch=2, image=8)
    again = make_weights(spec)
    assert all(np.array_equal(a, b) for a, b in zip(make_weights(spec), again, strict=True))
    other = make_weights(SeedStack("conv3x3", 8, layers=3, batch=2, image=8, seed=1))
    assert not np.array_equal(again[0], other[0])
    assert np.array_equal(make_input(spec), make_input(spec))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sixteen_layers_neither_explode_nor_vanish(variant):
    spec = SeedStack(variant, 8, layers=16, batch=2, image=32)
    x = make_input(spec)
    with torch.inference_mode():
        out = build_torch_stack(spec)(torch.from_numpy(x)).numpy()
    ratio = out.std() / x.std()
    assert 0.25 < ratio < 4, f"{variant}: output std / input std = {ratio:.3f} after 16 layers"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_torch_stack_has_the_variant_geometry(variant):
    spec = SeedStack(variant, 8, layers=2, batch=2, image=8)
    model = build_torch_stack(spec)
    conv = VARIANTS[variant]
    assert len(model) == 2
    for layer in model:
        assert tuple(layer.kernel_size) == conv.kernel
        assert layer.groups == conv.groups(8)
        assert tuple(layer.dilation) == (conv.dilation, conv.dilation)
        assert layer.bias is None
    with torch.inference_mode():
        assert model(torch.from_numpy(make_input(spec))).shape == spec.input_shape_nchw
