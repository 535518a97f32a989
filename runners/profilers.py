"""What every runtime's profiler gives back: a KernelTime, the kernel time of a case from the runtime's own profiler, in
runs separate from the timed ones, and the helpers the profilers share. Each framework's profiler is a module of its
own: runners.profile_torch (torch.profiler on the CPU; CUPTI on CUDA, for every framework of the process),
runners.profile_ort, runners.profile_openvino, runners.profile_tf.

A KernelTime says how many milliseconds per forward the runtime's kernels took, which kernels (or operators, or
primitives) they were, how many convolution events the profiler saw per forward (one per layer is expected),
and how it was measured, or why it was not (NaN). On CUDA it also holds the copies and the launch view:
host launch calls per forward and the GPU's idle time between a forward's kernels.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

NAN = float("nan")
PROJECTED_SHARE = 0.5  # host-timed kernels at least this share of the profiled wall: projected onto the timed median


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
          proportion); node times that overlap can sum past the wall, and past the timed median;
        - where they are less, the rest of the forward is what moves between forwards, and a share of it says
          nothing of the kernels: the kernel time is taken as profiled.
        Nothing is capped: where the result exceeds the timed median the overhead is not given and the row says why
        (convbench.derived.profiled_overhead). model.predict on
          the 2-core machine: its 16 Conv2D took 181-191 ms in forwards of 244 to 359 ms (conv3x3 C=64); its
          profiled share applied to the timed median put its kernels a median 1.25x keras-tf's in a full sweep."""
        if not self.host_timed:
            return self.kernel_ms
        if self.share >= PROJECTED_SHARE:
            return timed_ms * self.share
        return self.kernel_ms

    def applied(self, timed_ms: float) -> str:
        """How kernel_ms_for(timed_ms) took the profiled time, said after `method` ("" where as the device timed it
        or not measured)."""
        if not self.host_timed or self.kernel_ms != self.kernel_ms:
            return ""
        if self.share >= PROJECTED_SHARE:
            return ", its share of the profiled run applied to the timed median" + (
                f" (the kernels' node times summed to {self.share:.0%} of the profiled wall: they overlap)"
                if self.share > 1 else "")
        return (f", as profiled (the kernels were {self.share:.0%} of the profiled wall, under "
                f"{PROJECTED_SHARE:.0%}: the rest of the forward is what varies)")


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
def quiet_stderr():
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


















def profile_forwards(ms_per_forward: float, seconds: float = 0.2, lowest: int = 3, highest: int = 50) -> int:
    """How many forwards the profiled run takes: about `seconds` worth, within [lowest, highest]."""
    if not ms_per_forward > 0:
        return lowest
    return int(min(highest, max(lowest, math.ceil(seconds * 1e3 / ms_per_forward))))




