"""Time to first result: its compile-cache column only where some runtime compiled through inductor's cache."""

import math

import pandas as pd

from convbench.analysis.trust import bare_vs_workers, first_result


def _row(runtime: str, cache: object) -> dict[str, object]:
    return {"status": "ok", "runtime": runtime, "source": "torch", "device": "cuda", "dtype": "float32",
            "channels": 64, "import_ms": 3000.0, "setup_ms": 40.0, "compile_ms": math.nan, "compile_cache": cache,
            "first_forward_ms": 2.0, "ms_per_forward": 0.5}


def test_compile_cache_is_a_column_only_where_a_runtime_has_that_cache():
    eager = pd.DataFrame([_row("torch", math.nan), _row("torch-cuda-graph", math.nan)])
    assert "compile cache" not in first_result(eager)
    compiled = pd.DataFrame([_row("torch", math.nan), _row("torch-compile", "cold")])
    table = first_result(compiled).set_index("runtime")
    assert table.loc["torch-compile[torch]/cuda", "compile cache"] == "cold"
    assert table.loc["torch[torch]/cuda", "compile cache"] == ""
    assert table.loc["torch[torch]/cuda", "time to first result"] == 3042.0


def _bare(status: str, process: int, malloc: object, ms: float) -> dict[str, object]:
    return {"stack_id": "conv1x1-c8", "runtime": "torch", "source": "torch", "device": "cpu", "machine": "m",
            "status": status, "process": process, "malloc": malloc, "ms_per_forward": ms}


def test_bare_processes_beside_their_workers_by_round_and_malloc():
    workers = pd.DataFrame([{**_bare("ok", p, None, ms)} for p, ms in ((0, 3.0), (1, 6.0))]).drop(columns="malloc")
    bare = pd.DataFrame([_bare("ok", 0, "default", 12.0), _bare("ok", 0, "pinned", 3.0),
                         _bare("ok", 1, "default", 12.0), _bare("ok", 1, "pinned", 2.0)])
    table = bare_vs_workers(bare, workers).set_index("round")
    assert table.loc[1, "worker / bare pinned"] == 1.0 and table.loc[2, "worker / bare pinned"] == 3.0
    assert table.loc[1, "worker / bare default"] == 0.25
    older = bare[bare["malloc"] == "default"].drop(columns="malloc")  # a run from before the malloc modes
    assert list(bare_vs_workers(older, workers)["worker / bare default"]) == [0.25, 0.5]
    assert "worker / bare pinned" not in bare_vs_workers(older, workers)


def test_bare_processes_that_all_failed_give_no_table():
    workers = pd.DataFrame([_bare("ok", 0, None, 3.0)]).drop(columns="malloc")
    failed = pd.DataFrame([_bare("failed", 0, "default", math.nan), _bare("failed", 0, "pinned", math.nan)])
    assert bare_vs_workers(failed, workers).empty
