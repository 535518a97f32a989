"""OpenVINO's profiler on the CPU: the infer request's per-node performance counters."""

from __future__ import annotations

import time
from typing import Any

from convbench.runners.profilers import (
    NAN,
    KernelTime,
    kernel_rows,
    named_events,
    settle,
)

COUNTERS_UNRESOLVED = ("every OpenVINO performance counter read 0 us: each node ran under the counters' 1 us "
                       "resolution")


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
    kernel_ms = sum(r.ms_per_forward for r in rows)
    method = "OpenVINO per-node performance counters (real time)"
    if kernel_ms == 0:  # seen: a 2-layer conv1x1 of 8 channels on 8x8, 18 us a forward, every node read 0 us
        kernel_ms, method = NAN, f"not measured: {COUNTERS_UNRESOLVED}"
    return KernelTime(kernel_ms, sum(walls) / forwards, len(conv_nodes) / forwards if conv_nodes else NAN,
                      method, kernels=rows, layer_events=named_events(conv_nodes, forwards))
