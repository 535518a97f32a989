"""The library floor: which layer shapes a sweep needs, the run directory's cache, a case's floor from known plan
times, and, on a GPU with cuDNN's frontend, the real enumeration and timing of cuDNN's plans."""

import importlib.util
import math

import pandas as pd
import pytest

from convbench.library_floor import (
    Floors,
    LayerShape,
    append_floors,
    best_by_layer,
    case_floor,
    layer_shapes,
    measure_floors,
    missing,
    read_floors,
    unavailable,
    wanted,
)
from convbench.spec import NetworkConvs, SeedStack


def test_a_seed_stack_is_one_shape_and_a_training_step_needs_three_operations():
    forward = SeedStack("conv3x3", 64)
    train = SeedStack("conv3x3", 64, pass_="train")
    assert len(set(layer_shapes(forward))) == 1 and len(layer_shapes(forward)) == 16
    assert wanted([forward], "cuda") == [(layer_shapes(forward)[0], "fprop")]
    assert [op for _, op in wanted([train, forward], "cuda")] == ["fprop", "dgrad", "wgrad"]
    assert wanted([forward], "cpu") == []
    assert wanted([SeedStack("conv3x3", 64, dtype="int8")], "cuda") == []
    resnet = NetworkConvs("resnet50", 1)
    assert 10 < len(wanted([resnet], "cuda")) < len(layer_shapes(resnet))  # repeated blocks share shapes


def _rows(shape: LayerShape, operation: str, **us_by_layout: float) -> list[dict]:
    return [{"gpu": "GPU", "shape_id": shape.id, "operation": operation, "layout": layout, "best_us": us,
             "best_plan": f"plan-{layout}", "workspace_bytes": 0} for layout, us in us_by_layout.items()]


def test_the_cache_keeps_each_layer_once_per_gpu_and_the_floor_sums_the_fastest_layout(tmp_path):
    spec = SeedStack("conv3x3", 8, layers=4, batch=2, image=8)
    shape = layer_shapes(spec)[0]
    append_floors(tmp_path, _rows(shape, "fprop", NCHW=30.0, NHWC=20.0))
    floors = read_floors(tmp_path)
    assert missing(floors, wanted([spec], "cuda"), "GPU") == []
    assert missing(floors, wanted([spec], "cuda"), "another GPU") == wanted([spec], "cuda")
    best = best_by_layer(floors, "GPU")
    assert best[(shape.id, "fprop")]["layout"] == "NHWC"
    columns = case_floor(spec, "cuda", Floors(best))
    assert columns["library_floor_ms"] == pytest.approx(4 * 20.0 / 1e3)
    assert columns["library_floor_plan"] == "fprop NHWC plan-NHWC"
    assert "only" not in columns["library_floor_method"]


def test_float32_floors_are_ieee_and_a_cached_one_from_before_is_measured_again(tmp_path):
    from convbench.library_floor import plan_math

    fp32, tf32 = SeedStack("conv3x3", 8, layers=2, batch=2, image=8), SeedStack("conv3x3", 8, 2, 2, 8, dtype="tf32")
    assert layer_shapes(fp32)[0].id != layer_shapes(tf32)[0].id  # floors per math mode
    assert "TENSOR_CORE" in plan_math("float32") and "TF32" in plan_math("tf32")
    old = [{**row, "dtype": "float32"} for row in _rows(layer_shapes(fp32)[0], "fprop", NHWC=20.0)]  # no plan_math
    append_floors(tmp_path, old + [{**row, "dtype": "tf32", "plan_math": plan_math("tf32")}
                                   for row in _rows(layer_shapes(tf32)[0], "fprop", NHWC=10.0)])
    floors = read_floors(tmp_path)
    assert missing(floors, wanted([fp32, tf32], "cuda"), "GPU") == wanted([fp32], "cuda")
    method = case_floor(tf32, "cuda", Floors(best_by_layer(floors, "GPU")))["library_floor_method"]
    assert "; every plan (TF32 tensor-core plans included);" in method


def test_a_floor_measured_in_one_layout_says_so(monkeypatch):
    from convbench.library_floor import floor_layouts

    spec = SeedStack("conv3x3", 8, layers=4, batch=2, image=8)
    shape = layer_shapes(spec)[0]
    columns = case_floor(spec, "cuda", Floors(best_by_layer(pd.DataFrame(_rows(shape, "fprop", NHWC=20.0)), "GPU")))
    assert "4 of 4 layer operations in NHWC only (CONVBENCH_FLOOR_LAYOUTS)" in columns["library_floor_method"]
    monkeypatch.setenv("CONVBENCH_FLOOR_LAYOUTS", "nhwc")
    assert floor_layouts() == ("NHWC",)
    monkeypatch.setenv("CONVBENCH_FLOOR_LAYOUTS", "NCHW,NHCW")
    with pytest.raises(ValueError, match="unknown layout NHCW; valid: NCHW, NHWC"):
        floor_layouts()


def test_a_case_without_a_floor_says_why():
    spec = SeedStack("conv3x3", 8, layers=4, batch=2, image=8)
    assert "CUDA only" in case_floor(spec, "cpu", Floors({}))["library_floor_method"]
    assert "no floor in library_floors.csv" in case_floor(spec, "cuda", Floors({}))["library_floor_method"]
    assert "not installed" in case_floor(spec, "cuda", Floors({}, "frontend not installed"))["library_floor_method"]
    train = SeedStack("conv3x3", 8, layers=4, batch=2, image=8, pass_="train")
    shape = layer_shapes(train)[0]
    only_forward = best_by_layer(pd.DataFrame(_rows(shape, "fprop", NHWC=10.0)), "GPU")
    assert "2 more" not in case_floor(train, "cuda", Floors(only_forward))["library_floor_method"]
    assert "dgrad" in case_floor(train, "cuda", Floors(only_forward))["library_floor_method"]


def _gpu_and_frontend() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU here: the floor enumerates cuDNN's plans on a GPU"
    return unavailable("cuda")


@pytest.mark.skipif(_gpu_and_frontend() is not None, reason=str(_gpu_and_frontend()))
def test_cudnn_plans_are_enumerated_and_timed_by_their_kernels_on_the_gpu():
    spec = SeedStack("conv3x3sep", 16, layers=2, batch=4, image=16, pass_="train")
    pairs = [(vars(shape), operation) for shape, operation in wanted([spec], "cuda")]
    rows = pd.DataFrame(measure_floors(pairs))
    assert set(rows["operation"]) == {"fprop", "dgrad", "wgrad"} and set(rows["layout"]) == {"NCHW", "NHWC"}
    timed = rows[rows["best_us"].notna()]
    assert not timed.empty and (timed["plans"] >= timed["plans_timed"]).all() and (timed["plans_timed"] >= 1).all()
    assert (timed["best_us"] > 0).all() and (timed["best_us"] <= timed["median_plan_us"]).all()
    assert all(isinstance(p, str) and p for p in timed["best_plan"])
    best = best_by_layer(timed.assign(gpu=timed["gpu"]), timed["gpu"].iloc[0])
    floor = case_floor(spec, "cuda", Floors(best))["library_floor_ms"]
    assert 0 < floor < 100 and not math.isnan(floor)
