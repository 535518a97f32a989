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
from convbench.runners import FAMILY_ENV, RUNTIMES, get_runner, missing_requirement
from convbench.runners.base import Skip
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


def run_bench(
    cases: Sequence[Case],
    store: ResultsStore,
    config: TimingConfig,
    artifacts: Artifacts,
    threads: int,
    env_id: str,
    on_row: Callable[[Case, dict[str, object]], None],
) -> None:
    """Run the cases not yet in `store`, one worker process per runtime family, appending rows as they come."""
    done = store.done_keys()
    todo = [c for c in cases if c.key not in done]

    def record(case: Case, row: dict[str, object]) -> None:
        row = {**row, "run_id": store.run_id, "env_id": env_id}
        store.append(row)
        on_row(case, row)

    task = functools.partial(run_case, config=config, artifacts_root=str(artifacts.root))
    for family in dict.fromkeys(RUNTIMES[c.runtime].family for c in todo):
        family_cases = [c for c in todo if RUNTIMES[c.runtime].family == family]
        runnable = []
        for case in family_cases:
            reason = missing_requirement(RUNTIMES[case.runtime])
            if reason:
                record(case, case_row(case, status="skipped", reason=reason, threads=threads))
            else:
                runnable.append(case)
        if not runnable:
            continue
        with FamilyWorker(family, threads, FAMILY_ENV[family]) as worker:
            run_in_worker(
                worker,
                runnable,
                task,
                lambda case, why: case_row(case, status="failed", reason=why, threads=threads),
                record,
            )
