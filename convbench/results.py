"""The results store, one run directory: results.csv (one tidy row per case, appended once its last process has
timed it), processes.csv (one row per case and worker process, appended as each finishes, so a run resumes
mid-repeat), kernels.csv (what each profiled case ran), conditions.jsonl, env.json (the environment once per run),
workers.log; results.parquet holds results.csv's table when the run ends. results/latest points at the newest
run of the results folder.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pandas as pd

from convbench.models.variants import theoretical_vs_conv3x3
from convbench.spec import Case, StackSpec

SPEC_COLUMNS = [f.name for f in fields(StackSpec)]
KEY_COLUMNS = ["stack_id", "runtime", "source", "device"]
COLUMNS = [
    *SPEC_COLUMNS,
    *KEY_COLUMNS,
    "status",  # ok / skipped / failed
    "reason",
    "ms_per_forward",  # throughput: median over processes of each process's median, ms per forward of the stack
    "ms_iqr",  # interquartile range of one process's samples (ms), median over processes
    "ms_min",  # fastest sample of any process (ms per forward)
    "cv",  # coefficient of variation of one process's samples (a fraction), median over processes
    "processes",  # fresh worker processes that timed the case
    "ms_process_min",  # fastest and slowest process median (ms per forward)
    "ms_process_max",
    "process_spread",  # (ms_process_max - ms_process_min) / ms_per_forward, a fraction
    "unstable",  # processes disagree far beyond the within-process IQR (see convbench.repeats)
    "samples",  # throughput samples, all processes
    "iterations",  # forwards per sample (median over processes)
    "latency_ms_p50",  # single forwards, each synchronised: percentiles (ms), median over processes
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_forwards",  # single forwards behind the percentiles, all processes
    "import_ms",  # importing the runtime's framework in a fresh process (median over processes)
    "setup_ms",  # build or load the model, create the session, compile: everything before the first forward
    "compile_ms",  # the part of setup_ms spent compiling, tracing or capturing, where the runtime separates it
    "first_forward_ms",  # the first forward, synchronised (lazy initialisation, algorithm search)
    "gflop",  # GFLOP per forward of the whole stack
    "gflop_per_s",  # achieved rate at the median
    "theoretical_vs_conv3x3",
    "parity_rel_err",  # ||out - reference|| / ||reference||, reference = PyTorch float32 on the CPU (worst process)
    "kernel_ms_per_forward",  # from the runtime's own profiler, in a separate run (--profile)
    "overhead_ms_per_forward",  # ms_per_forward - kernel_ms_per_forward
    "profiled_ms_per_forward",  # wall time per forward of the profiled run (profiler overhead included)
    "conv_events_per_forward",  # convolution events the profiler saw per forward (one per layer expected)
    "kernel_method",  # how the kernel time was measured, or why it was not
    "copy_ms_per_forward",  # device memory copies per forward (CUDA: host<->device for numpy in/out)
    "launches_per_forward",  # host kernel / graph launch calls per forward (CUDA)
    "gpu_idle_ms_per_forward",  # GPU idle between a forward's first and last kernel (CUDA)
    "floor_ms",  # roofline floor: max(FLOPs / peak, bytes / bandwidth) with this machine's measured ceilings
    "efficiency",  # floor_ms / ms_per_forward
    "peak_used",  # which measured peak the floor took (its dtype's, TF32's, or float32's where none was measured)
    "arithmetic_intensity",  # FLOPs per byte moved (activations in and out + weights, every layer)
    "tf32",  # whether the runtime ran float32 convolutions in TF32 (GPU), empty where it does not apply
    "threads",
    "options",  # runtime options used, as JSON
    "env_id",
    "run_id",
    "finished_at",
]
# processes.csv: one row per case and process, appended as each process finishes the case.
PROCESS_COLUMNS = [
    *KEY_COLUMNS,
    "process",  # 0 .. processes - 1
    "pid",
    "status",
    "reason",
    "ms_per_forward",  # this process's median
    "ms_iqr",
    "ms_min",
    "cv",
    "samples",
    "iterations",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_forwards",
    "import_ms",
    "setup_ms",
    "compile_ms",
    "first_forward_ms",
    "parity_rel_err",
    "threads",
    "options",
    "finished_at",
]
# kernels.csv: per profiled case, every kernel (operator, primitive, node type) its profiler saw.
KERNEL_COLUMNS = [
    *KEY_COLUMNS,
    "kernel",  # the name the profiler gives it (CUDA kernel name, aten op, ORT op type and provider, ...)
    "kind",  # kernel, copy (memcpy) or memset
    "calls_per_forward",
    "calls_per_layer",
    "ms_per_forward",  # as the profiler timed it (profiled run)
    "share",  # of the case's kernel time (kernels only; copies and memsets: of the copy time); sums to 1
]
STATUSES = ("ok", "skipped", "failed")


def new_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


class _CsvTable:
    """A CSV file of fixed columns, appended one flushed row at a time."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, row: dict[str, object]) -> None:
        if "status" in self.columns and row.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {row.get('status')!r}")
        new_file = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            if new_file:
                writer.writeheader()
            writer.writerow({c: _cell(row.get(c)) for c in self.columns})
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> pd.DataFrame:
        return read_results(self.path)

    def rewrite(self, table: pd.DataFrame) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        table.reindex(columns=self.columns).to_csv(tmp, index=False)
        tmp.replace(self.path)

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
        self._results = _CsvTable(self.csv_path, COLUMNS)
        self._processes = _CsvTable(self.run_dir / "processes.csv", PROCESS_COLUMNS)
        self._kernels = _CsvTable(self.run_dir / "kernels.csv", KERNEL_COLUMNS)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def processes_path(self) -> Path:
        return self._processes.path

    def open(self) -> None:
        """Create the directory; keep rows already measured (ok or skipped) and drop failed ones for a retry."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._results.drop_failed()
        self._processes.drop_failed()

    def done_keys(self) -> set[tuple[str, str, str, str]]:
        if not self.csv_path.exists():
            return set()
        return set(_row_keys(self.read()))

    def append(self, row: dict[str, object]) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown result columns: {sorted(unknown)}")
        self._results.append(row)

    def append_process(self, row: dict[str, object]) -> None:
        self._processes.append(row)

    @property
    def kernels_path(self) -> Path:
        return self._kernels.path

    def replace_kernels(self, key: tuple[str, str, str, str], rows: list[dict[str, object]]) -> None:
        """The kernel rows of one case (a case profiled again replaces its rows)."""
        if self._kernels.exists():
            table = self._kernels.read()
            keep = ~(table[KEY_COLUMNS].astype(str) == list(key)).all(axis=1)
            if not keep.all():
                self._kernels.rewrite(table[keep])
        for row in rows:
            self._kernels.append({**dict(zip(KEY_COLUMNS, key, strict=True)), **row})

    def process_rows(self) -> dict[tuple[str, ...], dict[int, dict[str, object]]]:
        """Per case key, its process rows kept so far by process index (to resume a case mid-repeat)."""
        if not self._processes.exists():
            return {}
        table = self._processes.read()
        rows: dict[tuple[str, ...], dict[int, dict[str, object]]] = {}
        for key, row in zip(_row_keys(table), table.to_dict("records"), strict=True):
            row["options"] = json.loads(row["options"]) if isinstance(row.get("options"), str) else {}
            rows.setdefault(key, {})[int(row["process"])] = row
        return rows

    def update(self, key: tuple[str, str, str, str], values: dict[str, object]) -> None:
        """Fill in columns of the row with this key (kernel times, after the timing) and rewrite the file."""
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
        medians = dict(zip(_row_keys(table), table["ms_per_forward"], strict=True))
        return [(case, float(medians[case.key])) for case in cases if case.key in medians]

    def read(self) -> pd.DataFrame:
        return self._results.read()

    def write_parquet(self) -> Path | None:
        if not self.csv_path.exists():
            return None
        self.read().to_parquet(self.parquet_path, index=False)
        return self.parquet_path

    def write_env(self, env: dict[str, object]) -> None:
        self.env_path.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")

    def append_conditions(self, snapshot: dict[str, object]) -> None:
        with self.conditions_path.open("a") as handle:
            handle.write(json.dumps(snapshot, sort_keys=True) + "\n")

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


def _row_keys(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each row's case key (stack_id, runtime, source, device), as Case.key spells it."""
    return [tuple(row) for row in table[KEY_COLUMNS].astype(str).itertuples(index=False)]


def read_results(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "reason" in table:
        table["reason"] = table["reason"].fillna("")
    return table


def case_row(case: Case, **values: object) -> dict[str, object]:
    """The spec, key and FLOP columns of a case, plus the given values."""
    spec = case.spec
    return {
        **spec.columns(),
        "stack_id": spec.stack_id,
        "runtime": case.runtime,
        "source": case.source,
        "device": case.device,
        "gflop": spec.flops / 1e9,
        "theoretical_vs_conv3x3": theoretical_vs_conv3x3(spec.variant, spec.channels),
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
