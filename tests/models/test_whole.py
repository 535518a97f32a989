"""Whole models: names, which library has which, their workload, the sweep that plans them, and torchvision's models
built as convbench times them."""

import numpy as np
import pytest
import torch

from convbench.errors import BadInput
from convbench.models.torch_whole import build_torch_whole
from convbench.models.whole import WHOLE_MODELS, definition, missing_in
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
    assert WholeModel("resnet50", pass_="train").not_from("keras") is None
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


_BUILD_IN_BACKEND = """
import os, sys
os.environ["KERAS_BACKEND"] = sys.argv[1]
import keras, numpy as np
from convbench.models.keras_whole import build_keras_whole
rng = np.random.default_rng(0)
calibration, x = rng.standard_normal((4, 32, 32, 3), np.float32), rng.standard_normal((2, 32, 32, 3), np.float32)
model = build_keras_whole(sys.argv[3], 0, "float32", 2, 32, calibration)
output = keras.ops.convert_to_numpy(model(x, training=False))
np.savez(sys.argv[2], output, *model.get_weights())
"""


@pytest.mark.parametrize("name", ["efficientnet_b0", "mobilenet_v2"])


def test_a_keras_model_has_the_same_weights_and_output_in_every_keras_backend(tmp_path, name):
    """Keras draws its initial weights with its backend's random numbers; convbench draws them with numpy by each
    variable's initializer, so keras-jax and keras-torch run the model whose reference TensorFlow's Keras made.
    EfficientNetB0 has VarianceScaling with a truncated normal (convs, fan_out) and a uniform (its Dense);
    MobileNetV2 Keras' default GlorotUniform (a VarianceScaling whose config names no rule)."""
    import subprocess
    import sys

    built = {}
    for backend in ("tensorflow", "torch"):
        path = tmp_path / f"{backend}.npz"
        run = subprocess.run([sys.executable, "-c", _BUILD_IN_BACKEND, backend, str(path), name], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        with np.load(path) as arrays:
            built[backend] = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    tf_arrays, torch_arrays = built["tensorflow"], built["torch"]
    assert len(tf_arrays) == len(torch_arrays) > 200
    for tf_array, torch_array in zip(tf_arrays[1:], torch_arrays[1:], strict=True):
        if tf_array.ndim >= 2:  # kernels: drawn, the same numbers
            np.testing.assert_array_equal(torch_array, tf_array)
        else:  # biases, scales (constants) and the batch norms' statistics, calibrated by each backend: rounding
            np.testing.assert_allclose(torch_array, tf_array, rtol=1e-3, atol=1e-4)
    from convbench.parity import relative_error, tolerance  # the output: within its parity, as a runtime's
    assert relative_error(torch_arrays[0], tf_arrays[0]) < tolerance("float32", "cpu", whole_model=True)
    pointwise = next(a for a in tf_arrays[1:] if a.ndim == 4 and a.shape[:2] == (1, 1) and min(a.shape[2:]) > 1)
    fan_in, fan_out = pointwise.shape[2:]  # EfficientNet: N(0, 2 / fan_out) truncated; Glorot: var 2 / (in + out)
    expected = 2 / fan_out if name == "efficientnet_b0" else 2 / (fan_in + fan_out)
    assert pointwise.std() == pytest.approx(np.sqrt(expected), rel=0.1)


_TRAIN_BUILD = """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras, numpy as np
from convbench.models.keras_whole import build_keras_whole
rng = np.random.default_rng(0)
calibration, x = rng.standard_normal((4, 32, 32, 3), np.float32), rng.standard_normal((2, 32, 32, 3), np.float32)
step = build_keras_whole("efficientnet_b0", 0, "float64", 2, 32, calibration, train=True)
forward = build_keras_whole("efficientnet_b0", 0, "float32", 2, 32, calibration)
dropouts = [layer for layer in step._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
print(len(dropouts), max(layer.rate for layer in dropouts), step.layers[-1].activation.__name__,
      forward.layers[-1].activation.__name__, step.trainable_variables[0].dtype,
      float(np.abs(np.asarray(step(x, training=True)).sum(axis=1) - 1).max()))
"""


def test_a_keras_model_for_a_step_ends_in_logits_with_its_dropout_held_off():
    """A step's loss is the output's sum: of Keras' softmax, the batch size whatever the weights (zero gradients),
    so the step's model ends in logits, as torchvision's; dropout is held off, as in torchvision's step, so that its
    gradients can be checked against the float64 reference."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _TRAIN_BUILD], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    dropouts, rate, step_head, forward_head, dtype, off_one = run.stdout.split()[-6:]
    assert int(dropouts) >= 10 and float(rate) == 0.0  # 9 blocks' drop-connects and the top dropout
    assert (step_head, forward_head, dtype) == ("linear", "softmax", "float64")
    assert float(off_one) > 0.1  # logits: a row's sum is not 1
