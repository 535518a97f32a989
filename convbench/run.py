"""A whole `bench` run as one function, `run(BenchRequest)`, so that a run started from Python does what the command
line does: the request checked (convbench.request, then what this machine can run), the run directory chosen and
its request recorded (request.json; a resume extends or refuses, convbench.request.resume), the run lock, the
environment and this machine's ceilings (measured once per run), every case timed (and profiled) through
convbench.bench, results.parquet, graphs.csv merged from the export manifest, and report.md. What happens is told
to a RunObserver (the CLI's shows progress); the run itself prints nothing.

An interrupted run (Ctrl-C) writes results.parquet of what it kept, releases its lock and re-raises
KeyboardInterrupt; `run` again with the same run directory resumes it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from convbench import library_floor
from convbench.artifacts import Artifacts
from convbench.bench import measure_ceilings_in_worker, run_bench, stored_ceilings
from convbench.csvfile import read_csv_checked, read_jsonl_checked
from convbench.envinfo import collect_env
from convbench.errors import BadInput, RunStopped, first_of, one_line
from convbench.jobs import RunSettings
from convbench.machines import machine_label, usable_cores
from convbench.outputs import undecided_keys, write_outputs
from convbench.recorder import Recorder
from convbench.request import BenchRequest, read_request, resume, write_request
from convbench.results import (
    GRAPHS_FILE,
    STATUSES,
    ResultsStore,
    is_run_dir,
    new_run_dir,
    read_env,
    read_results,
    row_keys,
)
from convbench.runlock import RunLock
from convbench.spec import Case, SeedStack
from convbench.workers import Worker


class RunObserver:
    """Hears what a run does; every method does nothing here. Rows are the results.csv rows as stored."""

    def note(self, text: str) -> None: ...

    def started(self, store: ResultsStore, cases: int, already: int, resuming: bool, worker_log: Path | None,
                processes: int) -> None:
        """Before the first case: the run directory, the cases (already measured: `already`), each timed in
        `processes` fresh processes."""

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
    def cases(self) -> int:
        """The cases the run was asked for (on every machine of a cluster)."""
        return sum(self.counts.values())

    @property
    def exit_status(self) -> int:
        """1 when a case of the sweep failed or has no row, else 0."""
        return 1 if self.counts.get("failed") or self.counts.get("missing") else 0


def run(request: BenchRequest, observer: RunObserver | None = None) -> RunOutcome:
    """Check `request`, then time every case it asks for that its run directory does not hold yet, and write the
    run's parquet, graphs.csv and report. The run directory is `request.run_dir` (a new or empty folder, or a run's
    to resume: convbench.request.resume says what a resume may change) or a new one under `request.results_root`.
    A new run directory that ends before anything was measured in it (bad input found late, a cluster that does not
    answer) is removed again, and `latest` is pointed at a run only once its set-up is done. The lock is held
    throughout (RunLock refuses a second writer)."""
    observer = observer or RunObserver()
    request.check()
    existing = Path(request.run_dir) if request.run_dir is not None and Path(request.run_dir).is_dir() else None
    if existing is not None and is_run_dir(existing):
        _check_run_files(existing)
    resolved, notes = _resolved(request, existing)
    _check_here(resolved, _still_to_time(resolved, existing))
    existed = request.run_dir is not None and Path(request.run_dir).exists()
    run_dir = _run_dir(request)
    fresh = not existed or not is_run_dir(run_dir)  # a new or empty folder (a run's would be a resume)
    store = ResultsStore(run_dir)
    latest = Path(request.results_root) / "latest"
    previous_latest = os.readlink(latest) if latest.is_symlink() else None
    lock = RunLock(store.run_dir)
    took_over = lock.acquire()
    try:
        if took_over:
            observer.note(took_over)
        return _locked(resolved, notes, store, observer)
    except BaseException as error:
        if fresh and not _measured(store):  # nothing measured: leave the folders as they were found
            lock.release()
            _undo(store.run_dir, existed, latest, previous_latest)
        elif isinstance(error, KeyboardInterrupt) and store.csv_path.exists():
            store.write_parquet()
        elif isinstance(error, RunStopped) and store.csv_path.exists():
            _finish(store, Artifacts(request.artifacts_or_default), [], None)
        raise
    finally:
        lock.release()


def _undo(run_dir: Path, existed: bool, latest: Path, previous_latest: str | None) -> None:
    """A run that measured nothing: its folder as it was found (removed, or emptied where it was there before) and
    `latest` pointing where it pointed before, so the next command finds the results folder as it was."""
    if existed:
        for entry in run_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    if latest.is_symlink() and latest.resolve() == run_dir.resolve():
        latest.unlink()
        if previous_latest is not None:
            latest.symlink_to(previous_latest)


def _measured(store: ResultsStore) -> bool:
    return store.csv_path.exists() or store.processes_path.exists()


def _run_dir(request: BenchRequest) -> Path:
    """The run directory to write: --run-dir (made where it is not there yet), or a new one under --results."""
    if request.run_dir is None:
        return _new_run_dir(request.results_root)
    return _run_dir_to_write(Path(request.run_dir))


def _run_dir_to_write(path: Path) -> Path:
    """--run-dir: a new directory, an empty one, or a run's (to resume it); BadInput naming the problem else."""
    if path.exists() and not path.is_dir():
        raise BadInput(f"--run-dir {path}: a file, not a directory; pass a new or empty directory, or a run's")
    try:
        path.mkdir(parents=True, exist_ok=True)
        entries = sorted(p.name for p in path.iterdir() if p.name != ".lock")
    except OSError as error:
        raise BadInput(f"--run-dir {path}: cannot create or read it ({error.strerror or error})") from None
    if entries and not is_run_dir(path):
        raise BadInput(f"--run-dir {path}: holds files that are not a convbench run's ({first_of(entries)}); "
                         "pass a new or empty directory, or a run's to resume it")
    return path


