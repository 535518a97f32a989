"""What a run directory holds besides its tables, written at the end of a bench or a merge: results.parquet,
graphs.csv (the exported graphs its runtimes read, from the export manifest) and report.md with report.html; and
which cases a time budget's further rounds go to, which needs the report's verdicts. The one place where the core
calls the analysis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convbench.artifacts import Artifacts
from convbench.csvfile import read_csv_checked, replace_text
from convbench.ranking import undecided_keys as undecided_rankings
from convbench.results import GRAPHS_FILE, ResultsStore


def write_graphs(run_dir: Path, artifacts: Artifacts) -> None:
    """graphs.csv from the export manifest as it is now, keeping the rows of files an earlier part of the run read
    that the manifest no longer lists; nothing where there is no manifest."""
    from convbench.analysis.graph import inventory, updated_inventory

    if not artifacts.manifest_path.exists():
        return
    path = Path(run_dir) / GRAPHS_FILE
    previous = read_csv_checked(path) if path.exists() else None
    graphs = updated_inventory(previous, inventory(artifacts))
    replace_text(path, lambda tmp: graphs.to_csv(tmp, index=False))


def write_report(run_dir: Path) -> Path:
    """report.md (and report.html, and their pictures) of the run directory; its path."""
    from convbench.analysis.report import write_report as write

    return write(Path(run_dir))


def write_outputs(store: ResultsStore, artifacts: Artifacts | None) -> Path | None:
    """results.parquet, graphs.csv (where `artifacts` are given) and the report (where the run has a result row);
    the report's path, or None."""
    store.write_parquet()
    if artifacts is not None:
        write_graphs(store.run_dir, artifacts)
    return write_report(store.run_dir) if store.csv_path.exists() else None


def undecided_keys(results: pd.DataFrame, processes: pd.DataFrame) -> set[tuple[str, ...]]:
    """The row keys a further round should time (convbench.bench's extra rounds): those of every case whose
    ranking at the top is undecided (convbench.ranking), and those behind every 2017 verdict the report gives as
    undecided (convbench.analysis.verdicts)."""
    from convbench.analysis.verdicts import undecided_verdict_keys

    return undecided_rankings(results, processes) | undecided_verdict_keys(results, processes)
