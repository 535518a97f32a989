"""`convbench merge RUN... --out DIR`: runs timed apart (on different machines, or one machine's runs of different
sweeps) joined into one run directory, whose report sets the machines side by side.

Every table is the runs' rows together, each row keeping the machine, host and environment that timed it (a run
from before machines were named gets them from its env.json). env.json is the first run's, with every run's machines
under `machines` (nodes and ceilings) and the runs under `merged_from`. The same case timed on the same machine in
two runs is refused: which one to keep is the user's choice, not the merge's."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from convbench.csvfile import read_csv_checked, read_jsonl_checked, replace_text
from convbench.errors import BadInput
from convbench.machines import machine_label
from convbench.outputs import write_outputs
from convbench.results import (
    COLUMNS,
    GRAPHS_FILE,
    KERNEL_COLUMNS,
    LAYER_COLUMNS,
    PROCESS_COLUMNS,
    SAMPLE_COLUMNS,
    ResultsStore,
    existing_run_dir,
    is_run_dir,
    read_env,
    read_results,
    row_keys,
)
from convbench.schema import table_columns

TABLES = {"results.csv": COLUMNS, "processes.csv": PROCESS_COLUMNS, "kernels.csv": KERNEL_COLUMNS,
          "layers.csv": LAYER_COLUMNS, "samples.csv": SAMPLE_COLUMNS, "bare.csv": table_columns("bare")}


@dataclass(frozen=True)
class Merged:
    """A finished merge: the runs it joined, the machines of its rows, its report."""

    runs: list[Path]
    machines: list[str]
    report: Path


def merge_into(runs: list[Path], out: Path) -> Merged:
    """Merge `runs` into `out` and write its report: all of it or nothing. The merge is written into a new folder
    beside `out` and renamed to `out` once whole; a merge that fails leaves `out` as it was (absent, or empty)."""
    resolved = [existing_run_dir(run) for run in runs]
    if len(set(resolved)) < 2:
        raise BadInput(f"merge needs two runs or more, got {len(set(resolved))} ({', '.join(map(str, runs))})")
    out = Path(out)
    _check_out(out)
    staging = out.parent / f".{out.name}.merging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        store = merge_runs(resolved, staging)
        machines = sorted(store.read()["machine"].dropna().astype(str).unique())
        if out.exists():
            out.rmdir()  # empty: _check_out said so
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        report = write_outputs(ResultsStore(out), None)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return Merged(resolved, machines, report)


def _check_out(out: Path) -> None:
    """BadInput unless --out is a folder that can be made, or an empty one."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: a file, not a folder; pass a new or empty folder")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            what = "already holds a run" if is_run_dir(out) else f"holds files ({entries[0]})"
            raise BadInput(f"--out {out}: {what}; pass a new or empty folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out {out}: cannot create its folder ({error.strerror or error})") from None
    if not os.access(out.parent, os.W_OK):
        raise BadInput(f"--out {out}: cannot write in {out.parent}")


def merge_runs(runs: list[Path], out: Path) -> ResultsStore:
    """Write the merged run into `out` (new or empty) and return its store; BadInput where two runs hold the
    same case on the same machine."""
    results = [read_results(run / "results.csv") for run in runs]
    _refuse_duplicates(runs, results)
    for run in runs:  # every file read (and checked) before anything is written
        read_env(run)
        read_jsonl_checked(run / "conditions.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    for name, columns in TABLES.items():
        tables = [results[i] if name == "results.csv" else read_results(run / name)
                  for i, run in enumerate(runs) if (run / name).exists()]
        if tables:
            merged = pd.concat(tables, ignore_index=True)
            merged = merged.reindex(columns=[*columns, *(c for c in merged.columns if c not in columns)])
            replace_text(out / name, lambda tmp, m=merged: m.to_csv(tmp, index=False))
    graphs = [read_csv_checked(run / GRAPHS_FILE) for run in runs if (run / GRAPHS_FILE).exists()]
    if graphs:
        replace_text(out / GRAPHS_FILE, lambda tmp: pd.concat(graphs).drop_duplicates().to_csv(tmp, index=False))
    lines = [json.dumps({**snapshot, "run": run.name}, sort_keys=True)
             for run in runs for snapshot in read_jsonl_checked(run / "conditions.jsonl")]
    replace_text(out / "conditions.jsonl", lambda tmp: tmp.write_text("".join(line + "\n" for line in lines)))
    store = ResultsStore(out)
    store.write_env(_merged_env(runs, results))
    store.write_parquet()
    return store


def _refuse_duplicates(runs: list[Path], results: list[pd.DataFrame]) -> None:
    seen: dict[tuple[str, ...], Path] = {}
    for run, table in zip(runs, results, strict=True):
        for key in row_keys(table):
            if key in seen:
                stack, runtime, source, device, machine = key
                raise BadInput(f"{seen[key]} and {run} both hold {stack} {runtime}[{source}]/{device} timed on "
                                 f"{machine or 'an unnamed machine'}: merge runs of different machines or sweeps "
                                 "(name machines apart with CONVBENCH_MACHINE)")
            seen[key] = run


def _merged_env(runs: list[Path], results: list[pd.DataFrame]) -> dict:
    """The first run's env.json, with each run's machines: a cluster run's own entries, or one entry per device of
    a run timed on one machine (its env as the node, its ceilings)."""
    envs = [read_env(run) for run in runs]
    merged = {**envs[0], "machines": {}, "merged_from": [str(run) for run in runs]}
    for run, env, table in zip(runs, envs, results, strict=True):
        if env.get("machines"):
            merged["machines"].update(env["machines"])
            continue
        for device in table["device"].dropna().unique():
            label = machine_label(env, str(device)) if env else str(table.loc[table["device"] == device,
                                                                              "machine"].iloc[0])
            merged["machines"][label] = {
                "device": str(device), "nodes": {env.get("host") or run.name: env} if env else {},
                "ceilings": {str(device): (env.get("ceilings") or {}).get(device) or {}}, "run": run.name}
    return merged