def _new_run_dir(results: Path) -> Path:
    """A new run directory under --results, never one another run has (see convbench.results.new_run_dir)."""
    if results.exists() and not results.is_dir():
        raise BadInput(f"--results {results}: a file, not a directory; pass the folder that holds runs")
    try:
        return new_run_dir(results)
    except OSError as error:
        raise BadInput(f"--results {results}: cannot create a run directory there "
                         f"({error.strerror or error})") from None


def _resolved(asked: BenchRequest, run_dir: Path | None) -> tuple[BenchRequest, list[str]]:
    """The request to run, and what a resume adds: a new run's request resolved; the recorded request of the run in
    `run_dir` (an existing folder), extended where `asked` adds to it (convbench.request.resume; refused where it
    would measure differently)."""
    env = collect_env(asked.threads or usable_cores())
    recorded = read_request(run_dir) if run_dir is not None else None
    # a resume without --device runs on the run's own device: this machine is labelled by that device
    device = asked.device or (recorded.device if recorded is not None and recorded.device else None)
    machine = "cluster" if asked.cluster else machine_label(env, device or asked.device_or_default)
    if recorded is None and run_dir is not None and is_run_dir(run_dir) and not any(s.given() for s in asked.sweeps):
        raise BadInput(f"{run_dir} records no request (begun before runs recorded theirs): resume it once with its "
                       "sweep's flags, which are then recorded")
    if recorded is None:
        return asked.resolved(usable_cores(), machine), []
    resumed = resume(recorded, asked, usable_cores(), machine)
    return resumed.request, [f"resuming {run_dir.name}: extends the run with {what}" for what in resumed.extended]


def _check_run_files(run_dir: Path) -> None:
    """CorruptFile, before any work, for a damaged file of a run being resumed."""
    read_request(run_dir)
    read_env(run_dir)
    read_jsonl_checked(run_dir / "conditions.jsonl")
    for name in ("results.csv", "processes.csv", GRAPHS_FILE, "kernels.csv", "layers.csv"):
        path = run_dir / name
        if path.exists():
            (read_results if name in ("results.csv", "processes.csv") else read_csv_checked)(path)


