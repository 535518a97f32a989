"""`convbench bench`: time every case in fresh worker processes of its runtime's family, each process running
the family's cases in its own order, and append each row as it is known.

Per family: process 0 .. N-1 each time every case (processes.csv gets a row per case and process at once); a case
whose last process finishes gets its results.csv row, made by convbench.repeats.aggregate. A case that fails or
is skipped in any process gets its row then and is not run again. With --profile, a fresh worker then takes
each ok case's kernel time, in a process that times nothing."""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from convbench import passes
from convbench.artifacts import ONNX_EXPORTERS, Artifacts
from convbench.ceilings import (
    CEILING_PROCESSES,
    best_gemm,
    cpu_gemms,
    measure_ceilings,
    theoretical_cpu_peak,
    usable_cpus,
)
from convbench.conditions import snapshot
from convbench.errors import one_line
from convbench.harness import TimingConfig, measure
from convbench.layer_map import attribute, resolver
from convbench.library_floor import Floors, case_floor, layer_floor_ms
from convbench.machines import this_host
from convbench.parity import parity_ok, tolerance
from convbench.repeats import aggregate, process_orders
from convbench.results import ResultsStore, case_row
from convbench.roofline import (
    arithmetic_intensity,
    floor_ms,
    layer_bytes,
    peak_key,
    roofline_ms,
)
from convbench.runners import FAMILY_ENV, RUNTIMES, RuntimeInfo, get_runner, import_requirements, missing_requirement
from convbench.runners.base import Skip
from convbench.runners.phases import phase_columns
from convbench.runners.profilers import KernelTime, profile_forwards, profiled_overhead
from convbench.skeleton import convs
from convbench.spec import Case, Workload
from convbench.workers import Worker, iter_tasks, run_tasks, worker_threads

log = logging.getLogger("convbench")
KERNELS = "kernels"  # key of a profile row's kernel table (kernels.csv), not a results column
LAYERS = "layers"  # key of a profile row's per-layer table (layers.csv), not a results column
IMPORT_TIMEOUT_S = 300.0  # importing a framework in a fresh worker (TensorFlow: seconds; a cold disk: more)


@dataclass(frozen=True)
class CaseTask:
    """What a worker is handed: the case, its runtime's registry entry (the worker keeps no registry of its own),
    and which process of the repeats it is (or, for profiling, the case's timed median)."""

    case: Case
    runtime: RuntimeInfo
    process: int = 0
    median_ms: float = float("nan")


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
    return runtime.setup_allowance_s + 10 * (config.warmup_seconds + config.process_budget_seconds)


def run_case(task: CaseTask, config: TimingConfig, artifacts_root: str) -> dict[str, object]:
    """Worker side, one process's timing of a case: set-up and first forward timed, parity against the reference
    output, then the harness. Never raises: a failure is a row."""
    case, threads = task.case, worker_threads()
    row = {**case_row(case, threads=threads), "process": task.process, "pid": os.getpid()}
    try:
        runner = get_runner(task.runtime, threads)
        reason = runner.available(case.device)
        if reason:
            return {**row, "status": "skipped", "reason": reason}
        artifacts = Artifacts(Path(artifacts_root))
        reference = passes.reference(case, artifacts)
        start = time.perf_counter()
        prepared = passes.prepare(runner, case, artifacts)
        setup_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        out = prepared.forward()
        if prepared.sync is not None:
            prepared.sync(out)
        first_forward_ms = (time.perf_counter() - start) * 1e3
        error, worst = passes.worst_error(passes.arrays(prepared, out), reference)
        del out
        row.update(options=prepared.options, parity_rel_err=error, setup_ms=setup_ms, compile_ms=prepared.compile_ms,
                   compile_cache=prepared.compile_cache, first_forward_ms=first_forward_ms)
        spec = case.spec
        if not parity_ok(error, spec.dtype, case.device, spec.pass_):
            limit = tolerance(spec.dtype, case.device, spec.pass_)
            what = "" if worst == "output" else f" in the gradient of {worst}"
            return {**row, "status": "failed",
                    "reason": f"parity: relative error {error:.2e}{what} > {limit:.0e} ({spec.dtype} {spec.pass_}); "
                              "not timed"}
        m = measure(prepared.forward, config, prepared.sync, prepared.clock)
    except Skip as skip:
        return {**row, "status": "skipped", "reason": str(skip)}
    except Exception as error:  # a runtime's failure (GPU out of memory included) is a row; the worker goes on
        reason = one_line(error)
        _release_memory()
        return {**row, "status": "failed", "reason": reason}
    return {
        **row,
        "status": "ok",
        "reason": "",
        "ms_per_forward": m.median_ms,
        "ms_iqr": m.iqr_ms,
        "ms_min": m.min_ms,
        "cv": m.cv,
        "samples": m.samples,
        "iterations": m.iterations,
        "latency_ms_p50": m.latency_percentile_ms(50),
        "latency_ms_p90": m.latency_percentile_ms(90),
        "latency_ms_p99": m.latency_percentile_ms(99),
        "latency_forwards": len(m.latency_ms),
    }


