"""`convbench export`: build each stack natively, export it to ONNX, check the file and its parity.

PyTorch goes first: its float32 CPU output on the seeded input is saved as the reference every other model
(Keras native, both ONNX files, every runtime in `bench`) is compared with.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from convbench.artifacts import FRAMEWORK_EXPORTER, FRAMEWORK_LAYOUT, Artifacts
from convbench.envinfo import PACKAGES, package_version
from convbench.errors import BadInput, Skip, check_known, first_of, one_line
from convbench.exporters import OPSET
from convbench.exporters.manifest import describe_onnx, read_manifest, upsert
from convbench.models.weights import nhwc_to_nchw
from convbench.parity import relative_error, tolerance
from convbench.request import Sweep
from convbench.runners import FAMILY_ENV
from convbench.spec import REFERENCE_DTYPE, Workload, unique
from convbench.workers import Worker, run_tasks

SOURCES = ("torch", "keras", "litert")  # what export builds from: the framework's model (and, for litert, its tool)
# The files export makes, by the name bench's results give their source (one vocabulary for both commands): the
# PyTorch model's ONNX export, the Keras model's, and the Keras model converted for LiteRT.
EXPORTS = {"torch.onnx": "torch", "tf2onnx": "keras", "tflite": "litert"}
DEFAULT_SOURCES = ("torch.onnx", "tf2onnx")  # tflite (LiteRT) only when asked: the default sweep's time
# Per source: worker family, the modules it needs, and the distribution whose version names the exporter.
SOURCE_FAMILY = {"torch": "torch", "keras": "tensorflow", "litert": "tensorflow"}
SOURCE_REQUIRES = {
    "torch": ("torch", "onnxscript", "onnxruntime"),
    "keras": ("tensorflow", "keras", "tf2onnx", "onnxruntime"),
    "litert": ("tensorflow", "keras", "ai_edge_litert"),
}
# The distributions whose installed version names each exporter (the first installed: tensorflow-cpu counts as
# tensorflow), checked against a manifest row's exporter_version.
EXPORTER_DISTRIBUTION = {"torch": PACKAGES["torch"], "keras": PACKAGES["tf2onnx"], "litert": PACKAGES["tensorflow"]}
EXPORTER_NAME = {**FRAMEWORK_EXPORTER, "litert": "tf.lite.TFLiteConverter"}
LITERT_DTYPES = ("float32", "int8")
EXPORT_TIMEOUT_S = 600.0  # one stack's export, checks and parity included (about a second here)


def _ort_output(path: Path, feed: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: feed})[0]


# Dtypes that cannot be made into an ONNX file at OPSET, with the reason (a skipped manifest row).
UNEXPORTABLE = {"bfloat16": f"ONNX Conv takes bfloat16 only from opset 22; convbench exports at opset {OPSET}, the "
                            "most tf2onnx writes, so there is no bfloat16 ONNX file"}


def export_torch_task(spec: Workload, artifacts_root: str) -> dict[str, object]:
    """Worker side (torch family): reference output (float32), ONNX file, checker, parity."""
    import logging

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed", once per export

    from convbench.exporters.torch_onnx import export_torch
    from convbench.models.torch_stack import build_torch_stack, torch_dtype
    from convbench.models.weights import make_input

    artifacts = Artifacts(Path(artifacts_root))
    if spec.dtype == "int8" or spec.dtype in UNEXPORTABLE:
        return _int8_or_skip(spec, "torch", artifacts, make_input(spec))
    model = build_torch_stack(spec)
    x = torch.from_numpy(make_input(spec)).to(torch_dtype(spec))
    with torch.inference_mode():
        native = model(x).float().numpy()
    reference_path = artifacts.reference_path(spec)
    if spec.dtype == REFERENCE_DTYPE:
        reference_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(reference_path, native)

    path = artifacts.onnx_path("torch", spec)
    start = time.perf_counter()
    version = export_torch(model, x, path)
    export_s = time.perf_counter() - start
    return _manifest_row(spec, "torch", version, path, export_s,
                         native_rel_err=relative_error(native, np.load(reference_path)),
                         onnx_rel_err=relative_error(_ort_output(path, x.numpy()), native), artifacts=artifacts)


def export_keras_task(spec: Workload, artifacts_root: str) -> dict[str, object]:
    """Worker side (tensorflow family): Keras output vs the reference (a whole model's: Keras' own float32 output,
    saved here), ONNX file, checker, parity."""
    from convbench.exporters.keras_onnx import export_keras
    from convbench.models.keras_stack import build_keras_stack
    from convbench.models.weights import make_input, nchw_to_nhwc

    artifacts = Artifacts(Path(artifacts_root))
    if spec.dtype == "int8" or spec.dtype in UNEXPORTABLE:
        return _int8_or_skip(spec, "keras", artifacts, nchw_to_nhwc(make_input(spec)))
    model = build_keras_stack(spec)
    x = nchw_to_nhwc(make_input(spec)).astype(spec.dtype)
    native = np.asarray(model(x, training=False), dtype=np.float32)
    reference_path = artifacts.source_reference_path(spec, "tf2onnx")
    if spec.reference_framework("tf2onnx") == "keras" and spec.dtype == REFERENCE_DTYPE:  # a whole model: its own
        reference_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(reference_path, nhwc_to_nchw(native))
    reference = np.load(reference_path)

    path = artifacts.onnx_path("keras", spec)
    start = time.perf_counter()
    version = export_keras(model, x.shape, path, spec.dtype)
    export_s = time.perf_counter() - start
    return _manifest_row(spec, "keras", version, path, export_s,
                         native_rel_err=relative_error(nhwc_to_nchw(native), reference),
                         onnx_rel_err=relative_error(_ort_output(path, x), native), artifacts=artifacts)


def export_litert_task(spec: Workload, artifacts_root: str) -> dict[str, object]:
    """Worker side (tensorflow family): the float32 Keras model converted to .tflite (int8: full-integer
    quantised), its operators and hash, and LiteRT's output on it against the float32 reference (PyTorch's for a
    conv stack, Keras' own for a whole model)."""
    from convbench.exporters.litert import convert, describe_tflite, run_tflite
    from convbench.models.keras_stack import build_keras_stack
    from convbench.models.weights import make_input, nchw_to_nhwc

    artifacts = Artifacts(Path(artifacts_root))
    if spec.dtype not in LITERT_DTYPES:
        return {**failed_row("litert", spec, f"convbench converts to LiteRT in {' and '.join(LITERT_DTYPES)} only "
                                             f"(a {spec.dtype} .tflite would change the math on the CPU)"),
                "status": "skipped"}
    reference_path = artifacts.source_reference_path(spec, "tflite")
    if not reference_path.exists():
        framework = spec.reference_framework("tflite")
        return failed_row("litert", spec, f"no reference output {reference_path}: the {framework} model's export "
                                          f"makes it (export {FRAMEWORK_EXPORTER[framework]} too, and see its row)")
    reference = np.load(reference_path)
    x = nchw_to_nhwc(make_input(spec))
    path = artifacts.tflite_path(spec)
    start = time.perf_counter()
    version = convert(build_keras_stack(spec.reference), spec.dtype, x.shape, spec.seed, path)
    export_s = time.perf_counter() - start
    return _manifest_row(spec, "litert", version, path, export_s, native_rel_err=float("nan"),
                         onnx_rel_err=relative_error(nhwc_to_nchw(run_tflite(path, x)), reference),
                         artifacts=artifacts, describe=describe_tflite)


