"""How far from the best kernel: each runtime's time and kernel time over the library floor (cuDNN's fastest plan
for every layer, convbench.library_floor), per device, dtype, pass and workload."""

from __future__ import annotations

import pandas as pd

from convbench.models.variants import VARIANTS

BEAT = "beat the floor: a kernel outside cuDNN's list, or a fused one"
AT = "at the floor (within 5%: the floor's few profiled calls per plan and the runtime's differ by about that)"
MARGIN = 0.05  # kernel / floor within 1 +- this is "at the floor", below 1 - MARGIN it beat it


def workload_names(rows: pd.DataFrame) -> pd.Series:
    """The seed stack's conv type, the network with its batch ("resnet50 b32": its conv layers), or the whole model
    with its batch ("resnet50 whole b32")."""
    names = rows["variant"]
    batch = " b" + rows["batch"].astype("Int64").astype("string") if "batch" in rows else ""
    for column, word in (("network", ""), ("model", " whole")):
        if column in rows:
            value = rows[column].astype("string")
            names = names.where(~(value.notna() & value.ne("")), value + word + batch)
    return names


def floor_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The ok rows with a library floor, seed stacks at each runtime's largest channel count."""
    if "library_floor_ms" not in results:
        return pd.DataFrame()
    return networks_and_largest_stacks(results[(results["status"] == "ok") & results["library_floor_ms"].notna()])


def networks_and_largest_stacks(rows: pd.DataFrame) -> pd.DataFrame:
    """Every network row, and the seed stacks' rows at each runtime's (and device's, dtype's, pass's) largest
    channel count."""
    if rows.empty:
        return rows
    seed = rows["variant"].notna() & rows["variant"].astype(str).ne("") if "variant" in rows else pd.Series(
        False, rows.index)
    largest = rows[seed].groupby(["runtime", "source", "device", "dtype", "pass"])["channels"].transform("max")
    return rows[(~seed) | (rows["channels"] == largest.reindex(rows.index))]


def floor_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per runtime and workload: ms, ms over the floor, kernel over the floor, the floor and its plans, and
    a note where the runtime's kernels ran faster than the floor."""
    rows = floor_rows(results)
    if rows.empty:
        return pd.DataFrame()
    kernel = rows["kernel_vs_library_floor"] if "kernel_vs_library_floor" in rows else float("nan")
    table = pd.DataFrame({
        "device": rows["device"], "dtype": rows["dtype"], "pass": rows["pass"], "workload": workload_names(rows),
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


GAP = 1.15  # the fastest runtime more than this over the floor: the report names the gap's cause
KERNELS_SHOWN = 2


def _top_kernels(kernels: pd.DataFrame, row: pd.Series) -> str:
    """The case's KERNELS_SHOWN longest compute kernels by name, each with its share, from kernels.csv."""
    if kernels.empty:
        return ""
    mine = kernels[(kernels["stack_id"] == row["stack_id"]) & (kernels["runtime"] == row["runtime"])
                   & (kernels["source"] == row["source"]) & (kernels["device"] == row["device"])]
    mine = mine[mine["kind"] == "kernel"].sort_values("share", ascending=False) if "kind" in mine else mine
    return "; ".join(f"{str(k.kernel)[:60]} {k.share:.0%}" for k in mine.head(KERNELS_SHOWN).itertuples())


def gap_cause(row: pd.Series, kernels: pd.DataFrame) -> str:
    """Why a case's time is more than GAP x its library floor, from its profile: launch-bound (its kernels at the
    floor, the rest gaps between them), or other kernels than the floor's plans (which ones), or not profiled."""
    kernel_ratio = row.get("kernel_vs_library_floor")
    if pd.isna(kernel_ratio):
        return "not profiled (bench --profile gives the kernels and the GPU's idle time)"
    idle, launches = row.get("gpu_idle_ms_per_forward"), row.get("launches_per_forward")
    gaps = (f"; GPU idle {idle:.3g} ms per forward between kernels, {launches:.0f} launches" if pd.notna(idle)
            and pd.notna(launches) else "")
    if kernel_ratio <= GAP:
        return (f"launch-bound: its kernels take {kernel_ratio:.2f}x the floor, the rest of its time is between "
                f"kernels{gaps}")
    ran = _top_kernels(kernels, row)
    return (f"other kernels: its kernels take {kernel_ratio:.2f}x the floor; it ran {ran or 'kernels not recorded'} "
            f"against the floor's {row.get('library_floor_plan')}{gaps}")


def gap_table(results: pd.DataFrame, kernels: pd.DataFrame) -> pd.DataFrame:
    """Per device, dtype, pass and workload whose fastest runtime is more than GAP x its library floor: that
    runtime, its time over the floor, and the gap's cause."""
    rows = floor_rows(results)
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(workload=workload_names(rows), over=rows["ms_per_forward"] / rows["library_floor_ms"])
    fastest = rows.loc[rows.groupby(["device", "dtype", "pass", "workload"])["over"].idxmin()]
    far = fastest[fastest["over"] > GAP]
    return pd.DataFrame({"device": far["device"], "dtype": far["dtype"], "pass": far["pass"],
                         "workload": far["workload"], "C": far["channels"],
                         "fastest runtime": far["runtime"] + "[" + far["source"] + "]", "time / floor": far["over"],
                         "cause": [gap_cause(row, kernels) for _, row in far.iterrows()]}).reset_index(drop=True)