def _still_to_time(request: BenchRequest, existing: Path | None) -> list[Case]:
    """The request's cases a bench would time: all of a new run's; of a resumed run, those without a row yet (a
    resume that adds a sweep with other artifacts needs no reference for the cases it keeps)."""
    cases = request.cases()
    if existing is None or not is_run_dir(existing) or request.cluster or not request.machine:
        return cases
    done = ResultsStore(existing).done_keys()
    return [case for case in cases if replace(case, machine=case.machine or str(request.machine)).key not in done]


def _check_here(request: BenchRequest, cases: Sequence[Case]) -> None:
    """BadInput where this machine cannot run the request at all: no GPU for --device cuda, no exported
    reference for a forward workload, or every case skipped before it starts (a runtime not installed, one that runs
    on CUDA only on the CPU, one with no training step in the train pass)."""
    from convbench.bench import not_runnable
    from convbench.envinfo import gpus

    if request.device == "cuda" and not request.cluster and not gpus():
        raise BadInput("--device cuda: no NVIDIA GPU here (nvidia-smi is missing or lists none); use --device cpu")
    artifacts = Artifacts(request.artifacts_or_default)
    skipped = {case.key: why for case in cases if (why := not_runnable(case))}
    # a train case's reference is PyTorch's gradients, made by bench itself (convbench.bench), not an export; a whole
    # model's forward has one per framework, and a framework without that model skips its rows (not a missing file);
    # where the export failed, its rows fail with the manifest's reason
    missing = list(dict.fromkeys(
        c.workload.stack_id for c in cases
        if c.workload.pass_ == "forward" and c.key not in skipped
        and not artifacts.source_reference_path(c.workload, c.source).exists()
        and not artifacts.manifest_reason(c.workload.reference_framework(c.source), c.workload.reference.stack_id)))
    if missing:
        raise BadInput(f"no exported reference for {first_of(missing)} under {artifacts.root}/: run "
                         "`convbench export` with the same sweep flags first")
    if cases and len(skipped) == len(cases):
        raise BadInput(f"every case of this sweep would be skipped ({'; '.join(dict.fromkeys(skipped.values()))}); "
                       "nothing to time: change --runtimes, --device, --dtype or --pass")


BARE_REFERENCES = (("torch", "torch"), ("ort", "torch.onnx"))  # what a user's own script is timed as, each round


def bare_cases(cases: Sequence[Case]) -> tuple[Case, ...]:
    """The reference cases a bare process times in each round (convbench.bare_reference): for PyTorch eager and
    onnxruntime on the CPU where the sweep times them, the float32 forward of its conv1x1 at its fewest channels (its
    first seed stack where it has no conv1x1)."""
    chosen = []
    for runtime, source in BARE_REFERENCES:
        mine = [c for c in cases if c.runtime == runtime and c.source == source and c.device == "cpu"
                and isinstance(c.workload, SeedStack) and c.workload.pass_ == "forward"
                and c.workload.dtype == "float32"]
        if mine:
            chosen.append(min(mine, key=lambda c: (c.workload.variant != "conv1x1", c.workload.channels)))
    return tuple(chosen)


def _budget(request: BenchRequest, started: float) -> dict[str, object]:
    """The settings of extra rounds under a time budget (convbench.bench.extra_rounds): none without one."""
    if request.budget_minutes is None:
        return {}
    return {"deadline": started + 60 * float(request.budget_minutes), "undecided": undecided_keys}


def _locked(request: BenchRequest, notes: list[str], store: ResultsStore, observer: RunObserver) -> RunOutcome:
    started = time.monotonic()
    resuming = store.csv_path.exists()
    store.open()
    cases = request.cases()
    write_request(store.run_dir, request)
    for note in notes:
        observer.note(note)
    log = store.log_path if request.worker_log else None
    env = _env(store, int(request.threads or usable_cores()))
    artifacts = Artifacts(request.artifacts_or_default)
    if request.cluster:
        cases = _on_cluster(request, cases, store, env, log, observer, resuming)
        latest = store.point_latest(request.results_root)
    else:
        latest = store.point_latest(request.results_root)
        label = machine_label(env, str(request.device))
        cases = [case if case.machine else replace(case, machine=label) for case in cases]
        done = store.done_keys()
        observer.started(store, len(cases), sum(c.key in done for c in cases), resuming, log,
                         request.config.processes)
        ceilings = _ceilings(store, env, str(request.device), int(request.threads or 1), log, observer)
        floors = _library_floors(request, cases, store, log, observer) if request.floor else None
        options = RunSettings(request.config, int(request.threads or 1), env["env_id"], request.case_timeout_s, log,
                              request.profile, ceilings, floors, bare=bare_cases(cases),
                              **_budget(request, started))
        run_bench(cases, store, artifacts, options, observer.row, observer.process, observer.kernel,
                  observer.family)
    return _finish(store, artifacts, cases, latest)


