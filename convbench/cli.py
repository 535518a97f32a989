"""The `convbench` command: export, bench."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from convbench.artifacts import Artifacts
from convbench.csvfile import replace_text
from convbench.errors import StoreWriteError, UsageError, check_known
from convbench.harness import TimingConfig
from convbench.models.networks import NETWORK_IMAGE, NETWORKS
from convbench.models.variants import VARIANTS
from convbench.spec import (
    DEFAULT_BATCH,
    DEFAULT_CHANNELS,
    DEFAULT_IMAGE,
    DEFAULT_LAYERS,
    DEVICES,
    DTYPES,
    PASSES,
    REFERENCE_DTYPE,
    Case,
    Workload,
    expand_networks,
    expand_specs,
    unique,
)
from convbench.views import console, print_comparison, print_graph, print_seed_tables


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the bad value and the valid choices, exit status 2, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _names(values: Sequence[str], flag: str, valid: Sequence[str] | str) -> list[str]:
    """Accept both `--x a b` and `--x a,b`; an empty list (`--x ""`) is a usage error naming the valid values
    (`valid`: the names, or a phrase saying what is valid)."""
    names = unique(part.strip() for value in values for part in value.split(",") if part.strip())
    if not names:
        raise UsageError(f"{flag} got an empty list; valid: {valid if isinstance(valid, str) else ', '.join(valid)}")
    return names


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which a CPU runtime's threads share."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _threads(text: str) -> int:
    """--threads: at most the usable cores. More threads than cores times the scheduler, not the conv (figures
    50-600x slower on 2 cores) and would lower the ceilings stored with the run, so it is refused."""
    value = _positive_int(text)
    if value > usable_cores():
        raise argparse.ArgumentTypeError(f"{value} is more than the {usable_cores()} usable cores of this machine; "
                                         f"give 1 to {usable_cores()}")
    return value


def _channels(values: Sequence[str]) -> list[int]:
    out = []
    for part in _names(values, "--channels", "positive integers, e.g. 8 16 32 64"):
        try:
            out.append(_positive_int(part))
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"--channels {error}") from None
    return out


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="TYPE",
                       help=f"conv types (default: all seven: {', '.join(VARIANTS)})")
    sweep.add_argument("--channels", nargs="+", default=[str(c) for c in DEFAULT_CHANNELS], metavar="C",
                       help="channel counts (default: 8 16 32 64)")
    sweep.add_argument("--layers", type=_positive_int, default=DEFAULT_LAYERS, help="conv layers per stack (16)")
    sweep.add_argument("--batch", type=_positive_int, nargs="+", default=[DEFAULT_BATCH], metavar="B",
                       help="batch sizes (default: 32)")
    sweep.add_argument("--networks", nargs="+", metavar="NETWORK",
                       help=f"time these real networks' conv layers (at {NETWORK_IMAGE}x{NETWORK_IMAGE} unless --image "
                            f"says otherwise) instead of the seed's stacks, of: {' '.join(NETWORKS)} (--variants, "
                            "--channels and --layers then do not apply)")
    sweep.add_argument("--image", type=_positive_int,
                       help=f"image height = width (default: {DEFAULT_IMAGE}; with --networks {NETWORK_IMAGE})")
    sweep.add_argument("--dtype", nargs="+", default=[REFERENCE_DTYPE], metavar="DTYPE",
                       help=f"precisions, of: {' '.join(DTYPES)} (default: float32); int8 is the float32 ONNX "
                            "export statically quantised, timed by ort and openvino")
    sweep.add_argument("--pass", dest="passes", nargs="+", default=["forward"], metavar="PASS",
                       help=f"what one timed call does, of: {' '.join(PASSES)} (default: forward). train: one "
                            "training step without an optimizer (forward, loss = the output's sum, gradients of the "
                            "input and every conv weight), counted as 3x the forward's FLOPs; the ONNX runtimes and "
                            "keras-predict run inference only (skipped rows); export builds the forward's files")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="exported files (artifacts/)")
    parser.add_argument("--threads", type=_threads, default=None,
                        help="intra-op threads for every CPU runtime, at most the usable cores (default: all; with "
                             "--cluster, all of each node's)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the workers' own output (framework start-up lines) instead of logging it")


def _specs(args: argparse.Namespace, with_reference: bool = False) -> list[Workload]:
    """The sweep's stacks. `with_reference`: float32 first, added where only other dtypes were asked for (export
    needs it: the reference output is float32's, and int8 is quantised from the float32 file)."""
    dtypes = _names(args.dtype, "--dtype", DTYPES)  # each dtype and pass is checked by the spec it makes
    if with_reference:
        dtypes = [REFERENCE_DTYPE, *(d for d in dtypes if d != REFERENCE_DTYPE)]
    passes = _names(args.passes, "--pass", PASSES)
    batches = list(dict.fromkeys(args.batch))
    if args.networks is not None:
        return expand_networks(_names(args.networks, "--networks", NETWORKS), batches, dtypes,
                               args.image or NETWORK_IMAGE, passes)
    return expand_specs(_names(args.variants, "--variants", VARIANTS), _channels(args.channels), args.layers,
                        batches, args.image or DEFAULT_IMAGE, dtypes, passes)


