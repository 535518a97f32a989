"""Kernel time from each runtime's own profiler, in runs separate from the timed ones.

A KernelTime says how many milliseconds per forward the runtime's kernels took, which kernels (or operators, or
primitives) they were, how many convolution events the profiler saw per forward (one per layer is expected),
and how it was measured, or why it was not (NaN). On CUDA it also holds the copies and the launch view:
host launch calls per forward and the GPU's idle time between a forward's kernels.

- PyTorch (and Keras on torch): torch.profiler. CPU: the self time of every aten operator. CUDA: CUPTI's device
  records, through the same profiler, which sees every kernel of the process whoever launched it; so it also
  times onnxruntime's CUDA provider and JAX/XLA on the GPU (`cupti_kernel_time`).
- onnxruntime (CPU): session profiling, node kernel times per run.
- OpenVINO (CPU): the infer request's per-node performance counters.
- TensorFlow on the CPU (on CUDA, CUPTI as above): its profiler (tf.profiler.experimental) writes an XSpace;
  TensorFlow's own converter (the `framework_op_stats` tool that TensorBoard's profile plugin shows) turns it
  into per-op self times. The model's ops are those under the Keras model's name scope: model.predict's dataset
  and iterator ops are not the model's kernels, so they count as what predict adds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from convbench.errors import Skip

NAN = float("nan")
FORWARD_RANGE = "convbench.forward"  # the host range that marks each profiled forward on CUDA
PROJECTED_SHARE = 0.5  # host-timed kernels at least this share of the profiled wall: projected onto the timed median
TF_MIN_SESSIONS = 7  # TensorFlow kernel time: the median of at least this many one-forward profiler sessions
LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaGraphLaunch", "cuGraphLaunch", "cudaLaunchCooperative")


@dataclass(frozen=True)
class KernelRow:
    """One kernel (operator, primitive, node type) a profiled forward ran."""

    name: str
    kind: str  # "kernel", "copy" (memcpy) or "memset"
    calls_per_forward: float
    ms_per_forward: float  # as the profiler timed it


@dataclass(frozen=True)
class KernelTime:
    """What a profiled run saw, per forward."""

    kernel_ms: float  # time inside kernels, copies excluded (NaN: not measured)
    profiled_wall_ms: float  # wall time of the profiled run itself, profiler overhead included
    conv_events: float  # convolution events seen (one per layer expected)
    method: str  # how it was measured, or why it was not
    host_timed: bool = True  # kernels timed on the host clock, inside the profiled run (CPU profilers)
    kernels: tuple[KernelRow, ...] = field(default=())
    copy_ms: float = NAN  # device memory copies (CUDA), ms per forward
    launches: float = NAN  # host kernel/graph launch calls per forward (CUDA)
    gpu_idle_ms: float = NAN  # per forward: the gaps between its first kernel's start and last kernel's end
    # A training step's convolution kernel time by phase (runners.phases.PHASES), where a library profiler says it
    # directly (oneDNN's verbose log on the CPU) rather than through kernel names; empty otherwise.
    phases: tuple[tuple[str, float], ...] = field(default=())
    phase_method: str = ""
    # Each convolution event's time per forward, by the profiler's name for it (an op, node or position "#i" in
    # the forward's order), for convbench.layer_map to attribute to the workload's layers; empty where the
    # profiler cannot tell one conv from another.
    layer_events: tuple[tuple[str, float], ...] = field(default=())

    @property
    def share(self) -> float:
        """Kernel time over the profiled run's wall time (above 1 where the profiler's node times overlap)."""
        return self.kernel_ms / self.profiled_wall_ms

    def kernel_ms_for(self, timed_ms: float) -> float:
        """Kernel time against the timed (unprofiled) median of other processes.

        Device-timed kernel durations (CUPTI) are taken as they are. A host-timed profiler times the kernels inside
        a profiled run, at the profile process's speed and slowed by the profiler itself; then:
        - where the kernels are at least PROJECTED_SHARE of the profiled wall, their share of it is applied to the
          timed median (the difference between profiled and timed forwards falls on kernels and the rest in
          proportion), at most all of it: node times that overlap can sum past the wall;
        - where they are less, the rest of the forward is what moves between forwards, and a share of it says
          nothing of the kernels: the kernel time is taken as profiled, at most the timed median. model.predict on
          the 2-core machine: its 16 Conv2D took 181-191 ms in forwards of 244 to 359 ms (conv3x3 C=64); its
          profiled share applied to the timed median put its kernels a median 1.25x keras-tf's in a full sweep."""
        if not self.host_timed:
            return self.kernel_ms
        if self.share >= PROJECTED_SHARE:
            return timed_ms * min(1.0, self.share)
        return min(self.kernel_ms, timed_ms)

    def applied(self, timed_ms: float) -> str:
        """How kernel_ms_for(timed_ms) took the profiled time, said after `method` ("" where as the device timed it
        or not measured)."""
        if not self.host_timed or self.kernel_ms != self.kernel_ms:
            return ""
        if self.share >= PROJECTED_SHARE:
            return ", its share of the profiled run applied to the timed median" + (
                f" (the kernels summed to {self.share:.0%} of the profiled wall: taken as all of it)"
                if self.share > 1 else "")
        return (f", as profiled (the kernels were {self.share:.0%} of the profiled wall, under "
                f"{PROJECTED_SHARE:.0%}: the rest of the forward is what varies)"
                + (", capped at the timed median" if self.kernel_ms > timed_ms else ""))


