"""The export manifest (artifacts/onnx/manifest.csv): one row per ONNX file, what made it and how good it is."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import onnx
import pandas as pd

from convbench.artifacts import combined_sha256, file_hashes
from convbench.csvfile import replace_text
from convbench.exporters.macs import graph_macs


def describe_onnx(path: Path) -> dict[str, object]:
    """Check the file with onnx.checker (full check, with shape inference) and summarise it; `files` hashes
    every file of the export (the .onnx and its external data), `sha256` all of them together."""
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    counts = Counter(node.op_type for node in model.graph.node)
    hashes = file_hashes(path)
    macs = graph_macs(model)
    return {
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": sum(counts.values()),
        "node_counts": json.dumps(dict(sorted(counts.items()))),
        "macs": sum(macs.values()),  # multiply-adds of one forward, from the graph's shapes (exporters.macs)
        "macs_by_op": json.dumps(dict(sorted(macs.items()))),
        "bytes": sum((path.parent / name).stat().st_size for name in hashes),
        "sha256": combined_sha256(hashes),
        "files": json.dumps(hashes, sort_keys=True),
    }


def read_manifest(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def upsert(path: Path, row: dict[str, object]) -> None:
    """Replace the row of the same (source, stack_id), or add it; rewrite the small file atomically."""
    table = read_manifest(path)
    new = pd.DataFrame([row])
    if not table.empty:
        same = (table["source"] == row["source"]) & (table["stack_id"] == row["stack_id"])
        table = pd.concat([table[~same], new], ignore_index=True)
    else:
        table = new
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, lambda tmp: table.to_csv(tmp, index=False))
