"""Whole networks as their libraries define them: torchvision's and keras.applications' models, with every layer
(batch norm, activations, pooling, the classifier), weights=None and initialised from the workload's seed, in eval
mode for the forward.

Each framework's model is its own: the torch sources (torch, torch.onnx) run torchvision's, the Keras ones (keras,
tf2onnx, tflite) keras.applications'; each is checked against its own framework's float32 output, never the other's.
A default entry names both; a user's own model is `torchvision:<name>` or `keras:<Name>` and runs in that framework
only (the other framework's rows are skipped, saying so). This module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass

from convbench.errors import BadInput

TORCH, KERAS = "torch", "keras"
USER_PREFIX = {"torchvision": TORCH, "keras": KERAS}  # `torchvision:<name>`, `keras:<Name>`


@dataclass(frozen=True)
class WholeDefinition:
    """Where each framework's model comes from (None: that framework has none) and how the two differ."""

    torchvision: str | None  # torchvision.models.get_model's name
    keras: str | None  # the keras.applications function's name
    differences: str = ""

    def name_in(self, framework: str) -> str | None:
        return self.torchvision if framework == TORCH else self.keras


# Read in the libraries' sources (torchvision 0.28, Keras 3.12): what the two definitions do differently.
_STRIDE_2_PADDING = ("Keras pads every stride-2 conv with ZeroPadding2D(correct_pad): 0 rows above and left, 1 below "
                     "and right on an even-sized input, where torchvision pads 1 on every side")
WHOLE_MODELS: dict[str, WholeDefinition] = {
    "mobilenet_v2": WholeDefinition("mobilenet_v2", "MobileNetV2",
                                    f"{_STRIDE_2_PADDING}; torchvision's classifier has a Dropout(0.2), Keras' none"),
    "resnet50": WholeDefinition("resnet50", "ResNet50",
                                "Keras' ResNet50 is v1 (a downsampling block's stride in its first 1x1 conv, convs "
                                "with bias), torchvision's is v1.5 (the stride in the 3x3 conv, no conv bias)"),
    "efficientnet_b0": WholeDefinition("efficientnet_b0", "EfficientNetB0",
                                       "Keras' EfficientNetB0 starts with Rescaling(1/255) and Normalization layers "
                                       f"(its preprocessing inside the model), torchvision's takes normalised input; "
                                       f"{_STRIDE_2_PADDING}"),
}
DEFAULT_WHOLE_MODELS = tuple(WHOLE_MODELS)
WHOLE_IMAGE = 224
WHOLE_BATCHES = (1, 32)


def definition(name: str) -> WholeDefinition:
    """The definition of a default model, or of a user's `torchvision:<name>` / `keras:<Name>`; BadInput naming the
    valid forms for anything else (whether the library has that name is known only where it is installed: a build
    there says so)."""
    if name in WHOLE_MODELS:
        return WHOLE_MODELS[name]
    prefix, _, model = name.partition(":")
    if prefix in USER_PREFIX and model.strip() and model.replace("_", "").isalnum():
        return WholeDefinition(**{"torchvision": None, "keras": None, prefix: model})  # type: ignore[arg-type]
    raise BadInput(f"unknown model {name!r}; valid: {', '.join(WHOLE_MODELS)}, or a library's own as "
                   "torchvision:<name> (e.g. torchvision:convnext_tiny) or keras:<Name> (e.g. keras:Xception)")


def framework_of_source(source: str) -> str:
    """The framework whose model a source runs: torch for torch and torch.onnx, keras for keras, tf2onnx, tflite."""
    return TORCH if source.startswith("torch") else KERAS


def missing_in(name: str, framework: str) -> str | None:
    """Why `framework` has no model `name` (a user's model from the other library), or None."""
    if definition(name).name_in(framework) is not None:
        return None
    own, other = ("torchvision", "keras.applications") if framework == KERAS else ("keras.applications", "torchvision")
    prefix = "keras:" if framework == KERAS else "torchvision:"
    return f"{name} is a {own} model; {framework} runs the models of {other} (name one as {prefix}<name>)"
