"""Where exported files live: artifacts/onnx/<framework>/<stack id>.onnx, the manifest, the reference outputs."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from convbench.spec import StackSpec

# ONNX exporter name (the `source` column of a timing on that file) -> the framework whose model it exported.
ONNX_EXPORTERS: dict[str, str] = {"torch.onnx": "torch", "tf2onnx": "keras"}
FRAMEWORK_EXPORTER: dict[str, str] = {framework: exporter for exporter, framework in ONNX_EXPORTERS.items()}
# Input layout of each framework's model, and so of its ONNX export.
FRAMEWORK_LAYOUT: dict[str, str] = {"torch": "NCHW", "keras": "NHWC"}


class ArtifactChanged(Exception):
    """An exported file no longer matches what its export recorded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifacts:
    root: Path

    def onnx_path(self, framework: str, spec: StackSpec) -> Path:
        return self.root / "onnx" / framework / f"{spec.stack_id}.onnx"

    def verified_onnx_path(self, framework: str, spec: StackSpec) -> Path:
        """The ONNX file of `spec` exported from `framework`, after checking that its sha256 is the one the
        export manifest recorded; ArtifactChanged (telling the user to export again) where it is not."""
        path = self.onnx_path(framework, spec)
        recorded = self.manifest_sha256(framework, spec.stack_id)
        if recorded is None:
            raise ArtifactChanged(f"{path} has no good row in {self.manifest_path}: run `convbench export`")
        actual = sha256_of(path)
        if actual != recorded:
            raise ArtifactChanged(f"{path} changed since export (sha256 {actual[:12]}, manifest {recorded[:12]}): "
                                  "run `convbench export` to export it again")
        return path

    def manifest_row(self, framework: str, stack_id: str) -> dict[str, str] | None:
        """The manifest's row for this file (the last, if several), or None."""
        if not self.manifest_path.exists():
            return None
        found = None
        with self.manifest_path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["source"] == framework and row["stack_id"] == stack_id:
                    found = row
        return found

    def manifest_sha256(self, framework: str, stack_id: str) -> str | None:
        """The sha256 the manifest recorded for a good export of this file, or None."""
        row = self.manifest_row(framework, stack_id)
        return row["sha256"] if row and row["status"] == "ok" else None

    def manifest_reason(self, framework: str, stack_id: str) -> str | None:
        """Why the export of this file was skipped or failed, as the manifest says; None if it did not say."""
        row = self.manifest_row(framework, stack_id)
        return row["reason"] or None if row and row["status"] != "ok" else None

    def reference_path(self, spec: StackSpec) -> Path:
        """The PyTorch float32 CPU output of the stack on its seeded input (NCHW .npy): every runtime's reference,
        whatever dtype it runs the stack in."""
        return self.root / "reference" / f"{spec.reference.stack_id}.npy"

    @property
    def manifest_path(self) -> Path:
        return self.root / "onnx" / "manifest.csv"
