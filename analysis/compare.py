"""`convbench compare RUN_A RUN_B`: the same cases in two runs (two machines, two software versions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from convbench.analysis.fastest import DEFAULTS
from convbench.errors import BadInput
from convbench.ranking import CONFIDENCE, TIE_MARGIN, Ranking, Ratio, count_decisions, rank, round_values, versus
from convbench.results import CASE_COLUMNS as KEY_COLUMNS
from convbench.results import existing_run_dir, read_if_present, read_results


def noise_ms(run: pd.DataFrame) -> pd.Series:
    """How far a case's figure could move within its own run, in ms: the larger of the range between its
    processes' medians and the within-process IQR (runs from before repeats have only the IQR)."""
    iqr = run["ms_iqr"].fillna(0.0)
    if "ms_process_max" not in run:
        return iqr
    between = (run["ms_process_max"] - run["ms_process_min"]).fillna(0.0)
    return pd.concat([iqr, between], axis=1).max(axis=1)


def machines_of(run: pd.DataFrame) -> list[str]:
    """The machines of a run's ok rows."""
    return sorted(run.loc[run["status"] == "ok", "machine"].dropna().astype(str).unique()) if "machine" in run else []


def machines_line(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """How the rows were paired where the runs' machines differ: machine by machine where they share some (naming
    those only one run has), else one machine against the other (a ratio is then the machines' as much as the
    software's); None where they hold the same machines."""
    names_a, names_b = machines_of(a), machines_of(b)
    if names_a == names_b:
        return None
    shared = sorted(set(names_a) & set(names_b))
    if shared:
        only = [f"{m} (only in {'A' if m in names_a else 'B'})" for m in sorted(set(names_a) ^ set(names_b))]
        return (f"compared machine by machine on {', '.join(shared)}; not compared: {', '.join(only)}")
    return (f"A was timed on {', '.join(names_a) or 'an unnamed machine'}, B on "
            f"{', '.join(names_b) or 'an unnamed machine'}: different machines, so B / A is the machines' "
            "difference as well as the software's")


def pairing(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The columns rows are paired on: the case and its machine where the runs share a machine (a row is never
    paired with another machine's), the case alone where each run holds one machine and they differ (one machine
    against another, said by machines_line); BadInput where neither holds."""
    names_a, names_b = machines_of(a), machines_of(b)
    if set(names_a) & set(names_b) or not (names_a or names_b):
        return [*KEY_COLUMNS, "machine"]
    if len(names_a) <= 1 and len(names_b) <= 1:
        return list(KEY_COLUMNS)
    raise BadInput(f"the runs share no machine (A: {', '.join(names_a)}; B: {', '.join(names_b)}) and one holds "
                   "several: a row is compared only with the same machine's, or one machine's run with another's")


def compare_runs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per case ok in both runs (on the same machine, or one run's machine against the other's: `pairing`): both
    medians, B / A, and whether |B - A| exceeds the two runs' noise summed, each run's noise being the spread
    between its processes (or its IQR if larger).

    A difference inside what a run's own fresh processes disagree by is not called a difference: one process can
    land on a slower algorithm, alignment or core and stay there, which the within-process IQR never sees."""
    a, b = (run if "machine" in run else run.assign(machine="") for run in (a, b))
    on = pairing(a, b)
    cols = [*KEY_COLUMNS, "machine", "variant", "channels", "ms_per_forward", "noise_ms"]
    left = a.assign(noise_ms=noise_ms(a)).loc[a["status"] == "ok", cols]
    right = b.assign(noise_ms=noise_ms(b)).loc[b["status"] == "ok", cols]
    both = left.merge(right, on=[*on, "variant", "channels"], suffixes=("_a", "_b"))
    both["b_vs_a"] = both["ms_per_forward_b"] / both["ms_per_forward_a"]
    both["differs"] = (both["ms_per_forward_b"] - both["ms_per_forward_a"]).abs() > both["noise_ms_a"] + \
        both["noise_ms_b"]
    return both.sort_values(on).reset_index(drop=True)


@dataclass(frozen=True)
class Comparison:
    """`compare`'s answer: the joined table, the view of it to print with its title, and the lines after it."""

    table: pd.DataFrame
    view: pd.DataFrame
    title: str
    lines: list[str]


def ranking_agreement(a: pd.DataFrame, b: pd.DataFrame, rounds_a: Mapping, rounds_b: Mapping) -> dict[str, int]:
    """Whether two runs give the same answer (convbench.ranking), per case both ranked on the same machine (or each
    run's one machine): how many each decided with one fastest runtime, as a tie, or left undecided; how many
    contradict (the one fastest runtime of one run is beaten with confidence in the other); and how many of
    the best's speed-ups over torch eager have intervals that overlap."""
    counts = {"cases": 0, "contradictions": 0, "speedups compared": 0, "speedup intervals overlap": 0}
    on = ["stack_id", "device"] + (["machine"] if pairing(a, b)[-1] == "machine" else [])
    ok_a, ok_b = a[a["status"] == "ok"], b[b["status"] == "ok"]
    groups_b = dict(list(ok_b.groupby(on, sort=False)))
    for key, cases_a in ok_a.groupby(on, sort=False):
        cases_b = groups_b.get(key)
        if cases_b is None or len(cases_a) < 2 or len(cases_b) < 2:
            continue
        ranked = [rank(cases_a, rounds_a), rank(cases_b, rounds_b)]
        counts["cases"] += 1
        for run, ranking in zip("AB", ranked, strict=True):
            for state, n in count_decisions([ranking]).items():
                counts[f"{run}: {state}"] = counts.get(f"{run}: {state}", 0) + n
        for this, other in (ranked, ranked[::-1]):
            beaten = {label for label, ratio in other.vs_best.items() if ratio.beaten}
            if this.decided and len(this.fastest) == 1 and this.best["label"] in beaten:
                counts["contradictions"] += 1
        speedups = [_speedup_over_torch(r, rounds) for r, rounds in zip(ranked, (rounds_a, rounds_b), strict=True)]
        if all(s is not None and s.judged for s in speedups):
            first, second = speedups
            counts["speedups compared"] += 1
            counts["speedup intervals overlap"] += first.low <= second.high and second.low <= first.high
    return counts


def _speedup_over_torch(ranking: Ranking, rounds: Mapping) -> Ratio | None:
    """The best's speed-up over torch eager in its case (None where torch eager did not run or was the best)."""
    runtime, source = DEFAULTS["torch eager"]
    torch = ranking.order[(ranking.order["runtime"] == runtime) & (ranking.order["source"] == source)]
    if torch.empty or torch.index[0] == ranking.order.index[0]:
        return None
    return versus(rounds, torch.iloc[0], ranking.best)


def compare_run_dirs(path_a: Path, path_b: Path) -> Comparison:
    """The same cases in two run directories (BadInput where either is no run, or they share no ok case)."""
    a, b = existing_run_dir(path_a), existing_run_dir(path_b)
    run_a, run_b = read_results(a / "results.csv"), read_results(b / "results.csv")
    table = compare_runs(run_a, run_b)
    if table.empty:
        raise BadInput(f"{a.name} and {b.name} have no ok case in common")
    case = table["stack_id"] + " " + table["runtime"] + "[" + table["source"] + "]/" + table["device"]
    several = "machine" in table and table["machine"].nunique() > 1
    view = table.set_index(case + " on " + table["machine"] if several else case)[
        ["ms_per_forward_a", "ms_per_forward_b", "b_vs_a", "differs"]]
    view.columns = [f"A: {a.name} [ms]", f"B: {b.name} [ms]", "B / A", "beyond spread"]
    differs = int(table["differs"].sum())
    lines = [f"{len(table)} cases in both runs; {differs} differ by more than the two runs' noise summed (each: the "
             f"spread between its processes, or its IQR if larger); median B / A = {table['b_vs_a'].median():.3f}"]
    machines = machines_line(run_a, run_b)
    agreement = ranking_agreement(run_a, run_b, round_values(read_if_present(a / "processes.csv")),
                                  round_values(read_if_present(b / "processes.csv")))
    if agreement["cases"]:
        states = ", ".join(f"{name} {n}" for name, n in agreement.items() if name.startswith(("A:", "B:")))
        lines.append(f"the fastest way (convbench.ranking, {CONFIDENCE:.0%}, ties within {TIE_MARGIN:.0%}), in the "
                     f"{agreement['cases']} cases both ranked: {states}; contradictions (the one fastest runtime of "
                     f"one run is beaten in the other): {agreement['contradictions']}; the best's speed-up "
                     f"over torch eager, intervals that overlap: {agreement['speedup intervals overlap']} of "
                     f"{agreement['speedups compared']}")
    return Comparison(table, view, f"A = {a}, B = {b}", lines + ([machines] if machines else []))
