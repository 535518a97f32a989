"""onnxruntime's profiler on the CPU: the session's own profiling, each node's kernel time per run."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from convbench.runners.profilers import (
    KernelTime,
    kernel_rows,
    named_events,
    not_measured,
)


def ort_trace_kernel_time(trace_path: Path) -> KernelTime:
    """Parse an onnxruntime profile (SessionOptions.enable_profiling): per run, the sum of its nodes' kernel
    times; the median over runs after the first (which pays allocation and algorithm search). Kernel rows are
    the node op types (as ORT's optimiser left them) with their provider."""
    events = json.loads(Path(trace_path).read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    nodes = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    totals, convs, timed = [], [], []
    for run in runs[1:]:
        inside = [n for n in nodes if run["ts"] <= n["ts"] <= run["ts"] + run["dur"]]
        totals.append(sum(n["dur"] for n in inside))
        convs.append(sum(1 for n in inside if n.get("args", {}).get("op_name") == "Conv"))
        timed += inside
    if not totals:
        return not_measured("the onnxruntime profile held fewer than two runs")
    rows = kernel_rows(((f"{n['args'].get('op_name')} ({n['args'].get('provider', '?')})", "kernel", n["dur"], 1)
                        for n in timed), len(totals))
    conv_nodes = ((str(n["name"]).removesuffix("_kernel_time"), n["dur"]) for n in timed
                  if n.get("args", {}).get("op_name") in ("Conv", "FusedConv", "NhwcFusedConv", "QLinearConv"))
    return KernelTime(statistics.median(totals) / 1e3, statistics.median(r["dur"] for r in runs[1:]) / 1e3,
                      statistics.median(convs), "onnxruntime session profiling: node kernel times per run",
                      kernels=rows, layer_events=named_events(conv_nodes, len(totals)))


def ort_kernel_time(path: Path, options: Any, providers: list[Any], x: Any, forwards: int) -> KernelTime:
    """Run a fresh profiling session (never the timed one) `forwards + 1` times and parse its trace."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        feed = {session.get_inputs()[0].name: x}
        for _ in range(forwards + 1):
            session.run(None, feed)
        return ort_trace_kernel_time(Path(session.end_profiling()))
