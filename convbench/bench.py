"""`convbench bench`: time every case in its runtime's worker process and append each row as it finishes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from convbench.artifacts import Artifacts
from convbench.errors import one_line
from convbench.harness import TimingConfig, measure
from convbench.parity import TOLERANCE, parity_ok, relative_error
from convbench.results import ResultsStore, case_row
from convbench.roofline import arithmetic_intensity, floor_ms, measure_ceilings
from convbench.runners import FAMILY_ENV, RUNTIMES, get_runner, missing_requirement
from convbench.runners.base import Skip
from convbench.runners.profilers import profile_forwards
from convbench.spec import Case, StackSpec
from convbench.workers import FamilyWorker, run_in_worker, worker_threads


def plan_cases(specs: Sequence[StackSpec], runtimes: Sequence[str], device: str) -> list[Case]:
    """Every (stack, runtime, source) of the sweep, grouped by worker family so each family starts once."""
    cases = [
        Case(spec, name, source, device)
        for name in runtimes
        for spec in specs
        for source in RUNTIMES[name].sources
    ]
    families = list(dict.fromkeys(RUNTIMES[name].family for name in runtimes))
    return sorted(cases, key=lambda c: families.index(RUNTIMES[c.runtime].family))


def run_case(case: Case, config: TimingConfig, artifacts_root: str) -> dict[str, object]:
    """Worker side: check parity against the reference output, then time the case. Never raises."""
    threads = worker_threads()
    try:
        runner = get_runner(case.runtime, threads)
        reason = runner.available(case.device)
        if reason:
            return case_row(case, status="skipped", reason=reason, threads=threads)
        artifacts = Artifacts(Path(artifacts_root))
        reference = np.load(artifacts.reference_path(case.spec))
        prepared = runner.prepare(case, artifacts)
        error = relative_error(prepared.to_nchw(prepared.forward()), reference)
        base = case_row(case, threads=threads, options=prepared.options, parity_rel_err=error)
        if not parity_ok(error, case.device):
            return {**base, "status": "failed",
                    "reason": f"parity: relative error {error:.2e} > {TOLERANCE[case.device]:.0e}; not timed"}
        m = measure(prepared.forward, config)
    except Skip as skip:
        return case_row(case, status="skipped", reason=str(skip), threads=threads)
    except Exception as error:  # a runtime's failure is a row, not the end of the sweep
        return case_row(case, status="failed", reason=one_line(error), threads=threads)
    return {
        **base,
        "status": "ok",
        "reason": "",
        "ms_per_forward": m.median_ms,
        "ms_iqr": m.iqr_ms,
        "ms_min": m.min_ms,
        "cv": m.cv,
        "samples": m.samples,
        "iterations": m.iterations,
        "gflop_per_s": case.spec.flops / 1e9 / (m.median_ms / 1e3),
    }


def profile_case(item: tuple[Case, float], artifacts_root: str) -> dict[str, object]:
    """Worker side, in a process that times nothing: the kernel columns of a case timed at `median_ms`.

    Profilers can leave hooks behind (CUPTI stays active once torch.profiler has traced CUDA), so no timed
    run ever follows a profiled one in the same process. Never raises."""
    case, median_ms = item
    try:
        runner = get_runner(case.runtime, worker_threads())
        if not hasattr(runner, "kernel_time"):
            return {"kernel_method": "not measured: this runtime has no profiler hook"}
        kt = runner.kernel_time(case, Artifacts(Path(artifacts_root)), profile_forwards(median_ms))
    except Exception as error:  # a profiler's failure leaves the timing as it is
        return {"kernel_method": f"not measured: {one_line(error)}"}
    kernel = kt.kernel_ms_for(median_ms)
    method = kt.method + (", its share of the profiled run applied to the timed median" if kt.host_timed
                          and kernel == kernel else "")
    return {"kernel_ms_per_forward": kernel, "overhead_ms_per_forward": median_ms - kernel,
            "profiled_ms_per_forward": kt.profiled_wall_ms, "conv_events_per_forward": kt.conv_events,
            "kernel_method": method}


def roofline_columns(case: Case, ms_per_forward: float | None, tf32: bool, ceilings: dict | None
                     ) -> dict[str, object]:
    """Floor and efficiency of a case from the machine's ceilings (TF32 peak where the runtime used TF32)."""
    columns: dict[str, object] = {"arithmetic_intensity": arithmetic_intensity(case.spec)}
    if not ceilings:
        return columns
    peak = ceilings.get("peak_tf32_gflop_per_s") if tf32 else None
    floor = floor_ms(case.spec, peak or ceilings["peak_gflop_per_s"], ceilings["bandwidth_gb_per_s"])
    columns["floor_ms"] = floor
    if ms_per_forward:
        columns["efficiency"] = floor / ms_per_forward
    return columns


