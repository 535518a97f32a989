"""The exported ONNX file a case runs, for every runtime that reads the exported files (onnxruntime, OpenVINO)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.artifacts import FRAMEWORK_LAYOUT, ONNX_EXPORTERS, Artifacts
from convbench.errors import Skip
from convbench.models.weights import make_input, nchw_to_nhwc
from convbench.spec import Case


def onnx_file_and_input(case: Case, artifacts: Artifacts) -> tuple[Path, np.ndarray, bool]:
    """The ONNX file of the case (checked against its manifest hashes: a file exported and since lost or changed
    fails the case), its input in the file's layout, and whether that layout is NHWC. A file never exported is a
    skip with the export's reason. Every runtime that reads the exported files goes through here."""
    framework = ONNX_EXPORTERS[case.source]
    path = exported_file(framework, case, artifacts, "ONNX file", "convbench export")
    channels_last = FRAMEWORK_LAYOUT[framework] == "NHWC"
    x = make_input(case.workload)  # float32; int8 QDQ files take float input and quantise it themselves
    if case.workload.dtype == "float16":
        x = x.astype(np.float16)
    return path, (nchw_to_nhwc(x) if channels_last else x), channels_last


def exported_file(export_source: str, case: Case, artifacts: Artifacts, kind: str, command: str) -> Path:
    """The file `export_source` wrote for the case, checked against its manifest hashes (a file exported and since
    lost or changed fails the case); a file never exported is a skip with the export's reason, or with the command
    (`command`) that makes it."""
    path = artifacts.model_path(export_source, case.workload)
    stack_id = case.workload.as_file.stack_id
    if not path.exists() and not artifacts.manifest_good(export_source, stack_id):  # never exported
        why = artifacts.manifest_reason(export_source, stack_id)
        raise Skip(f"no {kind} in {case.workload.dtype}: {why}" if why else
                   f"no {kind} {path}: run `{command}` for this sweep first")
    return artifacts.verified_path(export_source, case.workload)
