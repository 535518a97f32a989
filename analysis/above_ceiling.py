"""The ceilings the roofline floor rests on, and the cases that ran faster than their floor.

The CPU's peak is physical (cores x measured clock x FLOPs per cycle, convbench.ceilings), so a case above its
floor is a finding to explain, never a label to guess. Its cause is given only where the evidence says so:
- "fast algorithm": the case's own profiled kernels name Winograd or FFT (kernels.csv: oneDNN's `wino`, cuDNN's
  `winograd` and `fft` kernels...): they do fewer multiplies than the direct convolution's FLOPs the floor counts;
- "in cache": the floor is memory-bound (it counts every layer's activations through main memory), the case's
  largest conv layer (input, output and weights: `largest_layer_mb`) fits the caches the machine reported
  (`cache_mb` in env.json's ceilings), and the time is still above the compute floor (FLOPs / peak);
- "unexplained" otherwise: the report's first screen lists these; each is a defect of the floor or of the timing
  until someone explains it."""

from __future__ import annotations

import re

import pandas as pd

from convbench.machines import machine_ceilings
from convbench.results import KEY_COLUMNS

FAST_ALGORITHM_KERNEL = re.compile(r"wino|fft", re.IGNORECASE)  # oneDNN, cuDNN, XNNPACK names of those algorithms
CAUSES = {
    "fast algorithm": "the case's profiled kernels are Winograd or FFT kernels (by their names): they do fewer "
                      "multiplies than the direct convolution's FLOPs the floor counts",
    "in cache": "the floor is memory-bound and counts every layer's activations through main memory; the largest "
                "layer's input, output and weights fit the machine's caches, so they stayed there between layers "
                "(and the time is above the compute floor)",
    "unexplained": "neither: no Winograd or FFT kernel was profiled for it, and it is compute-bound or its largest "
                   "layer does not fit the caches (or the run recorded neither its kernels nor its caches). A time "
                   "below the machine's physical peak is a defect to find (the FLOP count, the timing, or the peak)",
}
FLAG_COLUMN = "above_ceiling"  # added by with_ceiling_flags: the cause's key, or "" (at or under the floor's time)


def fast_algorithm_cases(kernels: pd.DataFrame) -> set[tuple[str, ...]]:
    """The cases (KEY_COLUMNS values, as text) whose profiled kernels include a Winograd or FFT kernel by name."""
    if kernels.empty or "kernel" not in kernels:
        return set()
    named = kernels[kernels["kernel"].astype(str).str.contains(FAST_ALGORITHM_KERNEL)]
    return {tuple(str(row[c]) for c in KEY_COLUMNS) for _, row in named.iterrows()}


def cause(row: pd.Series, ceilings: dict, fast_cases: set[tuple[str, ...]]) -> str:
    """The cause (a key of CAUSES) of a case's efficiency above 1, from its kernels and the machine's caches; ""
    for any other efficiency."""
    efficiency = row.get("efficiency")
    if not (pd.notna(efficiency) and efficiency > 1):
        return ""
    if tuple(str(row.get(c)) for c in KEY_COLUMNS) in fast_cases:
        return "fast algorithm"
    peak, bandwidth = ceilings.get(row.get("peak_used")), ceilings.get("bandwidth_gb_per_s")
    largest, cache = row.get("largest_layer_mb"), ceilings.get("cache_mb")
    if not all(isinstance(v, float | int) and pd.notna(v) for v in (peak, bandwidth, largest, cache)):
        return "unexplained"
    memory_bound = row["arithmetic_intensity"] < peak / bandwidth
    compute_floor_ms = float(row["gflop"]) / peak * 1e3
    if memory_bound and largest <= cache and row["ms_per_forward"] >= compute_floor_ms:
        return "in cache"
    return "unexplained"


def with_ceiling_flags(results: pd.DataFrame, env: dict, kernels: pd.DataFrame | None = None) -> pd.DataFrame:
    """The results with FLAG_COLUMN: each case's cause of beating its floor, from its profiled kernels
    (kernels.csv) and its device's ceilings."""
    flags = pd.Series("", index=results.index, dtype=object)
    if {"efficiency", "device"} <= set(results.columns):
        fast_cases = fast_algorithm_cases(kernels if kernels is not None else pd.DataFrame())
        for index, row in results[results["efficiency"].gt(1)].iterrows():
            flags[index] = cause(row, machine_ceilings(env, row.get("machine"), row["device"]), fast_cases)
    return results.assign(**{FLAG_COLUMN: flags})


def unexplained_lines(results: pd.DataFrame) -> list[str]:
    """The first screen's line on the ok cases above their floor that nothing explains; [] where there are none."""
    if FLAG_COLUMN not in results:
        return []
    rows = results[(results["status"] == "ok") & results[FLAG_COLUMN].eq("unexplained")]
    if rows.empty:
        return []
    worst = rows.loc[rows["efficiency"].idxmax()]
    runtimes = ", ".join(dict.fromkeys(rows["runtime"] + "/" + rows["device"]))
    return [f"**{len(rows)} cases ran faster than their roofline floor with no explanation** (no Winograd or FFT "
            f"kernel profiled, not a memory-bound floor whose layers fit the caches): {runtimes}; the furthest, "
            f"{worst['stack_id']} in {worst['runtime']}, at {worst['efficiency']:.2f}x its floor's speed. "
            "\"Cases above the ceiling\" lists them; until explained, they are a defect of the floor or the timing."]


