"""The results store, one run directory: results.csv (one tidy row per case, appended once its last process has
timed it), processes.csv (one row per case and worker process, appended as each finishes, so a run resumes
mid-repeat), kernels.csv (what each profiled case ran), layers.csv (each conv layer's kernel time, where the
profiler tells the layers apart), conditions.jsonl, env.json (the environment once per run),
workers.log; results.parquet holds results.csv's table when the run ends. results/latest points at the newest
run of the results folder.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from convbench.csvfile import (
    append_text,
    csv_line,
    drop_partial_tail,
    read_csv_checked,
    read_json_checked,
    replace_text,
)
from convbench.derived import profiled_overhead
from convbench.errors import CorruptFile
from convbench.models.variants import theoretical_vs_conv3x3
from convbench.schema import (
    CASE_COLUMNS,
    KEY_COLUMNS,
    OLD_NAMES,
    STATUSES,
    WORKLOAD_COLUMNS,
    check_known_columns,
    table_columns,
)
from convbench.spec import Case, SeedStack

# The tables' columns, in file order (convbench.schema declares each column once, with the tables that carry it).
SPEC_COLUMNS = [c.name for c in WORKLOAD_COLUMNS]
COLUMNS = table_columns("results")
PROCESS_COLUMNS = table_columns("processes")  # one row per case and process, appended as each process finishes
KERNEL_COLUMNS = table_columns("kernels")  # per profiled case, every kernel its profiler saw
LAYER_COLUMNS = table_columns("layers")  # per profiled case whose profiler tells its convs apart, each conv layer
SAMPLE_COLUMNS = table_columns("samples")  # every timed value of every process
__all__ = ["CASE_COLUMNS", "COLUMNS", "KERNEL_COLUMNS", "KEY_COLUMNS", "LAYER_COLUMNS", "PROCESS_COLUMNS",
           "SAMPLE_COLUMNS", "SPEC_COLUMNS", "STATUSES"]


# A directory holding any of these is a run's (bench may resume it); one holding other files only is not. A folder
# with a library floor cache alone (convbench.library_floor's, copied from another run of the same GPU) starts a run.
GRAPHS_FILE = "graphs.csv"  # written by `bench` from the export manifest and the ONNX files (graphs table)
RUN_MARKERS = ("results.csv", "processes.csv", "env.json", "request.json", "library_floors.csv")


def is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_MARKERS)


def existing_run_dir(path: Path) -> Path:
    """A run directory that holds results (resolved: results/latest names the run it points at); BadInput else."""
    from convbench.errors import BadInput

    if not (Path(path) / "results.csv").is_file():
        raise BadInput(f"{path}: not a run directory (no results.csv); runs live under results/")
    return Path(path).resolve()


def new_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


def new_run_dir(results_root: Path, now: datetime | None = None) -> Path:
    """A new, empty run directory under `results_root` named by the time; a second run started in the same
    second gets -2, -3, ... (mkdir is atomic, so two runs never share one)."""
    results_root.mkdir(parents=True, exist_ok=True)
    base = new_run_id(now)
    for attempt in range(1, 1000):
        path = results_root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{results_root}: 999 runs named {base}*")


class _CsvTable:
    """A CSV file of fixed columns, appended one whole, fsynced row at a time (convbench.csvfile's rules)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table
        self.columns = table_columns(table)
        self._keys: set[tuple[str, ...]] | None = None  # see case_keys()

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, row: dict[str, object]) -> None:
        self.append_rows([row])

    def append_rows(self, rows: list[dict[str, object]]) -> None:
        """Append `rows` in one write and one fsync: all of them or none. A value under a name the schema does not
        declare is a ValueError; a declared column this table does not carry is not written here."""
        for row in rows:
            check_known_columns(row, self.path.name)
            if "status" in self.columns and row.get("status") not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}, got {row.get('status')!r}")
        drop_partial_tail(self.path)
        columns = self._file_columns()
        header = "" if columns else ",".join(self.columns) + "\n"
        append_text(self.path, header + "".join(csv_line(columns or self.columns, row, _cell) for row in rows))
        if self._keys is not None:
            self._keys.update(tuple(str(row[c]) for c in KEY_COLUMNS) for row in rows)

    def _file_columns(self) -> list[str]:
        """The header of the file as it is (empty if there is none yet): rows are written in its columns, so a run
        begun by an older convbench, whose table lacks a column added since, stays readable when resumed."""
        if not self.path.exists() or not self.path.stat().st_size:
            return []
        with self.path.open(newline="") as handle:
            return next(csv.reader(handle), [])

    def case_keys(self) -> set[tuple[str, ...]]:
        """The case keys the file holds rows for: read once, then kept up to date by this writer (the run lock
        makes it the only one)."""
        if self._keys is None:
            self._keys = set(row_keys(self.read())) if self.exists() else set()
        return self._keys

    def read(self) -> pd.DataFrame:
        return read_results(self.path)

    def rewrite(self, table: pd.DataFrame) -> None:
        replace_text(self.path, lambda tmp: table.reindex(columns=self.columns).to_csv(tmp, index=False))
        self._keys = None

    def drop_failed(self) -> None:
        if self.path.exists():
            table = self.read()
            kept = table[table["status"] != "failed"]
            if len(kept) != len(table):
                self.rewrite(kept)


