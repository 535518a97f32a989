"""Kernel time from each runtime's own profiler, in runs separate from the timed ones.

A KernelTime says how many milliseconds per forward the runtime's kernels took, how many convolution events the
profiler saw per forward (one per layer is expected), and how it was measured, or why it was not (NaN)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAN = float("nan")


@dataclass(frozen=True)
class KernelTime:
    """What a profiled run saw, per forward."""

    kernel_ms: float  # time inside kernels (NaN: not measured)
    profiled_wall_ms: float  # wall time of the profiled run itself, profiler overhead included
    conv_events: float  # convolution events seen (one per layer expected)
    method: str  # how it was measured, or why it was not
    host_timed: bool = True  # kernels timed on the host clock, inside the profiled run (CPU profilers)

    def kernel_ms_for(self, timed_ms: float) -> float:
        """Kernel time against the timed (unprofiled) median. Host-timed profilers slow the run they time, so
        their kernel share of the profiled run is applied to the timed median; device-timed kernel
        durations (CUPTI) are taken as they are."""
        if not self.host_timed:
            return self.kernel_ms
        return timed_ms * self.kernel_ms / self.profiled_wall_ms


def not_measured(why: str) -> KernelTime:
    return KernelTime(NAN, NAN, NAN, f"not measured: {why}")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence native libraries' stderr (kineto prints a line at each profiler start and stop)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def torch_kernel_time(forward: Callable[[], Any], sync: Callable[[Any], None] | None, forwards: int,
                      cuda: bool) -> KernelTime:
    """torch.profiler over `forwards` calls, each synchronised. CPU: self time of the convolution operators
    (aten::*conv*). CUDA: summed durations of the device kernels. Conv events: aten::conv2d calls."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    def synced() -> None:
        out = forward()
        if sync is not None:
            sync(out)

    synced()  # not profiled: the first call of a fresh profiler pays its own set-up
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with _quiet_stderr(), profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(forwards):
            synced()
        wall_ms = (time.perf_counter() - start) * 1e3 / forwards
    events = prof.events()
    convs = sum(1 for e in events if e.name == "aten::conv2d")
    if cuda:
        kernels = [e for e in events if e.device_type == DeviceType.CUDA]
        total_us = sum(e.time_range.elapsed_us() for e in kernels)
        method = "torch.profiler: summed CUDA kernel durations"
    else:
        total_us = sum(e.self_cpu_time_total for e in events
                       if "conv" in e.name.lower() and e.device_type == DeviceType.CPU)
        method = "torch.profiler: self CPU time of aten convolution operators"
    # CUDA-graph replay runs no aten operator, so there is nothing to count there: NaN rather than 0
    conv_events = convs / forwards if convs else NAN
    return KernelTime(total_us / 1e3 / forwards, wall_ms, conv_events, method, host_timed=not cuda)


def ort_trace_kernel_time(trace_path: Path) -> KernelTime:
    """Parse an onnxruntime profile (SessionOptions.enable_profiling): per run, the sum of its nodes' kernel
    times; the median over runs after the first (which pays allocation and algorithm search)."""
    events = json.loads(Path(trace_path).read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    nodes = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    totals, convs = [], []
    for run in runs[1:]:
        inside = [n for n in nodes if run["ts"] <= n["ts"] <= run["ts"] + run["dur"]]
        totals.append(sum(n["dur"] for n in inside))
        convs.append(sum(1 for n in inside if n.get("args", {}).get("op_name") == "Conv"))
    if not totals:
        return not_measured("the onnxruntime profile held fewer than two runs")
    return KernelTime(statistics.median(totals) / 1e3, statistics.median(r["dur"] for r in runs[1:]) / 1e3,
                      statistics.median(convs), "onnxruntime session profiling: node kernel times per run")


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


def profile_forwards(ms_per_forward: float, seconds: float = 0.3, lowest: int = 3, highest: int = 50) -> int:
    """How many forwards the profiled run takes: about `seconds` worth, within [lowest, highest]."""
    if not ms_per_forward > 0:
        return lowest
    return int(min(highest, max(lowest, math.ceil(seconds * 1e3 / ms_per_forward))))
