"""Multiply-adds of an ONNX graph, counted from its shapes (onnx's shape inference): what each file's model
computes, whichever framework defined it."""

from __future__ import annotations

import math
from collections import Counter

import onnx
from onnx import shape_inference

# The ops whose multiply-adds are counted: convolutions and matrix products, where a network's arithmetic is.
COUNTED = ("Conv", "ConvInteger", "QLinearConv", "Gemm", "MatMul", "MatMulInteger", "QLinearMatMul")


def tensor_shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    """Every tensor's shape after shape inference (initialisers included); an unknown dimension as its name or "?"."""
    graph = shape_inference.infer_shapes(model).graph
    shapes = {vi.name: [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                        for d in vi.type.tensor_type.shape.dim]
              for vi in [*graph.input, *graph.value_info, *graph.output]}
    shapes.update({init.name: list(init.dims) for init in graph.initializer})
    return shapes


def node_macs(node: onnx.NodeProto, shapes: dict[str, list[int | str]]) -> int:
    """One node's multiply-adds: a convolution's output elements x (C_in / group) x kh x kw (its weight's shape
    after C_out); a matrix product's output elements x the inner dimension. 0 for any other op, or where a shape is
    not known."""
    if node.op_type not in COUNTED or not node.output:
        return 0
    weight_index = 3 if node.op_type.startswith("QLinear") else 1  # QLinear ops: (x, scale, zero point, w, ...)
    a_index = 0
    out_shape = shapes.get(node.output[0])
    if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
        weight_shape = shapes.get(node.input[weight_index]) if len(node.input) > weight_index else None
        if not out_shape or not weight_shape or not _known(out_shape, weight_shape):
            return 0
        return math.prod(out_shape) * math.prod(weight_shape[1:])  # type: ignore[arg-type]
    a_shape = shapes.get(node.input[a_index])
    if not out_shape or not a_shape or not _known(out_shape, a_shape):
        return 0
    trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0) if node.op_type == "Gemm" else 0
    inner = a_shape[-2] if trans_a else a_shape[-1]
    return math.prod(out_shape) * int(inner)  # type: ignore[arg-type]


def _known(*shapes: list[int | str]) -> bool:
    return all(isinstance(d, int) and d > 0 for shape in shapes for d in shape)


def graph_macs(model: onnx.ModelProto) -> Counter[str]:
    """Multiply-adds of one run of the graph, by op type (those in COUNTED that it has)."""
    shapes = tensor_shapes(model)
    macs: Counter[str] = Counter()
    for node in model.graph.node:
        count = node_macs(node, shapes)
        if count:
            macs[node.op_type] += count
    return macs
