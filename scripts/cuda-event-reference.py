"""A hand-written reference for convbench's CUDA throughput figures: for each stack and PyTorch mode, 100 forwards
back to back between two CUDA events, five times, the median per forward. No convbench harness, worker or
runner is involved; only the stack builder and its seeded weights are shared, so both time the same model.

Host-bound modes (eager, channels_last) moved by up to 1.9x between fresh processes on one H100 (2026-11-25),
so the reference, like convbench, times every stack in `--processes` fresh Python processes (each its own
shuffled order; torch.compile modes last in each, so no eager figure follows a compile) and reports the median
of the process medians with its range.

With `--pass train` each call is one training step instead (forward, the output's sum, the gradients of the input
and every conv weight, written here with loss.backward() on leaf tensors rather than convbench's autograd.grad),
in the modes that have one: eager, channels_last, the whole step captured as one CUDA graph (NCHW or
channels_last), as PyTorch's CUDA-graph notes capture a whole network's step, and torch.compile's reduce-overhead
(the compiled forward and backward each replayed as inductor's CUDA graphs, autograd between them). Asked for by
name, `--modes compile_cuda_graph_grad` times that compiled step written as convbench writes it, with autograd.grad.

Run on the GPU machine (same call as the convbench sweep it checks):
    python3 scripts/cuda-event-reference.py --out ref.csv [--processes 3] [--channels 8 64] [--variants ...]
                                            [--modes ...] [--pass train] [--dtype bfloat16]
    python3 scripts/cuda-event-reference.py --check RUN_DIR ref.csv
The check prints, per stack and mode, convbench's ms_per_forward beside the reference and their ratio, whether
their process ranges overlap, and for each stack the fastest configuration convbench found beside the fastest
reference mode.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from convbench.models.torch_stack import build_torch_stack
from convbench.models.variants import VARIANTS
from convbench.models.weights import make_input
from convbench.spec import SeedStack

# reference mode -> the convbench runtime that times the same thing
MODES = {
    "eager": "torch",
    "channels_last": "torch-channels-last",
    "cuda_graph": "torch-cuda-graph",
    "channels_last_cuda_graph": "torch-channels-last-cuda-graph",
    "compile_cuda_graph": "torch-compile-cuda-graph",
    "compile_cuda_graph_grad": "torch-compile-cuda-graph",  # train only, asked for by name: see GRAD_MODES
}
DEFAULT_MODES = ("eager", "channels_last", "cuda_graph", "channels_last_cuda_graph", "compile_cuda_graph")
# convbench's own way to write the step (torch.autograd.grad, new gradient tensors returned, no .grad), beside the
# reference's backward(): its compiled step was 1.7-2.7% slower on an H200 (docs/results/h200-keras-2026-12-02/)
GRAD_MODES = ("compile_cuda_graph_grad",)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def train_step_of(spec: SeedStack, mode: str):
    """One training step per call: weights' and input's .grad set to None, forward, sum, backward."""
    layout = torch.channels_last if mode.startswith("channels_last") else torch.contiguous_format
    model = build_torch_stack(spec).cuda().to(memory_format=layout)
    x = torch.from_numpy(make_input(spec)).cuda().to(DTYPES[spec.dtype]).contiguous(memory_format=layout)
    x.requires_grad_(True)
    params = list(model.parameters())

    if mode.startswith("compile"):  # torch.compile's CUDA graphs (mode reduce-overhead): its forward and backward
        torch._dynamo.reset()
        model = torch.compile(model, mode="reduce-overhead", fullgraph=True)

    def step():
        if mode.startswith("compile"):
            torch.compiler.cudagraph_mark_step_begin()
        if mode in GRAD_MODES:
            return torch.autograd.grad(model(x).float().sum(), [x, *params])
        x.grad = None
        for p in params:
            p.grad = None
        model(x).float().sum().backward()

    if mode.startswith("compile") or not mode.endswith("cuda_graph"):
        return step
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()  # grads set to None, then made again from the graph's pool: replayed in place
    return graph.replay


def forward_of(spec: SeedStack, mode: str):
    layout = torch.channels_last if mode.startswith("channels_last") else torch.contiguous_format
    model = build_torch_stack(spec).cuda().to(memory_format=layout)
    x = torch.from_numpy(make_input(spec)).cuda().to(DTYPES[spec.dtype]).contiguous(memory_format=layout)
    if mode.startswith("compile"):
        torch._dynamo.reset()  # a new model each time: stay under dynamo's recompile limit
        compiled = torch.compile(model, mode="reduce-overhead", fullgraph=True)

        def step():
            torch.compiler.cudagraph_mark_step_begin()
            return compiled(x)

        return step
    if mode.endswith("cuda_graph"):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model(x)
        return graph.replay
    return lambda: model(x)


def time_mode(spec: SeedStack, mode: str, forwards: int = 100, repeats: int = 5) -> float:
    """Median over `repeats` of (CUDA-event time of `forwards` back-to-back calls) / forwards, in ms: forwards, or
    training steps where the spec's pass is train."""
    train = spec.pass_ == "train"
    with torch.inference_mode(not train):
        step = train_step_of(spec, mode) if train else forward_of(spec, mode)
        start = time.perf_counter()
        warmup = 0
        while warmup < 20 or time.perf_counter() - start < 0.2:  # allocator, cuDNN, inductor's graph recording
            step()
            torch.cuda.synchronize()
            warmup += 1
        times = []
        for _ in range(repeats):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            for _ in range(forwards):
                step()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / forwards)
    return statistics.median(times)