def _release_memory() -> None:
    """After a failed case: drop what it held, and hand PyTorch's cached GPU blocks back (an out-of-memory case
    must not starve the next one)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def profile_case(task: CaseTask, artifacts_root: str) -> dict[str, object]:
    """Worker side, in a process that times nothing: the kernel columns of a case timed at `task.median_ms`.

    Profilers can leave hooks behind (CUPTI stays active once torch.profiler has traced CUDA), so no timed
    run ever follows a profiled one in the same process. Never raises."""
    case, median_ms = task.case, task.median_ms
    try:
        runner = get_runner(task.runtime, worker_threads())
        if not hasattr(runner, "kernel_time"):
            return {"kernel_method": "not measured: this runtime has no profiler hook"}
        kt = runner.kernel_time(case, Artifacts(Path(artifacts_root)), profile_forwards(median_ms))
    except Exception as error:  # a profiler's failure leaves the timing as it is
        return {"kernel_method": f"not measured: {one_line(error)}"}
    kernel = kt.kernel_ms_for(median_ms)
    method = kt.method + kt.applied(median_ms)
    train = case.spec.pass_ == "train"
    layers = (layer_table(case, kt, Artifacts(Path(artifacts_root))) if not train else
              "a training step's backward kernels are not matched to its layers")
    if isinstance(layers, str):
        method += f"; per layer: not attributed ({layers})" if kernel == kernel else ""
        layers = []
    phases = phase_columns(kt) if train and kernel == kernel else {}
    overhead, disagreement = profiled_overhead(median_ms, kernel)
    method += disagreement
    return {**phases, "kernel_ms_per_forward": kernel, "overhead_ms_per_forward": overhead,
            "profiled_ms_per_forward": kt.profiled_wall_ms, "conv_events_per_forward": kt.conv_events,
            "kernel_method": method, "copy_ms_per_forward": kt.copy_ms, "launches_per_forward": kt.launches,
            "gpu_idle_ms_per_forward": kt.gpu_idle_ms, KERNELS: kernel_table(kt, case.spec.layers),
            LAYERS: layers}


def layer_table(case: Case, kt: KernelTime, artifacts: Artifacts) -> list[dict[str, object]] | str:
    """layers.csv rows of one profiled case: each conv layer's kind, GFLOP, MB moved and kernel time as profiled
    (and its share of the conv layers' total), or why the profiler's events cannot be told apart."""
    nodes = convs(case.spec.nodes)
    framework = ONNX_EXPORTERS.get(case.source)
    onnx_path = artifacts.onnx_path(framework, case.spec) if framework else None
    times = attribute(kt.layer_events, resolver(case.spec, onnx_path), len(nodes))
    if isinstance(times, str):
        return times
    total = sum(times)
    batch, dtype = case.spec.batch, case.spec.dtype
    return [{"layer": node.name, "conv_kind": node.kind, "gflop": node.flops(batch) / 1e9,
             "mbyte": layer_bytes(node, batch, dtype) / 1e6, "ms_per_forward": ms,
             "layer_share": ms / total if total > 0 else float("nan")} for node, ms in zip(nodes, times, strict=True)]


def kernel_table(kt: KernelTime, layers: int) -> list[dict[str, object]]:
    """kernels.csv rows of one profiled case: each kernel's calls and time per forward and its share of the
    case's kernel time (copies and memsets: of the copy time), so the shares of each group sum to 1."""
    def group(kind: str) -> str:
        return "kernel" if kind == "kernel" else "copy"

    totals: dict[str, float] = {}
    for row in kt.kernels:
        totals[group(row.kind)] = totals.get(group(row.kind), 0.0) + row.ms_per_forward
    return [{"kernel": r.name, "kind": r.kind, "calls_per_forward": r.calls_per_forward,
             "calls_per_layer": r.calls_per_forward / layers, "ms_per_forward": r.ms_per_forward,
             "share": r.ms_per_forward / totals[group(r.kind)] if totals[group(r.kind)] > 0 else float("nan")}
            for r in kt.kernels]


def roofline_columns(case: Case, ms_per_forward: float | None, tf32: bool, ceilings: dict | None
                     ) -> dict[str, object]:
    """Floor and efficiency of a case from the machine's ceilings: the peak of its dtype (TF32 where the runtime
    used TF32; float32's where the dtype has none measured, named in `peak_used`)."""
    columns: dict[str, object] = {"arithmetic_intensity": arithmetic_intensity(case.spec)}
    if not ceilings:
        return columns
    key = peak_key(case.spec.dtype, tf32, ceilings)
    floor = floor_ms(case.spec, ceilings[key], ceilings["bandwidth_gb_per_s"])
    columns.update(floor_ms=floor, peak_used=key)
    if ms_per_forward:
        columns["efficiency"] = floor / ms_per_forward
    return columns


def layer_floor(case: Case, row: dict[str, object], ceilings: dict | None,
                library_floors: Floors | None = None) -> dict[str, object]:
    """A layer's roofline floor (ms) from its GFLOP and MB and the machine's ceilings (float32's peak for a dtype
    without its own; TF32 not assumed), and its library floor (cuDNN's fastest plan) where one was measured."""
    columns: dict[str, object] = {}
    if ceilings:
        peak = ceilings[peak_key(case.spec.dtype, False, ceilings)]
        columns["floor_ms"] = roofline_ms(float(row["gflop"]) * 1e9, float(row["mbyte"]) * 1e6, peak,
                                          ceilings["bandwidth_gb_per_s"])
    if library_floors is not None and library_floors.best:
        node = next((n for n in convs(case.spec.nodes) if n.name == row.get("layer")), None)
        if node is not None:
            columns["library_floor_ms"] = layer_floor_ms(node, case.spec, library_floors)
    return columns


def floor_columns(case: Case, ms_per_forward: float | None, library_floors: Floors | None) -> dict[str, object]:
    """The case's library floor (convbench.library_floor) and its time over it; nothing where no floor was asked."""
    if library_floors is None:
        return {}
    columns = case_floor(case.spec, case.device, library_floors)
    if ms_per_forward and "library_floor_ms" in columns:
        columns["ms_vs_library_floor"] = ms_per_forward / columns["library_floor_ms"]
    return columns


def measure_ceilings_in_worker(device: str, threads: int, log_path: Path | None = None) -> dict[str, float | str] | str:
    """The machine's ceilings (convbench.ceilings), measured in fresh torch workers: torch's matmul and copy; on the
    CPU also every other installed CPU runtime's GEMM, each the best of CEILING_PROCESSES processes, the best of them
    all as the peak, and the theoretical peak. A reason string where torch cannot measure them."""
    if missing_requirement(RUNTIMES["torch"]):
        return "torch not installed: no ceilings measured"
    cpu = device == "cpu"
    try:
        measured = [_ceilings_in_one_process(device, threads, log_path) for _ in range(CEILING_PROCESSES if cpu else 1)]
    except Exception as error:  # the sweep goes on without a floor
        return one_line(error)
    ceilings = {key: max(m[key] for m in measured if isinstance(m[key], float)) if isinstance(value, float) else value
                for key, value in measured[0].items()}
    return {**best_gemm(ceilings), **theoretical_cpu_peak(min(threads, usable_cpus()))} if cpu else ceilings


def stored_ceilings(measured: dict | str) -> dict:
    """What env.json keeps of a ceilings measurement: the ceilings, or {"not_measured": why}."""
    return measured if isinstance(measured, dict) else {"not_measured": measured}


def _ceilings_in_one_process(device: str, threads: int, log_path: Path | None) -> dict[str, float | str]:
    with Worker("torch", threads, FAMILY_ENV["torch"], log_path) as worker:
        ceilings = worker.call(measure_ceilings, device, threads, timeout_s=600)
        return {**ceilings, **worker.call(cpu_gemms, threads, timeout_s=600)} if device == "cpu" else ceilings


@dataclass
class BenchOptions:
    """How `run_bench` runs: timing, limits, where worker output goes, and what to do besides timing."""

    config: TimingConfig
    threads: int
    env_id: str
    case_timeout_s: float | None = None  # None: default_case_timeout_s per runtime
    log_path: Path | None = None  # worker stdout/stderr; None: the terminal
    profile: bool = False
    ceilings: dict[str, float] | None = None
    library_floors: Floors | None = None  # None: no floor asked for (convbench.library_floor)
    machine_ceilings: dict[str, dict | None] | None = None  # a cluster's: each machine's ceilings (None: `ceilings`)


Event = tuple  # what a job tells the run: ("process" | "result" | "kernel", case, row), ("conditions", snapshot),
# ("family", family, process, cases), the family named "family (runtime)" for a runtime with workers of its own; a
# job runs here, or on a cluster's node (convbench.cluster)


@dataclass(frozen=True)
class Where:
    """Where a job runs: the host, the Ray node (empty outside a cluster) and the environment its rows name."""

    host: str
    node: str = ""
    env_id: str = ""

    def columns(self) -> dict[str, object]:
        return {"host": self.host, "node": self.node, "env_id": self.env_id}


def run_bench(
    cases: Sequence[Case],
    store: ResultsStore,
    artifacts: Artifacts,
    options: BenchOptions,
    on_row: Callable[[Case, dict[str, object]], None],
    on_process: Callable[[Case, dict[str, object]], None] | None = None,
    on_kernel: Callable[[Case, dict[str, object]], None] | None = None,
    on_family: Callable[[str, int, int], None] | None = None,
) -> None:
    """Run the cases not yet in `store` on this machine: per family, `config.processes` fresh workers in turn, each
    timing every case still open in its own order, then (with options.profile) its kernel times.
    `on_family(family, process, cases)` hears when each starts, `on_process` sees each process row, `on_row` each
    case's result row, `on_kernel` each profiled case's kernel columns."""
    recorder = Recorder(store, options, on_row, on_process, on_kernel, on_family)
    todo = recorder.open_cases(cases)
    no_reference = gradient_references(todo, artifacts, options)
    where = Where(this_host(), "", options.env_id)
    open_keys = {case.key for case in todo}
    for family, group in worker_groups(cases):
        open_cases = [c for c in group if c.key in open_keys]
        for event in time_family(family, open_cases, recorder.kept, options, str(artifacts.root), no_reference,
                                 where):
            recorder.handle(event)
        if options.profile:
            for event in profile_family(family, store.unprofiled(group), options, str(artifacts.root)):
                recorder.handle(event)


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


class Recorder:
    """The run's one writer: every event of every job (here or on a cluster's nodes) goes through `handle`, which
    appends it to the store; a case's result row is made here once its last process row is in (with the roofline
    and library-floor columns of the machine that timed it)."""

    def __init__(self, store: ResultsStore, options: BenchOptions,
                 on_row: Callable[[Case, dict[str, object]], None],
                 on_process: Callable[[Case, dict[str, object]], None] | None = None,
                 on_kernel: Callable[[Case, dict[str, object]], None] | None = None,
                 on_family: Callable[[str, int, int], None] | None = None) -> None:
        self.store, self.options = store, options
        self.on_row, self.on_process, self.on_kernel, self.on_family = on_row, on_process, on_kernel, on_family
        self.done = store.done_keys()
        self.kept = store.process_rows()

    def open_cases(self, cases: Sequence[Case]) -> list[Case]:
        """The cases with no result row yet; first, those whose last process row is kept but whose result row is
        not (a run stopped between the two) get theirs, rebuilt from processes.csv."""
        rebuilt = {case: result for case in cases if case.key not in self.done
                   if (result := result_from_processes(case, self.kept.get(case.key, {}),
                                                       self.options.config.processes))}
        if rebuilt:
            log.warning(f"rebuilding {len(rebuilt)} case(s)' results.csv rows from their complete rows in "
                        "processes.csv")
        for case, result in rebuilt.items():
            self.finish(case, result)
        return [case for case in cases if case.key not in self.done]

    def ceilings(self, case: Case) -> dict | None:
        machines = self.options.machine_ceilings
        return machines.get(case.machine) if machines is not None else self.options.ceilings

    def finish(self, case: Case, row: dict[str, object]) -> None:
        opts = row.get("options") if isinstance(row.get("options"), dict) else {}
        tf32 = opts.get("tf32")
        row = {**row, **roofline_columns(case, row.get("ms_per_forward"), bool(tf32), self.ceilings(case)),
               **floor_columns(case, row.get("ms_per_forward"), self.options.library_floors),
               "tf32": tf32, "run_id": self.store.run_id, "env_id": row.get("env_id") or self.options.env_id}
        self.store.append(row)
        self.done.add(case.key)
        self.on_row(case, row)

    def handle(self, event: Event) -> None:
        kind = event[0]
        if kind == "process":
            self._process(event[1], event[2])
        elif kind == "result":
            self.finish(event[1], event[2])
        elif kind == "kernel":
            self._kernel(event[1], event[2])
        elif kind == "conditions":
            self.store.append_conditions(event[1])
        elif kind == "family" and self.on_family:
            self.on_family(*event[1:])

    def _process(self, case: Case, row: dict[str, object]) -> None:
        row = {**row, "run_id": self.store.run_id}
        self.store.append_process(row)
        if self.on_process:
            self.on_process(case, row)
        rows = self.kept.setdefault(case.key, {})
        rows[int(row["process"])] = row
        result = result_from_processes(case, rows, self.options.config.processes)
        if result is not None and case.key not in self.done:
            self.finish(case, result)

    def _kernel(self, case: Case, columns: dict[str, object]) -> None:
        options = self.options
        self.store.replace_kernels(case.key, columns.pop(KERNELS, []))
        self.store.replace_layers(case.key, [{**row, **layer_floor(case, row, self.ceilings(case),
                                                                   options.library_floors)}
                                             for row in columns.pop(LAYERS, [])])
        kernel = columns.get("kernel_ms_per_forward")
        floor = floor_columns(case, None, options.library_floors).get("library_floor_ms")
        if floor and kernel == kernel and kernel is not None:
            columns["kernel_vs_library_floor"] = kernel / floor
        self.store.update(case.key, columns)
        if self.on_kernel:
            self.on_kernel(case, columns)


def time_family(family: str, cases: Sequence[Case], kept: dict[tuple[str, ...], dict[int, dict]],
                options: BenchOptions, artifacts_root: str, no_reference: dict[str, str], where: Where
                ) -> Iterator[Event]:
    """The events of timing `cases` (all of one family, none with a result row yet) where this runs: a result row
    for each case that cannot run (a runtime not installed, no reference gradients), then the family's repeats
    (_FamilyTiming). `kept`: the cases' process rows kept so far, by process index."""
    runnable = []
    for case in cases:
        skip = _not_runnable(case)
        fail = no_reference.get(case.spec.reference.stack_id) if case.spec.pass_ == "train" else None
        if skip or fail:
            status, reason = ("skipped", skip) if skip else ("failed", fail)
            yield "result", case, {**case_row(case, status=status, reason=reason, threads=options.threads),
                                   **where.columns()}
        else:
            runnable.append(case)
    kept = {case.key: dict(kept.get(case.key, {})) for case in runnable}
    yield from _FamilyTiming(family, runnable, kept, artifacts_root, options, where).events()


def _not_runnable(case: Case) -> str | None:
    """Why the case is a skipped row without starting a worker: a runtime with no training step in the train pass,
    or one whose packages are not installed."""
    info = RUNTIMES[case.runtime]
    if case.spec.pass_ == "train" and info.inference_only:
        return info.inference_only
    return missing_requirement(info)


def gradient_references(cases: Sequence[Case], artifacts: Artifacts, options: BenchOptions) -> dict[str, str]:
    """Make the PyTorch float32 reference gradients the open train cases need and do not have yet (once per
    workload, in a torch worker, kept under the artifacts' reference/); by reference stack id, why one could not
    be made."""
    needed = {c.spec.reference.stack_id: c.spec for c in cases
              if c.spec.pass_ == "train" and _not_runnable(c) is None
              and not artifacts.gradient_reference_path(c.spec).exists()}
    if not needed:
        return {}
    if missing_requirement(RUNTIMES["torch"]):
        return dict.fromkeys(needed, "no reference gradients: PyTorch, which makes them, is not installed")
    log.warning(f"computing PyTorch float32 reference gradients for {len(needed)} workload(s) (once; kept in "
                f"{artifacts.gradient_reference_path(next(iter(needed.values()))).parent})")
    failed: dict[str, str] = {}

    def record(spec: Workload, row: dict[str, object]) -> None:
        if "error" in row:
            failed[spec.reference.stack_id] = f"no reference gradients: {row['error']}"

    run_tasks(lambda: Worker("torch", options.threads, FAMILY_ENV["torch"], options.log_path), list(needed.values()),
              functools.partial(passes.compute_gradient_reference, artifacts_root=str(artifacts.root),
                                threads=options.threads),
              lambda spec, why: {"error": why}, record, lambda spec: IMPORT_TIMEOUT_S + 600)
    return failed


class _FamilyTiming:
    """The repeats of one family: process 0 .. N-1, each a fresh worker (again after a kill or a death) whose
    framework imports are timed, with the machine's conditions recorded before its first case and after its
    last. Each process row is an event at once; the Recorder makes a case's result row when its last is in."""

    def __init__(self, family: str, cases: Sequence[Case], kept: dict[tuple[str, ...], dict[int, dict]],
                 artifacts_root: str, options: BenchOptions, where: Where) -> None:
        self.family, self.cases, self.kept, self.options, self.where = family, list(cases), kept, options, where
        self.task = functools.partial(run_case, config=options.config, artifacts_root=artifacts_root)
        self.runtimes = [RUNTIMES[name] for name in dict.fromkeys(c.runtime for c in cases)]
        own = [info.name for info in self.runtimes if info.own_workers]  # a group of its own: name it in progress
        self.label = f"{family} ({own[0]})" if len(self.runtimes) == 1 and own else family
        self.open = {case.key for case in cases}
        self.import_ms: dict[str, float] = {}
        self.pids: tuple[int, ...] = ()

    def events(self) -> Iterator[Event]:
        where = {"host": self.where.host, "node": self.where.node}
        for process, order in enumerate(process_orders(self.cases, self.options.config.processes)):
            todo = [CaseTask(c, RUNTIMES[c.runtime], process) for c in order
                    if c.key in self.open and process not in self.kept.get(c.key, {})]
            if not todo:
                continue
            yield "family", self.label, process, len(todo)
            yield "conditions", {**snapshot(self.family, process, "before"), **where}
            for task, row in iter_tasks(self.start, todo, self.task, self.failed,
                                        lambda task: _timeout_s(task, self.options)):
                row = {**row, "import_ms": self.import_ms.get(task.case.runtime), **self.where.columns()}
                yield "process", task.case, row
                rows = self.kept.setdefault(task.case.key, {})
                rows[process] = row
                if result_from_processes(task.case, rows, self.options.config.processes) is not None:
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


def result_from_processes(case: Case, rows: dict[int, dict[str, object]], processes: int) -> dict[str, object] | None:
    """A case's results row from its process rows (by process index): the first row that is not ok (the case
    stopped there), or the aggregate once `processes` ok rows exist; None while processes are still to run."""
    stopped = next((row for _, row in sorted(rows.items()) if row["status"] != "ok"), None)
    if stopped is not None:
        return {**case_row(case), **{k: v for k, v in stopped.items() if k not in ("process", "pid")}}
    if len(rows) < processes:
        return None
    ok = [row for _, row in sorted(rows.items())]
    stats = aggregate(ok)
    return {**case_row(case, threads=ok[0]["threads"], options=ok[0]["options"]), **stats, **_where_of(ok),
            "status": "ok", "reason": "", "gflop_per_s": case.spec.flops / 1e9 / (stats["ms_per_forward"] / 1e3)}


def _where_of(rows: list[dict[str, object]]) -> dict[str, object]:
    """The host(s) and node(s) of a case's process rows (one machine's, a cluster may spread them over its nodes),
    and the first one's environment."""
    def joined(column: str) -> str:
        return ", ".join(dict.fromkeys(str(v) for r in rows if isinstance(v := r.get(column), str) and v))

    env_ids = [r["env_id"] for r in rows if isinstance(r.get("env_id"), str) and r["env_id"]]
    return {"host": joined("host"), "node": joined("node"), **({"env_id": env_ids[0]} if env_ids else {})}


def _timeout_s(task: CaseTask, options: BenchOptions) -> float:
    return options.case_timeout_s or default_case_timeout_s(options.config, task.runtime)


def profile_family(family: str, unprofiled: list[tuple[Case, float]], options: BenchOptions, artifacts_root: str
                   ) -> Iterator[Event]:
    """The events of profiling each (case, its timed median ms) in fresh workers that time nothing."""
    for task, columns in iter_tasks(lambda: Worker(family, options.threads, FAMILY_ENV[family], options.log_path),
                                    [CaseTask(case, RUNTIMES[case.runtime], median_ms=median)
                                     for case, median in unprofiled],
                                    functools.partial(profile_case, artifacts_root=artifacts_root),
                                    lambda task, why: {"kernel_method": f"not measured: {why}"},
                                    lambda task: _timeout_s(task, options)):
        yield "kernel", task.case, columns
