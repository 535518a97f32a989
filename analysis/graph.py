"""What an exporter really produced: nodes, attributes, shapes, parameters and MACs of an ONNX file.

Everything comes from onnx's own helpers: onnx.load, onnx.checker, onnx.shape_inference, helper.get_attribute_value.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnx
import pandas as pd
from google.protobuf.message import DecodeError
from onnx import helper

from convbench.artifacts import Artifacts, export_files
from convbench.errors import BadInput
from convbench.exporters.macs import node_macs, tensor_shapes
from convbench.schema import table_columns

LAYOUT_OPS = ("Transpose", "Reshape")


@dataclass
class NodeRow:
    index: int
    op_type: str
    name: str
    kernel: list[int] | None
    strides: list[int] | None
    pads: list[int] | None
    dilations: list[int] | None
    group: int | None
    input_shape: list[int | str] | None
    output_shape: list[int | str] | None
    params: int
    macs: int
    layout: bool  # a layout operation (Transpose, Reshape)
    inputs: list[str] = field(default_factory=list)  # tensor names, weights left out
    outputs: list[str] = field(default_factory=list)
    between: str = ""  # for a layout op: which ops it sits between


@dataclass
class GraphSummary:
    path: str
    opset: int | None
    producer: str
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    nodes: list[NodeRow] = field(default_factory=list)

    @property
    def op_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(n.op_type for n in self.nodes).items()))

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def layout_ops(self) -> list[NodeRow]:
        return [n for n in self.nodes if n.layout]

    def to_json(self) -> str:
        body = asdict(self)
        body.update(op_counts=self.op_counts, params=self.params, macs=self.macs,
                    layout_ops=[n.name for n in self.layout_ops])
        return json.dumps(body, indent=2)


def load_checked(path: Path) -> onnx.ModelProto:
    """The model at `path`, checked; a BadInput naming the file and the reason otherwise."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        missing = [p for p in export_files(path) if not p.is_file()]
        model = None if missing else onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, OSError, onnx.checker.ValidationError) as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise BadInput(f"{path}: not a readable ONNX model ({type(error).__name__}: {first})") from None
    if model is None:
        raise BadInput(f"{path}: its external data file {missing[0]} is missing (an export is the .onnx and its "
                         ".onnx.data together); export it again")
    if not model.graph.node and not model.graph.input:
        raise BadInput(f"{path}: not an ONNX model (no graph in the file)")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInput(f"{path}: fails the ONNX checker ({first})") from None
    return model


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def inspect_onnx(path: Path) -> GraphSummary:
    model = load_checked(path)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    shapes = tensor_shapes(model)
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    summary = GraphSummary(
        path=str(path),
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        inputs={i.name: _dims(i) for i in graph.input if i.name not in initializers},
        outputs={o.name: _dims(o) for o in graph.output},
    )
    for index, node in enumerate(graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weights = [initializers[name] for name in node.input if name in initializers]
        params = sum(math.prod(w.dims) for w in weights)
        in_shape = shapes.get(node.input[0]) if node.input else None
        out_shape = shapes.get(node.output[0]) if node.output else None
        kernel = _ints(attrs.get("kernel_shape"))
        if node.op_type == "Conv" and kernel is None and len(node.input) > 1 and node.input[1] in shapes:
            kernel = [int(d) for d in shapes[node.input[1]][2:]]
        row = NodeRow(
            index=index, op_type=node.op_type, name=node.name or f"{node.op_type}_{index}", kernel=kernel,
            strides=_ints(attrs.get("strides")), pads=_ints(attrs.get("pads")),
            dilations=_ints(attrs.get("dilations")), group=attrs.get("group", 1 if node.op_type == "Conv" else None),
            input_shape=in_shape, output_shape=out_shape, params=params,
            macs=node_macs(node, shapes),
            layout=node.op_type in LAYOUT_OPS,
            inputs=[name for name in node.input if name and name not in initializers],
            outputs=list(node.output),
        )
        if row.layout:
            before = producers.get(node.input[0])
            after = consumers.get(node.output[0], [])
            row.between = (f"{before.op_type if before else 'graph input'} -> "
                           f"{', '.join(c.op_type for c in after) or 'graph output'}")
        summary.nodes.append(row)
    return summary


def _ints(value: object) -> list[int] | None:
    return [int(v) for v in value] if value is not None else None


def compare(a: GraphSummary, b: GraphSummary) -> dict[str, object]:
    """How two exports of the same stack differ: conv nodes, MACs, parameters, ops only one of them has."""
    def conv_signature(summary: GraphSummary) -> list[tuple[object, ...]]:
        return [(n.kernel, n.dilations or [1, 1], n.group, n.strides or [1, 1]) for n in summary.nodes
                if n.op_type == "Conv"]

    ops_a, ops_b = a.op_counts, b.op_counts
    return {
        "same_conv_nodes": conv_signature(a) == conv_signature(b),
        "conv_nodes": (ops_a.get("Conv", 0), ops_b.get("Conv", 0)),
        "same_macs": a.macs == b.macs,
        "macs": (a.macs, b.macs),
        "params": (a.params, b.params),
        "nodes": (len(a.nodes), len(b.nodes)),
        "only_in_a": {op: n for op, n in ops_a.items() if op not in ops_b},
        "only_in_b": {op: n for op, n in ops_b.items() if op not in ops_a},
        "count_differs": {op: (ops_a[op], ops_b[op]) for op in ops_a.keys() & ops_b.keys()
                          if ops_a[op] != ops_b[op]},
    }


def to_dot(summary: GraphSummary) -> str:
    """A Graphviz description: one box per node (op and kernel), one edge per tensor, layout ops shaded."""
    lines = ["digraph onnx {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    producer = {}
    for name, dims in summary.inputs.items():
        lines.append(f'  "in:{name}" [shape=ellipse, label="{name}\\n{dims}"];')
        producer[name] = f"in:{name}"
    for node in summary.nodes:
        label = node.op_type + (f"\\n{'x'.join(map(str, node.kernel))}" if node.kernel else "")
        if node.group and node.group > 1:
            label += f" g={node.group}"
        style = ', style=filled, fillcolor="#f4c7a1"' if node.layout else ""
        lines.append(f'  "n{node.index}" [label="{label}"{style}];')
        for tensor in node.inputs:
            if tensor in producer:
                lines.append(f'  "{producer[tensor]}" -> "n{node.index}";')
        for tensor in node.outputs:
            producer[tensor] = f"n{node.index}"
    for name, dims in summary.outputs.items():
        lines.append(f'  "out:{name}" [shape=ellipse, label="{name}\\n{dims}"];')
        if name in producer:
            lines.append(f'  "{producer[name]}" -> "out:{name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def inventory(artifacts: Artifacts) -> pd.DataFrame:
    """One row per good ONNX file in the export manifest: what it holds and its parity error. An export with a file
    missing or changed since is listed as such, not read."""
    from convbench.exporters.manifest import read_manifest

    manifest = read_manifest(artifacts.manifest_path)
    rows = []
    for entry in manifest.to_dict("records") if not manifest.empty else []:
        if entry.get("status") != "ok" or not str(entry.get("path", "")).endswith(".onnx"):
            continue  # graphs.csv describes the ONNX files (a .tflite file's operators are in the manifest)
        path = artifacts.root / str(entry["path"])
        why = artifacts.changed_files(entry)
        if why:
            rows.append({"file": str(entry["path"]), "source": entry["source"],
                         "note": f"{why}: run `convbench export`"})
            continue
        summary = inspect_onnx(path)
        rows.append({
            "file": str(entry["path"]),
            "source": entry["source"],
            "nodes": len(summary.nodes),
            "conv_nodes": summary.op_counts.get("Conv", 0),
            "layout_ops": len(summary.layout_ops),
            "params": summary.params,
            "macs": summary.macs,
            "parity_rel_err": max(entry["native_rel_err"], entry["onnx_rel_err"]),
        })
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=table_columns("graphs"))  # a header, even empty


def updated_inventory(previous: pd.DataFrame | None, current: pd.DataFrame) -> pd.DataFrame:
    """A run's graph inventory after a bench: `current` (the files in the export manifest now) plus `previous`'s
    rows for files not in it, so a run resumed after a narrower export keeps what its earlier parts ran on."""
    if previous is None or previous.empty or "file" not in previous:
        return current
    if current.empty:
        return previous
    kept = previous[~previous["file"].isin(current["file"])]
    return pd.concat([kept, current], ignore_index=True) if not kept.empty else current
