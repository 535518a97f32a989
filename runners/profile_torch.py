"""PyTorch's profiler (torch.profiler) as convbench's: on the CPU the self time of every aten operator (and, for a
training step, oneDNN's own log of its convolution primitives by propagation kind); on CUDA CUPTI's device records,
through the same profiler, which see every kernel of the process whoever launched it, so they also time
onnxruntime's CUDA provider, JAX/XLA and TensorFlow on the GPU (`cupti_kernel_time`)."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from convbench.errors import Skip
from convbench.runners.profilers import (
    NAN,
    KernelTime,
    kernel_rows,
    ordinal_events,
    quiet_stderr,
    settle,
)

FORWARD_RANGE = "convbench.forward"  # the host range that marks each profiled forward on CUDA


LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaGraphLaunch", "cuGraphLaunch", "cudaLaunchCooperative")


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
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
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
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
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
