"""How far each number can be trusted, from a run's own files: the spread between fresh processes, unstable
cases with their per-process medians, time to first result, latency beside throughput, and the machine's
conditions while it ran (conditions.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convbench.analysis.ratios import GROUP, label, ok_at_largest_channels
from convbench.conditions import SLOWDOWN_REASONS
from convbench.csvfile import read_jsonl_checked
from convbench.models.variants import VARIANTS
from convbench.results import KEY_COLUMNS, read_results, row_keys

# Clocks at the end of a family's process below this fraction of the GPU's maximum are reported as dropped.
CLOCK_DROP = 0.85
# Other processes keeping more than this fraction of the CPUs busy just before a family's process: a warning.
BUSY = 0.25


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["status"] == "ok"]


def spread_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per runtime/source/device: processes per case, median and worst spread between processes, and the
    median within-process IQR (both as fractions of the median), and how many cases were unstable."""
    ok = _ok(results)
    if "process_spread" not in ok:
        return pd.DataFrame()
    ok = ok[ok["process_spread"].notna()]  # runs from before repeats have no spread
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(iqr_rel=ok["ms_iqr"] / ok["ms_per_forward"], unstable=ok["unstable"].eq(True))
    rows = []
    for key, group in ok.groupby(GROUP, sort=False):
        rows.append({"runtime": label(*key), "cases": len(group), "processes": int(group["processes"].median()),
                     "median spread": group["process_spread"].median(), "worst spread": group["process_spread"].max(),
                     "median IQR / median": group["iqr_rel"].median(), "unstable": int(group["unstable"].sum())})
    return pd.DataFrame(rows)


def unstable_cases(results: pd.DataFrame, processes: pd.DataFrame | None) -> pd.DataFrame:
    """Every unstable case: its median, spread, within-process IQR and each process's median (ms), in order."""
    ok = _ok(results)
    if "unstable" not in ok:
        return pd.DataFrame()
    flagged = ok[ok["unstable"].eq(True)]
    per_process: dict[tuple[str, ...], str] = {}
    if processes is not None and not processes.empty:
        done = processes[processes["status"] == "ok"].sort_values("process")
        for key, group in done.groupby(KEY_COLUMNS, sort=False):
            per_process[tuple(str(k) for k in key)] = ", ".join(f"{ms:.4g}" for ms in group["ms_per_forward"])
    rows = []
    for row in flagged.itertuples():
        key = tuple(str(getattr(row, column)) for column in KEY_COLUMNS)
        rows.append({"case": f"{row.stack_id} {label(row.runtime, row.source, row.device, row.dtype)}",
                     "ms_per_forward": row.ms_per_forward, "spread": row.process_spread,
                     "IQR / median": row.ms_iqr / row.ms_per_forward,
                     "process medians [ms]": per_process.get(key, "")})
    return pd.DataFrame(rows)


def first_result(results: pd.DataFrame) -> pd.DataFrame:
    """Per runtime/source/device at its largest channel count, medians over conv types (ms): framework import
    in a fresh process, set-up (of which compile, and whether that compile was cold or served by an on-disk
    cache: a column only where some runtime has that cache), the first forward, their sum (time to first result),
    and the steady forward for comparison."""
    cases = ok_at_largest_channels(results)
    if cases.empty or "setup_ms" not in cases or cases["setup_ms"].isna().all():
        return pd.DataFrame()
    rows = []
    for key, group in cases.groupby(GROUP, sort=False):
        first = time_to_first_result_ms(group)
        rows.append({"runtime": label(*key), "C": int(group["channels"].iloc[0]),
                     "import": group["import_ms"].median(), "setup": group["setup_ms"].median(),
                     "of which compile": group["compile_ms"].median(),
                     "compile cache": _cache_states(group),
                     "first forward": group["first_forward_ms"].median(),
                     "time to first result": first.median(), "worst conv type": first.max(),
                     "steady forward": group["ms_per_forward"].median()})
    table = pd.DataFrame(rows)
    return table.drop(columns="compile cache") if (table["compile cache"] == "").all() else table


def time_to_first_result_ms(rows: pd.DataFrame) -> pd.Series:
    """Per result row, ms from a fresh process to its first result: the framework's import (0 where not
    recorded), set-up with any compile, and the first forward or step."""
    return rows["import_ms"].fillna(0) + rows["setup_ms"] + rows["first_forward_ms"]


def _cache_states(group: pd.DataFrame) -> str:
    """How many of the group's rows compiled cold or warm (torch.compile's compile_cache); empty for runtimes
    without an on-disk compile cache, or runs from before the column."""
    if "compile_cache" not in group:
        return ""
    counts = group["compile_cache"].dropna().value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{state} {count}" for state, count in counts.items())