def build_parser() -> argparse.ArgumentParser:
    from convbench.exporters.pipeline import DEFAULT_SOURCES, SOURCES
    from convbench.runners import MODEL_SOURCES, RUNTIMES, default_runtimes

    parser = _Parser(prog="convbench", description="What each kind of convolution really costs, per runtime.",
                     epilog=EXIT_STATUSES)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    export = commands.add_parser("export", help="build every stack natively and export it to ONNX")
    _add_sweep_arguments(export)
    export.add_argument("--sources", nargs="+", default=list(DEFAULT_SOURCES), metavar="SOURCE",
                        help=f"what to export, of: {' '.join(SOURCES)} (default: {' '.join(DEFAULT_SOURCES)}; litert "
                             "converts the Keras models to .tflite for the litert runtimes)")
    export.add_argument("--force", action="store_true", help="export again even where the file is up to date")

    bench = commands.add_parser("bench", help="time every stack in every runtime", epilog=EXIT_STATUSES)
    _add_sweep_arguments(bench)
    bench.add_argument("--runtimes", nargs="+", metavar="RUNTIME",
                       help=f"runtimes to time, of: {' '.join(RUNTIMES)} (default on cpu: "
                            f"{' '.join(default_runtimes('cpu'))}; on cuda: all)")
    bench.add_argument("--sources", nargs="+", metavar="SOURCE",
                       help=f"time only these model sources (the results' source column), of: {' '.join(MODEL_SOURCES)}"
                            " (default: every source of each runtime; e.g. `--runtimes ort --sources tf2onnx`)")
    bench.add_argument("--device", choices=DEVICES, default="cpu", help="cpu (default) or cuda")
    bench.add_argument("--run-dir", type=Path, help="write into (or resume) this run directory")
    bench.add_argument("--results", type=Path, default=Path("results"), help="parent of new run directories")
    bench.add_argument("--profile", action="store_true",
                       help="also take each case's kernel time from its runtime's profiler (a separate run)")
    bench.add_argument("--cluster", metavar="ADDRESS",
                       help="time on the convbench nodes of the Ray cluster at ADDRESS (host:6379; each node started "
                            "with --resources '{\"convbench\": 1}'): every machine times the sweep, its nodes "
                            "share it, rows come back here (pip install -e '.[cluster]'; README: many machines)")
    bench.add_argument("--floor", action="store_true",
                       help="CUDA: also measure the library floor, cuDNN's fastest plan for every layer (kept in the "
                            "run directory; needs nvidia-cudnn-frontend, the gpu extra)")
    timing = bench.add_argument_group("timing (seconds per case)")
    defaults = TimingConfig()
    timing.add_argument("--processes", type=_positive_int, default=defaults.processes,
                        help=f"fresh worker processes that each time every case ({defaults.processes}); they share "
                             "the budget")
    timing.add_argument("--warmup-seconds", type=_positive_float, default=defaults.warmup_seconds,
                        help="per process")
    timing.add_argument("--sample-seconds", type=_positive_float, default=defaults.sample_seconds)
    timing.add_argument("--budget-seconds", type=_positive_float, default=defaults.budget_seconds,
                        help="time the samples of one case aim at, all processes together")
    timing.add_argument("--min-samples", type=_positive_int, default=defaults.min_samples, help="per process")
    timing.add_argument("--max-samples", type=_positive_int, default=defaults.max_samples, help="per process")
    timing.add_argument("--case-timeout", type=_positive_float, metavar="SECONDS",
                        help="limit for one case in one process; past it the case fails and its worker is killed "
                             "(default: the runtime's set-up allowance, 120 s for most, plus 10 x the warm-up and "
                             "the process's budget)")

    inspect = commands.add_parser("inspect", help="what an exported ONNX graph holds; two files: compared")
    inspect.add_argument("files", nargs="*", type=Path, metavar="FILE.onnx")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--dot", type=Path, metavar="FILE", help="write a Graphviz description of the (first) graph")
    inspect.add_argument("--all", action="store_true", help="one summary row per exported file (the manifest's)")
    inspect.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="exported files (artifacts/)")

    report = commands.add_parser("report", help="write report.md and its pictures for a run (default: the newest)")
    report.add_argument("run", nargs="?", type=Path, default=Path("results/latest"), metavar="RUN_DIR")

    compare = commands.add_parser("compare", help="the same cases in two runs: medians, ratio, beyond the spread "
                                                  "between processes?")
    compare.add_argument("run_a", type=Path, metavar="RUN_A")
    compare.add_argument("run_b", type=Path, metavar="RUN_B")
    compare.add_argument("--csv", type=Path, help="also write the comparison as CSV")

    merge = commands.add_parser("merge", help="join runs timed apart (other machines) into one run and report it: "
                                              "machines side by side")
    merge.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    merge.add_argument("--out", type=Path, required=True, metavar="DIR", help="the merged run (a new or empty folder)")
    return parser


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def cmd_export(args: argparse.Namespace) -> int:
    from convbench.exporters.pipeline import SOURCE_REQUIRES, SOURCES, run_export
    from convbench.runners import missing_modules

    specs = unique(s.as_forward for s in _specs(args, with_reference=True))  # a train case has no file
    sources = check_known(_names(args.sources, "--sources", SOURCES), SOURCES, "source")
    for source in sources:
        missing = missing_modules(SOURCE_REQUIRES[source])
        if missing:
            raise UsageError(f"exporting from {source} needs {', '.join(missing)}, not installed; "
                             f"install them or pass --sources {' '.join(s for s in SOURCES if s != source)}")
    artifacts = Artifacts(args.artifacts)
    if {"keras", "litert"} & set(sources) and "torch" not in sources:
        missing_reference = [s.stack_id for s in specs if not artifacts.reference_path(s).exists()]
        if missing_reference:
            raise UsageError(f"keras export compares with the PyTorch reference, missing for "
                             f"{_first_of(missing_reference)}; export with --sources torch keras")
    failures = 0
    reasons = _ReasonCounter()
    with _progress() as progress:
        task = progress.add_task("export", total=len(specs) * len(sources))

        def on_row(spec: Workload, row: dict[str, object]) -> None:
            nonlocal failures
            status = str(row["status"])
            failures += status == "failed"
            progress.advance(task)
            if status in ("failed", "skipped"):
                reasons.print(progress.console, status, f"{row['source']:<6} {spec.stack_id}", str(row["reason"]))
                return
            detail = ""
            if status == "ok":
                parity = float(np.nanmax([row["native_rel_err"], row["onnx_rel_err"]]))
                detail = f"{row['nodes']} nodes, parity {parity:.1e}, {row['export_s']:.1f} s"
            progress.console.print(escape(f"  {status:>10}  {row['source']:<6} {spec.stack_id:<28} {detail}"))

        log = None if args.verbose else artifacts.root / "export.log"
        if log:
            log.parent.mkdir(parents=True, exist_ok=True)
        run_export(specs, sources, artifacts, args.threads or usable_cores(), args.force, on_row, log)
    reasons.summary(console)
    console.print(escape(f"manifest: {artifacts.manifest_path}" + (f"; worker output in {log}" if log else "")))
    if failures:
        console.print(f"[red]{failures} export(s) failed; see the reason column of the manifest[/red]")
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from convbench.bench import plan_cases
    from convbench.envinfo import gpus
    from convbench.run import RunRequest, run
    from convbench.runners import MODEL_SOURCES, RUNTIMES, check_runtimes, check_sources, default_runtimes

    specs = _specs(args)
    runtimes = (check_runtimes(_names(args.runtimes, "--runtimes", RUNTIMES)) if args.runtimes is not None
                else default_runtimes(args.device))
    sources = (check_sources(_names(args.sources, "--sources", MODEL_SOURCES), runtimes) if args.sources is not None
               else None)
    config = _timing(args)
    if args.cluster and args.floor:
        raise UsageError("--floor with --cluster: the library floor is measured on the machine that starts the run; "
                         "run `convbench bench --floor --device cuda` on the GPU machine itself")
    if args.device == "cuda" and not gpus() and not args.cluster:
        raise UsageError("--device cuda: no NVIDIA GPU here (nvidia-smi is missing or lists none); use --device cpu")
    artifacts = Artifacts(args.artifacts)
    # a train case's reference is PyTorch's gradients, made by bench itself (convbench.bench), not an export
    missing = [s.stack_id for s in specs if s.pass_ == "forward" and not artifacts.reference_path(s).exists()]
    if missing:
        raise UsageError(f"no exported reference for {_first_of(missing)} under {args.artifacts}/: run "
                         "`convbench export` with the same sweep flags first")
    if args.cluster:  # before a run directory is made for it
        from convbench.cluster import check_reachable

        check_reachable(args.cluster)
    run_dir = _run_dir_to_write(args.run_dir) if args.run_dir else _new_run_dir(args.results)
    cases = plan_cases(specs, runtimes, args.device, sources)
    request = RunRequest(cases, artifacts, config, args.threads or usable_cores(), args.device, run_dir, args.results,
                         args.profile, args.case_timeout, worker_log=not args.verbose, floor=args.floor,
                         cluster=args.cluster, cluster_threads=args.threads)
    observer = _ConsoleObserver(config.processes)
    try:
        with observer:
            outcome = run(request, observer)
    except KeyboardInterrupt:
        if (run_dir / "results.csv").exists():
            console.print(escape(f"interrupted: what was measured is in {run_dir / 'results.csv'} and "
                                 f"processes.csv; resume with `convbench bench --run-dir {run_dir}` and the same "
                                 "flags"))
        else:
            console.print(escape(f"interrupted before any case was measured (run {run_dir}); nothing is lost: "
                                 "run the same command again"))
        return 130
    observer.reasons.summary(console)
    if not outcome.results.empty:
        print_seed_tables(outcome.results)
    store = outcome.store
    console.print(escape(f"results: {store.csv_path} (and {store.parquet_path.name}, {store.processes_path.name}, "
                         f"env.json, {store.conditions_path.name}); report: {outcome.report}"
                         + (f"; {outcome.latest} points here" if outcome.latest else "")))
    counts = outcome.counts
    line = (f"{len(request.cases)} cases: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed"
            + (f", {counts['missing']} with no row" if counts["missing"] else ""))
    if outcome.exit_status:
        console.print(f"[red]{escape(line)}: exit status 1[/red]")
    else:
        console.print(escape(line))
    return outcome.exit_status