class ResultsStore:
    """One run directory. Rows are appended and flushed one at a time, so a crash keeps what was measured:
    results.csv gets a case's row once every process has timed it, processes.csv each process's row at once."""

    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        self.run_dir = run_dir.resolve() if run_dir.is_symlink() else run_dir  # results/latest: the run it names
        self.csv_path = self.run_dir / "results.csv"
        self.parquet_path = self.run_dir / "results.parquet"
        self.env_path = self.run_dir / "env.json"
        self.log_path = self.run_dir / "workers.log"
        self.conditions_path = self.run_dir / "conditions.jsonl"
        self._results = _CsvTable(self.csv_path, "results")
        self._processes = _CsvTable(self.run_dir / "processes.csv", "processes")
        self._kernels = _CsvTable(self.run_dir / "kernels.csv", "kernels")
        self._layers = _CsvTable(self.run_dir / "layers.csv", "layers")
        self._samples = _CsvTable(self.run_dir / "samples.csv", "samples")
        self._bare = _CsvTable(self.run_dir / "bare.csv", "bare")
        self._sampled: set[tuple[tuple[str, ...], int]] | None = None  # see append_samples

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def processes_path(self) -> Path:
        return self._processes.path

    def open(self) -> None:
        """Create the directory; drop a partial last line any file was left with (a write cut short), keep rows
        already measured (ok or skipped) and drop failed ones for a retry."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.csv_path, self.processes_path, self.kernels_path, self._layers.path, self.conditions_path,
                     self.samples_path, self.bare_path):
            drop_partial_tail(path)
        parquet = self.run_dir / "samples.parquet"
        if parquet.exists() and not self.samples_path.exists():  # a run kept without its log (samples.csv): the
            # log goes on from what the run ended with, or write_parquet would keep only what this resume adds
            kept = pd.read_parquet(parquet).reindex(columns=SAMPLE_COLUMNS)
            replace_text(self.samples_path, lambda tmp: kept.to_csv(tmp, index=False))
        self._results.drop_failed()
        self._processes.drop_failed()

    def done_keys(self) -> set[tuple[str, ...]]:
        if not self.csv_path.exists():
            return set()
        return set(row_keys(self.read()))

    def append(self, row: dict[str, object]) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"results.csv carries no column {', '.join(sorted(unknown))} (convbench/schema.py)")
        self._results.append(row)

    def append_process(self, row: dict[str, object]) -> None:
        self._processes.append(row)

    @property
    def kernels_path(self) -> Path:
        return self._kernels.path

    def replace_kernels(self, key: tuple[str, ...], rows: list[dict[str, object]]) -> None:
        """The kernel rows of one case (a case profiled again replaces its rows)."""
        _replace_case_rows(self._kernels, key, rows)

    def replace_layers(self, key: tuple[str, ...], rows: list[dict[str, object]]) -> None:
        """The per-layer rows of one case (layers.csv; a case profiled again replaces its rows)."""
        _replace_case_rows(self._layers, key, rows)

    @property
    def bare_path(self) -> Path:
        return self._bare.path

    def append_bare(self, row: dict[str, object]) -> None:
        """One bare reference process's figure (bare.csv: convbench.bare_reference)."""
        self._bare.append(row)

    @property
    def samples_path(self) -> Path:
        return self._samples.path

    def append_samples(self, key: tuple[str, ...], process: int, rows: list[dict[str, object]]) -> None:
        """One process's timed values of one case (samples.csv), in one write. A process timed again (after a
        failed one was dropped for a retry) replaces its values."""
        key_columns = dict(zip(KEY_COLUMNS, key, strict=True))
        if self._sampled is None:  # the (case, process) pairs on disk: read once, then kept up to date
            table = read_if_present(self.samples_path)
            self._sampled = (set(zip(row_keys(table), table["process"].astype(int), strict=True))
                             if not table.empty else set())
        if (key, process) in self._sampled:
            current = self._samples.read()
            same = (current[KEY_COLUMNS].astype(str) == list(key)).all(axis=1) & (current["process"] == process)
            self._samples.rewrite(current[~same])
        self._samples.append_rows([{**key_columns, "process": process, **row} for row in rows])
        self._sampled.add((key, process))

    def read_samples(self) -> pd.DataFrame:
        """Every timed value of the run: samples.parquet where the run ended, else samples.csv; empty where it
        kept none (a run from before samples were kept)."""
        parquet = self.run_dir / "samples.parquet"
        if parquet.exists() and (not self.samples_path.exists()
                                 or parquet.stat().st_mtime >= self.samples_path.stat().st_mtime):
            return pd.read_parquet(parquet)
        return read_if_present(self.samples_path)

    def process_rows(self) -> dict[tuple[str, ...], dict[int, dict[str, object]]]:
        """Per case key, its process rows kept so far by process index (to resume a case mid-repeat)."""
        if not self._processes.exists():
            return {}
        table = self._processes.read()
        rows: dict[tuple[str, ...], dict[int, dict[str, object]]] = {}
        for key, row in zip(row_keys(table), table.to_dict("records"), strict=True):
            row["options"] = json.loads(row["options"]) if isinstance(row.get("options"), str) else {}
            rows.setdefault(key, {})[int(row["process"])] = row
        return rows

    def skipped_reasons(self) -> dict[tuple[str, ...], str]:
        """The reason of every skipped row, by case key."""
        if not self.csv_path.exists():
            return {}
        table = self.read()
        skipped = table[table["status"] == "skipped"]
        return dict(zip(row_keys(skipped), skipped["reason"].fillna("").astype(str), strict=True))

    def drop(self, keys: set[tuple[str, ...]]) -> None:
        """Remove the result rows of these case keys (to decide those cases again)."""
        table = self.read()
        self._results.rewrite(table[[key not in keys for key in row_keys(table)]])

    def update(self, key: tuple[str, ...], values: dict[str, object]) -> None:
        """Fill in columns of the row with this key (kernel times, after the timing) and rewrite the file."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"results.csv carries no column {', '.join(sorted(unknown))} (convbench/schema.py)")
        table = self.read()
        match = (table[KEY_COLUMNS].astype(str) == list(key)).all(axis=1)
        for column, value in values.items():
            if isinstance(value, str) and table[column].dtype != object:
                table[column] = table[column].astype(object)
            table.loc[match, column] = value
        self._results.rewrite(table)

    def unprofiled(self, cases: Sequence[Case]) -> list[tuple[Case, float]]:
        """Those of `cases` timed ok here with no kernel columns yet, with their median ms per forward."""
        if not self.csv_path.exists():
            return []
        table = self.read()
        table = table[(table["status"] == "ok") & (table["kernel_method"].fillna("") == "")]
        medians = dict(zip(row_keys(table), table["ms_per_forward"], strict=True))
        return [(case, float(medians[case.key])) for case in cases if case.key in medians]

    def read(self) -> pd.DataFrame:
        return self._results.read()

    def write_parquet(self) -> Path | None:
        """results.parquet, and samples.parquet beside it (samples.csv, the run's log of them, stays for a resume)."""
        if not self.csv_path.exists():
            return None
        table = self.read()
        replace_text(self.parquet_path, lambda tmp: table.to_parquet(tmp, index=False))
        if self.samples_path.exists():
            samples = read_results(self.samples_path)
            replace_text(self.run_dir / "samples.parquet", lambda tmp: samples.to_parquet(tmp, index=False))
        return self.parquet_path

    def write_env(self, env: dict[str, object]) -> None:
        replace_text(self.env_path, lambda tmp: tmp.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n"))

    def append_conditions(self, snapshot: dict[str, object]) -> None:
        append_text(self.conditions_path, json.dumps(snapshot, sort_keys=True) + "\n")

    def point_latest(self, results_root: Path) -> Path | None:
        """Make <results_root>/latest a relative symlink to this run, if the run lives directly in results_root;
        a run directory elsewhere gets no link (None)."""
        if self.run_dir.resolve().parent != Path(results_root).resolve():
            return None
        latest = self.run_dir.parent / "latest"
        tmp = self.run_dir.parent / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.run_dir.name)
        tmp.replace(latest)
        return latest


def _replace_case_rows(table: _CsvTable, key: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    """A case's rows of a per-case table (kernels.csv, layers.csv), appended in one write; the file is read and
    rewritten only where it already holds rows of that case (a case profiled again)."""
    if key in table.case_keys():
        current = table.read()
        table.rewrite(current[~(current[KEY_COLUMNS].astype(str) == list(key)).all(axis=1)])
    if rows:
        table.append_rows([{**dict(zip(KEY_COLUMNS, key, strict=True)), **row} for row in rows])


def read_if_present(path: Path) -> pd.DataFrame:
    """read_results of a table a run may not have (kernels.csv, layers.csv): empty where the file is not there."""
    return read_results(path) if path.exists() else pd.DataFrame()


def row_keys(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each row's key (stack_id, runtime, source, device, machine), as Case.key spells it."""
    return [tuple(row) for row in table[KEY_COLUMNS].astype(str).itertuples(index=False)]


def read_env(run_dir: Path) -> dict:
    """A run's env.json ({} where there is none); CorruptFile, one line, where it is damaged."""
    path = Path(run_dir) / "env.json"
    return read_json_checked(path) if path.exists() else {}


def read_results(path: Path) -> pd.DataFrame:
    """A results, processes or kernels table, checked (convbench.csvfile): CorruptFile, one line, if damaged (a
    status that is not ok, skipped or failed included)."""
    table = read_csv_checked(path, required=CASE_COLUMNS)
    if "status" in table:
        bad = ~table["status"].isin(STATUSES)
        if bad.any():
            at = int(bad.to_numpy().nonzero()[0][0])
            raise CorruptFile(f"{path}: line {at + 2}, column status: {table['status'].iloc[at]!r} is not one of "
                              f"{', '.join(STATUSES)}; the file is damaged")
    table = table.rename(columns={old: new for old, new in OLD_NAMES.items() if old in table and new not in table})
    if "machine" not in table:  # a run begun before machines were named: its env.json names the one it ran on
        table = _with_machine(table, path.parent / "env.json")
    table["machine"] = table["machine"].fillna("").astype(str)
    if "reason" in table:
        table["reason"] = table["reason"].fillna("")
    if "stack_id" in table and "pass" not in table:  # a run begun before the train pass: its id says the pass
        table["pass"] = table["stack_id"].astype(str).str.endswith("-train").map({True: "train", False: "forward"})
    if {"ms_per_forward", "kernel_ms_per_forward", "overhead_ms_per_forward", "kernel_method"} <= set(table):
        table = _overhead_where_kernels_agree(table)
    if {"dtype", "tf32"} <= set(table):
        table = _tf32_as_its_own_dtype(table)
    return table


def _tf32_as_its_own_dtype(table: pd.DataFrame) -> pd.DataFrame:
    """A run from before tf32 was a dtype: its float32 rows that ran in TF32 (their tf32 column says so) read as
    dtype tf32, which is what they timed."""
    ran_tf32 = table["dtype"].eq("float32") & table["tf32"].astype(str).str.lower().isin(["true", "1", "1.0"])
    if not ran_tf32.any():
        return table
    return table.assign(dtype=table["dtype"].where(~ran_tf32, "tf32"))


def _overhead_where_kernels_agree(table: pd.DataFrame) -> pd.DataFrame:
    """A run profiled before profiled_overhead's rule: its overhead where the kernels took more than the timed median
    (a negative overhead) becomes NaN, and its kernel method says why; one that came from a host-timed kernel time
    capped at the timed median (a zero overhead) becomes NaN too, saying so (a run profiled since reads so)."""
    kernel_method = table["kernel_method"].fillna("").astype(str)
    capped = (table["overhead_ms_per_forward"].eq(0)
              & kernel_method.str.contains("capped at the timed median|taken as all of it", regex=True))
    if capped.any():
        table = table.copy()
        table.loc[capped, "overhead_ms_per_forward"] = float("nan")
        table.loc[capped, "kernel_method"] = kernel_method[capped] + (
            "; overhead not given: the profiled kernels took at least the timed median (the zero was a cap)")
    disagreeing = table.index[(table["kernel_ms_per_forward"] > table["ms_per_forward"])
                              & table["overhead_ms_per_forward"].notna()]
    if disagreeing.empty:
        return table
    table = table.copy()
    for i in disagreeing:
        overhead, why = profiled_overhead(float(table.at[i, "ms_per_forward"]),
                                          float(table.at[i, "kernel_ms_per_forward"]))
        table.at[i, "overhead_ms_per_forward"] = overhead
        table.at[i, "kernel_method"] = f"{table.at[i, 'kernel_method']}{why}"
    return table


def _with_machine(table: pd.DataFrame, env_path: Path) -> pd.DataFrame:
    from convbench.machines import machine_label

    env = read_env(env_path.parent)
    host = env.get("host", "")
    if "device" not in table or not env:
        return table.assign(machine="", host=host)
    labels = {device: machine_label(env, device) for device in table["device"].dropna().unique()}
    return table.assign(machine=table["device"].map(labels).fillna(""), host=host)


def case_row(case: Case, **values: object) -> dict[str, object]:
    """The workload, key and FLOP columns of a case, plus the given values."""
    spec = case.workload
    return {
        **spec.columns(),
        **case.key_columns(),
        "gflop": spec.flops / 1e9,
        "theoretical_vs_conv3x3": (theoretical_vs_conv3x3(spec.variant, spec.channels)
                                   if isinstance(spec, SeedStack) else None),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
        **values,
    }


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value
