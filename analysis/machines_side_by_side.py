"""Machines side by side: per workload (pass, dtype, conv type or network, channels, batch), each machine's fastest
way and time with its process range, and which machine and runtime is fastest overall, and by how much.

A run holds several machines when a cluster timed it (convbench.cluster) or when `convbench merge` joined runs timed
apart. The other sections of a report read one machine per device (`one_machine_per_device`): they compare runtimes,
and two machines' rows of one case would be read as one case twice."""

from __future__ import annotations

import pandas as pd

WORKLOAD = ["pass", "dtype", "workload", "channels", "batch"]


def machines_of(results: pd.DataFrame) -> list[str]:
    """The machines with an ok row, most ok rows first."""
    if "machine" not in results or results.empty:
        return []
    ok = results[(results["status"] == "ok") & (results["machine"].fillna("") != "")]
    return list(ok["machine"].value_counts().index)


def one_machine_per_device(results: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The rows of one machine per device (the one with the most ok rows there), and per device the machines left
    out; the rows unchanged where each device has one machine."""
    if "machine" not in results or results.empty:
        return results, {}
    kept, left_out = [], {}
    for device, rows in results.groupby("device", sort=False):
        ranked = machines_of(rows) or list(dict.fromkeys(rows["machine"]))
        kept.append(rows[rows["machine"] == ranked[0]])
        if len(ranked) > 1:
            left_out[str(device)] = ranked[1:]
    return pd.concat(kept).sort_index(), left_out


def machines_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per workload that more than one machine timed: per machine, its fastest runtime[source] and ms with
    the process range; the fastest machine and runtime overall, how many times faster than the next machine, and
    whether the two process ranges are apart (the margin is beyond the spread)."""
    machines = machines_of(results)
    if len(machines) < 2:
        return pd.DataFrame()
    ok = results[results["status"] == "ok"].assign(
        workload=lambda t: t["variant"].where(t["variant"].notna() & (t["variant"] != ""), t.get("network")))
    rows = []
    for key, group in ok.groupby(WORKLOAD, sort=True, dropna=False):
        best = group.loc[group.groupby("machine")["ms_per_forward"].idxmin()].sort_values("ms_per_forward")
        if len(best) < 2:
            continue
        entry = dict(zip(WORKLOAD, key, strict=True))
        for machine in machines:
            mine = best[best["machine"] == machine]
            entry[machine] = _cell(mine.iloc[0]) if len(mine) else ""
        first, second = best.iloc[0], best.iloc[1]
        entry["fastest"] = f"{first['machine']}: {first['runtime']}[{first['source']}]/{first['device']}"
        entry["x vs next machine"] = second["ms_per_forward"] / first["ms_per_forward"]
        entry["beyond spread"] = bool(_process_ms(first, "ms_process_max") < _process_ms(second, "ms_process_min"))
        rows.append(entry)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["channels"] = table["channels"].map(lambda c: "" if pd.isna(c) else int(c))
    return table


def _cell(row: pd.Series) -> str:
    spread = (f" ({row['ms_process_min']:.3g}-{row['ms_process_max']:.3g})"
              if pd.notna(row.get("ms_process_min")) and pd.notna(row.get("ms_process_max")) else "")
    return f"{row['ms_per_forward']:.3g} ms{spread} {row['runtime']}[{row['source']}]/{row['device']}"


def _process_ms(row: pd.Series, column: str) -> float:
    """The row's slowest or fastest process median (`column`), its median where it has no process range."""
    value = row.get(column)
    return float(value) if pd.notna(value) else float(row["ms_per_forward"])


def machines_answer(table: pd.DataFrame) -> list[str]:
    """Markdown lines: how often each machine is the fastest, and the median margin over the next machine."""
    if table.empty:
        return []
    winners = table["fastest"].str.split(": ").str[0].value_counts()
    share = ", ".join(f"**{machine}** in {count} of {len(table)}" for machine, count in winners.items())
    apart = int(table["beyond spread"].sum())
    return [f"- Fastest machine per workload: {share}; the median margin over the next machine is "
            f"{table['x vs next machine'].median():.3g}x, beyond both machines' process ranges in {apart} of "
            f"{len(table)}."]
