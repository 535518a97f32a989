"""The parent side of a bench: the run's one writer. Every event of every job (workers here, or a cluster's nodes)
goes through `Recorder.handle`, which appends it to the results store; a case's result row is made here once its
last process row is in (convbench.repeats.aggregate), with the columns derived from the machine that timed it
(convbench.derived: roofline, library floor, overhead)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from convbench.derived import floor_columns, layer_floor_columns, roofline_columns
from convbench.in_worker import KERNELS, LAYERS, SAMPLE_ROWS
from convbench.jobs import Event, RunSettings
from convbench.repeats import aggregate
from convbench.results import ResultsStore, case_row
from convbench.spec import Case

log = logging.getLogger("convbench")


class Recorder:
    """The run's one writer: every event of every job (here or on a cluster's nodes) goes through `handle`, which
    appends it to the store; a case's result row is made here once its last process row is in (with the roofline
    and library-floor columns of the machine that timed it)."""

    def __init__(self, store: ResultsStore, options: RunSettings,
                 on_row: Callable[[Case, dict[str, object]], None],
                 on_process: Callable[[Case, dict[str, object]], None] | None = None,
                 on_kernel: Callable[[Case, dict[str, object]], None] | None = None,
                 on_family: Callable[[str, int, int], None] | None = None) -> None:
        self.store, self.options = store, options
        self.on_row, self.on_process, self.on_kernel, self.on_family = on_row, on_process, on_kernel, on_family
        self.done = store.done_keys()
        self.kept = store.process_rows()

    def redecide_skips(self, cases: Sequence[Case], not_runnable: Callable[[Case], str | None]) -> None:
        """Drop the kept rows of cases skipped before any worker ran them (no process row) for a reason that no
        longer holds, `not_runnable` now answering otherwise (a package installed since, a pass convbench times
        now): a resume decides them again, timing those that can run."""
        skipped = self.store.skipped_reasons()
        stale = {case.key for case in cases if case.key in skipped and not self.kept.get(case.key)
                 and skipped[case.key] != (not_runnable(case) or "")}
        if stale:
            log.warning(f"deciding {len(stale)} skipped case(s) again: the reason each was skipped no longer holds")
            self.store.drop(stale)
            self.done -= stale

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
        row = self._with_derived(case, row)
        self.store.append(row)
        self.done.add(case.key)
        self.on_row(case, row)

    def _with_derived(self, case: Case, row: dict[str, object]) -> dict[str, object]:
        opts = row.get("options") if isinstance(row.get("options"), dict) else {}
        return {**row, **roofline_columns(case, row.get("ms_per_forward"), self.ceilings(case)),
                **floor_columns(case, row.get("ms_per_forward"), self.options.library_floors),
                "tf32": opts.get("tf32"), "run_id": self.store.run_id,
                "env_id": row.get("env_id") or self.options.env_id}

    def _refresh(self, case: Case, rows: dict[int, dict[str, object]]) -> None:
        """A case timed in a round after its result row was written (convbench.bench's extra rounds): its row made
        again from every process row."""
        result = result_from_processes(case, rows, len(rows))
        if result is not None and result["status"] == "ok":
            row = self._with_derived(case, result)
            self.store.update(case.key, {k: v for k, v in row.items() if k not in ("finished_at",)})
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
        samples = row.pop(SAMPLE_ROWS, [])
        row = {**row, "run_id": self.store.run_id}
        if samples:  # before the process row: a process row on disk always has its samples there
            self.store.append_samples(case.key, int(row["process"]), samples)
        self.store.append_process(row)
        if self.on_process:
            self.on_process(case, row)
        rows = self.kept.setdefault(case.key, {})
        rows[int(row["process"])] = row
        if case.key in self.done:
            self._refresh(case, rows)
            return
        result = result_from_processes(case, rows, self.options.config.processes)
        if result is not None:
            self.finish(case, result)

    def _kernel(self, case: Case, columns: dict[str, object]) -> None:
        options = self.options
        self.store.replace_kernels(case.key, columns.pop(KERNELS, []))
        self.store.replace_layers(case.key, [{**row, **layer_floor_columns(case, row, self.ceilings(case),
                                                                   options.library_floors)}
                                             for row in columns.pop(LAYERS, [])])
        kernel = columns.get("kernel_ms_per_forward")
        floor = floor_columns(case, None, options.library_floors).get("library_floor_ms")
        if floor and isinstance(kernel, float) and not math.isnan(kernel):
            columns["kernel_vs_library_floor"] = kernel / floor
        self.store.update(case.key, columns)
        if self.on_kernel:
            self.on_kernel(case, columns)


def result_from_processes(case: Case, rows: dict[int, dict[str, object]], processes: int) -> dict[str, object] | None:
    """A case's results row from its process rows (by process index): the first row that is not ok (the case
    stopped there), or the aggregate once `processes` ok rows exist; None while processes are still to run."""
    stopped = next((row for _, row in sorted(rows.items()) if row["status"] != "ok"), None)
    if stopped is not None:
        return {**case_row(case), **{k: v for k, v in stopped.items() if k not in ("process", "pid")}}
    if len(rows) < processes:
        return None
    stats = aggregate([row for _, row in sorted(rows.items())])
    return {**case_row(case), **stats, "status": "ok", "reason": "",
            "gflop_per_s": case.workload.flops / 1e9 / (stats["ms_per_forward"] / 1e3)}