def _timing(args: argparse.Namespace) -> TimingConfig:
    """The timing flags as a TimingConfig, which checks them (one place: convbench.harness)."""
    return TimingConfig(warmup_seconds=args.warmup_seconds, sample_seconds=args.sample_seconds,
                        budget_seconds=args.budget_seconds, min_samples=args.min_samples,
                        max_samples=args.max_samples, processes=args.processes)


class _ConsoleObserver:
    """A run told on the console: a progress bar over case x process, a line per case and per profiled case, a
    reason printed once and then counted."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.reasons = _ReasonCounter()
        self.progress = _progress()
        self.task = None
        self.processes_run: dict[tuple[str, ...], int] = {}

    def __enter__(self) -> _ConsoleObserver:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def note(self, text: str) -> None:
        self.progress.console.print(escape(text))

    def started(self, store, cases: int, already: int, resuming: bool, worker_log: Path | None) -> None:
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
            theoretical = (f", theoretical {ceilings['theoretical_peak_gflop_per_s']:.0f}"
                           if "theoretical_peak_gflop_per_s" in ceilings else "")
            self.progress.console.print(f"{device} ceilings: {ceilings['peak_gflop_per_s']:.0f} GFLOP/s float32 "
                                        f"(best GEMM: {ceilings.get('peak_from', 'torch')}{theoretical}){tf32}, "
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
        self.progress.console.print(escape(f"{family}: process {process + 1} of {self.processes}, {cases} cases in a "
                                           "fresh worker"))

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
        if isinstance(kernel, float) and kernel == kernel:  # not NaN
            overhead = float(columns["overhead_ms_per_forward"])  # type: ignore[arg-type]
            after = (f"overhead {overhead:.3f} ms" if overhead == overhead else
                     "overhead not given: the profiled process ran other kernels than the timed ones")
            self.progress.console.print(_case_line("profile", case, f"kernel {kernel:.3f} {_per(case, 'forward')}, "
                                                                    + after))
        else:
            self.reasons.print(self.progress.console, "profile", case, str(columns.get("kernel_method")))


def _per(case: Case, forward: str) -> str:
    """The unit of a case's times in a progress line: ms per forward, or per training step in the train pass."""
    return "ms/step" if case.spec.pass_ == "train" else f"ms/{forward}"