def measure_ceilings_in_worker(device: str, threads: int) -> dict[str, float] | str:
    """The machine's ceilings, measured in a torch worker like the runtimes' own; a reason string if not."""
    if missing_requirement(RUNTIMES["torch"]):
        return "torch not installed: no ceilings measured"
    with FamilyWorker("torch", threads, FAMILY_ENV["torch"]) as worker:
        try:
            return worker.call(measure_ceilings, device, threads)
        except Exception as error:  # the sweep goes on without a floor
            return one_line(error)


def run_bench(
    cases: Sequence[Case],
    store: ResultsStore,
    config: TimingConfig,
    artifacts: Artifacts,
    threads: int,
    env_id: str,
    on_row: Callable[[Case, dict[str, object]], None],
    profile: bool = False,
    ceilings: dict[str, float] | None = None,
    on_kernel: Callable[[Case, dict[str, object]], None] | None = None,
) -> None:
    """Run the cases not yet in `store`, one worker process per runtime family, appending rows as they come.

    With `profile`, once a family's cases are timed, a fresh worker of that family takes each ok case's kernel
    time from the runtime's profiler and fills the row's kernel columns in."""
    done = store.done_keys()

    def record(case: Case, row: dict[str, object]) -> None:
        options = row.get("options") if isinstance(row.get("options"), dict) else {}
        tf32 = options.get("tf32")
        row = {**row, **roofline_columns(case, row.get("ms_per_forward"), bool(tf32), ceilings),
               "tf32": tf32, "run_id": store.run_id, "env_id": env_id}
        store.append(row)
        on_row(case, row)

    def record_kernel(item: tuple[Case, float], columns: dict[str, object]) -> None:
        store.update(item[0].key, columns)
        if on_kernel:
            on_kernel(item[0], columns)

    task = functools.partial(run_case, config=config, artifacts_root=str(artifacts.root))
    for family in dict.fromkeys(RUNTIMES[c.runtime].family for c in cases):
        family_cases = [c for c in cases if RUNTIMES[c.runtime].family == family]
        runnable = []
        for case in (c for c in family_cases if c.key not in done):
            reason = missing_requirement(RUNTIMES[case.runtime])
            if reason:
                record(case, case_row(case, status="skipped", reason=reason, threads=threads))
            else:
                runnable.append(case)
        if runnable:
            with FamilyWorker(family, threads, FAMILY_ENV[family]) as worker:
                run_in_worker(worker, runnable, task,
                              lambda case, why: case_row(case, status="failed", reason=why, threads=threads),
                              record)
        unprofiled = store.unprofiled(family_cases) if profile else []
        if unprofiled:
            with FamilyWorker(family, threads, FAMILY_ENV[family]) as worker:
                run_in_worker(worker, unprofiled,
                              functools.partial(profile_case, artifacts_root=str(artifacts.root)),
                              lambda item, why: {"kernel_method": f"not measured: {why}"}, record_kernel)