def not_measured(why: str) -> KernelTime:
    return KernelTime(NAN, NAN, NAN, f"not measured: {why}")


def kernel_rows(durations_us: Iterable[tuple[str, str, float, int]], forwards: int) -> tuple[KernelRow, ...]:
    """(name, kind, microseconds, calls) of the events of `forwards` profiled forwards, grouped by name and
    kind, slowest first."""
    calls: dict[tuple[str, str], int] = defaultdict(int)
    total: dict[tuple[str, str], float] = defaultdict(float)
    for name, kind, us, n in durations_us:
        calls[(name, kind)] += n
        total[(name, kind)] += us
    rows = [KernelRow(name, kind, calls[(name, kind)] / forwards, total[(name, kind)] / 1e3 / forwards)
            for name, kind in total]
    return tuple(sorted(rows, key=lambda r: -r.ms_per_forward))


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


def settle(call: Callable[[], Any], forwards: int = 2, seconds: float = 0.1) -> None:
    """Unprofiled forwards before a profiled run, as many as a timed process runs before its samples (the harness
    times a first forward, then warms up for at least one more and 0.1 s): a runtime's first forwards after set-up
    are slower (a freshly built Keras model's predict on the 2-core machine: 376 ms, then 111, 98, 120, 92, ..., 70),
    and a profile of them would charge that to the kernels the timed samples never saw."""
    start, done = time.perf_counter(), 0
    while done < forwards or time.perf_counter() - start < seconds:
        call()
        done += 1


def _device_kind(name: str) -> str:
    return "copy" if name.startswith("Memcpy") else "memset" if name.startswith("Memset") else "kernel"


def torch_kernel_time(forward: Callable[[], Any], sync: Callable[[Any], None] | None, forwards: int,
                      cuda: bool, train: bool = False) -> KernelTime:
    """torch.profiler over `forwards` calls, each synchronised. CPU: the self time of every aten operator.
    CUDA: CUPTI's device records of the process (see cupti_kernel_time). Conv events: aten::conv2d calls.
    `train` (calls are training steps) on the CPU: the phases from oneDNN's log too, in calls of their own (aten's
    convolution_backward computes the input's and the weight's gradient in one operator)."""
    if cuda:
        return cupti_kernel_time(forward, sync, forwards)
    kt = _torch_cpu_kernel_time(forward, forwards)
    if not train or kt.kernel_ms != kt.kernel_ms:
        return kt
    try:
        phases = onednn_phases(forward, forwards)
    except Skip as why:
        return replace(kt, phase_method=f"oneDNN: {why.reason}")
    return replace(kt, phases=phases, phase_method="oneDNN's verbose log: convolution primitives by propagation kind")


