"""Where exported files live: artifacts/onnx/<framework>/<stack id>.onnx, the manifest, the reference outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convbench.spec import StackSpec

# ONNX exporter name (the `source` column of a timing on that file) -> the framework whose model it exported.
ONNX_EXPORTERS: dict[str, str] = {"torch.onnx": "torch", "tf2onnx": "keras"}
FRAMEWORK_EXPORTER: dict[str, str] = {framework: exporter for exporter, framework in ONNX_EXPORTERS.items()}
# Input layout of each framework's model, and so of its ONNX export.
FRAMEWORK_LAYOUT: dict[str, str] = {"torch": "NCHW", "keras": "NHWC"}


@dataclass(frozen=True)
class Artifacts:
    root: Path

    def onnx_path(self, framework: str, spec: StackSpec) -> Path:
        return self.root / "onnx" / framework / f"{spec.stack_id}.onnx"

    def reference_path(self, spec: StackSpec) -> Path:
        """The PyTorch float32 CPU output of the stack on its seeded input (NCHW .npy): every runtime's reference."""
        return self.root / "reference" / f"{spec.stack_id}.npy"

    @property
    def manifest_path(self) -> Path:
        return self.root / "onnx" / "manifest.csv"
