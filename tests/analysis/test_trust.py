"""Time to first result: its compile-cache column only where some runtime compiled through inductor's cache."""

import math

import pandas as pd

from convbench.analysis.trust import first_result


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
