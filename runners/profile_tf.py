"""TensorFlow's profiler on the CPU (on CUDA, CUPTI: runners.profile_torch): tf.profiler.experimental writes an XSpace,
and TensorFlow's own converter (the `framework_op_stats` tool that TensorBoard's profile plugin shows) turns it into
per-op self times. The model's ops are those under the Keras model's name scope: model.predict's dataset and
iterator ops are not the model's kernels, so they count as what predict adds."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convbench.errors import Skip
from convbench.runners.profilers import (
    NAN,
    KernelTime,
    kernel_rows,
    named_events,
    not_measured,
    settle,
)

TF_MIN_SESSIONS = 7  # TensorFlow kernel time: the median of at least this many one-forward profiler sessions


def tf_kernel_time(forward: Callable[[], Any], forwards: int, scope: str) -> KernelTime:
    """TensorFlow's profiler over `forwards` calls (at least TF_MIN_SESSIONS) after the runtime has settled, each
    call in its own profiler session; per-op self times from TensorFlow's framework_op_stats converter. Kernel time:
    the median over the sessions of the self time of the ops under `scope` (the model's name); kernel rows: each op
    type's mean.

    One session per forward because one long session slows TensorFlow's CPU ops more the longer it records (2-core
    machine, keras-tf conv1x1 C=64: 35 ms a forward unprofiled, 80 ms profiled over 3 forwards, 243 ms over 20;
    a full CPU sweep's profiled keras-tf runs reached 12x their timed medians, and 0.74x-1.94x with a session per
    forward). A session costs about 11 ms, outside the timed forward. Medians of at least TF_MIN_SESSIONS, because on
    that machine one forward in a few can take 1.5x-2x the others (keras-tf conv1x1 C=16: 3.8 to 9.5 ms of kernels
    in 12 consecutive sessions), and model.predict's first sessions after set-up more than its later ones (conv3x1
    C=32: 27.5, 24.6, 25.2, 24.5, then 21-22 ms); a 0.2 s profile gave predict only 3 or 4."""
    settle(forward)
    totals: dict[str, list[float]] = {}  # op type -> [self time in microseconds, ops run], over all sessions
    conv_ops: list[tuple[str, float]] = []  # (op name, self time in microseconds), over all sessions
    kernel_us, wall_ms = [], []
    sessions = max(forwards, TF_MIN_SESSIONS)
    for _ in range(sessions):
        try:
            wall, model_ops = tf_profiled_forward(forward, scope)
        except Skip as why:
            return not_measured(why.reason)
        wall_ms.append(wall)
        kernel_us.append(sum(float(op["total_self_time"]) for op in model_ops))
        for op in model_ops:
            total = totals.setdefault(str(op["type"]), [0.0, 0])
            total[0] += float(op["total_self_time"])
            total[1] += 1  # a graph op runs once a forward; see tf_profiled_forward
            if "Conv" in str(op["type"]):
                conv_ops.append((str(op["operation"]), float(op["total_self_time"])))
    if not totals:
        return not_measured(f"TensorFlow's profile shows no op under the model's scope {scope!r}")
    rows = kernel_rows(((name, "kernel", us, int(count)) for name, (us, count) in totals.items()), sessions)
    convs = sum(count for name, (_, count) in totals.items() if "Conv" in name)
    return KernelTime(statistics.median(kernel_us) / 1e3, statistics.median(wall_ms),
                      convs / sessions if convs else NAN,
                      "TensorFlow profiler (framework_op_stats), one session per forward: self time of the model's ops",
                      kernels=rows, layer_events=named_events(conv_ops, sessions))


def tf_profiled_forward(forward: Callable[[], Any], scope: str) -> tuple[float, list[dict[str, Any]]]:
    """One forward in its own TensorFlow profiler session: its wall time in ms and the framework_op_stats rows of
    the ops under `scope`, one row per op of the model's graph; Skip says why there are none.

    A row's `occurrences` counts trace events, not runs: oneDNN's `_MklNativeConv2D` (TensorFlow on AVX-512 CPUs)
    logs two per run at batch 32 (32 events over the 16 conv ops of one forward, their self times summing to 15.4
    ms of a 16.7 ms forward), one at batch 2; each op of the graph runs once a forward, so a row is one run."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            start = time.perf_counter()
            forward()
            wall_ms = (time.perf_counter() - start) * 1e3
        finally:
            tf.profiler.experimental.stop()
        ops = _tf_framework_ops([str(p) for p in Path(logdir).rglob("*.xplane.pb")])
    return wall_ms, [op for op in ops if _in_scope(str(op["operation"]), scope)]


def _in_scope(operation: str, scope: str) -> bool:
    """Whether an op is the model's: under its name scope, or under the GradientTape's gradient of it (a
    training step's backward ops are named gradient_tape/<model>/...)."""
    parts = operation.split("/")
    return parts[0].startswith(scope) or (len(parts) > 1 and parts[0] == "gradient_tape" and parts[1].startswith(scope))


def _tf_framework_ops(spaces: list[str]) -> list[dict[str, Any]]:
    """The framework_op_stats table of one profiler session's xplane files, a dict per op; Skip says why not."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as converter

    data, ok = converter.xspace_to_tools_data(spaces, "framework_op_stats", {})
    if not ok:
        raise Skip(f"TensorFlow's framework_op_stats converter failed: {data[:200]!r}")
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    columns = [c["id"] for c in table["cols"]]
    return [dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]], strict=False))
            for row in table["rows"]]
