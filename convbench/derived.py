"""The columns the parent derives from what a case measured (the recorder's side of the process boundary): the
roofline floor and efficiency from the machine's ceilings, the library floor from cuDNN's plans, and the overhead
from the timed median and the profiled kernel time. Pure functions of their arguments; nothing here measures."""

from __future__ import annotations

import math

from convbench.library_floor import Floors, case_floor, layer_floor_ms
from convbench.roofline import arithmetic_intensity, floor_ms, largest_layer_mb, peak_key, roofline_ms
from convbench.skeleton import convs
from convbench.spec import Case

# Device-timed kernels more than this times the timed median: the profiled process ran other kernels than the timed
# ones (cuDNN's algorithm choice can move between processes: the NCHW 5x5 step's backward ran FFT kernels in 8.2 ms
# in the profiled process of an H200 run and 5.5 ms per step in the timed two), and its overhead would be negative.
# Across the committed GPU runs, kernels over the timed median were within 1.05x (99 cases: noise between processes)
# or above 1.08x (15: other kernels).
OTHER_KERNELS_ABOVE = 1.05


def profiled_overhead(timed_ms: float, kernel_ms: float, host_timed: bool = False) -> tuple[float, str]:
    """The overhead column and what to add to the kernel method. Overhead is the time of a forward its kernels do
    not account for: timed median - kernel time (ms per forward), given only where the kernels took at most the
    timed median, so it is never negative and never a clamp's zero. Where they took more, NaN and why: kernels
    timed on the host (`host_timed`) add up past it (node times that overlap, the profiler's own cost); device-timed
    ones more than OTHER_KERNELS_ABOVE x it mean the profiled process ran other kernels; up to that, the profiled
    and the timed processes differ by that much, and nothing of the forward is left to call overhead."""
    if not kernel_ms > timed_ms:  # NaN included
        return timed_ms - kernel_ms, ""
    ratio = kernel_ms / timed_ms
    if host_timed:
        return math.nan, (f"; overhead not given: the host-timed kernels add up to {ratio:.3f}x the timed median "
                          "(their node times overlap, or the profiler slowed them): no overhead is left to measure")
    if ratio > OTHER_KERNELS_ABOVE:
        return math.nan, (f"; overhead not given: the profiled process's kernels took {ratio:.2f}x the timed median, "
                          "so it ran other kernels than the timed processes (an algorithm chosen per process: "
                          "cuDNN's, XLA's autotuning)")
    return math.nan, (f"; overhead not given: the profiled kernels took {ratio:.3f}x the timed median, within the "
                      f"{OTHER_KERNELS_ABOVE - 1:.0%} by which a profiled process and the timed ones differ: the "
                      "kernels are all of the forward, and no overhead is left to measure")


def roofline_columns(case: Case, ms_per_forward: float | None, ceilings: dict | None) -> dict[str, object]:
    """Floor and efficiency of a case from the machine's ceilings: the peak of its dtype's math mode (IEEE float32,
    TF32, float16...; float32's where the dtype has none measured, named in `peak_used`). None for a workload without
    conv layers of its own (a whole model: its layers are its library's)."""
    if not convs(case.workload.nodes):
        return {}
    columns: dict[str, object] = {"arithmetic_intensity": arithmetic_intensity(case.workload),
                                  "largest_layer_mb": largest_layer_mb(case.workload)}
    if not ceilings:
        return columns
    key = peak_key(case.workload.dtype, ceilings)
    floor = floor_ms(case.workload, ceilings[key], ceilings["bandwidth_gb_per_s"])
    columns.update(floor_ms=floor, peak_used=key)
    if ms_per_forward:
        columns["efficiency"] = floor / ms_per_forward
    return columns


def layer_floor_columns(case: Case, row: dict[str, object], ceilings: dict | None,
                library_floors: Floors | None = None) -> dict[str, object]:
    """A layer's roofline floor (ms) from its GFLOP and MB and the machine's ceilings (its math mode's peak; float32's
    for a dtype without its own), and its library floor (cuDNN's fastest plan) where one was measured."""
    columns: dict[str, object] = {}
    if ceilings:
        peak = ceilings[peak_key(case.workload.dtype, ceilings)]
        columns["floor_ms"] = roofline_ms(float(row["gflop"]) * 1e9, float(row["mbyte"]) * 1e6, peak,
                                          ceilings["bandwidth_gb_per_s"])
    if library_floors is not None and library_floors.best:
        node = next((n for n in convs(case.workload.nodes) if n.name == row.get("layer")), None)
        if node is not None:
            columns["library_floor_ms"] = layer_floor_ms(node, case.workload, library_floors)
    return columns


def floor_columns(case: Case, ms_per_forward: float | None, library_floors: Floors | None) -> dict[str, object]:
    """The case's library floor (convbench.library_floor) and its time over it; nothing where no floor was asked."""
    if library_floors is None or not convs(case.workload.nodes):
        return {}
    columns = case_floor(case.workload, case.device, library_floors)
    if ms_per_forward and "library_floor_ms" in columns:
        columns["ms_vs_library_floor"] = ms_per_forward / columns["library_floor_ms"]
    return columns