def _run_dir_to_write(path: Path) -> Path:
    """--run-dir: a new directory, an empty one, or a run's (to resume it); UsageError naming the problem else."""
    from convbench.results import is_run_dir

    if path.exists() and not path.is_dir():
        raise UsageError(f"--run-dir {path}: a file, not a directory; pass a new or empty directory, or a run's")
    try:
        path.mkdir(parents=True, exist_ok=True)
        entries = sorted(p.name for p in path.iterdir() if p.name != ".lock")
    except OSError as error:
        raise UsageError(f"--run-dir {path}: cannot create or read it ({error.strerror or error})") from None
    if entries and not is_run_dir(path):
        raise UsageError(f"--run-dir {path}: holds files that are not a convbench run's ({_first_of(entries)}); "
                         "pass a new or empty directory, or a run's to resume it")
    return path


def _new_run_dir(results: Path) -> Path:
    """A new run directory under --results, never one another run has (see convbench.results.new_run_dir)."""
    from convbench.results import new_run_dir

    if results.exists() and not results.is_dir():
        raise UsageError(f"--results {results}: a file, not a directory; pass the folder that holds runs")
    try:
        return new_run_dir(results)
    except OSError as error:
        raise UsageError(f"--results {results}: cannot create a run directory there "
                         f"({error.strerror or error})") from None


