"""What each runtime spends besides time: the peak memory a case added (host, and device on CUDA) and the energy per
forward, from the results' memory and energy columns. Per device, dtype and pass, for each workload (a network, or
a seed stack at its largest channel count) and runtime."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.floor_gap import networks_and_largest_stacks, workload_names

COLUMNS = {"ms_per_forward": "ms", "host_peak_mb": "host MB", "device_peak_mb": "device MB",
           "energy_mj_per_forward": "mJ per forward", "mean_watts": "W"}


def memory_energy_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per device, dtype, pass, workload and runtime with ms, peak host and device memory added (MB) and
    energy per forward (mJ) and mean power (W) where measured; empty where no row has a memory figure."""
    if "host_peak_mb" not in results:
        return pd.DataFrame()
    ok = networks_and_largest_stacks(results[(results["status"] == "ok") & results["host_peak_mb"].notna()])
    if ok.empty:
        return pd.DataFrame()
    table = pd.DataFrame({"device": ok["device"], "dtype": ok["dtype"], "pass": ok["pass"],
                          "workload": workload_names(ok), "runtime": ok["runtime"] + "[" + ok["source"] + "]",
                          **{label: ok[column] if column in ok else float("nan")
                             for column, label in COLUMNS.items()}})
    return table.sort_values(["device", "dtype", "pass", "workload", "ms"], kind="stable").reset_index(drop=True)


def memory_energy_lines(table: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """How the memory and energy were measured (or why not), and per workload the runtimes that added the least and
    the most memory, and spent the least energy (single figures: the fastest way is the answers' ranking)."""
    lines = []
    for column in ("memory_method", "device_memory_method", "energy_method"):
        if column in results:
            methods = results.loc[results["status"] == "ok", column].dropna().astype(str)
            if not methods.empty:
                lines.append(f"- `{column}`: " + "; ".join(f"{m} ({n} rows)" for m, n in
                                                           methods.value_counts().items()))
    for (device, dtype, pass_, workload), group in table.groupby(["device", "dtype", "pass", "workload"], sort=False):
        memory = group["device MB"] if group["device MB"].notna().any() else group["host MB"]
        least = group.loc[memory.idxmin()]
        kind = "device" if group["device MB"].notna().any() else "host"
        line = (f"- {workload} ({device} {dtype} {pass_}): least {kind} memory added {least['runtime']} "
                f"{memory.min():.3g} MB (most {memory.max():.3g} MB, {group.loc[memory.idxmax(), 'runtime']})")
        if group["mJ per forward"].notna().any():
            frugal = group.loc[group["mJ per forward"].idxmin()]
            line += f"; least energy {frugal['runtime']} {frugal['mJ per forward']:.3g} mJ per forward"
        lines.append(line)
    return lines
