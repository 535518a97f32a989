"""What a run tells the terminal while it runs: a progress bar over case x process, a line per case and per
profiled case, each reason printed once and then counted (rich, on one shared console)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from convbench.results import ResultsStore
from convbench.run import RunObserver
from convbench.spec import Case

# Wide enough for the seed tables and case lines when output goes to a file or CI log (rich would use 80 there).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


class ConsoleObserver(RunObserver):
    """A run told on the console: a progress bar over case x process, a line per case and per profiled case, a
    reason printed once and then counted."""

    def __init__(self) -> None:
        self.processes = 1  # told by `started`
        self.run_dir: Path | None = None
        self.reasons = ReasonCounter()
        self.progress = progress_bar()
        self.task = None
        self.processes_run: dict[tuple[str, ...], int] = {}

    def __enter__(self) -> ConsoleObserver:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def note(self, text: str) -> None:
        self.progress.console.print(escape(text))

    def started(self, store: ResultsStore, cases: int, already: int, resuming: bool, worker_log: Path | None,
                processes: int) -> None:
        self.processes, self.run_dir = processes, store.run_dir
        self.progress.console.print(escape(
            f"run {store.run_dir}: {cases} cases x {self.processes} processes"
            + (f", {already} cases already measured" if resuming else "")
            + (f"; worker output in {worker_log.name}" if worker_log else "")))
        self.task = self.progress.add_task("bench", total=cases * self.processes, completed=already * self.processes)

    def measuring_ceilings(self, device: str) -> None:
        self.progress.console.print(f"measuring this machine's {device} ceilings (each runtime's GEMM, copy "
                                    "bandwidth; a few seconds) ...")

    def ceilings(self, device: str, ceilings: dict | None, why_not: str | None) -> None:
        if ceilings:
            tf32 = (f", {ceilings['peak_tf32_gflop_per_s']:.0f} GFLOP/s TF32"
                    if "peak_tf32_gflop_per_s" in ceilings else "")
            if "gemm_peak_gflop_per_s" in ceilings:
                clock = (f" at {ceilings['measured_clock_ghz']:.2f} GHz measured"
                         if "measured_clock_ghz" in ceilings else "")
                how = (f"{ceilings.get('peak_from')}{clock}; best GEMM {ceilings['gemm_peak_gflop_per_s']:.0f} "
                       f"({ceilings.get('gemm_peak_from')})")
            else:
                how = f"best GEMM: {ceilings.get('peak_from', 'torch')}"
            self.progress.console.print(f"{device} ceilings: {ceilings['peak_gflop_per_s']:.0f} GFLOP/s float32 "
                                        f"({how}){tf32}, "
                                        f"{ceilings['bandwidth_gb_per_s']:.0f} GB/s copy")
        else:
            self.progress.console.print(escape(f"{device} ceilings not measured ({why_not}): no roofline floor"))

    def floors(self, measured: int, wanted: int, why_not: str | None) -> None:
        if why_not:
            self.progress.console.print(escape(f"library floor not measured: {why_not}"))
        else:
            self.progress.console.print(f"library floor: {measured} of {wanted} layer operations measured (cuDNN's "
                                        "plans, each timed by its kernels)")

    def family(self, family: str, process: int, cases: int) -> None:
        which = (f"process {process + 1} of {self.processes}" if process < self.processes else
                 f"extra round {process + 1} (cases still undecided)")
        self.progress.console.print(escape(f"{family}: {which}, {cases} cases in a fresh worker"))

    def process(self, case: Case, row: dict[str, object]) -> None:
        self.processes_run[case.key] = self.processes_run.get(case.key, 0) + 1
        self.progress.advance(self.task)

    def row(self, case: Case, row: dict[str, object]) -> None:
        # processes not run here (a case stopped early, or rebuilt from processes.csv) count as done for the bar
        self.progress.advance(self.task, max(0, self.processes - self.processes_run.get(case.key, 0)))
        if row["status"] != "ok":
            self.reasons.print(self.progress.console, str(row["status"]), case, str(row["reason"]))
            return
        flag = "  UNSTABLE" if row["unstable"] else ""
        self.progress.console.print(_case_line("ok", case, (
            f"{row['ms_per_forward']:9.3f} {_per(case, 'fwd')}  processes {row['ms_process_min']:.3g}-"
            f"{row['ms_process_max']:.3g} ({row['process_spread']:.0%})  p99 {row['latency_ms_p99']:.3g} ms  "
            f"parity {row['parity_rel_err']:.0e}{flag}")))

    def kernel(self, case: Case, columns: dict[str, object]) -> None:
        kernel = columns.get("kernel_ms_per_forward")
        if isinstance(kernel, float) and not math.isnan(kernel):
            overhead = float(columns["overhead_ms_per_forward"])  # type: ignore[arg-type]
            after = (f"overhead {overhead:.3f} ms" if not math.isnan(overhead) else
                     "overhead not given: the profiled process ran other kernels than the timed ones")
            self.progress.console.print(_case_line("profile", case, f"kernel {kernel:.3f} {_per(case, 'forward')}, "
                                                                    + after))
        else:
            self.reasons.print(self.progress.console, "profile", case, str(columns.get("kernel_method")))


def _per(case: Case, forward: str) -> str:
    """The unit of a case's times in a progress line: ms per forward, or per training step in the train pass."""
    return "ms/step" if case.workload.pass_ == "train" else f"ms/{forward}"


class ReasonCounter:
    """Prints a case line with a given reason once; later cases with the same reason are only counted, and
    `summary` says how many there were."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def print(self, out, status: str, what: Case | str, reason: str) -> None:
        """`what`: a bench case, or an export's "source stack id"."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self.counts[reason] == 1:
            out.print(_case_line(status, what, reason) if isinstance(what, Case)
                      else escape(f"  {status:>10}  {what:<35} {reason}"))

    def summary(self, out) -> None:
        for reason, count in self.counts.items():
            if count > 1:
                out.print(escape(f"  ({count - 1} more case(s) with the reason: {reason})"))


def _case_line(status: str, case: Case, detail: str) -> str:
    return escape(f"  {status:>7}  {case.workload.stack_id:<26} {case.runtime + '[' + case.source + ']':<24} {detail}")