class _ReasonCounter:
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


def _first_of(names: list[str]) -> str:
    """'a' or 'a and 3 more'."""
    return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def _case_line(status: str, case: Case, detail: str) -> str:
    return escape(f"  {status:>7}  {case.spec.stack_id:<26} {case.runtime + '[' + case.source + ']':<24} {detail}")


def _run_dir(path: Path) -> Path:
    if not (path / "results.csv").is_file():
        raise UsageError(f"{path}: not a run directory (no results.csv); runs live under results/")
    return path.resolve()


def _check_writable(path: Path, flag: str) -> None:
    """UsageError unless a file can be written at `path` (checked before any work is done)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: a directory; give a file name")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: cannot write there ({folder} is not a writable folder)")


def cmd_report(args: argparse.Namespace) -> int:
    from convbench.analysis.report import write_report

    report = write_report(_run_dir(args.run))
    console.print(escape(f"report: {report} (pictures beside it)"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from convbench.analysis.compare import compare_runs, machines_line
    from convbench.results import read_results
    from convbench.views import print_frame

    if args.csv:
        _check_writable(args.csv, "--csv")
    a, b = _run_dir(args.run_a), _run_dir(args.run_b)
    run_a, run_b = read_results(a / "results.csv"), read_results(b / "results.csv")
    table = compare_runs(run_a, run_b)
    if table.empty:
        raise UsageError(f"{a.name} and {b.name} have no ok case in common")
    view = table.set_index(table["stack_id"] + " " + table["runtime"] + "[" + table["source"] + "]/" + table["device"])[
        ["ms_per_forward_a", "ms_per_forward_b", "b_vs_a", "differs"]]
    view.columns = [f"A: {a.name} [ms]", f"B: {b.name} [ms]", "B / A", "beyond spread"]
    print_frame(view, f"A = {a}, B = {b}")
    differs = int(table["differs"].sum())
    console.print(f"{len(table)} cases in both runs; {differs} differ by more than the two runs' noise summed "
                  f"(each: the spread between its processes, or its IQR if larger); "
                  f"median B / A = {table['b_vs_a'].median():.3f}")
    machines = machines_line(run_a, run_b)
    if machines:
        console.print(escape(machines))
    if args.csv:
        replace_text(args.csv, lambda tmp: table.to_csv(tmp, index=False))
        console.print(escape(f"wrote {args.csv}"))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from convbench.analysis.graph import compare, inspect_onnx, inventory, to_dot

    if args.all:
        if args.files:
            raise UsageError("inspect: give ONNX files or --all, not both")
        table = inventory(Artifacts(args.artifacts))
        if table.empty:
            raise UsageError(f"inspect --all: no exported files under {args.artifacts}/; run `convbench export` first")
        from convbench.views import print_frame

        print_frame(table.set_index("file"), f"exported graphs under {args.artifacts}/", "file")
        return 0
    if not 1 <= len(args.files) <= 2:
        raise UsageError(f"inspect takes one ONNX file, or two to compare, got {len(args.files)}")
    summaries = [inspect_onnx(path) for path in args.files]
    if args.json:
        print(summaries[0].to_json() if len(summaries) == 1 else
              json.dumps({"a": json.loads(summaries[0].to_json()), "b": json.loads(summaries[1].to_json()),
                          "comparison": compare(*summaries)}, indent=2))
    else:
        for summary in summaries:
            print_graph(summary)
        if len(summaries) == 2:
            print_comparison(*summaries, compare(*summaries))
    if args.dot:
        try:
            args.dot.parent.mkdir(parents=True, exist_ok=True)
            args.dot.write_text(to_dot(summaries[0]))
        except OSError as error:
            raise UsageError(f"inspect --dot {args.dot}: cannot write ({error.strerror})") from None
        console.print(escape(f"wrote {args.dot}") + _render_dot(args.dot))
    return 0


def _render_dot(path: Path) -> str:
    """Render DOT to SVG and PNG beside it when Graphviz's `dot` is installed."""
    exe = shutil.which("dot")
    if exe is None:
        return " (install Graphviz's `dot` to render it)"
    for fmt in ("svg", "png"):
        subprocess.run([exe, f"-T{fmt}", str(path), "-o", str(path.with_suffix(f".{fmt}"))], check=True)
    return escape(f" and {path.with_suffix('.svg')}, {path.with_suffix('.png')}")


