"""Multiply-adds counted from an ONNX graph's shapes: convolutions and matrix products."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from convbench.exporters.macs import graph_macs


def test_a_conv_and_a_classifier_count_their_multiply_adds_and_nothing_else_does():
    weight = numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.zeros((16, 10), np.float32), "fc")
    bias = numpy_helper.from_array(np.zeros((10,), np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Gemm", ["f", "fc", "b"], ["y"]),
         helper.make_node("MatMul", ["f", "fc"], ["z"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 10])], [weight, fc, bias])
    macs = graph_macs(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert macs == {"Conv": 2 * 16 * 8 * 8 * 3 * 3 * 3, "Gemm": 2 * 10 * 16, "MatMul": 2 * 10 * 16}
    assert isinstance(onnx.__version__, str)
