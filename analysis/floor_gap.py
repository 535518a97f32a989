"""How far from the best kernel: each runtime's time and kernel time over the library floor (cuDNN's fastest plan
for every layer, convbench.library_floor), per device, dtype, pass and workload."""

from __future__ import annotations

import pandas as pd

from convbench.models.variants import VARIANTS

BEAT = "beat the floor: a kernel outside cuDNN's list, or a fused one"
AT = "at the floor (within 5%: the floor's few profiled calls per plan and the runtime's differ by about that)"
MARGIN = 0.05  # kernel / floor within 1 +- this is "at the floor", below 1 - MARGIN it beat it


def _workload(rows: pd.DataFrame) -> pd.Series:
    """The seed stack's conv type, or the network with its batch."""
    if "network" not in rows:
        return rows["variant"]
    network = rows["network"].astype("string")
    is_network = network.notna() & network.ne("")
    return rows["variant"].where(~is_network, network + " b" + rows["batch"].astype("Int64").astype("string"))


def floor_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The ok rows with a library floor, seed stacks at each runtime's largest channel count."""
    if "library_floor_ms" not in results:
        return pd.DataFrame()
    rows = results[(results["status"] == "ok") & results["library_floor_ms"].notna()]
    if rows.empty:
        return rows
    seed = rows["variant"].notna() & rows["variant"].ne("") if "variant" in rows else pd.Series(False, rows.index)
    group = ["runtime", "source", "device", "dtype", "pass"]
    largest = rows[seed].groupby(group)["channels"].transform("max")
    keep = (~seed) | (rows["channels"] == largest.reindex(rows.index))
    return rows[keep]


def floor_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per runtime and workload: ms, ms over the floor, kernel over the floor, the floor and its plans, and
    a note where the runtime's kernels ran faster than the floor."""
    rows = floor_rows(results)
    if rows.empty:
        return pd.DataFrame()
    kernel = rows["kernel_vs_library_floor"] if "kernel_vs_library_floor" in rows else float("nan")
    table = pd.DataFrame({
        "device": rows["device"], "dtype": rows["dtype"], "pass": rows["pass"], "workload": _workload(rows),
        "C": rows["channels"], "runtime": rows["runtime"] + "[" + rows["source"] + "]",
        "ms": rows["ms_per_forward"], "floor ms": rows["library_floor_ms"],
        "time / floor": rows["ms_per_forward"] / rows["library_floor_ms"], "kernel / floor": kernel,
        "floor's plans": rows["library_floor_plan"]})
    table["note"] = [BEAT if k < 1 - MARGIN else AT if abs(k - 1) <= MARGIN else "" for k in table["kernel / floor"]]
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values(["device", "dtype", "pass", "workload", "time / floor"],
                             key=lambda c: c.map(lambda v: order.get(v, len(order))) if c.name == "workload" else c,
                             kind="stable").reset_index(drop=True)


def floor_lines(results: pd.DataFrame) -> list[str]:
    """Per device, dtype and pass: how far the fastest runtime is from the floor over the workloads, the furthest
    workload, and how many runtimes' kernels beat it."""
    table = floor_table(results)
    if table.empty:
        return []
    lines = []
    for (device, dtype, pass_), group in table.groupby(["device", "dtype", "pass"], sort=False):
        fastest = group.loc[group.groupby("workload")["time / floor"].idxmin()]
        furthest = fastest.loc[fastest["time / floor"].idxmax()]
        line = (f"Library floor on {device} {dtype} ({pass_}): the fastest runtime of each workload runs at a median "
                f"{fastest['time / floor'].median():.2f}x cuDNN's best plans ({fastest['time / floor'].min():.2f}-"
                f"{fastest['time / floor'].max():.2f}x over {len(fastest)} workloads); furthest: "
                f"{furthest['workload']} at {furthest['time / floor']:.2f}x ({furthest['runtime']})")
        beat = group[group["note"] == BEAT]
        if len(beat):
            line += (f"; {len(beat)} runtime/workload pairs' kernels beat the floor ("
                     f"{', '.join(dict.fromkeys(beat['runtime']))})")
        lines.append(line + ".")
    return lines