def cmd_merge(args: argparse.Namespace) -> int:
    from convbench.analysis.report import write_report
    from convbench.merge import merge_runs

    runs = [_run_dir(run) for run in args.runs]
    if len(set(runs)) < 2:
        raise UsageError(f"merge needs two runs or more, got {len(set(runs))} ({', '.join(map(str, args.runs))})")
    out = _run_dir_to_write(args.out)
    if (out / "results.csv").exists():
        raise UsageError(f"--out {args.out}: already holds a run; pass a new or empty folder")
    store = merge_runs(runs, out)
    report = write_report(store.run_dir)
    machines = sorted(store.read()["machine"].dropna().astype(str).unique())
    console.print(escape(f"merged {len(runs)} runs ({len(machines)} machines: {', '.join(machines)}) into {out}; "
                         f"report: {report}"))
    return 0


COMMANDS = {"export": cmd_export, "bench": cmd_bench, "inspect": cmd_inspect, "report": cmd_report,
            "compare": cmd_compare, "merge": cmd_merge}


EXIT_STATUSES = ("exit status: 0 all done (bench: every case ok or skipped); 1 a failure (bench: a case failed or "
                 "has no row; export: a stack failed; a write failed, e.g. a full disk); 2 bad input (one line "
                 "names it); 130 interrupted (Ctrl-C), with what was kept")


class _NoticeHandler(logging.Handler):
    """convbench's notices (a partial last line dropped, rows rebuilt) as lines on the console."""

    def emit(self, record: logging.LogRecord) -> None:
        console.print(escape(f"note: {record.getMessage()}"))


def _os_error_line(error: OSError) -> str:
    """A failed write or read as one line: which file, why, and what to do (StoreWriteError says it all)."""
    if isinstance(error, StoreWriteError):
        return str(error.strerror)
    where = f"{error.filename}: " if error.filename else ""
    advice = "; free space, then run the same command again" if error.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return f"{where}{error.strerror or error}{advice}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; see EXIT_STATUSES for what the exit status means."""
    notices = logging.getLogger("convbench")
    if not notices.handlers:
        notices.addHandler(_NoticeHandler())
        notices.propagate = False
    command = None
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        return COMMANDS[command](args)
    except UsageError as error:
        message = str(error)
        if not message.startswith("convbench"):
            message = f"convbench: {message}"
        print(f"{message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = {"export": "; the manifest keeps every stack exported so far: run the same export to finish"}
        print(f"convbench: interrupted{kept.get(command, '')}", file=sys.stderr)
        return 130
    except OSError as error:  # a full disk, a read-only folder: what was written before stays readable
        print(f"convbench: {_os_error_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