FIELDS = ["stack_id", "variant", "channels", "mode", "runtime", "ms_per_forward"]


def measure_one_process(args: argparse.Namespace) -> None:
    """This process's timings of every (stack, mode) in its own order, compile modes last, into args.out."""
    pairs = [(SeedStack(variant, channels, dtype=args.dtype, pass_=args.pass_), mode) for channels in args.channels
             for variant in args.variants for mode in args.modes]
    random.Random(args.child).shuffle(pairs)
    pairs.sort(key=lambda pair: pair[1].startswith("compile"))  # stable: the shuffled order within each group
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FIELDS, "process"])
        for spec, mode in pairs:
            ms = time_mode(spec, mode)
            writer.writerow([spec.stack_id, spec.variant, spec.channels, mode, MODES[mode], f"{ms:.6f}", args.child])
            print(f"process {args.child}  {spec.stack_id:<32} {mode:<26} {ms:8.4f} ms per forward", flush=True)


def measure(args: argparse.Namespace) -> None:
    """Run `args.processes` fresh processes one after another; write the median of their medians per (stack,
    mode) with its range to args.out, and every process's figure to <out stem>-processes.csv."""
    import pandas as pd

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for process in range(args.processes):
            part = os.path.join(scratch, f"process-{process}.csv")
            command = [sys.executable, __file__, "--child", str(process), "--out", part,
                       "--channels", *map(str, args.channels), "--variants", *args.variants, "--modes", *args.modes,
                       "--pass", args.pass_, "--dtype", args.dtype]
            subprocess.run(command, check=True)
            rows.append(pd.read_csv(part))
    each = pd.concat(rows, ignore_index=True)
    stem, _ = os.path.splitext(args.out)
    each.to_csv(f"{stem}-processes.csv", index=False)
    summary = each.groupby(FIELDS[:5], sort=False)["ms_per_forward"].agg(
        ms_per_forward="median", ms_process_min="min", ms_process_max="max", processes="count").reset_index()
    summary.to_csv(args.out, index=False, float_format="%.6f")


