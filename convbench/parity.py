"""Output agreement between runtimes: relative error ||out - ref|| / ||ref|| and its tolerance per dtype, device and
pass."""

from __future__ import annotations

import numpy as np

# The one table of tolerances, per dtype and device, against the PyTorch float32 CPU reference of the 16-layer
# stacks. float32: near 1e-6 on the CPU; IEEE float32 on a GPU is held to 1e-3, below what TF32 gives (near 1.5e-3
# on the seed stacks), so a float32 row that ran in TF32 fails its parity instead of passing as float32. float16:
# about 1e-3 (10-bit mantissa);
# bfloat16: about 1e-2 (7-bit). int8 (static QDQ, min-max calibration): 2-25% on most stacks, 53-59% for conv1x1
# at C=8 (measured 2026-11-25); its tolerance only catches a broken model (an all-zero output is 1.0 off, an
# unrelated one about 1.4), the error itself is reported per row and in the report.
TOLERANCE = {
    ("float32", "cpu"): 1e-4,
    ("float32", "cuda"): 1e-3,
    ("tf32", "cpu"): 5e-3,  # never runs (tf32 is CUDA's), kept so every dtype has a row
    ("tf32", "cuda"): 5e-3,
    ("float16", "cpu"): 1e-2,
    ("float16", "cuda"): 1e-2,
    ("bfloat16", "cpu"): 5e-2,
    ("bfloat16", "cuda"): 5e-2,
    ("int8", "cpu"): 0.75,
    ("int8", "cuda"): 0.75,
}


def relative_error(output: np.ndarray, reference: np.ndarray, floor: float = 0.0) -> float:
    """Frobenius-norm relative error in float64, ||out - ref|| / max(||ref||, floor); NaN or Inf anywhere gives inf,
    never a pass."""
    if output.shape != reference.shape:
        raise ValueError(f"output shape {output.shape} differs from reference shape {reference.shape}")
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(float(np.linalg.norm(ref)), floor))


# Gradients of a training step (convbench.passes), each against PyTorch float32's on the CPU, the worst of them
# counted. A weight's gradient sums its layer's input times the output's gradient over every position, and the
# input's gradient goes back through every layer, so they drift further than one forward's output. Measured
# 2026-12-02: float32 on the 2-core CPU 0 to 1.0e-5 (seed stacks and MobileNetV2, four runtimes); on an H200 6.4e-6
# to 2.2e-2 (TF32), bfloat16 9.9e-3 to 7.8e-2 (docs/results/h200-train). float16 is set from bfloat16's and
# float16's forward tolerances, not yet measured on a step.
GRADIENT_TOLERANCE = {
    ("float32", "cpu"): 1e-4,
    ("float32", "cuda"): 5e-3,  # IEEE float32; before tf32 was a dtype of its own the GPU's float32 was TF32:
    ("tf32", "cpu"): 5e-2,
    ("tf32", "cuda"): 5e-2,  # ResNet-50's input gradient 2.2e-2 off in TF32 on an H200 (53 layers, 16 adds)
    ("float16", "cpu"): 3e-2,
    ("float16", "cuda"): 3e-2,
    ("bfloat16", "cpu"): 1e-1,
    ("bfloat16", "cuda"): 1e-1,
}


# A whole network (convbench.models.whole) against its own framework's float32 CPU output: 50 to 150 layers with
# batch norms, ending in a 1000-class output. Kernels that sum in another order drift further than over 16 convs:
# float32 ResNet-50 at 64x64, Keras' model in LiteRT's XNNPACK against TensorFlow, 1.2e-4; float16 in PyTorch on
# the CPU 0.6-3.1% (MobileNetV2, ResNet-50, EfficientNet-B0; 2026-12-07). Each limit stays below what the next
# looser math gives, and far below a broken model's 1.0.
WHOLE_MODEL_FACTOR = {"float32": 10, "tf32": 10, "float16": 5, "bfloat16": 3, "int8": 1}


# A whole network's training step (batch norms in training mode) against float64 gradients on the CPU: float32 itself
# is far off in some tensors, the batch norms' biases and weights, whose gradients are sums that mostly cancel. The
# worst tensor of float32 against float64, 2026-12-07 on the 2-core CPU: NCHW 2.8e-2 (ResNet-50, batch 32),
# channels_last 8.0e-2 (ResNet-50) and 5.9e-2 (MobileNetV2), EfficientNet-B0 1.3e-4. The lower precisions' limits are
# float32's scaled as their forward tolerances are, not yet measured on a step. Below about 64x64 a batch norm's
# statistics come from a handful of values and the step is no longer defined in float32 (MobileNetV2 at 32x32, batch
# 2: float32 140% off float64; at 64x64 2e-4).
# A check over the whole gradient (every tensor as one vector) would not be better conditioned: float32 against float64
# at 224x224, batch 8, on the 2-core CPU (2026-12-07), whole gradient / worst tensor: MobileNetV2 6.9e-3 / 1.3e-2
# (NCHW) and 1.4e-2 / 2.9e-2 (channels_last), ResNet-50 1.9e-2 / 2.4e-2 and 4.1e-2 / 6.4e-2, EfficientNet-B0 2.5e-6 /
# 5.2e-5; a cross-entropy loss on seeded labels or a seeded projection of the output in place of the sum gave the same.
# The step of MobileNetV2 and ResNet-50 at their initialisation amplifies rounding by itself; TF32 rounds each conv's
# inputs 8192x coarser than float32, and its steps of those two networks were 0.58-0.94 off on an H100: failed, with
# the reason, rather than a limit that a broken step would also pass.
WHOLE_MODEL_GRADIENT_TOLERANCE = {"float32": 1e-1, "tf32": 2e-1, "float16": 3e-1, "bfloat16": 5e-1}


def tolerance(dtype: str, device: str, pass_: str = "forward", whole_model: bool = False) -> float:
    if whole_model and pass_ == "train":
        return WHOLE_MODEL_GRADIENT_TOLERANCE[dtype]
    limit = (GRADIENT_TOLERANCE if pass_ == "train" else TOLERANCE)[(dtype, device)]
    return limit * WHOLE_MODEL_FACTOR[dtype] if whole_model else limit


def parity_ok(error: float, dtype: str, device: str, pass_: str = "forward", whole_model: bool = False) -> bool:
    return bool(error <= tolerance(dtype, device, pass_, whole_model))
