"""PyTorch -> ONNX through torch.onnx.export with the dynamo (torch.export) exporter."""

from __future__ import annotations

from pathlib import Path

import torch

from convbench.exporters import OPSET


def export_torch(model: torch.nn.Module, example: torch.Tensor, path: Path) -> str:
    """Write `model` traced on `example` (static shapes) to `path`; return the exporter's version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["output"],
        verbose=False,
    )
    return torch.__version__