def _int8_or_skip(spec: Workload, source: str, artifacts: Artifacts, x: np.ndarray) -> dict[str, object]:
    """A dtype that has no native export: int8 is quantised from the float32 export of the same source (its
    error is against the float32 reference: there is no native int8 model); another is a skipped row."""
    from convbench.exporters.quantize import quantize_int8

    if spec.dtype in UNEXPORTABLE:
        return {**failed_row(source, spec, UNEXPORTABLE[spec.dtype]), "status": "skipped"}
    float_path = artifacts.onnx_path(source, spec.reference)
    if not artifacts.manifest_good(source, spec.reference.stack_id):
        return failed_row(source, spec, f"int8 is quantised from the float32 export, and {float_path} has no good "
                                        "manifest row: export float32 too")
    path = artifacts.onnx_path(source, spec)
    start = time.perf_counter()
    version = quantize_int8(artifacts.verified_path(source, spec.reference), path, x.shape, spec.seed)
    export_s = time.perf_counter() - start
    reference = np.load(artifacts.source_reference_path(spec, source))
    onnx_out = _ort_output(path, x)
    if FRAMEWORK_LAYOUT[source] == "NHWC":
        onnx_out = nhwc_to_nchw(onnx_out)
    return {**_manifest_row(spec, source, version, path, export_s, native_rel_err=float("nan"),
                            onnx_rel_err=relative_error(onnx_out, reference), artifacts=artifacts),
            "exporter": f"{FRAMEWORK_EXPORTER[source]} + onnxruntime.quantization (QDQ int8)"}


