"""Where exported files live: artifacts/onnx/<framework>/<stack id>.onnx, the manifest, the reference outputs and
gradients."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from convbench.spec import Workload

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


def export_files(path: Path) -> list[Path]:
    """The files one ONNX export consists of: the .onnx itself, the external data files that its tensors name (as
    onnx's own external-data helpers read them), and the `<file>.onnx.data` beside it where the exporter wrote one
    (torch.onnx writes it, empty where every weight is small enough to stay inside the .onnx)."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    tensors = [*model.graph.initializer,
               *(a.t for node in model.graph.node for a in node.attribute if a.HasField("t"))]
    locations = {ExternalDataInfo(t).location for t in tensors if uses_external_data(t)}
    if (path.parent / f"{path.name}.data").is_file():
        locations.add(f"{path.name}.data")
    return [path, *(path.parent / name for name in sorted(locations))]


def file_hashes(path: Path) -> dict[str, str]:
    """sha256 of every file of the export at `path`, by file name (all live in the .onnx file's folder)."""
    return {p.name: sha256_of(p) for p in export_files(path)}


def combined_sha256(hashes: dict[str, str]) -> str:
    """One hash over all the files of an export (their names and contents)."""
    return hashlib.sha256("".join(f"{name}:{digest}\n" for name, digest in sorted(hashes.items())).encode()
                          ).hexdigest()


@dataclass(frozen=True)
class Artifacts:
    root: Path

    def onnx_path(self, framework: str, spec: Workload) -> Path:
        return self.root / "onnx" / framework / f"{spec.as_file.stack_id}.onnx"

    def tflite_path(self, spec: Workload) -> Path:
        """The LiteRT flatbuffer converted from the Keras model (convbench.exporters.litert)."""
        return self.root / "tflite" / f"{spec.as_file.stack_id}.tflite"

    def model_path(self, source: str, spec: Workload) -> Path:
        """The file an export source writes: an ONNX file (torch, keras) or a .tflite file (litert)."""
        return self.tflite_path(spec) if source == "litert" else self.onnx_path(source, spec)

    def verified_path(self, framework: str, spec: Workload) -> Path:
        """The file of `spec` exported from `framework` (an ONNX file, or the .tflite of litert), after checking every
        file of the export (the .onnx and its .onnx.data) against the sha256 the export manifest recorded;
        ArtifactChanged naming the missing or changed file (and telling the user to export again) where one is not
        the file exported."""
        path = self.model_path(framework, spec)
        row = self.manifest_row(framework, spec.as_file.stack_id)
        if row is None or row["status"] != "ok":
            raise ArtifactChanged(f"{path} has no good row in {self.manifest_path}: run `convbench export`")
        why = self.changed_files(row)
        if why:
            raise ArtifactChanged(f"{why}: run `convbench export` to export it again")
        return path

    def changed_files(self, row: dict[str, object]) -> str | None:
        """Which file of a manifest row's export is missing or is not the one the export wrote, or None when
        every file matches its recorded sha256."""
        folder = (self.root / str(row["path"])).parent
        recorded = row.get("files")
        if not isinstance(recorded, str) or not recorded:
            return f"{self.root / str(row['path'])}: the manifest records no hash of its files (an older export)"
        for name, digest in json.loads(recorded).items():
            path = folder / name
            if not path.is_file():
                return f"{path} is missing"
            actual = sha256_of(path)
            if actual != digest:
                return f"{path} changed since export (sha256 {actual[:12]}, manifest {digest[:12]})"
        return None

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

    def manifest_good(self, framework: str, stack_id: str) -> bool:
        """Whether the manifest has a good (status ok) row for this file."""
        row = self.manifest_row(framework, stack_id)
        return bool(row and row["status"] == "ok")

    def manifest_reason(self, framework: str, stack_id: str) -> str | None:
        """Why the export of this file was skipped or failed, as the manifest says; None if it did not say."""
        row = self.manifest_row(framework, stack_id)
        return row["reason"] or None if row and row["status"] != "ok" else None

    def reference_path(self, spec: Workload, framework: str = "torch") -> Path:
        """The float32 CPU output of `framework`'s model of the workload on its seeded input (NCHW .npy): the
        reference of every runtime and dtype whose rows it is (`Workload.reference_framework`: PyTorch's for every
        conv stack, each framework's own for a whole model)."""
        suffix = "" if framework == "torch" else f".{framework}"
        return self.root / "reference" / f"{spec.reference.stack_id}{suffix}.npy"

    def source_reference_path(self, spec: Workload, source: str) -> Path:
        """The reference of `spec`'s rows from `source` (a runtime's model source or an exporter's name)."""
        return self.reference_path(spec, spec.reference_framework(source))

    def gradient_reference_path(self, spec: Workload, framework: str = "torch") -> Path:
        """The CPU gradients of a training step on the stack (.npz by name; convbench.passes): PyTorch float32's
        for a conv stack (the input's and every conv weight's, NCHW and PyTorch's weight layout), the float64 ones of
        a whole model's own `framework` (torch, keras): every train case's reference, whatever its dtype."""
        own = "" if framework == "torch" else f".{framework}"
        return self.root / "reference" / f"{spec.reference.stack_id}{own}.grads.npz"

    @property
    def manifest_path(self) -> Path:
        return self.root / "onnx" / "manifest.csv"
