"""The ceilings the roofline floor rests on, and the cases that ran faster than their floor.

A case whose efficiency (floor / time) is above 1 beat a floor that is supposed to be unbeatable: the report flags it
with its likely cause instead of printing an efficiency above 100%. The cause follows from which bound the floor
took and what the conv can do:
- memory-bound floor: the floor counts every layer's activations through main memory; they stayed in cache;
- compute-bound, a dense conv that fast algorithms apply to (3x3, 5x5, 3x1, 1x3 at stride 1): Winograd or FFT
  do fewer multiplies than the direct convolution's FLOPs that the floor counts (or the ceiling is too low);
- compute-bound otherwise: the ceiling is too low (this conv's kernels outran the best large GEMM measured)."""

from __future__ import annotations

import pandas as pd

from convbench.machines import machine_ceilings

FAST_ALGORITHM_VARIANTS = ("conv3x3", "conv5x5", "conv3x1", "conv1x3")
CAUSES = {
    "in cache": "the floor is memory-bound and counts every layer's activations through main memory: they stayed in "
                "cache between layers",
    "fast algorithm": "a dense 3x3/5x5/3x1/1x3 conv, compute-bound: a fast algorithm (Winograd or FFT) does fewer "
                      "multiplies than the direct convolution's FLOPs the floor counts, or the ceiling is too low",
    "ceiling too low": "compute-bound, no fast algorithm applies: the conv's kernels outran the best large GEMM "
                       "measured, so that GEMM is not the machine's peak",
}
FLAG_COLUMN = "above_ceiling"  # added by with_ceiling_flags: the cause's key, or "" (at or under the floor's time)


def cause(efficiency: float, variant: object, arithmetic_intensity: float, peak_gflop_per_s: float,
          bandwidth_gb_per_s: float) -> str:
    """The likely cause (a key of CAUSES) of an efficiency above 1; "" for any other efficiency."""
    if not (pd.notna(efficiency) and efficiency > 1):
        return ""
    if arithmetic_intensity < peak_gflop_per_s / bandwidth_gb_per_s:
        return "in cache"
    return "fast algorithm" if variant in FAST_ALGORITHM_VARIANTS else "ceiling too low"


def with_ceiling_flags(results: pd.DataFrame, env: dict) -> pd.DataFrame:
    """The results with FLAG_COLUMN: each case's cause of beating its floor, from its device's ceilings."""
    flags = pd.Series("", index=results.index, dtype=object)
    needed = {"efficiency", "arithmetic_intensity", "peak_used", "device"}
    if needed <= set(results.columns):
        for index, row in results[results["efficiency"].gt(1)].iterrows():
            ceilings = machine_ceilings(env, row.get("machine"), row["device"])
            peak = ceilings.get(row["peak_used"])
            if isinstance(peak, float | int) and "bandwidth_gb_per_s" in ceilings:
                flags[index] = cause(row["efficiency"], row.get("variant"), row["arithmetic_intensity"], peak,
                                     ceilings["bandwidth_gb_per_s"])
            else:
                flags[index] = "ceiling too low"
    return results.assign(**{FLAG_COLUMN: flags})


def efficiency_text(efficiency: float, flag: object) -> str:
    """An efficiency as the report shows it: a percentage up to 100%, above it the flag, never a fraction > 1."""
    if pd.isna(efficiency):
        return ""
    if efficiency > 1:
        return f"above ceiling ({flag or 'ceiling too low'})"
    return f"{efficiency:.0%}"


def ceiling_lines(ceilings: dict, device: str) -> list[str]:
    """What the floor's ceilings on `device` are and where each came from (markdown list items)."""
    if "peak_gflop_per_s" not in ceilings:
        return [f"- {device} ceilings: not measured ({ceilings.get('not_measured', 'no ceilings in env.json')})"]
    n = ceilings.get("matmul_n")
    gemms = {key.removeprefix("gemm_gflop_per_s_"): value for key, value in ceilings.items()
             if key.startswith("gemm_gflop_per_s_")}
    source = ceilings.get("peak_from", "torch")
    others = "; ".join(f"{name} {value:,.0f}" if isinstance(value, float) else f"{name} {value}"
                       for name, value in gemms.items() if name != source)
    lines = [f"- {device} float32 peak: **{ceilings['peak_gflop_per_s']:,.0f} GFLOP/s**, the best large GEMM "
             f"({source}{'; ' + others if others else ''}; float32 {n}x{n}, best of 5 after a warm-up"
             + ("" if gemms or device != "cpu" else "; torch's matmul alone: the run predates the other runtimes' "
                                                   "GEMMs") + "); copy "
             f"{ceilings['bandwidth_gb_per_s']:,.1f} GB/s (torch, read + write)"]
    low = [f"{name} {ceilings[key]:,.0f}" for name, key in (("TF32", "peak_tf32_gflop_per_s"),
                                                            ("float16", "peak_float16_gflop_per_s"),
                                                            ("bfloat16", "peak_bfloat16_gflop_per_s"))
           if key in ceilings]
    if low:
        lines.append(f"- {device} tensor-core peaks (torch matmul): {', '.join(low)} GFLOP/s")
    theoretical = ceilings.get("theoretical_peak_gflop_per_s")
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
    table = table.reset_index().rename(columns={"runtime_label": "runtime", FLAG_COLUMN: "likely cause",
                                                "most": "floor / time, most"})
    return table