def _manifest_row(spec: Workload, source: str, version: str, path: Path, export_s: float,
                  native_rel_err: float, onnx_rel_err: float, artifacts: Artifacts,
                  describe: Callable[[Path], dict[str, object]] = describe_onnx) -> dict[str, object]:
    """The manifest row of one exported file: what made it, what it holds (`describe`), and its parity (for litert,
    `onnx_rel_err` is the .tflite file's error against the reference)."""
    limit = tolerance(spec.dtype, "cpu", whole_model=spec.whole_model)
    ok = bool(np.nanmax([native_rel_err, onnx_rel_err]) <= limit)
    return {
        **_key(spec, source),
        "exporter": EXPORTER_NAME[source],
        "exporter_version": version,
        "path": str(path.relative_to(artifacts.root)),
        **describe(path),
        "export_s": round(export_s, 3),
        "native_rel_err": native_rel_err,  # native model (in its dtype) vs the PyTorch float32 reference
        "onnx_rel_err": onnx_rel_err,  # onnxruntime (CPU) on the file vs its native model (int8: vs the reference)
        "parity_ok": ok,
        "status": "ok" if ok else "failed",
        "reason": "" if ok else f"parity above {limit:.0e} ({spec.dtype})",
    }


def _key(spec: Workload, source: str) -> dict[str, object]:
    return {"source": source, "stack_id": spec.stack_id, **spec.columns(),
            "exported_at": datetime.now().isoformat(timespec="seconds")}


def _guarded(task: Callable[[Workload, str], dict[str, object]], source: str, spec: Workload,
             artifacts_root: str) -> dict[str, object]:
    try:
        not_from = spec.not_from(source)
        if not_from:
            raise Skip(not_from)
        return task(spec, artifacts_root)
    except Skip as skip:  # a whole model its framework does not have, a framework not installed
        return {**failed_row(source, spec, skip.reason), "status": "skipped"}
    except Exception as error:  # one stack's failure is a manifest row, not the end of the export
        return failed_row(source, spec, one_line(error))


def failed_row(source: str, spec: Workload, reason: str) -> dict[str, object]:
    return {**_key(spec, source), "exporter": EXPORTER_NAME[source], "parity_ok": False,
            "status": "failed", "reason": reason}


TASKS = {"torch": export_torch_task, "keras": export_keras_task, "litert": export_litert_task}


def up_to_date(artifacts: Artifacts, manifest: pd.DataFrame, spec: Workload, source: str) -> bool:
    """True when `manifest` has a good row for this file, made by the installed exporter, and every file of the
    export (the .onnx and its .onnx.data) is there with the hash it was written with."""
    if manifest.empty:
        return False
    rows = manifest[(manifest["source"] == source) & (manifest["stack_id"] == spec.stack_id)]
    path = artifacts.model_path(source, spec)
    if rows.empty or not path.exists() or not artifacts.source_reference_path(spec, source).exists():
        return False
    row = rows.iloc[-1]
    installed = package_version(EXPORTER_DISTRIBUTION[source] if spec.dtype != "int8" or source == "litert"
                                else PACKAGES["onnxruntime"])
    return bool(row["status"] == "ok" and installed is not None and str(row["exporter_version"]) == installed
                and artifacts.changed_files(row.to_dict()) is None)


