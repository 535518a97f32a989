"""The schema: every column declared once, and what derives from it (tables, key, aggregation, docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convbench import schema
from convbench.repeats import aggregate
from convbench.results import ResultsStore, case_row
from convbench.spec import Case, NetworkConvs, SeedStack

DOCS = Path(__file__).parents[2] / "docs" / "columns.md"


def test_docs_columns_md_is_generated_from_the_schema() -> None:
    stale = "docs/columns.md is stale: python -m convbench.schema > docs/columns.md"
    assert DOCS.read_text() == schema.markdown(), stale


def test_every_column_both_processes_and_results_carry_says_how_processes_combine() -> None:
    own = {"status", "reason", "finished_at"}  # a result row's own: the first process that stopped, or ok; its time
    for column in schema.COLUMN.values():
        both = {"processes", "results"} <= column.tables and not column.key and column.name not in own
        assert (column.combine is not None) == (both or column.combine == "repeats"), column.name


def test_the_key_comes_from_the_case_and_every_table_of_a_run_starts_with_it() -> None:
    case = Case(SeedStack("conv3x3", 8), "torch", "torch", "cpu", "m1")
    assert list(case.key_columns()) == schema.KEY_COLUMNS
    assert case.key == ("conv3x3-c8-l16-b32-i32", "torch", "torch", "cpu", "m1")
    for table in ("processes", "kernels", "layers"):
        assert schema.table_columns(table)[:len(schema.KEY_COLUMNS)] == schema.KEY_COLUMNS


@pytest.mark.parametrize("spec", [SeedStack("conv3x3sep", 16), NetworkConvs("mobilenet_v2", 1)])
def test_both_kinds_of_workload_fill_every_workload_column(spec) -> None:
    columns = spec.columns()
    assert list(columns) == [c.name for c in schema.WORKLOAD_COLUMNS]
    assert columns["pass"] == "forward" and columns["batch"] == spec.batch
    if isinstance(spec, NetworkConvs):
        assert columns["network"] == "mobilenet_v2" and columns["variant"] == "" and columns["channels"] is None
        assert columns["layers"] == 52  # MobileNetV2's conv layers
    else:
        assert columns["network"] == "" and columns["channels"] == 16


def test_a_value_under_an_undeclared_name_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "run")
    store.open()
    case = Case(SeedStack("conv1x1", 8), "torch", "torch", "cpu")
    row = {**case_row(case, status="ok", reason=""), "process": 0, "peak_rss_mb": 12.0}
    with pytest.raises(ValueError, match="peak_rss_mb"):
        store.append_process(row)
    assert not store.processes_path.exists()


def test_aggregation_follows_each_columns_rule() -> None:
    rows = [{"ms_per_forward": ms, "ms_iqr": 0.1, "ms_min": ms - 0.5, "cv": 0.01, "samples": 5, "iterations": 3,
             "latency_ms_p50": ms, "latency_ms_p90": ms, "latency_ms_p99": ms, "latency_forwards": 10,
             "import_ms": 100.0, "setup_ms": setup, "compile_ms": None, "compile_cache": cache,
             "first_forward_ms": 1.0, "parity_rel_err": err, "threads": 2, "options": {"a": 1}, "host": host,
             "node": "", "env_id": "e1"}
            for ms, setup, cache, err, host in ((10.0, 900.0, "cold", 1e-6, "h1"), (12.0, 50.0, "warm", 3e-6, "h2"),
                                                (11.0, 60.0, "warm", 2e-6, "h1"))]
    out = aggregate(rows)
    assert out["ms_per_forward"] == 11.0 and out["ms_min"] == 9.5  # median; min
    assert out["samples"] == 15 and out["latency_forwards"] == 30  # sums
    assert out["parity_rel_err"] == 3e-6  # the worst process
    assert out["setup_ms"] == 900.0 and out["compile_cache"] == "cold"  # the cold process's set-up
    assert out["host"] == "h1, h2" and out["options"] == {"a": 1} and out["threads"] == 2
    assert out["processes"] == 3 and out["ms_process_min"] == 10.0 and out["ms_process_max"] == 12.0
    assert set(schema.combined("repeats")) <= set(out)