def efficiency_text(efficiency: float, flag: object) -> str:
    """An efficiency as the report shows it: a percentage up to 100%, above it the flag, never a fraction > 1."""
    if pd.isna(efficiency):
        return ""
    if efficiency > 1:
        return f"above ceiling ({flag or 'unexplained'})"
    return f"{efficiency:.0%}"


def ceiling_lines(ceilings: dict, device: str) -> list[str]:
    """What the floor's ceilings on `device` are and where each came from (markdown list items)."""
    if "peak_gflop_per_s" not in ceilings:
        return [f"- {device} ceilings: not measured ({ceilings.get('not_measured', 'no ceilings in env.json')})"]
    n = ceilings.get("matmul_n")
    gemms = {key.removeprefix("gemm_gflop_per_s_"): value for key, value in ceilings.items()
             if key.startswith("gemm_gflop_per_s_")}
    source = ceilings.get("gemm_peak_from", ceilings.get("peak_from", "torch"))
    gemm = ceilings.get("gemm_peak_gflop_per_s", ceilings["peak_gflop_per_s"])
    others = "; ".join(f"{name} {value:,.0f}" if isinstance(value, float) else f"{name} {value}"
                       for name, value in gemms.items() if name != source)
    how = (f"({source}{'; ' + others if others else ''}; float32 {n}x{n}, best of 5 after a warm-up"
           + ("" if gemms or device != "cpu" else "; torch's matmul alone: the run predates the other runtimes' "
                                                  "GEMMs") + ")")
    copy = f"copy {ceilings['bandwidth_gb_per_s']:,.1f} GB/s (torch, read + write)"
    physical = ceilings.get("physical_peak_gflop_per_s")
    if physical:
        lines = [f"- {device} float32 peak, the roofline's: **{ceilings['peak_gflop_per_s']:,.0f} GFLOP/s**"
                 + (f", physical: {ceilings.get('physical_peak_source')}" if ceilings.get("peak_from") == "physical"
                    else f", the best GEMM ({ceilings.get('peak_from')}); physical {physical:,.0f} GFLOP/s = "
                         f"{ceilings.get('physical_peak_source')}"),
                 f"- {device} best large GEMM, the practical ceiling: {gemm:,.0f} GFLOP/s, {gemm / physical:.0%} of "
                 f"the physical peak {how}; {copy}"]
    else:
        lines = [f"- {device} float32 peak: **{ceilings['peak_gflop_per_s']:,.0f} GFLOP/s**, the best large GEMM "
                 f"{how}; {copy}"]
        if device == "cpu" and "physical_peak_source" in ceilings:
            lines.append(f"- {device} physical peak: {ceilings['physical_peak_source']}")
    if isinstance(ceilings.get("cache_mb"), float | int):
        lines.append(f"- {device} caches: {ceilings['cache_mb']:,.1f} MB ({ceilings.get('cache_source')}); a case "
                     "above its floor is called in cache only where its largest layer fits them")
    low = [f"{name} {ceilings[key]:,.0f}" for name, key in (("TF32", "peak_tf32_gflop_per_s"),
                                                            ("float16", "peak_float16_gflop_per_s"),
                                                            ("bfloat16", "peak_bfloat16_gflop_per_s"))
           if key in ceilings]
    if low:
        lines.append(f"- {device} tensor-core peaks (torch matmul): {', '.join(low)} GFLOP/s; float32 is IEEE "
                     "(TF32 off) and its peak the float32 matmul without tensor cores")
    theoretical = ceilings.get("theoretical_peak_gflop_per_s")  # runs before the physical peak: the nominal clock
    if theoretical:
        line = (f"- {device} theoretical float32 peak: {theoretical:,.0f} GFLOP/s = "
                f"{ceilings.get('theoretical_peak_source')}")
        if ceilings["peak_gflop_per_s"] > theoretical:
            line += (f". The measured GEMM is {ceilings['peak_gflop_per_s'] / theoretical:.2f}x it: the cores ran "
                     "above the clock that was reported (boost), so the measured peak is the ceiling that holds")
        lines.append(line)
    elif "theoretical_peak_source" in ceilings:
        lines.append(f"- {device} theoretical peak: {ceilings['theoretical_peak_source']}")
    return lines


def above_ceiling_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per runtime and cause: how many ok cases beat their floor, and by how much at most (time / floor)."""
    if FLAG_COLUMN not in results:
        return pd.DataFrame()
    above = results[(results["status"] == "ok") & results[FLAG_COLUMN].ne("")]
    if above.empty:
        return pd.DataFrame()
    above = above.assign(runtime_label=above["runtime"] + "[" + above["source"] + "]/" + above["device"])
    table = above.groupby(["runtime_label", FLAG_COLUMN]).agg(
        cases=("efficiency", "size"), conv_types=("variant", lambda v: ", ".join(sorted(set(v.dropna())))),
        most=("efficiency", "max"))
    table = table.reset_index().rename(columns={"runtime_label": "runtime", FLAG_COLUMN: "cause",
                                                "most": "floor / time, most"})
    return table
