"""The precision axis on the small sweep: float16 and int8 ONNX files exported and run, bfloat16 where it can be
made, skips with their reasons, parity per dtype, and the report's precision section."""

import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.parity import tolerance
from convbench.spec import SeedStack
from tests.conftest import QUICK_TIMING, SMALL_SWEEP, assert_one_line_error, convbench

TWO = ["--variants", "conv3x3", "conv3x3sep"]


@pytest.fixture(scope="module")
def precision_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    export = convbench("export", *SMALL_SWEEP, *TWO, "--dtype", "float16", "bfloat16", "int8",
                       "--artifacts", str(root / "artifacts"))
    assert export.returncode == 0, export.stdout + export.stderr
    bench = convbench("bench", *SMALL_SWEEP, *TWO, *QUICK_TIMING, "--dtype", "float32", "float16", "bfloat16", "int8",
                      "--runtimes", "torch", "ort", "openvino", "--artifacts", str(root / "artifacts"),
                      "--results", str(root / "results"))
    assert bench.returncode == 0, bench.stdout + bench.stderr
    run_dir = (root / "results" / "latest").resolve()
    return root / "artifacts", pd.read_csv(run_dir / "results.csv"), run_dir


def test_export_adds_float32_and_writes_float16_and_int8_files_with_their_errors(precision_run):
    artifacts, _, _ = precision_run
    manifest = pd.read_csv(Artifacts(artifacts).manifest_path)
    rows = manifest.set_index(["source", "stack_id"])
    for source in ("torch", "keras"):
        for variant in ("conv3x3", "conv3x3sep"):
            spec = SeedStack(variant, 8, 2, 2, 8)
            assert rows.loc[(source, spec.stack_id), "status"] == "ok"  # float32: the reference and int8's source
            half = rows.loc[(source, f"{spec.stack_id}-float16")]
            assert half["status"] == "ok" and 1e-5 < half["native_rel_err"] < tolerance("float16", "cpu")
            int8 = rows.loc[(source, f"{spec.stack_id}-int8")]
            assert int8["status"] == "ok" and "QDQ int8" in int8["exporter"]
            assert 1e-3 < int8["onnx_rel_err"] < tolerance("int8", "cpu")  # measured against float32, reported
            bf16 = rows.loc[(source, f"{spec.stack_id}-bfloat16")]
            assert bf16["status"] == "skipped" and "opset 22" in bf16["reason"]


def test_each_dtype_runs_where_it_can_and_skips_with_its_reason_elsewhere(precision_run):
    _, results, _ = precision_run
    status = results.set_index(["runtime", "source", "dtype"])["status"].groupby(level=[0, 1, 2]).agg(set)
    for runtime, source in (("ort", "torch.onnx"), ("ort", "tf2onnx"), ("openvino", "torch.onnx")):
        for dtype in ("float32", "float16", "int8"):
            assert status[(runtime, source, dtype)] == {"ok"}, (runtime, source, dtype)
        assert status[(runtime, source, "bfloat16")] == {"skipped"}
    assert status[("torch", "torch", "bfloat16")] == {"ok"} and status[("torch", "torch", "float16")] == {"ok"}
    torch_int8 = results[(results["runtime"] == "torch") & (results["dtype"] == "int8")]
    assert (torch_int8["status"] == "skipped").all() and torch_int8["reason"].str.contains("quantised").all()
    ok = results[results["status"] == "ok"]
    assert (ok.apply(lambda r: r["parity_rel_err"] <= tolerance(r["dtype"], "cpu"), axis=1)).all()
    assert (ok.loc[ok["dtype"] == "int8", "parity_rel_err"] > 1e-3).all()  # int8's error is there, not hidden


def test_the_report_says_what_lower_precision_buys(precision_run):
    _, _, run_dir = precision_run
    report = (run_dir / "report.md").read_text()
    assert "## What lower precision buys" in report and (run_dir / "precision.png").exists()
    assert "| ort[torch.onnx]/cpu int8 " in report and "### torch[torch]/cpu float16" in report


def test_a_bad_dtype_is_one_line_naming_the_valid_ones():
    for command in ("export", "bench"):
        assert_one_line_error(convbench(command, "--dtype", "fp8"), "'fp8'", "float32", "float16", "bfloat16", "int8")