def latency_vs_throughput(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows: runtime/source/device; columns: conv types at the largest channel count; cells: `column`."""
    cases = ok_at_largest_channels(results)
    if cases.empty or column not in cases or cases[column].isna().all():
        return pd.DataFrame()
    table = cases.assign(runtime=[label(*k) for k in cases[GROUP].itertuples(index=False)]).pivot_table(
        index="runtime", columns="variant", values=column, aggfunc="median", sort=False)
    return table.reindex(columns=[v for v in VARIANTS if v in table.columns])


def read_conditions(path: Path) -> list[dict]:
    """The snapshots of conditions.jsonl (convbench.csvfile.read_jsonl_checked)."""
    return read_jsonl_checked(path)


def conditions_lines(snapshots: list[dict], cpu_count: int | None) -> list[str]:
    """What the machine was doing around the timings, and a warning wherever the numbers may have suffered."""
    if not snapshots:
        return ["No conditions were recorded in this run (conditions.jsonl is missing)."]
    lines = []
    before = [s for s in snapshots if s.get("phase") == "before"]
    loads = [s["loadavg_1min"] for s in before]
    if loads:
        lines.append(f"Load average (1 min) before each family's process: {min(loads):.2f} to {max(loads):.2f}"
                     f"{f' on {cpu_count} cores' if cpu_count else ''} (this run's own previous worker included).")
    busy = [s["cpu_busy_fraction"] for s in before if s.get("cpu_busy_fraction") is not None]
    if busy:
        lines.append(f"CPUs busy with other processes just before each family's process (none of this run's "
                     f"workers running): {min(busy):.0%} to {max(busy):.0%}.")
    for s in before:
        if (s.get("cpu_busy_fraction") or 0) > BUSY:
            lines.append(f"**Warning:** other processes kept {s['cpu_busy_fraction']:.0%} of the CPUs busy just "
                         f"before {s['family']} process {s['process']}: its timings may be slower than the machine "
                         "can do.")
    mhz = [s["cpu_mhz_min"] for s in snapshots if s.get("cpu_mhz_min")]
    if mhz:
        governors = sorted({s.get("cpu_governor") or "not exposed" for s in snapshots})
        lines.append(f"CPU clock as the kernel reports it: {min(mhz):.0f} to "
                     f"{max(s['cpu_mhz_max'] for s in snapshots if s.get('cpu_mhz_max')):.0f} MHz "
                     f"(governor: {', '.join(governors)}).")
    gpu_snaps = [(s, g) for s in snapshots if isinstance(s.get("gpus"), list) for g in s["gpus"]]
    if not gpu_snaps:
        reasons = {str(s.get("gpus")) for s in snapshots if isinstance(s.get("gpus"), str)}
        lines.append(f"GPU conditions not read ({'; '.join(sorted(reasons)) or 'no GPU'}).")
        return lines
    after = [(s, g) for s, g in gpu_snaps if s.get("phase") == "after"]
    if after:
        clocks = [g["sm_clock_mhz"] for _, g in after]
        temps = [g["temperature_c"] for _, g in after]
        lines.append(f"GPU SM clock at the end of each family's process: {min(clocks)} to {max(clocks)} MHz "
                     f"(maximum {after[0][1]['sm_clock_max_mhz']} MHz); temperature {min(temps)} to {max(temps)} C.")
    for s, g in after:
        slow = [r for r in g["clock_event_reasons"] if r in SLOWDOWN_REASONS]
        if slow or g["sm_clock_mhz"] < CLOCK_DROP * g["sm_clock_max_mhz"]:
            lines.append(f"**Warning:** GPU {g['index']} after {s['family']} process {s['process']}: SM clock "
                         f"{g['sm_clock_mhz']} MHz of {g['sm_clock_max_mhz']}"
                         f"{', held down by ' + ', '.join(slow) if slow else ''}.")
    others = sorted({(s["family"], s["process"], p["pid"]) for s, g in gpu_snaps for p in g.get("other_processes", [])})
    for family, process, pid in others:
        lines.append(f"**Warning:** another process (pid {pid}) was using the GPU around {family} process "
                     f"{process}: timings there may include its work.")
    if not others:
        lines.append("No other process was seen on the GPU.")
    return lines


def read_processes(run_dir: Path) -> pd.DataFrame | None:
    path = Path(run_dir) / "processes.csv"
    return read_results(path) if path.exists() else None


def unfinished_cases(results: pd.DataFrame, processes: pd.DataFrame | None) -> pd.DataFrame:
    """Cases a run began and did not finish: process rows in processes.csv and no row in results.csv (the run was
    stopped before the case's last process). One row per case: its key, and `processes_done`."""
    if processes is None or processes.empty:
        return pd.DataFrame(columns=[*KEY_COLUMNS, "processes_done"])
    done = set(row_keys(results)) if not results.empty else set()
    begun = processes.assign(key=row_keys(processes))
    begun = begun[~begun["key"].isin(done)]
    return (begun.groupby(KEY_COLUMNS, sort=False, dropna=False).size().rename("processes_done").reset_index())


def bare_vs_workers(bare: pd.DataFrame, processes: pd.DataFrame | None) -> pd.DataFrame:
    """Per reference case and round: convbench's worker process of that case and round beside the bare processes
    (a user's own script, convbench.bare_reference) with glibc's malloc pinned as in the workers and as a plain
    script starts it (convbench.malloc_settings), and worker / bare for each. Runs from before the malloc modes
    have default rows only; a case whose bare processes all failed gives no row."""
    if bare.empty or processes is None or processes.empty:
        return pd.DataFrame()
    malloc = bare["malloc"].fillna("default") if "malloc" in bare else pd.Series("default", index=bare.index)
    ok = bare.assign(malloc=malloc)[bare["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    workers = processes[processes["status"] == "ok"].set_index([*KEY_COLUMNS, "process"])["ms_per_forward"]
    rows = []
    for key, group in ok.groupby([*KEY_COLUMNS, "process"], sort=False, dropna=False):
        ms = dict(zip(group["malloc"], group["ms_per_forward"], strict=True))
        worker = workers.get(key, float("nan"))
        first = group.iloc[0]
        pinned, default = ms.get("pinned", float("nan")), ms.get("default", float("nan"))
        rows.append({"case": f"{first.runtime}[{first.source}] {first.stack_id}", "round": int(first.process) + 1,
                     "worker ms": worker, "bare ms (malloc pinned)": pinned, "worker / bare pinned": worker / pinned,
                     "bare ms (glibc default)": default, "worker / bare default": worker / default})
    return pd.DataFrame(rows).dropna(axis=1, how="all")