def export_sources(names: Sequence[str]) -> list[str]:
    """--sources of export: the files' names (EXPORTS) or the frameworks' (SOURCES), as the frameworks' names in
    export order; BadInput naming the valid ones for any other."""
    valid = [*EXPORTS, *SOURCES]
    check_known(list(names), valid, "source")
    asked = {EXPORTS.get(name, name) for name in names}
    return [source for source in SOURCES if source in asked]


def check_export(specs: Sequence[Workload], sources: Sequence[str], artifacts: Artifacts) -> None:
    """BadInput before any work where an export cannot run here: a framework not installed, or a Keras export with
    no PyTorch reference to compare with (it is made by the torch export)."""
    from convbench.runners import missing_modules

    for source in sources:
        missing = missing_modules(SOURCE_REQUIRES[source])
        if missing:
            others = [name for name, made_by in EXPORTS.items() if made_by != source]
            raise BadInput(f"exporting from {source} needs {', '.join(missing)}, not installed; install them or "
                             f"pass --sources {' '.join(others)}")
    if {"keras", "litert"} & set(sources) and "torch" not in sources:
        missing_reference = [s.stack_id for s in specs if s.reference_framework("tf2onnx") == "torch"
                             and not artifacts.reference_path(s).exists()]
        if missing_reference:
            raise BadInput(f"keras export compares with the PyTorch reference, missing for "
                             f"{first_of(missing_reference)}; export with --sources torch.onnx tf2onnx")


def export(sweep: Sweep, names: Sequence[str], artifacts: Artifacts, threads: int, force: bool,
           on_start: Callable[[int], None], on_row: Callable[[str, dict[str, object]], None],
           log_path: Path | None = None) -> None:
    """`convbench export`: the forward files of every workload of `sweep` (float32 first: the reference) from each
    of `names` (export_sources), checked first (check_export); `on_start(files)` before the first, `on_row(stack
    id, manifest row)` after each."""
    specs = unique(s.as_file for s in sweep.workloads(with_reference=True))  # a train case has no file
    sources = export_sources(names)
    check_export(specs, sources, artifacts)
    on_start(len(specs) * len(sources))
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    run_export(specs, sources, artifacts, threads, force, lambda spec, row: on_row(spec.stack_id, row), log_path)


def run_export(
    specs: Sequence[Workload],
    sources: Sequence[str],
    artifacts: Artifacts,
    threads: int,
    force: bool,
    on_row: Callable[[Workload, dict[str, object]], None],
    log_path: Path | None = None,
) -> None:
    """Export every stack from each source in its own worker process, torch first; upsert manifest rows.
    Workers write their output to `log_path` (None: the terminal); one stack may take EXPORT_TIMEOUT_S."""

    def record(spec: Workload, row: dict[str, object]) -> None:
        upsert(artifacts.manifest_path, row)
        on_row(spec, row)

    for source in [s for s in SOURCES if s in sources]:
        manifest = read_manifest(artifacts.manifest_path)
        todo = [spec for spec in specs if force or not up_to_date(artifacts, manifest, spec, source)]
        for spec in specs:
            if spec not in todo:
                on_row(spec, {"source": source, "stack_id": spec.stack_id, "status": "up to date"})
        if not todo:
            continue
        task = functools.partial(_guarded, TASKS[source], source, artifacts_root=str(artifacts.root))
        family = SOURCE_FAMILY[source]
        run_tasks(lambda family=family: Worker(family, threads, FAMILY_ENV[family], log_path), todo, task,
                  functools.partial(failed_row, source), record, lambda spec: EXPORT_TIMEOUT_S)