def check(run_dir: str, reference: str) -> None:
    import pandas as pd

    results = pd.read_csv(f"{run_dir}/results.csv")
    ok = results[(results["status"] == "ok") & (results["device"] == "cuda")]
    ref = pd.read_csv(reference)
    columns = ["stack_id", "runtime", "source", "ms_per_forward", "ms_process_min", "ms_process_max"]
    same = ref.merge(ok[columns], on=["stack_id", "runtime"], suffixes=("_reference", "_convbench"))
    same["convbench / reference"] = same["ms_per_forward_convbench"] / same["ms_per_forward_reference"]
    shown = ["stack_id", "mode", "ms_per_forward_reference", "ms_per_forward_convbench", "convbench / reference"]
    if "ms_process_min_reference" in same:  # a reference timed in several processes: do the two ranges meet?
        same["ranges overlap"] = ((same["ms_process_min_convbench"] <= same["ms_process_max_reference"])
                                  & (same["ms_process_min_reference"] <= same["ms_process_max_convbench"]))
        for who in ("reference", "convbench"):
            same[f"range_{who}"] = (same[f"ms_process_min_{who}"].map("{:.4f}".format) + "-"
                                    + same[f"ms_process_max_{who}"].map("{:.4f}".format))
        shown[3:3] = ["range_reference"]
        shown[5:5] = ["range_convbench"]
        shown.append("ranges overlap")
    pd.set_option("display.width", 250)
    print("Same mode, convbench vs the hand-written CUDA-event loop (ms per forward; ranges over processes):")
    print(same[shown].to_string(index=False, float_format="%.4f"))
    same["within 10%"] = same["convbench / reference"].between(0.9, 1.1)
    print(f"within 10%: {int(same['within 10%'].sum())} of {len(same)}")
    per_mode = same.groupby("mode", sort=False).agg(
        pairs=("stack_id", "size"), within_10pct=("within 10%", "sum"),
        ratio_min=("convbench / reference", "min"), ratio_max=("convbench / reference", "max"),
        **({"ranges_overlap": ("ranges overlap", "sum")} if "ranges overlap" in same else {}))
    print("\nPer mode:")
    print(per_mode.to_string(float_format="%.3f"))
    best_ref = ref.loc[ref.groupby("stack_id")["ms_per_forward"].idxmin()].set_index("stack_id")
    best_run = ok.loc[ok.groupby("stack_id")["ms_per_forward"].idxmin()].set_index("stack_id")
    both = best_ref.join(best_run[["runtime", "source", "ms_per_forward"]].add_suffix("_convbench"), how="inner")
    both["fastest convbench / fastest reference"] = both["ms_per_forward_convbench"] / both["ms_per_forward"]
    print("\nFastest configuration per stack: convbench's (any runtime) vs the fastest reference mode:")
    print(both[["mode", "ms_per_forward", "runtime_convbench", "source_convbench", "ms_per_forward_convbench",
                "fastest convbench / fastest reference"]].to_string(float_format="%.4f"))
    close = both["fastest convbench / fastest reference"] <= 1.1
    print(f"fastest within 10% of (or faster than) the fastest reference: {int(close.sum())} of {len(both)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="write the reference timings here (CSV)")
    parser.add_argument("--channels", nargs="+", type=int, default=[8, 64])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), choices=list(MODES))
    parser.add_argument("--processes", type=int, default=3, help="fresh processes, each timing every pair")
    parser.add_argument("--pass", dest="pass_", choices=["forward", "train"], default="forward",
                        help="time forwards (default) or training steps")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")
    parser.add_argument("--check", nargs=2, metavar=("RUN_DIR", "REFERENCE_CSV"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one process of a measurement
    args = parser.parse_args()
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    if args.pass_ == "forward" and set(args.modes) & set(GRAD_MODES):
        parser.error(f"{', '.join(GRAD_MODES)} is a training step: give --pass train")
    if args.check:
        check(*args.check)
    elif args.out and args.child is not None:
        measure_one_process(args)
    elif args.out:
        measure(args)
    else:
        parser.error("give --out FILE to measure or --check RUN_DIR FILE to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