def _finish(store: ResultsStore, artifacts: Artifacts, cases: Sequence[Case], latest: Path | None) -> RunOutcome:
    """The run's results.parquet, graphs.csv and report (convbench.outputs), and its outcome."""
    report = write_outputs(store, artifacts)
    results = read_results(store.csv_path) if store.csv_path.exists() else pd.DataFrame()
    return RunOutcome(store, results, report, latest, case_counts(results, cases))


FLOOR_BATCH = 6  # (layer, operation) pairs per worker call: each batch is kept before the next starts


def _library_floors(request: BenchRequest, cases: Sequence[Case], store: ResultsStore, log: Path | None,
                    observer: RunObserver) -> library_floor.Floors:
    """The fastest cuDNN plan per layer and operation the sweep needs, measured in a torch worker on the GPU where the
    run directory's cache has none for this GPU yet; where none can be measured, why (every case then says it)."""
    from convbench.runners import FAMILY_ENV

    pairs = library_floor.wanted(list(dict.fromkeys(case.workload for case in cases)), str(request.device))
    why = library_floor.unavailable(str(request.device))
    if why or not pairs:
        why = why or "no case of this sweep has a layer cuDNN can time"
        observer.floors(0, 0, why)
        return library_floor.Floors({}, why)
    gpu = None
    try:
        with Worker("torch", int(request.threads or 1), FAMILY_ENV["torch"], log) as worker:
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
        return read_env(store.run_dir)
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


def _on_cluster(request: BenchRequest, planned: Sequence[Case], store: ResultsStore, env: dict, log: Path | None,
                observer: RunObserver, resuming: bool) -> list[Case]:
    """The sweep on every machine of the cluster at request.cluster (convbench.cluster); the cases it planned."""
    import ray

    from convbench import cluster

    device = str(request.device)
    nodes = cluster.connect(str(request.cluster), request.threads)
    try:
        grouped = cluster.machines(nodes, device)
        observer.note(f"cluster {request.cluster}: " + "; ".join(
            f"{label}: {len(group)} node(s) ({', '.join(f'{n.short} on {n.where.host}' for n in group)})"
            for label, group in grouped.items()))
        cases = [replace(case, machine=label) for label in grouped for case in planned]
        done = store.done_keys()
        observer.started(store, len(cases), sum(c.key in done for c in cases), resuming, log,
                         request.config.processes)
        cluster.record_machines(env, grouped, device)
        store.write_env(env)
        log = log.resolve() if log else None  # the nodes' tasks run in another folder
        cluster.measure_machine_ceilings(env, grouped, device, log, observer)
        store.write_env(env)
        ceilings = {label: _told_ceilings(env["machines"][label]["ceilings"][device], f"{device} of {label}",
                                          observer) for label in grouped}
        options = RunSettings(request.config, int(request.threads or usable_cores()), env["env_id"],
                               request.case_timeout_s, log, request.profile, None, None, machine_ceilings=ceilings)
        recorder = Recorder(store, options, observer.row, observer.process, observer.kernel, observer.family)
        try:
            cluster.run_on_cluster(cases, grouped, Artifacts(request.artifacts_or_default), options, recorder,
                                   observer.note)
        except (ray.exceptions.RayError, ConnectionError) as error:  # the head is gone: keep what came back
            raise RunStopped(f"the cluster at {request.cluster} stopped answering ({one_line(error, 160)}); what was "
                             f"measured is kept: resume with `convbench bench --run-dir {store.run_dir}`") from None
        return cases
    finally:
        ray.shutdown()