def _torch_cpu_kernel_time(forward: Callable[[], Any], forwards: int) -> KernelTime:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    settle(forward)
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(forwards):
            forward()
        wall_ms = (time.perf_counter() - start) * 1e3 / forwards
    ops = [e for e in prof.events() if e.device_type == DeviceType.CPU and e.name.startswith("aten::")]
    conv_ops = [e for e in ops if e.name == "aten::conv2d"]
    rows = kernel_rows(((e.name, "kernel", e.self_cpu_time_total, 1) for e in ops), forwards)
    return KernelTime(sum(r.ms_per_forward for r in rows), wall_ms, len(conv_ops) / forwards if conv_ops else NAN,
                      "torch.profiler: self CPU time of every aten operator", kernels=rows,
                      layer_events=ordinal_events(conv_ops, forwards, lambda e: e.cpu_time_total))


def cupti_kernel_time(forward: Callable[[], Any], sync: Callable[[Any], None] | None, forwards: int) -> KernelTime:
    """CUPTI device records (through torch.profiler, whatever framework launched the work) over `forwards`
    calls, each synchronised and marked by a host range: kernel and copy durations per forward, host launch
    calls per forward, and the GPU's idle time between the kernels of each forward."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    def synced() -> None:
        out = forward()
        if sync is not None:
            sync(out)

    settle(synced)
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(forwards):
            with record_function(FORWARD_RANGE):
                synced()
        wall_ms = (time.perf_counter() - start) * 1e3 / forwards
    events = prof.events()
    # record_function ranges also appear on the GPU timeline (a user annotation spanning the forward's kernels):
    # they are neither kernels nor copies, and the forward's host range is the CPU-side one.
    device = [e for e in events if e.device_type == DeviceType.CUDA and e.name != FORWARD_RANGE]
    rows = kernel_rows(((e.name, _device_kind(e.name), e.time_range.elapsed_us(), 1) for e in device), forwards)
    ranges = sorted((e.time_range.start, e.time_range.end) for e in events
                    if e.name == FORWARD_RANGE and e.device_type == DeviceType.CPU)
    kernels = [(e.time_range.start, e.time_range.end) for e in device if _device_kind(e.name) == "kernel"]
    launches = sum(1 for e in events if e.device_type == DeviceType.CPU and e.name.startswith(LAUNCH_CALLS))
    conv_ops = [e for e in events if e.name == "aten::conv2d" and e.device_type == DeviceType.CPU]
    convs = len(conv_ops)
    return KernelTime(
        sum(r.ms_per_forward for r in rows if r.kind == "kernel"), wall_ms, convs / forwards if convs else NAN,
        "CUPTI device records (torch.profiler): summed kernel durations on the GPU", host_timed=False,
        kernels=rows, copy_ms=sum(r.ms_per_forward for r in rows if r.kind == "copy"),
        launches=launches / forwards if launches else NAN,  # none traced (a driver API CUPTI did not record)
        gpu_idle_ms=gpu_idle_ms(ranges, kernels),
        layer_events=ordinal_events(conv_ops, forwards, lambda e: e.device_time_total))  # eager: kernels per op


def ordinal_events(conv_ops: list[Any], forwards: int, micros: Callable[[Any], float]) -> tuple[tuple[str, float], ...]:
    """Conv ops named by their position in the forward ("#0", "#1", ...), each's `micros(event)` as ms per
    forward; empty unless every forward ran the same number of them (then position i is the i-th layer run)."""
    if not conv_ops or len(conv_ops) % forwards:
        return ()
    per_forward = len(conv_ops) // forwards
    ordered = sorted(conv_ops, key=lambda e: e.time_range.start)
    totals = [0.0] * per_forward
    for i, event in enumerate(ordered):
        totals[i % per_forward] += micros(event)
    return tuple((f"#{i}", us / 1e3 / forwards) for i, us in enumerate(totals))


def named_events(events: Iterable[tuple[str, float]], forwards: int) -> tuple[tuple[str, float], ...]:
    """(name, microseconds) of the conv events of `forwards` profiled forwards, summed by name, as ms per
    forward."""
    totals: dict[str, float] = defaultdict(float)
    for name, us in events:
        totals[name] += us
    return tuple((name, us / 1e3 / forwards) for name, us in totals.items())


def gpu_idle_ms(forward_ranges_us: list[tuple[float, float]], kernels_us: list[tuple[float, float]]) -> float:
    """Median over forwards of the GPU's idle time between a forward's kernels: from its first kernel's start to
    its last kernel's end, the time no kernel ran. A kernel belongs to the forward whose host range it starts in."""
    idle = []
    for begin, end in forward_ranges_us:
        inside = sorted((s, e) for s, e in kernels_us if begin <= s <= end)
        if not inside:
            continue
        busy, reach = 0.0, inside[0][0]
        for s, e in inside:
            if e > reach:
                busy += e - max(s, reach)
                reach = e
        idle.append((reach - inside[0][0] - busy) / 1e3)
    return statistics.median(idle) if idle else NAN


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


