import json

import pandas as pd
import pytest

from convbench.analysis.graph import compare, inspect_onnx, inventory, to_dot, updated_inventory
from convbench.artifacts import Artifacts
from convbench.models.variants import VARIANTS
from tests.conftest import SMALL_SPECS, assert_one_line_error, convbench


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=lambda s: s.stack_id)
def test_macs_of_every_conv_type_are_half_the_flop_formula(exported, spec):
    for framework in ("torch", "keras"):
        summary = inspect_onnx(Artifacts(exported).onnx_path(framework, spec))
        assert summary.macs == spec.flops // 2, framework
        conv = VARIANTS[spec.variant]
        assert summary.params == spec.layers * 8 * (8 // conv.groups(8)) * conv.kernel[0] * conv.kernel[1]


def test_keras_export_shows_its_transposes_and_torch_export_has_none(exported):
    spec = SMALL_SPECS[0]
    keras = inspect_onnx(Artifacts(exported).onnx_path("keras", spec))
    torch = inspect_onnx(Artifacts(exported).onnx_path("torch", spec))
    assert [n.op_type for n in keras.layout_ops] == ["Transpose", "Transpose"]
    assert keras.layout_ops[0].between == "graph input -> Conv"
    assert keras.layout_ops[-1].between == "Conv -> graph output"
    assert torch.layout_ops == []
    assert keras.inputs["input"] == [2, 8, 8, 8] and keras.opset == 18
    diff = compare(torch, keras)
    assert diff["same_conv_nodes"] and diff["same_macs"]
    assert diff["only_in_b"] == {"Transpose": 2} and diff["only_in_a"] == {}


def test_conv_attributes_come_from_the_file(exported):
    spec = next(s for s in SMALL_SPECS if s.variant == "conv3x3dilated")
    conv = [n for n in inspect_onnx(Artifacts(exported).onnx_path("torch", spec)).nodes if n.op_type == "Conv"][0]
    assert conv.kernel == [3, 3] and conv.dilations == [2, 2] and conv.pads == [2, 2, 2, 2] and conv.group == 1
    assert conv.input_shape == conv.output_shape == [2, 8, 8, 8]


def test_dot_has_a_box_per_node_and_a_path_from_input_to_output(exported):
    summary = inspect_onnx(Artifacts(exported).onnx_path("keras", SMALL_SPECS[0]))
    dot = to_dot(summary)
    assert dot.startswith("digraph") and dot.count("->") == len(summary.nodes) + 1
    assert dot.count("fillcolor") == len(summary.layout_ops)


def test_inventory_has_a_row_per_exported_file(exported):
    table = inventory(Artifacts(exported))
    assert len(table) == 2 * len(SMALL_SPECS)
    assert (table["conv_nodes"] == 2).all()
    assert set(table.loc[table["source"] == "torch", "layout_ops"]) == {0}
    assert (table["parity_rel_err"] < 1e-4).all()


def test_cli_inspect_two_files_and_json(exported, tmp_path):
    spec = SMALL_SPECS[0]
    a, b = (str(Artifacts(exported).onnx_path(f, spec)) for f in ("torch", "keras"))
    run = convbench("inspect", a, b, "--dot", str(tmp_path / "new" / "g.dot"))  # the folder is made
    assert run.returncode == 0, run.stderr
    assert "same total MACs: yes" in run.stdout and "Transpose x2" in run.stdout
    assert (tmp_path / "new" / "g.dot").read_text().startswith("digraph")
    run = convbench("inspect", a, "--json")
    assert json.loads(run.stdout)["macs"] == spec.flops // 2
    run = convbench("inspect", "--all", "--artifacts", str(exported))
    assert run.returncode == 0 and "exported graphs" in run.stdout


def test_bad_files_give_a_clean_error(exported, tmp_path):
    good = Artifacts(exported).onnx_path("torch", SMALL_SPECS[0]).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    for path in (truncated, text, tmp_path / "missing.onnx"):
        assert_one_line_error(convbench("inspect", str(path)), str(path))


def test_a_model_that_fails_the_checker_gives_a_clean_error(tmp_path):
    from onnx import TensorProto, helper

    # a Conv reading a tensor that nothing defines: readable protobuf, invalid graph
    node = helper.make_node("Conv", ["input", "undefined_weight"], ["output"])
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 4, 4])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)]
    graph = helper.make_graph([node], "broken", inputs, outputs)
    path = tmp_path / "broken.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert_one_line_error(convbench("inspect", str(path)), str(path), "fails the ONNX checker")


def test_a_resumed_run_keeps_the_graphs_of_its_earlier_parts():
    earlier = pd.DataFrame({"file": ["onnx/torch/a.onnx", "onnx/torch/a-int8.onnx"], "nodes": [16, 66]})
    now = pd.DataFrame({"file": ["onnx/torch/a.onnx", "onnx/torch/b.onnx"], "nodes": [17, 16]})
    merged = updated_inventory(earlier, now).set_index("file")["nodes"].to_dict()
    assert merged == {"onnx/torch/a-int8.onnx": 66, "onnx/torch/a.onnx": 17, "onnx/torch/b.onnx": 16}
    assert updated_inventory(None, now).equals(now)
    assert updated_inventory(earlier, now.iloc[0:0]).equals(earlier)
