"""The columns the parent derives from what a case measured (the recorder's side of the process boundary): the
roofline floor and efficiency from the machine's ceilings, the library floor from cuDNN's plans, and the overhead
from the timed median and the profiled kernel time. Pure functions of their arguments; nothing here measures."""

from __future__ import annotations

import math

from convbench.library_floor import Floors, case_floor, layer_floor_ms
from convbench.roofline import arithmetic_intensity, floor_ms, peak_key, roofline_ms
from convbench.skeleton import convs
from convbench.spec import Case

# Device-timed kernels more than this times the timed median: the profiled process ran other kernels than the timed
# ones (cuDNN's algorithm choice can move between processes: the NCHW 5x5 step's backward ran FFT kernels in 8.2 ms
# in the profiled process of an H200 run and 5.5 ms per step in the timed two), and its overhead would be negative.
# Across the committed GPU runs, kernels over the timed median were within 1.05x (99 cases: noise between processes)
# or above 1.08x (15: other kernels).
OTHER_KERNELS_ABOVE = 1.05


def profiled_overhead(timed_ms: float, kernel_ms: float) -> tuple[float, str]:
    """The overhead column (timed median - kernel time, ms per forward) and what to add to the kernel method: the
    difference and "", or NaN and why, where the kernels took more than OTHER_KERNELS_ABOVE x the timed median."""
    if not kernel_ms > OTHER_KERNELS_ABOVE * timed_ms:  # NaN included
        return timed_ms - kernel_ms, ""
    return math.nan, (f"; overhead not given: the profiled process's kernels took {kernel_ms / timed_ms:.2f}x the "
                      "timed median, so it ran other kernels than the timed processes (an algorithm chosen per "
                      "process: cuDNN's, XLA's autotuning)")


def roofline_columns(case: Case, ms_per_forward: float | None, tf32: bool, ceilings: dict | None
                     ) -> dict[str, object]:
    """Floor and efficiency of a case from the machine's ceilings: the peak of its dtype (TF32 where the runtime
    used TF32; float32's where the dtype has none measured, named in `peak_used`)."""
    columns: dict[str, object] = {"arithmetic_intensity": arithmetic_intensity(case.workload)}
    if not ceilings:
        return columns
    key = peak_key(case.workload.dtype, tf32, ceilings)
    floor = floor_ms(case.workload, ceilings[key], ceilings["bandwidth_gb_per_s"])
    columns.update(floor_ms=floor, peak_used=key)
    if ms_per_forward:
        columns["efficiency"] = floor / ms_per_forward
    return columns


def layer_floor_columns(case: Case, row: dict[str, object], ceilings: dict | None,
                library_floors: Floors | None = None) -> dict[str, object]:
    """A layer's roofline floor (ms) from its GFLOP and MB and the machine's ceilings (float32's peak for a dtype
    without its own; TF32 not assumed), and its library floor (cuDNN's fastest plan) where one was measured."""
    columns: dict[str, object] = {}
    if ceilings:
        peak = ceilings[peak_key(case.workload.dtype, False, ceilings)]
        columns["floor_ms"] = roofline_ms(float(row["gflop"]) * 1e9, float(row["mbyte"]) * 1e6, peak,
                                          ceilings["bandwidth_gb_per_s"])
    if library_floors is not None and library_floors.best:
        node = next((n for n in convs(case.workload.nodes) if n.name == row.get("layer")), None)
        if node is not None:
            columns["library_floor_ms"] = layer_floor_ms(node, case.workload, library_floors)
    return columns


def floor_columns(case: Case, ms_per_forward: float | None, library_floors: Floors | None) -> dict[str, object]:
    """The case's library floor (convbench.library_floor) and its time over it; nothing where no floor was asked."""
    if library_floors is None:
        return {}
    columns = case_floor(case.workload, case.device, library_floors)
    if ms_per_forward and "library_floor_ms" in columns:
        columns["ms_vs_library_floor"] = ms_per_forward / columns["library_floor_ms"]
    return columns