def openvino_kernel_time(request: Any, x: Any, forwards: int) -> KernelTime:
    """OpenVINO's per-node performance counters (a request compiled with profiling on) over `forwards` infers
    after one unprofiled: each executed node's real time, named by node type and the primitive that ran it."""
    settle(lambda: request.infer({0: x}))
    events, conv_nodes, walls = [], [], []
    for _ in range(forwards):
        start = time.perf_counter()
        request.infer({0: x})
        walls.append((time.perf_counter() - start) * 1e3)
        for info in request.profiling_info:
            us = info.real_time.total_seconds() * 1e6
            conv = info.node_type.startswith(("Convolution", "GroupConvolution"))
            # A conv that ran in under the counters' microsecond reads 0 us and NOT_RUN (a 1x1 conv of 8 channels on
            # 8x8, now and then, on an AVX-512 machine); a conv node of the compiled graph has run, so it counts as a
            # call. Other nodes are counted where they ran and took time (NOT_RUN also marks reorders done in place).
            if conv or (str(info.status).endswith("EXECUTED") and us > 0):
                events.append((f"{info.node_type}: {info.exec_type}", "kernel", us, 1))
                if conv:
                    conv_nodes.append((info.node_name, us))
    rows = kernel_rows(events, forwards)
    return KernelTime(sum(r.ms_per_forward for r in rows), sum(walls) / forwards,
                      len(conv_nodes) / forwards if conv_nodes else NAN,
                      "OpenVINO per-node performance counters (real time)", kernels=rows,
                      layer_events=named_events(conv_nodes, forwards))


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


def profile_forwards(ms_per_forward: float, seconds: float = 0.2, lowest: int = 3, highest: int = 50) -> int:
    """How many forwards the profiled run takes: about `seconds` worth, within [lowest, highest]."""
    if not ms_per_forward > 0:
        return lowest
    return int(min(highest, max(lowest, math.ceil(seconds * 1e3 / ms_per_forward))))


ONEDNN_PHASE = {"forward_training": "forward", "forward_inference": "forward", "forward": "forward",
                "backward_data": "backward_data", "backward_weights": "backward_weights", "backward": "backward"}


def onednn_phases(call: Callable[[], Any], calls: int) -> tuple[tuple[str, float], ...]:
    """oneDNN's own per-primitive timing (its verbose log, switched on through torch.backends.mkldnn.verbose) over
    `calls` calls: each convolution primitive's execution time by its propagation kind (forward_training,
    backward_data, backward_weights), ms per call. Skip says why there is none (PyTorch ran no convolution
    through oneDNN: its own kernels, or a dtype oneDNN does not take here)."""
    import torch

    settle(call)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                for _ in range(calls):
                    call()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        lines = log.read().splitlines()
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        fields = line.split(",")
        if "exec" not in fields or "convolution" not in fields:
            continue
        at = fields.index("convolution")
        phase = ONEDNN_PHASE.get(fields[at + 2]) if at + 2 < len(fields) else None
        with contextlib.suppress(ValueError):
            if phase:
                totals[phase] += float(fields[-1])
    if not totals:
        raise Skip("oneDNN's verbose log shows no convolution (PyTorch ran its own kernels)")
    return tuple((phase, ms / calls) for phase, ms in totals.items())
