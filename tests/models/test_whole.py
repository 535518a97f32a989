"""Whole models: names, which library has which, their workload, the sweep that plans them, and torchvision's models
built as convbench times them."""

import numpy as np
import pytest
import torch

from convbench.errors import BadInput
from convbench.models.torch_whole import build_torch_whole
from convbench.models.whole import KERAS_STEP_NOT_CHECKED, WHOLE_MODELS, definition, missing_in
from convbench.request import Sweep
from convbench.runners import default_runtimes
from convbench.spec import WholeModel
from tests.conftest import assert_one_line_error, convbench


def test_a_default_model_names_both_libraries_and_a_users_one_library():
    assert definition("resnet50").torchvision == "resnet50" and definition("resnet50").keras == "ResNet50"
    assert definition("torchvision:convnext_tiny").keras is None
    assert definition("keras:Xception").keras == "Xception" and definition("keras:Xception").torchvision is None
    assert missing_in("keras:Xception", "torch").startswith("keras:Xception is a keras.applications model")
    assert missing_in("mobilenet_v2", "keras") is None


@pytest.mark.parametrize("name", ["vgg16", "timm:resnet50", "torchvision:", "keras:../x"])
def test_an_unknown_model_is_refused_naming_the_valid_forms(name):
    with pytest.raises(BadInput, match="valid: mobilenet_v2, resnet50, efficientnet_b0, or a library's own"):
        WholeModel(name)


def test_the_workload_has_no_conv_layers_of_its_own_and_its_flops_come_from_its_files():
    spec = WholeModel("torchvision:convnext_tiny", 32, dtype="float16", pass_="train")
    assert spec.stack_id == "torchvision.convnext_tiny-whole-b32-i224-float16-train"
    assert spec.nodes == () and np.isnan(spec.flops) and spec.input_shape_nchw == (32, 3, 224, 224)
    assert spec.columns()["model"] == "torchvision:convnext_tiny" and spec.columns()["network"] == ""
    assert spec.reference_framework("tflite") == "keras" and spec.reference_framework("torch.onnx") == "torch"
    assert spec.not_from("keras") == "torchvision:convnext_tiny is a torchvision model; keras runs the models of " \
                                     "keras.applications (name one as keras:<name>)"
    assert WholeModel("resnet50", pass_="train").not_from("tf2onnx") == KERAS_STEP_NOT_CHECKED
    assert WholeModel("resnet50", pass_="train").not_from("torch") is None


def test_the_named_sweep_is_batch_1_and_32_at_224_with_litert_on_the_cpu():
    sweep = Sweep(models=tuple(WHOLE_MODELS)).resolved("cpu")
    assert sweep.batch == (1, 32) and sweep.image == 224 and sweep.variants is None
    assert {"litert", "litert-builtin"} <= set(sweep.runtimes) and "litert" not in default_runtimes("cpu")
    assert [w.stack_id for w in Sweep(models=("resnet50",)).workloads()] == ["resnet50-whole-b1-i224",
                                                                               "resnet50-whole-b32-i224"]


def test_the_cli_refuses_models_with_seed_sizes_or_networks_in_one_line():
    assert_one_line_error(convbench("bench", "--models", "resnet50", "--channels", "8"), "--channels with --models")
    assert_one_line_error(convbench("bench", "--models", "resnet50", "--networks", "resnet50"),
                          "--networks and --models")
    assert_one_line_error(convbench("export", "--models", "vgg"), "unknown model 'vgg'", "torchvision:<name>")


def test_torchvision_models_build_seeded_calibrated_and_in_train_mode_without_their_random_layers():
    calibration = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    model = build_torch_whole("efficientnet_b0", 0, False, calibration)
    again = build_torch_whole("efficientnet_b0", 0, False, calibration)
    x = torch.from_numpy(calibration[:2])
    with torch.inference_mode():
        out = model(x)
        assert torch.equal(out, again(x))  # the seed fixes every weight and statistic
    assert not model.training and 0.01 < float(out.std()) < 100  # batch norms calibrated: no vanishing output
    step = build_torch_whole("efficientnet_b0", 0, True, calibration)
    random = [m for m in step.modules() if type(m).__name__ in ("Dropout", "StochasticDepth")]
    norms = [m for m in step.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert random and not any(m.training for m in random) and all(m.training for m in norms)
    with pytest.raises(ValueError, match="torchvision .* has no classification model 'no_such_net'"):
        build_torch_whole("torchvision:no_such_net", 0, False, calibration)
