"""`convbench bench`: time every case in fresh worker processes of its runtime's family, each process running
the family's cases in its own order, and append each row as it is known.

Per family: process 0 .. N-1 each time every case (processes.csv gets a row per case and process at once); a case
whose last process finishes gets its results.csv row, made by convbench.repeats.aggregate. A case that fails or
is skipped in any process gets its row then and is not run again. With --profile, a fresh worker then takes
each ok case's kernel time, in a process that times nothing."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from convbench import passes
from convbench.artifacts import Artifacts
from convbench.ceilings import (
    CEILING_PROCESSES,
    cpu_cache_mb,
    cpu_gemms,
    cpu_peak,
    measure_ceilings,
    physical_cpu_peak,
)
from convbench.conditions import snapshot
from convbench.errors import Skip, one_line
from convbench.harness import TimingConfig
from convbench.in_worker import CaseTask, profile_case, run_case
from convbench.jobs import Event, RunSettings, Where
from convbench.machines import this_host, usable_cores
from convbench.malloc_settings import MALLOC_MODES
from convbench.recorder import Recorder, result_from_processes
from convbench.repeats import process_orders, round_order
from convbench.results import ResultsStore, case_row, read_if_present, row_keys
from convbench.runners import FAMILY_ENV, RUNTIMES, RuntimeInfo, import_requirements, missing_requirement
from convbench.spec import CUDA_ONLY_DTYPES, Case, Workload
from convbench.workers import THREAD_VARIABLES, Worker, iter_tasks, run_tasks

log = logging.getLogger("convbench")
BARE_TIMEOUT_S = 300.0  # a bare reference process: its import, build and 0.4 s of timing
IMPORT_TIMEOUT_S = 300.0  # importing a framework in a fresh worker (TensorFlow: seconds; a cold disk: more)


def plan_cases(specs: Sequence[Workload], runtimes: Sequence[str], device: str,
               sources: Sequence[str] | None = None) -> list[Case]:
    """Every (stack, runtime, source) of the sweep, grouped by worker family so each family starts once; with
    `sources`, only the runtimes' model sources among them (the results' source column: torch.onnx, tf2onnx, ...)."""
    cases = [
        Case(spec, name, source, device)
        for name in runtimes
        for spec in specs
        for source in RUNTIMES[name].sources
        if sources is None or source in sources
    ]
    families = list(dict.fromkeys(RUNTIMES[name].family for name in runtimes))
    return sorted(cases, key=lambda c: families.index(RUNTIMES[c.runtime].family))


def default_case_timeout_s(config: TimingConfig, runtime: RuntimeInfo) -> float:
    """A generous limit for one case in one process: the runtime's set-up allowance plus ten times what the
    harness plans to spend (warm-up and the process's share of the budget)."""
    return runtime.setup_allowance_s + 10 * (config.warmup_seconds + config.process_budget_seconds
                                             + config.energy_seconds)


def measure_ceilings_in_worker(device: str, threads: int, log_path: Path | None = None
                               ) -> dict[str, float | str] | Skip:
    """The machine's ceilings (convbench.ceilings), measured in fresh torch workers: torch's matmul and copy; on the
    CPU also every other installed CPU runtime's GEMM, each the best of CEILING_PROCESSES processes, the best of them
    all as the practical ceiling, and the physical peak (cores x measured clock x FLOPs per cycle) as the
    roofline's. Skip where torch cannot measure them (returned: a cluster's node sends it back as its answer)."""
    if missing_requirement(RUNTIMES["torch"]):
        return Skip("torch not installed: no ceilings measured")
    cpu = device == "cpu"
    try:
        measured = [_ceilings_in_one_process(device, threads, log_path) for _ in range(CEILING_PROCESSES if cpu else 1)]
    except Exception as error:  # the sweep goes on without a floor
        return Skip(one_line(error))
    ceilings = {key: max(m[key] for m in measured if isinstance(m[key], float)) if isinstance(value, float) else value
                for key, value in measured[0].items()}
    if not cpu:
        return ceilings
    return {**cpu_peak(ceilings, physical_cpu_peak(min(threads, usable_cores()))), **cpu_cache_mb()}


def stored_ceilings(measured: dict | Skip) -> dict:
    """What env.json keeps of a ceilings measurement: the ceilings, or {"not_measured": why}."""
    return {"not_measured": measured.reason} if isinstance(measured, Skip) else measured


def _ceilings_in_one_process(device: str, threads: int, log_path: Path | None) -> dict[str, float | str]:
    with Worker("torch", threads, FAMILY_ENV["torch"], log_path) as worker:
        ceilings = worker.call(measure_ceilings, device, threads, timeout_s=600)
        return {**ceilings, **worker.call(cpu_gemms, threads, timeout_s=600)} if device == "cpu" else ceilings


def run_bench(
    cases: Sequence[Case],
    store: ResultsStore,
    artifacts: Artifacts,
    options: RunSettings,
    on_row: Callable[[Case, dict[str, object]], None],
    on_process: Callable[[Case, dict[str, object]], None] | None = None,
    on_kernel: Callable[[Case, dict[str, object]], None] | None = None,
    on_family: Callable[[str, int, int], None] | None = None,
) -> None:
    """Run the cases not yet in `store` on this machine in interleaved rounds: round k starts process k of every
    worker group (a fresh worker timing each of its open cases, in its own order), the groups in an order shuffled
    per round (convbench.repeats.process_orders), so that the runtimes compared in a case are timed minutes apart at
    most and a drift of the machine falls on all of them; comparisons pair them by round (the `process` column).
    Then, with options.profile, each group's kernel times. `on_family(family, process, cases)` hears when each
    process starts, `on_process` sees each process row, `on_row` each case's result row, `on_kernel` each profiled
    case's kernel columns."""
    recorder = Recorder(store, options, on_row, on_process, on_kernel, on_family)
    recorder.redecide_skips(cases, not_runnable)
    todo = recorder.open_cases(cases)
    no_reference = gradient_references(todo, artifacts, options)
    where = Where(this_host(), "", options.env_id)
    open_keys = {case.key for case in todo}
    groups = worker_groups(cases)
    timings = []
    for family, group in groups:
        for event in unrunnable_rows([c for c in group if c.key in open_keys], no_reference, options, where):
            recorder.handle(event)
        runnable = [c for c in group if c.key in open_keys and c.key not in recorder.done]
        timings.append(_FamilyTiming(family, runnable, {c.key: dict(recorder.kept.get(c.key, {})) for c in runnable},
                                     str(artifacts.root), options, where))
    bare_done = bare_rounds(store)
    for process, order in enumerate(process_orders(timings, options.config.processes)):
        for timing in order:
            for event in timing.round_events(process):
                recorder.handle(event)
        for case, malloc in itertools.product(options.bare, MALLOC_MODES):
            if (case.key, process, malloc) not in bare_done:
                store.append_bare(bare_row(case, process, malloc, options.threads, str(artifacts.root)))
    if options.deadline is not None and options.undecided is not None:
        for event in extra_rounds(groups, recorder, store, options, str(artifacts.root), where):
            recorder.handle(event)
    if options.profile:
        for family, group in groups:
            for event in profile_family(family, store.unprofiled(group), options, str(artifacts.root)):
                recorder.handle(event)


def bare_rounds(store: ResultsStore) -> set[tuple[tuple[str, ...], int, str]]:
    """The (case key, round, malloc) triples bare.csv holds (a resumed run times the others only); rows written
    before bare processes had a malloc mode were glibc's default."""
    table = read_if_present(store.bare_path)
    if table.empty:
        return set()
    mallocs = table["malloc"].fillna("default") if "malloc" in table else ["default"] * len(table)
    return set(zip(row_keys(table), table["process"].astype(int), mallocs, strict=True))


def bare_row(case: Case, process: int, malloc: str, threads: int, artifacts_root: str) -> dict[str, object]:
    """bare.csv's row for `case` in round `process`: a fresh plain Python process (convbench.bare_reference) times
    it as a user's script would, with glibc's malloc as it starts (`malloc` "default") or pinned as in convbench's
    workers ("pinned"); its median per forward, or why it failed."""
    fields = {f.name: getattr(case.workload, f.name) for f in dataclasses.fields(case.workload)}
    command = [sys.executable, "-m", "convbench.bare_reference", "ort" if case.runtime == "ort" else "torch",
               json.dumps(fields), "--artifacts", artifacts_root, "--threads", str(threads), "--malloc", malloc]
    row = {**case.key_columns(), "process": process, "malloc": malloc,
           "finished_at": datetime.now().isoformat(timespec="seconds")}
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BARE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return {**row, "status": "failed", "reason": f"the bare process took over {BARE_TIMEOUT_S:.0f} s"}
    if done.returncode != 0:
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no message")
        return {**row, "status": "failed", "reason": f"exit status {done.returncode}: {last.strip()[:200]}"}
    return {**row, "status": "ok", "reason": "", **json.loads(done.stdout.strip().splitlines()[-1])}


def extra_rounds(groups: Sequence[tuple[str, list[Case]]], recorder: Recorder, store: ResultsStore,
                 options: RunSettings, artifacts_root: str, where: Where) -> Iterator[Event]:
    """Precision per minute: after the first rounds, more rounds for the cases whose ranking or 2017 verdict is
    still undecided (options.undecided), each a fresh process of every group that holds such a case, the groups in
    an order shuffled per round, until none is undecided or the next round would not end by options.deadline (it
    is expected to take as long as the last one, the first as long as its cases' process rows took)."""
    process = options.config.processes
    last_round_s: float | None = None
    while True:
        results, processes = store.read(), read_if_present(store.processes_path)
        wanted = options.undecided(results, processes)
        if not wanted:
            return
        cases = {key: case for _, group in groups for case in group if (key := case.key) in wanted}
        expected = last_round_s if last_round_s is not None else _round_cost_s(processes, wanted)
        if time.monotonic() + expected > float(options.deadline):
            log.warning(f"time budget: {len(cases)} case(s) still undecided, no time for another round")
            return
        started = time.monotonic()
        timings = [_FamilyTiming(family, [c for c in group if c.key in cases],
                                 {c.key: dict(recorder.kept.get(c.key, {})) for c in group if c.key in cases},
                                 artifacts_root, options, where, first_round=process)
                   for family, group in groups if any(c.key in cases for c in group)]
        for timing in round_order(timings, process):
            yield from timing.round_events(process)
        last_round_s = time.monotonic() - started
        process += 1


def _round_cost_s(processes: pd.DataFrame, keys: set[tuple[str, ...]]) -> float:
    """What one more process of each of these cases cost in earlier rounds: the mean set-up, first forward and
    timing of a process row, over their rows, times the cases (a worker's start included in its first case)."""
    if processes.empty:
        return 0.0
    rows = processes[[key in keys for key in row_keys(processes)]]
    rounds = max(1, int(rows["process"].nunique()))
    spent = (rows["setup_ms"].fillna(0) + rows["first_forward_ms"].fillna(0) + rows["import_ms"].fillna(0)).sum()
    samples = (rows["ms_per_forward"].fillna(0) * rows["samples"].fillna(0) * rows["iterations"].fillna(0)).sum()
    return float(spent + samples) / 1e3 / rounds


def worker_groups(cases: Sequence[Case]) -> list[tuple[str, list[Case]]]:
    """The cases as groups that each get their own rounds of fresh workers, with the worker family that runs them:
    per family, in the order the families first appear, its runtimes' cases together, except that a runtime marked
    own_workers (torch.compile: minutes of compiling per case) gets a group of its own after them. Each group's
    cases get their result rows when its last round ends, so a slow compile holds back no other runtime's rows."""
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        info = RUNTIMES[case.runtime]
        groups.setdefault((info.family, info.name if info.own_workers else ""), []).append(case)
    families = list(dict.fromkeys(family for family, _ in groups))
    order = sorted(groups, key=lambda key: (families.index(key[0]), key[1] != ""))
    return [(family, groups[(family, runtime)]) for family, runtime in order]


def time_family(family: str, cases: Sequence[Case], kept: dict[tuple[str, ...], dict[int, dict]],
                options: RunSettings, artifacts_root: str, no_reference: NoReference, where: Where
                ) -> Iterator[Event]:
    """The events of timing `cases` (all of one family, none with a result row yet) where this runs: a result row
    for each case that cannot run (a runtime not installed, no reference gradients), then the family's repeats
    (_FamilyTiming). `kept`: the cases' process rows kept so far, by process index."""
    yield from unrunnable_rows(cases, no_reference, options, where)
    runnable = [case for case in cases if not _why_not_run(case, no_reference)]
    kept = {case.key: dict(kept.get(case.key, {})) for case in runnable}
    yield from _FamilyTiming(family, runnable, kept, artifacts_root, options, where).events()


def unrunnable_rows(cases: Sequence[Case], no_reference: NoReference, options: RunSettings, where: Where
                    ) -> Iterator[Event]:
    """A result row for each of `cases` that cannot run: skipped (a runtime not installed, a pass it does not time)
    or failed (no reference gradients)."""
    for case in cases:
        why = _why_not_run(case, no_reference)
        if why:
            yield "result", case, {**case_row(case, status=why[0], reason=why[1], threads=options.threads),
                                   **where.columns()}


def _why_not_run(case: Case, no_reference: NoReference) -> tuple[str, str] | None:
    """(status, reason) of a case that cannot run; None for one that can."""
    skip = not_runnable(case)
    if skip:
        return "skipped", skip
    key = (case.workload.reference_framework(case.source), case.workload.reference.stack_id)
    fail = no_reference.get(key) if case.workload.pass_ == "train" else None
    return ("failed", fail) if fail else None


def not_runnable(case: Case) -> str | None:
    """Why the case is a skipped row without starting a worker: a whole model its source's framework does not have,
    a runtime or a dtype (tf32) that runs on CUDA only on another device, a runtime with no training step in the
    train pass, or one whose packages are not installed."""
    info = RUNTIMES[case.runtime]
    not_from_source = case.workload.not_from(case.source)
    if not_from_source:
        return not_from_source
    if case.device != "cuda" and info.cuda_only:
        return info.cuda_only
    if case.device != "cuda" and case.workload.dtype in CUDA_ONLY_DTYPES:
        return CUDA_ONLY_DTYPES[case.workload.dtype]
    if case.workload.pass_ == "train" and info.inference_only:
        return info.inference_only
    return missing_requirement(info)


# Who makes a training step's reference gradients, by the framework whose model the case runs (Workload's
# reference_framework): the worker family, the runtime whose requirements it needs, what it computes, what it is.
GRADIENT_MAKERS = {
    "torch": ("torch", "torch", passes.compute_gradient_reference,
              "PyTorch reference gradients (float32; float64 for whole models)"),
    "keras": ("tensorflow", "keras-tf", passes.compute_keras_gradient_reference,
              "Keras reference gradients (TensorFlow's, float64)"),
}


NoReference = dict[tuple[str, str], str]  # why a train case has no reference gradients, by (framework, stack id)


def gradient_references(cases: Sequence[Case], artifacts: Artifacts, options: RunSettings) -> NoReference:
    """Make the reference gradients the open train cases need and do not have yet (once per workload and framework,
    in a worker of the framework's family, kept under the artifacts' reference/); by (framework, reference stack
    id), why one could not be made."""
    needed: dict[tuple[str, str], Workload] = {}
    for c in cases:
        framework = c.workload.reference_framework(c.source)
        if c.workload.pass_ == "train" and not_runnable(c) is None \
                and not artifacts.gradient_reference_path(c.workload, framework).exists():
            needed[(framework, c.workload.reference.stack_id)] = c.workload
    failed: NoReference = {}
    for framework, (family, runtime, compute, what) in GRADIENT_MAKERS.items():
        mine = {key: spec for key, spec in needed.items() if key[0] == framework}
        if not mine:
            continue
        if missing_requirement(RUNTIMES[runtime]):
            failed.update(dict.fromkeys(mine, f"no reference gradients: {RUNTIMES[runtime].name}, which makes "
                                              f"them, is not installed ({missing_requirement(RUNTIMES[runtime])})"))
            continue
        log.warning(f"computing {what} for {len(mine)} workload(s) (once; kept in "
                    f"{artifacts.gradient_reference_path(next(iter(mine.values())), framework).parent})")

        def record(spec: Workload, row: dict[str, object], framework: str = framework) -> None:
            if "error" in row:
                failed[(framework, spec.reference.stack_id)] = f"no reference gradients: {row['error']}"

        run_tasks(lambda family=family: Worker(family, options.threads, FAMILY_ENV[family], options.log_path),
                  list(mine.values()),
                  functools.partial(compute, artifacts_root=str(artifacts.root), threads=options.threads),
                  lambda spec, why: {"error": why}, record, lambda spec: IMPORT_TIMEOUT_S + 600)
    return failed


class _FamilyTiming:
    """The repeats of one family: process 0 .. N-1, each a fresh worker (again after a kill or a death) whose
    framework imports are timed, with the machine's conditions recorded before its first case and after its
    last. Each process row is an event at once; the Recorder makes a case's result row when its last is in."""

    def __init__(self, family: str, cases: Sequence[Case], kept: dict[tuple[str, ...], dict[int, dict]],
                 artifacts_root: str, options: RunSettings, where: Where, first_round: int = 0) -> None:
        self.family, self.cases, self.kept, self.options, self.where = family, list(cases), kept, options, where
        self.task = functools.partial(run_case, config=options.config, artifacts_root=artifacts_root)
        self.runtimes = [RUNTIMES[name] for name in dict.fromkeys(c.runtime for c in cases)]
        own = [info.name for info in self.runtimes if info.own_workers]  # a group of its own: name it in progress
        self.label = f"{family} ({own[0]})" if len(self.runtimes) == 1 and own else family
        self.open = {case.key for case in cases}
        self.orders = {k: round_order(self.cases, k) for k in range(first_round, first_round + 1)} if first_round \
            else dict(enumerate(process_orders(self.cases, options.config.processes)))
        self.import_ms: dict[str, float] = {}
        self.pids: tuple[int, ...] = ()

    def events(self) -> Iterator[Event]:
        """Every round of this family, one after the other (a cluster's node times its shard so)."""
        for process in range(self.options.config.processes):
            yield from self.round_events(process)

    def round_events(self, process: int) -> Iterator[Event]:
        """Process `process` of the repeats: one fresh worker timing each case still open, in this process's
        order (convbench.repeats.process_orders)."""
        where = {"host": self.where.host, "node": self.where.node}
        todo = [CaseTask(c, RUNTIMES[c.runtime], process) for c in self.orders[process]
                if c.key in self.open and process not in self.kept.get(c.key, {})]
        if not todo:
            return
        yield "family", self.label, process, len(todo)
        yield "conditions", {**snapshot(self.family, process, "before"), **where}
        for task, row in iter_tasks(self.start, todo, self.task, self.failed,
                                    lambda task: _timeout_s(task, self.options)):
            row = {**row, "import_ms": self.import_ms.get(task.case.runtime), **self.where.columns()}
            yield "process", task.case, row
            rows = self.kept.setdefault(task.case.key, {})
            rows[process] = row
            if process < self.options.config.processes and result_from_processes(
                    task.case, rows, self.options.config.processes) is not None:
                self.open.discard(task.case.key)
            if task is todo[-1]:  # the worker is still up and the device still warm: the conditions it ran in
                yield "conditions", {**snapshot(self.family, process, "after", self.pids), **where}

    def start(self) -> Worker:
        worker = Worker(self.family, self.options.threads, FAMILY_ENV[self.family], self.options.log_path)
        self.pids = (*self.pids, worker.pid or 0)
        modules = tuple(dict.fromkeys(m for info in self.runtimes for m in info.requires))
        took = worker.call(import_requirements, modules, timeout_s=IMPORT_TIMEOUT_S)
        self.import_ms = {info.name: sum(took[m] for m in info.requires) for info in self.runtimes}
        return worker

    def failed(self, task: CaseTask, why: str) -> dict[str, object]:
        return {**case_row(task.case, status="failed", reason=why, threads=self.options.threads),
                "process": task.process}


def _timeout_s(task: CaseTask, options: RunSettings) -> float:
    return options.case_timeout_s or default_case_timeout_s(options.config, task.runtime)


def profile_family(family: str, unprofiled: list[tuple[Case, float]], options: RunSettings, artifacts_root: str
                   ) -> Iterator[Event]:
    """The events of profiling each (case, its timed median ms) in fresh workers that time nothing."""
    for task, columns in iter_tasks(lambda: Worker(family, options.threads, FAMILY_ENV[family], options.log_path),
                                    [CaseTask(case, RUNTIMES[case.runtime], median_ms=median)
                                     for case, median in unprofiled],
                                    functools.partial(profile_case, artifacts_root=artifacts_root),
                                    lambda task, why: {"kernel_method": f"not measured: {why}"},
                                    lambda task: _timeout_s(task, options)):
        yield "kernel", task.case, columns
