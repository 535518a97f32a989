"""The `convbench` command: it parses, hands the core one request, and prints; it runs nothing itself.

export: convbench.exporters.pipeline.export. bench: a convbench.request.BenchRequest run by convbench.run.run (the
same checks and run directory as from Python). report, compare, inspect, merge: convbench.analysis and
convbench.merge. Every bad input ends in one line and exit status 2 (EXIT_STATUSES)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from convbench.console import ConsoleObserver, ReasonCounter, console, progress_bar
from convbench.csvfile import replace_text
from convbench.errors import BadInput, RunStopped, StoreWriteError
from convbench.harness import TimingConfig
from convbench.machines import usable_cores
from convbench.models.networks import NETWORK_IMAGE, NETWORKS
from convbench.models.variants import VARIANTS
from convbench.models.whole import WHOLE_BATCHES, WHOLE_IMAGE, WHOLE_MODELS
from convbench.request import TIMING_FIELDS, BenchRequest, Sweep
from convbench.spec import (
    DEFAULT_IMAGE,
    DEFAULT_LAYERS,
    DEVICES,
    DTYPES,
    PASSES,
    unique,
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the bad value and the valid choices, exit status 2, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message}")


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
        raise BadInput(f"{flag} got an empty list; valid: {valid if isinstance(valid, str) else ', '.join(valid)}")
    return names


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
            raise BadInput(f"--channels {error}") from None
    return out


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--variants", nargs="+", metavar="TYPE",
                       help=f"conv types (default: all seven: {', '.join(VARIANTS)})")
    sweep.add_argument("--channels", nargs="+", metavar="C",
                       help="channel counts (default: 8 16 32 64)")
    sweep.add_argument("--layers", type=_positive_int, help=f"conv layers per stack (default: {DEFAULT_LAYERS})")
    sweep.add_argument("--batch", type=_positive_int, nargs="+", metavar="B",
                       help="batch sizes (default: 32)")
    sweep.add_argument("--networks", nargs="+", metavar="NETWORK",
                       help=f"time these real networks' conv layers (at {NETWORK_IMAGE}x{NETWORK_IMAGE} unless --image "
                            f"says otherwise) instead of the seed's stacks, of: {' '.join(NETWORKS)} (--variants, "
                            "--channels and --layers then do not apply)")
    sweep.add_argument("--models", nargs="+", metavar="MODEL",
                       help=f"time whole networks as their libraries define them (torchvision's for the torch "
                            f"sources, keras.applications' for the Keras ones; every layer, eval mode), of: "
                            f"{' '.join(WHOLE_MODELS)}, or a library's own as torchvision:<name> or keras:<Name> "
                            f"(batch {' and '.join(map(str, WHOLE_BATCHES))} at {WHOLE_IMAGE}x{WHOLE_IMAGE} unless "
                            "--batch and --image say otherwise; LiteRT joins the CPU runtimes)")
    sweep.add_argument("--image", type=_positive_int,
                       help=f"image height = width (default: {DEFAULT_IMAGE}; with --networks {NETWORK_IMAGE}, with "
                            f"--models {WHOLE_IMAGE})")
    sweep.add_argument("--dtype", nargs="+", metavar="DTYPE",
                       help=f"precisions, of: {' '.join(DTYPES)} (default: float32 on the CPU; float32 and tf32 on "
                            "cuda). float32 is IEEE float32 in every runtime; tf32 is float32 tensors with TF32 math "
                            "on tensor cores (CUDA only); int8 is the float32 ONNX export statically quantised, "
                            "timed by ort and openvino")
    sweep.add_argument("--pass", dest="passes", nargs="+", metavar="PASS",
                       help=f"what one timed call does, of: {' '.join(PASSES)} (default: forward). train: one "
                            "training step without an optimizer (forward, loss = the output's sum, gradients of the "
                            "input and every conv weight), counted as 3x the forward's FLOPs; the ONNX runtimes and "
                            "keras-predict run inference only (skipped rows); export builds the forward's files")
    parser.add_argument("--artifacts", type=Path, help="exported files (default: artifacts/)")
    parser.add_argument("--threads", type=_threads, default=None,
                        help="intra-op threads for every CPU runtime, at most the usable cores (default: all; with "
                             "--cluster, all of each node's)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the workers' own output (framework start-up lines) instead of logging it")


def _sweep(args: argparse.Namespace, runtimes: bool = False) -> Sweep:
    """The sweep flags as a Sweep; a flag not given is None (the default, or a resumed run's own)."""
    def names(value: list[str] | None, flag: str, valid: Sequence[str]) -> tuple[str, ...] | None:
        return tuple(_names(value, flag, valid)) if value is not None else None

    from convbench.runners import MODEL_SOURCES, RUNTIMES

    return Sweep(
        variants=names(args.variants, "--variants", VARIANTS),
        channels=tuple(_channels(args.channels)) if args.channels is not None else None,
        layers=args.layers,
        batch=tuple(unique(args.batch)) if args.batch is not None else None,
        image=args.image,
        networks=names(args.networks, "--networks", NETWORKS),
        models=tuple(unique(args.models)) if args.models is not None else None,
        dtypes=names(args.dtype, "--dtype", DTYPES),
        passes=names(args.passes, "--pass", PASSES),
        runtimes=names(args.runtimes, "--runtimes", list(RUNTIMES)) if runtimes else None,
        sources=names(args.sources, "--sources", MODEL_SOURCES) if runtimes else None,
    )


def _bench_request(args: argparse.Namespace) -> BenchRequest:
    timing = {name: value for name in TIMING_FIELDS if (value := getattr(args, name)) is not None}
    return BenchRequest(sweeps=(_sweep(args, runtimes=True),), device=args.device, threads=args.threads,
                        timing=timing, profile=args.profile, floor=args.floor, artifacts=args.artifacts,
                        run_dir=args.run_dir, results_root=args.results, cluster=args.cluster,
                        case_timeout_s=args.case_timeout, worker_log=not args.verbose,
                        budget_minutes=args.time_budget)


def build_parser() -> argparse.ArgumentParser:
    from convbench.exporters.pipeline import DEFAULT_SOURCES, EXPORTS, SOURCES
    from convbench.runners import MODEL_SOURCES, RUNTIMES, default_runtimes

    parser = _Parser(prog="convbench", description="What each kind of convolution really costs, per runtime.",
                     epilog=EXIT_STATUSES)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    export = commands.add_parser("export", help="build every stack natively and export it to ONNX")
    _add_sweep_arguments(export)
    export.add_argument("--sources", nargs="+", default=list(DEFAULT_SOURCES), metavar="SOURCE",
                        help=f"the model files to make, of: {' '.join(EXPORTS)} (the results' source column; default: "
                             f"{' '.join(DEFAULT_SOURCES)}; tflite converts the Keras models for the litert runtimes); "
                             f"the frameworks' names {' '.join(SOURCES)} say the same")
    export.add_argument("--force", action="store_true", help="export again even where the file is up to date")

    bench = commands.add_parser("bench", help="time every stack in every runtime", epilog=EXIT_STATUSES)
    _add_sweep_arguments(bench)
    bench.add_argument("--runtimes", nargs="+", metavar="RUNTIME",
                       help=f"runtimes to time, of: {' '.join(RUNTIMES)} (default on cpu: "
                            f"{' '.join(default_runtimes('cpu'))}; on cuda: all)")
    bench.add_argument("--sources", nargs="+", metavar="SOURCE",
                       help=f"time only these model sources (the results' source column), of: {' '.join(MODEL_SOURCES)}"
                            " (default: every source of each runtime; e.g. `--runtimes ort --sources tf2onnx`)")
    bench.add_argument("--device", choices=DEVICES, help="cpu (default) or cuda")
    bench.add_argument("--run-dir", type=Path, help="write into (or resume) this run directory; a run resumes with no "
                                                    "other flag (its request.json records what it was asked)")
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
    timing.add_argument("--processes", type=_positive_int,
                        help=f"fresh worker processes that each time every case ({defaults.processes}); they share "
                             "the budget")
    timing.add_argument("--warmup-seconds", type=_positive_float,
                        help=f"per process ({defaults.warmup_seconds})")
    timing.add_argument("--sample-seconds", type=_positive_float, help=f"({defaults.sample_seconds})")
    timing.add_argument("--budget-seconds", type=_positive_float,
                        help=f"time the samples of one case aim at, all processes together ({defaults.budget_seconds})")
    timing.add_argument("--min-samples", type=_positive_int, help=f"per process ({defaults.min_samples})")
    timing.add_argument("--max-samples", type=_positive_int, help=f"per process ({defaults.max_samples})")
    timing.add_argument("--energy-seconds", type=_positive_float,
                        help="where an energy counter exists (NVML on CUDA, RAPL on the CPU): forwards back to back "
                             f"after the timing, at least this long between two updates of the counter, per process "
                             f"({defaults.energy_seconds})")
    timing.add_argument("--time-budget", type=_positive_float, metavar="MINUTES",
                        help="the bench's time: what the first --processes rounds leave goes to more rounds of the "
                             "cases whose ranking or 2017 verdict is still undecided, until decided or the time is "
                             "spent (default: the first rounds only; make bench gives 11 minutes; a --cluster run "
                             "times its first rounds only)")
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


def cmd_export(args: argparse.Namespace) -> int:
    from convbench.artifacts import Artifacts
    from convbench.exporters.pipeline import EXPORTS, SOURCES, export

    artifacts = Artifacts(args.artifacts or Path("artifacts"))
    failures = 0
    reasons = ReasonCounter()
    log = None if args.verbose else artifacts.root / "export.log"
    with progress_bar() as progress:
        task = None

        def on_start(total: int) -> None:
            nonlocal task
            task = progress.add_task("export", total=total)

        def on_row(stack_id: str, row: dict[str, object]) -> None:
            nonlocal failures
            status = str(row["status"])
            failures += status == "failed"
            progress.advance(task)
            if status in ("failed", "skipped"):
                reasons.print(progress.console, status, f"{row['source']:<6} {stack_id}", str(row["reason"]))
                return
            detail = ""
            if status == "ok":
                parity = max(float(row["native_rel_err"]), float(row["onnx_rel_err"]))
                detail = f"{row['nodes']} nodes, parity {parity:.1e}, {row['export_s']:.1f} s"
            progress.console.print(escape(f"  {status:>10}  {row['source']:<6} {stack_id:<28} {detail}"))

        export(_sweep(args), _names(args.sources, "--sources", [*EXPORTS, *SOURCES]), artifacts,
               args.threads or usable_cores(), args.force, on_start, on_row, log)
    reasons.summary(console)
    console.print(escape(f"manifest: {artifacts.manifest_path}" + (f"; worker output in {log}" if log else "")))
    if failures:
        console.print(f"[red]{failures} export(s) failed; see the reason column of the manifest[/red]")
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from convbench.analysis.terminal import print_seed_tables
    from convbench.run import run

    request = _bench_request(args)
    observer = ConsoleObserver()
    try:
        with observer:
            outcome = run(request, observer)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up or the exit
        run_dir = observer.run_dir
        if run_dir is not None and (run_dir / "results.csv").exists():
            console.print(escape(f"interrupted: what was measured is in {run_dir / 'results.csv'} and "
                                 f"processes.csv; resume with `convbench bench --run-dir {run_dir}`"))
        else:
            console.print(escape("interrupted before any case was measured; nothing is lost: run the same command "
                                 "again"))
        return 130
    observer.reasons.summary(console)
    if not outcome.results.empty:
        print_seed_tables(outcome.results)
    store = outcome.store
    console.print(escape(f"results: {store.csv_path} (and {store.parquet_path.name}, {store.processes_path.name}, "
                         f"env.json, {store.conditions_path.name}); report: {outcome.report}"
                         + (f"; {outcome.latest} points here" if outcome.latest else "")))
    counts = outcome.counts
    line = (f"{outcome.cases} cases: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed"
            + (f", {counts['missing']} with no row" if counts["missing"] else ""))
    if outcome.exit_status:
        console.print(f"[red]{escape(line)}: exit status 1[/red]")
    else:
        console.print(escape(line))
    return outcome.exit_status


def cmd_report(args: argparse.Namespace) -> int:
    from convbench.analysis.report import write_report
    from convbench.results import existing_run_dir

    report = write_report(existing_run_dir(args.run))
    console.print(escape(f"report: {report} (pictures beside it)"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from convbench.analysis.compare import compare_run_dirs
    from convbench.analysis.terminal import print_frame

    if args.csv:
        _check_writable(args.csv, "--csv")
    comparison = compare_run_dirs(args.run_a, args.run_b)
    print_frame(comparison.view, comparison.title)
    for line in comparison.lines:
        console.print(escape(line))
    if args.csv:
        replace_text(args.csv, lambda tmp: comparison.table.to_csv(tmp, index=False))
        console.print(escape(f"wrote {args.csv}"))
    return 0


def _check_writable(path: Path, flag: str) -> None:
    """BadInput unless a file can be written at `path` (checked before any work is done)."""
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadInput(f"{flag} {path}: a directory; give a file name")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise BadInput(f"{flag} {path}: cannot write there ({folder} is not a writable folder)")


def cmd_inspect(args: argparse.Namespace) -> int:
    from convbench.analysis.graph import compare, inspect_onnx, inventory, to_dot
    from convbench.analysis.terminal import print_comparison, print_graph
    from convbench.artifacts import Artifacts

    if args.all:
        if args.files:
            raise BadInput("inspect: give ONNX files or --all, not both")
        table = inventory(Artifacts(args.artifacts))
        if table.empty:
            raise BadInput(f"inspect --all: no exported files under {args.artifacts}/; run `convbench export` first")
        from convbench.analysis.terminal import print_frame

        print_frame(table.set_index("file"), f"exported graphs under {args.artifacts}/", "file")
        return 0
    if not 1 <= len(args.files) <= 2:
        raise BadInput(f"inspect takes one ONNX file, or two to compare, got {len(args.files)}")
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
            raise BadInput(f"inspect --dot {args.dot}: cannot write ({error.strerror})") from None
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
    from convbench.merge import merge_into

    merged = merge_into(args.runs, args.out)
    console.print(escape(f"merged {len(merged.runs)} runs ({len(merged.machines)} machines: "
                         f"{', '.join(merged.machines)}) into {args.out}; report: {merged.report}"))
    return 0


COMMANDS = {"export": cmd_export, "bench": cmd_bench, "inspect": cmd_inspect, "report": cmd_report,
            "compare": cmd_compare, "merge": cmd_merge}


EXIT_STATUSES = ("exit status: 0 all done (bench: every case ok or skipped); 1 a failure (bench: a case failed or "
                 "has no row, or its cluster stopped answering; export: a stack failed; a write failed, e.g. a full "
                 "disk); 2 bad input (one line "
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
    except BadInput as error:
        message = str(error)
        if not message.startswith("convbench"):
            message = f"convbench: {message}"
        print(f"{message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the exit
        kept = {"export": "; the manifest keeps every stack exported so far: run the same export to finish"}
        print(f"convbench: interrupted{kept.get(command, '')}", file=sys.stderr)
        return 130
    except OSError as error:  # a full disk, a read-only folder: what was written before stays readable
        print(f"convbench: {_os_error_line(error)}", file=sys.stderr)
        return 1
    except RunStopped as error:  # what was measured is kept, with its parquet and report
        print(f"convbench: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
