"""A whole `bench` run as one function, so that a run started from Python leaves the same complete run directory as
the command line: the run lock, the environment and this machine's ceilings (measured once per run), every case
timed (and profiled) through convbench.bench, results.parquet, graphs.csv merged from the export manifest, and
report.md. What happens is told to a RunObserver (the CLI's shows progress); the run itself prints nothing.

An interrupted run (Ctrl-C) writes results.parquet of what it kept, releases its lock and re-raises
KeyboardInterrupt; `run` again with the same run directory resumes it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from convbench import library_floor
from convbench.artifacts import Artifacts
from convbench.bench import BenchOptions, Recorder, measure_ceilings_in_worker, run_bench, stored_ceilings
from convbench.csvfile import replace_text
from convbench.envinfo import collect_env
from convbench.errors import one_line
from convbench.harness import TimingConfig
from convbench.machines import machine_label
from convbench.results import STATUSES, ResultsStore, read_results, row_keys
from convbench.runlock import RunLock
from convbench.spec import Case
from convbench.workers import Worker


@dataclass
class RunRequest:
    """What to run and where: the cases (convbench.bench.plan_cases), the exported files, the timing, and the run
    directory (new, empty, or a run's to resume)."""

    cases: Sequence[Case]
    artifacts: Artifacts
    config: TimingConfig
    threads: int
    device: str
    run_dir: Path
    results_root: Path | None = None  # the folder whose `latest` link points at this run, if it lives there
    profile: bool = False
    case_timeout_s: float | None = None  # None: each runtime's default
    worker_log: bool = True  # workers' output to the run's workers.log (False: to the terminal)
    floor: bool = False  # measure the library floor (cuDNN's fastest plan per layer; CUDA only)
    cluster: str | None = None  # a Ray cluster's address: time on its convbench nodes (convbench.cluster)
    cluster_threads: int | None = None  # the threads of each node (None: all its usable cores)


class RunObserver:
    """Hears what a run does; every method does nothing here. Rows are the results.csv rows as stored."""

    def note(self, text: str) -> None: ...

    def started(self, store: ResultsStore, cases: int, already: int, resuming: bool, worker_log: Path | None
                ) -> None: ...

    def measuring_ceilings(self, device: str) -> None: ...

    def ceilings(self, device: str, ceilings: dict | None, why_not: str | None) -> None: ...

    def floors(self, measured: int, wanted: int, why_not: str | None) -> None:
        """After each batch of layer floors measured (of those the sweep wants), or once with why there are none."""

    def family(self, family: str, process: int, cases: int) -> None: ...

    def process(self, case: Case, row: dict[str, object]) -> None: ...

    def row(self, case: Case, row: dict[str, object]) -> None: ...

    def kernel(self, case: Case, columns: dict[str, object]) -> None: ...


@dataclass
class RunOutcome:
    """The finished run: its store, its results table, report, `latest` link, and the sweep's cases by status."""

    store: ResultsStore
    results: pd.DataFrame
    report: Path | None
    latest: Path | None
    counts: dict[str, int] = field(default_factory=dict)  # ok, skipped, failed, and "missing" (no row)

    @property
    def exit_status(self) -> int:
        """1 when a case of the sweep failed or has no row, else 0."""
        return 1 if self.counts.get("failed") or self.counts.get("missing") else 0


def run(request: RunRequest, observer: RunObserver | None = None) -> RunOutcome:
    """Time every case of `request` not yet in its run directory, then write the run's parquet, graphs.csv and
    report; the lock is held throughout (RunLock refuses a second writer)."""
    observer = observer or RunObserver()
    store = ResultsStore(request.run_dir)
    lock = RunLock(store.run_dir)
    took_over = lock.acquire()
    try:
        if took_over:
            observer.note(took_over)
        return _locked(request, store, observer)
    except KeyboardInterrupt:
        if store.csv_path.exists():
            store.write_parquet()
        raise
    finally:
        lock.release()


def _locked(request: RunRequest, store: ResultsStore, observer: RunObserver) -> RunOutcome:
    from convbench.analysis.graph import inventory, updated_inventory
    from convbench.analysis.report import GRAPHS_FILE, write_report

    resuming = store.csv_path.exists()
    store.open()
    log = store.log_path if request.worker_log else None
    latest = store.point_latest(request.results_root) if request.results_root else None
    env = _env(store, request.threads)
    if request.cluster:
        cases = _on_cluster(request, store, env, log, observer, resuming)
    else:
        label = machine_label(env, request.device)
        cases = [case if case.machine else replace(case, machine=label) for case in request.cases]
        done = store.done_keys()
        observer.started(store, len(cases), sum(c.key in done for c in cases), resuming, log)
        ceilings = _ceilings(store, env, request.device, request.threads, log, observer)
        floors = _library_floors(request, store, log, observer) if request.floor else None
        options = BenchOptions(request.config, request.threads, env["env_id"], request.case_timeout_s, log,
                               request.profile, ceilings, floors)
        run_bench(cases, store, request.artifacts, options, observer.row, observer.process, observer.kernel,
                  observer.family)
    store.write_parquet()
    results = read_results(store.csv_path) if store.csv_path.exists() else pd.DataFrame()
    if request.artifacts.manifest_path.exists():
        graphs_path = store.run_dir / GRAPHS_FILE
        previous = pd.read_csv(graphs_path) if graphs_path.exists() else None
        graphs = updated_inventory(previous, inventory(request.artifacts))
        replace_text(graphs_path, lambda tmp: graphs.to_csv(tmp, index=False))
    report = write_report(store.run_dir) if not results.empty else None
    return RunOutcome(store, results, report, latest, case_counts(results, cases))


FLOOR_BATCH = 6  # (layer, operation) pairs per worker call: each batch is kept before the next starts


def _library_floors(request: RunRequest, store: ResultsStore, log: Path | None, observer: RunObserver
                    ) -> library_floor.Floors:
    """The fastest cuDNN plan per layer and operation the sweep needs, measured in a torch worker on the GPU where the
    run directory's cache has none for this GPU yet; where none can be measured, why (every case then says it)."""
    from convbench.runners import FAMILY_ENV

    pairs = library_floor.wanted(list(dict.fromkeys(case.spec for case in request.cases)), request.device)
    why = library_floor.unavailable(request.device)
    if why or not pairs:
        why = why or "no case of this sweep has a layer cuDNN can time"
        observer.floors(0, 0, why)
        return library_floor.Floors({}, why)
    gpu = None
    try:
        with Worker("torch", request.threads, FAMILY_ENV["torch"], log) as worker:
            gpu = worker.call(library_floor.gpu_name, timeout_s=120)
            todo = library_floor.missing(library_floor.read_floors(store.run_dir), pairs, gpu)
            observer.floors(len(pairs) - len(todo), len(pairs), None)
            for start in range(0, len(todo), FLOOR_BATCH):
                batch = [(asdict(shape), operation) for shape, operation in todo[start:start + FLOOR_BATCH]]
                library_floor.append_floors(store.run_dir, worker.call(library_floor.measure_floors, batch,
                                                                       timeout_s=600))
                observer.floors(len(pairs) - len(todo) + min(start + FLOOR_BATCH, len(todo)), len(pairs), None)
    except Exception as error:  # the timing goes on; cases whose layers have no floor yet say so
        observer.note(f"library floor stopped ({one_line(error)}): cases whose layers it did not reach have none")
        if gpu is None:
            return library_floor.Floors({}, f"the floor's worker failed: {one_line(error)}")
    return library_floor.Floors(library_floor.best_by_layer(library_floor.read_floors(store.run_dir), gpu))


def case_counts(results: pd.DataFrame, cases: Sequence[Case]) -> dict[str, int]:
    """The sweep's cases by the status of their row, and "missing" for those without one."""
    status = dict(zip(row_keys(results), results["status"], strict=True)) if not results.empty else {}
    counts = {name: sum(status.get(c.key) == name for c in cases) for name in STATUSES}
    counts["missing"] = sum(c.key not in status for c in cases)
    return counts


def _env(store: ResultsStore, threads: int) -> dict:
    """The run's env.json (kept as it is when resuming): this machine's, the one that starts the run."""
    if store.env_path.exists():
        return json.loads(store.env_path.read_text())
    env = collect_env(threads)
    store.write_env(env)
    return env


def _ceilings(store: ResultsStore, env: dict, device: str, threads: int, log: Path | None,
              observer: RunObserver) -> dict | None:
    """This device's ceilings, measured once per run and kept in env.json."""
    stored = env.setdefault("ceilings", {}).get(device)
    if stored is None:
        observer.measuring_ceilings(device)
        stored = stored_ceilings(measure_ceilings_in_worker(device, threads, log))
        env["ceilings"][device] = stored
        store.write_env(env)
    return _told_ceilings(stored, device, observer)


def _told_ceilings(stored: dict, what: str, observer: RunObserver) -> dict | None:
    """Stored ceilings (stored_ceilings) told to the observer: the ceilings, or None (saying why) where none."""
    ceilings = stored if "peak_gflop_per_s" in stored else None
    observer.ceilings(what, ceilings, None if ceilings else str(stored.get("not_measured")))
    return ceilings


def _on_cluster(request: RunRequest, store: ResultsStore, env: dict, log: Path | None, observer: RunObserver,
                resuming: bool) -> list[Case]:
    """The sweep on every machine of the cluster at request.cluster (convbench.cluster); the cases it planned."""
    import ray

    from convbench import cluster

    nodes = cluster.connect(request.cluster, request.cluster_threads)
    try:
        grouped = cluster.machines(nodes, request.device)
        observer.note(f"cluster {request.cluster}: " + "; ".join(
            f"{label}: {len(group)} node(s) ({', '.join(f'{n.short} on {n.where.host}' for n in group)})"
            for label, group in grouped.items()))
        cases = [replace(case, machine=label) for label in grouped for case in request.cases]
        done = store.done_keys()
        observer.started(store, len(cases), sum(c.key in done for c in cases), resuming, log)
        cluster.record_machines(env, grouped, request.device)
        store.write_env(env)
        log = log.resolve() if log else None  # the nodes' tasks run in another folder
        cluster.measure_machine_ceilings(env, grouped, request.device, log, observer)
        store.write_env(env)
        ceilings = {label: _told_ceilings(env["machines"][label]["ceilings"][request.device],
                                          f"{request.device} of {label}", observer) for label in grouped}
        options = BenchOptions(request.config, request.threads, env["env_id"], request.case_timeout_s, log,
                               request.profile, None, None, machine_ceilings=ceilings)
        recorder = Recorder(store, options, observer.row, observer.process, observer.kernel, observer.family)
        cluster.run_on_cluster(cases, grouped, request.artifacts, options, recorder, observer.note)
        return cases
    finally:
        ray.shutdown()
