"""Every column of the results store, defined once: its name, the kind of value it holds and what it means.

The tables (results.csv, processes.csv, kernels.csv) are lists of these names; a column added for a new axis is
one line here and one name in the tables that carry it. The kind tells the reader how to check a cell: a
`number` cell is empty or parses as a number, a `flag` cell is empty, True or False, `text` and `json` hold text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "number", "flag", "json"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    doc: str


_DEFINITIONS = [
    # the workload (convbench.spec: StackSpec's fields, and the network of a NetworkSpec)
    Column("variant", "text", "conv type (the seed's names: conv1x1 ... conv3x3sep); empty for a network"),
    Column("channels", "number", "channels in and out of every layer; empty for a network"),
    Column("layers", "number", "conv layers in the workload"),
    Column("batch", "number", "batch size"),
    Column("image", "number", "input height = width (pixels)"),
    Column("dtype", "text", "float32, float16, bfloat16 or int8"),
    Column("seed", "number", "random seed of the weights and the input"),
    Column("pass", "text", "forward, or train: one training step (forward, loss = the output's sum, gradients of "
                           "the input and every conv weight; no optimizer), counted as 3x the forward's FLOPs"),
    Column("network", "text", "the real network whose conv layers the row times (empty: the seed's stack)"),
    # the case's key: which stack, timed by which runtime on which model source and device
    Column("stack_id", "text", "the workload's file-name-safe id (conv type, sizes, dtype other than float32)"),
    Column("runtime", "text", "the runtime that timed it (convbench.runners.RUNTIMES)"),
    Column("source", "text", "the model it ran: a framework (torch, keras) or an ONNX exporter (torch.onnx, tf2onnx)"),
    Column("device", "text", "cpu or cuda"),
    Column("machine", "text", "the machine that timed it (convbench.machines): the CPU model and its usable cores, "
                              "the GPU model, or the name CONVBENCH_MACHINE gave it; part of a row's key"),
    Column("host", "text", "the host name of the machine that timed it"),
    Column("node", "text", "the Ray node that timed it (its id's first 8 hex digits); empty outside a cluster"),
    Column("status", "text", "ok / skipped / failed"),
    Column("reason", "text", "why a row was skipped or failed; empty when ok"),
    # timing statistics (ms per forward of the whole stack)
    Column("ms_per_forward", "number", "throughput: median over processes of each process's median, ms per forward "
                                       "(train pass: ms per training step, as every per-forward column)"),
    Column("ms_iqr", "number", "interquartile range of one process's samples (ms), median over processes"),
    Column("ms_min", "number", "fastest sample of any process (ms per forward)"),
    Column("cv", "number", "coefficient of variation of one process's samples (a fraction), median over processes"),
    Column("processes", "number", "fresh worker processes that timed the case"),
    Column("process", "number", "which process of the repeats, 0 .. processes - 1"),
    Column("pid", "number", "the worker process's id"),
    Column("ms_process_min", "number", "fastest process median (ms per forward)"),
    Column("ms_process_max", "number", "slowest process median (ms per forward)"),
    Column("process_spread", "number", "(ms_process_max - ms_process_min) / ms_per_forward, a fraction"),
    Column("unstable", "flag", "processes disagree far beyond the within-process IQR (see convbench.repeats)"),
    Column("samples", "number", "throughput samples, all processes"),
    Column("iterations", "number", "forwards per sample (median over processes)"),
    Column("latency_ms_p50", "number", "single forwards, each synchronised: 50th percentile (ms)"),
    Column("latency_ms_p90", "number", "single forwards: 90th percentile (ms)"),
    Column("latency_ms_p99", "number", "single forwards: 99th percentile (ms)"),
    Column("latency_forwards", "number", "single forwards behind the percentiles, all processes"),
    # cold start
    Column("import_ms", "number", "importing the runtime's framework in a fresh process (ms)"),
    Column("setup_ms", "number", "build or load the model, create the session, compile: all before the first forward"),
    Column("compile_ms", "number", "the part of setup_ms spent compiling, tracing or capturing, where separated"),
    Column("compile_cache", "text", "torch.compile: cold where inductor compiled a graph itself (its autotuning may "
                                    "still come from its on-disk cache), warm where that cache served every graph; "
                                    "empty for the other runtimes. results.csv: cold where any process was, and "
                                    "then setup_ms, compile_ms and first_forward_ms are the cold processes' medians"),
    Column("first_forward_ms", "number", "the first forward, synchronised (lazy initialisation, algorithm search)"),
    # work and accuracy
    Column("gflop", "number", "GFLOP per forward of the whole stack (train pass: per step, 3x the forward's)"),
    Column("gflop_per_s", "number", "achieved rate at the median"),
    Column("theoretical_vs_conv3x3", "number", "the seed's FLOP ratio of this conv type to conv3x3"),
    Column("parity_rel_err", "number", "||out - reference|| / ||reference|| against PyTorch float32 on the CPU"),
    # kernels (a separate, profiled run)
    Column("kernel_ms_per_forward", "number", "from the runtime's own profiler (--profile), ms per forward"),
    Column("overhead_ms_per_forward", "number", "ms_per_forward - kernel_ms_per_forward; empty where the kernels "
                                                "took over 1.05x ms_per_forward (the profiled process ran other "
                                                "kernels: kernel_method says so)"),
    Column("profiled_ms_per_forward", "number", "wall time per forward of the profiled run (profiler included)"),
    Column("conv_events_per_forward", "number", "convolution events the profiler saw per forward"),
    Column("kernel_method", "text", "how the kernel time was measured, or why it was not"),
    Column("copy_ms_per_forward", "number", "device memory copies per forward (CUDA: host<->device)"),
    Column("launches_per_forward", "number", "host kernel / graph launch calls per forward (CUDA)"),
    Column("gpu_idle_ms_per_forward", "number", "GPU idle between a forward's first and last kernel (CUDA)"),
    # where a training step's kernel time goes (train pass, profiled; convbench.runners.phases)
    Column("kernel_forward_ms", "number", "train: the convolutions' forward kernels, ms per step"),
    Column("kernel_backward_data_ms", "number", "train: the convolutions' backward-data (input gradient) kernels"),
    Column("kernel_backward_weights_ms", "number", "train: the convolutions' backward-weights (weight gradient) "
                                                   "kernels"),
    Column("kernel_backward_ms", "number", "train: backward-data and backward-weights together (where the profiler "
                                           "cannot tell them apart, only this)"),
    Column("kernel_other_ms", "number", "train: every other kernel of the step (the loss, layout changes, adds, "
                                        "pools, copies inside the graph)"),
    Column("phase_method", "text", "how the kernel time was split into forward and backward, or why it was not"),
    # roofline
    Column("floor_ms", "number", "roofline floor: max(FLOPs / peak, bytes / bandwidth) with measured ceilings"),
    Column("efficiency", "number", "floor_ms / ms_per_forward"),
    Column("peak_used", "text", "which measured peak the floor took"),
    Column("arithmetic_intensity", "number", "FLOPs per byte moved (activations in and out + weights)"),
    Column("library_floor_ms", "number", "CUDA: the sum over the case's conv layers (and, in a training step, their "
                                         "dgrad and wgrad) of cuDNN's fastest plan, timed by its kernels (--floor)"),
    Column("library_floor_plan", "text", "the cuDNN plans the library floor took (operation, layout, plan name)"),
    Column("library_floor_method", "text", "how the library floor was measured, or why it was not"),
    Column("ms_vs_library_floor", "number", "ms_per_forward / library_floor_ms (1: as fast as cuDNN's best plans)"),
    Column("kernel_vs_library_floor", "number", "kernel_ms_per_forward / library_floor_ms (below 1: a kernel "
                                                "outside cuDNN's list, or a fused one, beat it)"),
    Column("tf32", "flag", "whether the runtime ran float32 convolutions in TF32 (GPU); empty where n/a"),
    # run metadata
    Column("threads", "number", "intra-op threads of every CPU runtime"),
    Column("options", "json", "runtime options used"),
    Column("env_id", "text", "the environment the row was timed in (env.json; in a cluster, the node's entry "
                             "under env.json's machines)"),
    Column("run_id", "text", "the run directory's id"),
    Column("finished_at", "text", "when the row was written (local time, ISO 8601)"),
    # kernels.csv
    Column("kernel", "text", "the name the profiler gives it (CUDA kernel, aten op, ORT op type and provider...)"),
    Column("kind", "text", "kernel, copy (memcpy) or memset"),
    Column("calls_per_forward", "number", "calls of this kernel per forward"),
    Column("calls_per_layer", "number", "calls per forward / conv layers"),
    Column("share", "number", "of the case's kernel time (copies and memsets: of the copy time); sums to 1"),
    # layers.csv
    Column("layer", "text", "the conv layer's name in the workload's skeleton (torchvision's module path)"),
    Column("conv_kind", "text", "pointwise 1x1, depthwise kxk, full kxk, strided kxk, projection, squeeze-excite"),
    Column("mbyte", "number", "MB the layer moves at least: input and output activations and weights"),
    Column("layer_share", "number", "the layer's share of the case's attributed conv kernel time"),
]
COLUMN: dict[str, Column] = {c.name: c for c in _DEFINITIONS}


def kind_of(name: str) -> Kind:
    """A column's kind; a column this version does not define (an older or newer run's) is text."""
    column = COLUMN.get(name)
    return column.kind if column else "text"
