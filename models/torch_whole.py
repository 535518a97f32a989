"""torchvision's whole models (convbench.models.whole), built from the workload's seed.

The registry's torchvision wheel is a CUDA build: beside a CPU build of torch its C++ extension (detection ops such as
nms) does not load, and importing torchvision fails where it registers fake kernels for those ops. Its classification
models use none of them: `import_torchvision` then imports it without those registrations and says so in
`TORCHVISION_OPS`."""

from __future__ import annotations

import sys
import types

import numpy as np
import torch
from torch import nn

from convbench.errors import Skip
from convbench.models.whole import TORCH, definition, missing_in

# The torchvision modules that register kernels for its C++ ops at import; stood in for where those ops did not load.
_OP_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")
TORCHVISION_OPS = {"loaded": True}  # False where torchvision was imported without its C++ ops


def import_torchvision() -> types.ModuleType:
    """torchvision, imported with its C++ ops where they load, else without their registrations (its models need
    none of them)."""
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        for name in _OP_REGISTRATIONS:
            sys.modules[name] = types.ModuleType(name)
        import torchvision
        TORCHVISION_OPS["loaded"] = False
    return torchvision


def build_torch_whole(name: str, seed: int, train: bool, calibration: np.ndarray) -> nn.Module:
    """torchvision's model `name` with weights=None, its parameters initialised by torchvision's own rule from
    `seed`, its batch norms' statistics those of `calibration` (NCHW float32: convbench.models.whole), in float32 on
    the CPU: eval mode, or for a training step train mode with its random layers (dropout, stochastic depth) held in
    eval so that a step's gradients can be checked (batch norm uses the batch's statistics, as in training). Skip
    where torchvision is not installed or the model is Keras' only."""
    why = missing_in(name, TORCH)
    if why:
        raise Skip(why)
    try:
        torchvision = import_torchvision()
    except ImportError:
        raise Skip("torchvision not installed (pip install torchvision)") from None
    model_name = definition(name).torchvision
    known = torchvision.models.list_models(module=torchvision.models)
    if model_name not in known:
        raise ValueError(f"torchvision {torchvision.__version__} has no classification model {model_name!r}; "
                         f"it has {len(known)}, e.g. {', '.join(sorted(known)[:8])}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.get_model(model_name, weights=None)
    random_layers = [m for m in model.modules() if isinstance(m, (nn.Dropout, torchvision.ops.StochasticDepth))]
    _calibrate(model, random_layers, torch.from_numpy(calibration))
    if not train:
        return model.eval()
    model.train()
    for module in random_layers:
        module.eval()
    return model


def _calibrate(model: nn.Module, random_layers: list[nn.Module], batch: torch.Tensor) -> None:
    """Every batch norm's running mean and variance set to its input's statistics on `batch` (one forward in train
    mode with a cumulative average, the random layers held in eval)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
    model.train()
    for module in random_layers:
        module.eval()
    with torch.no_grad():
        model(batch)
    for norm in norms:
        norm.momentum = 0.1  # torch's default, for a training step
