"""Every column of a run directory's tables, declared once.

A column says what kind of value it holds (`text`, `number`, `flag`, `json`: how a reader checks a cell), its unit,
what it means, which tables carry it, and, where both processes.csv and results.csv carry it, how a case's process
rows combine into its result (`combine`). Everything else derives from these declarations:

- each table's columns, in file order (`table_columns`): the key first, then the table's own columns in the order
  they are declared here;
- the key of a row (`KEY_COLUMNS`, the Case's own fields) and of a case on any machine (`CASE_COLUMNS`);
- the workload's columns (`WORKLOAD_COLUMNS`), which both kinds of workload fill from their fields;
- the result row made from process rows (convbench.repeats.aggregate applies `combine`);
- docs/columns.md (`python -m convbench.schema > docs/columns.md`; a test fails when the committed file is stale).

Writing a value under a name this module does not declare is an error (`check_known_columns`), never a silent drop.
A column renamed later keeps its old name in `old_names`, and readers take the old name as the new one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["text", "number", "flag", "json"]
Table = Literal["results", "processes", "kernels", "layers", "graphs", "samples", "bare"]
# How a case's per-process values make its result value (convbench.repeats):
#   median       the median over processes (NaN and empty cells left out)
#   median_cold  the median over the processes whose compile was cold, where an on-disk cache served the others
#   min, max, sum
#   first        the first process's value (the same in every process of a case)
#   join         the distinct values, joined with ", " (a cluster may spread a case's processes over nodes)
#   repeats      computed by convbench.repeats from all the process rows (the spread between processes)
Combine = Literal["median", "median_cold", "min", "max", "sum", "first", "join", "repeats"]

R, P, K, L, G, S, B = "results", "processes", "kernels", "layers", "graphs", "samples", "bare"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    unit: str  # "" where the value has none (a name, a count of things, a flag)
    doc: str
    tables: frozenset[str]
    section: str
    combine: Combine | None = None  # only for a column both processes.csv and results.csv carry
    key: bool = False  # part of a row's key (convbench.spec.Case.key)
    attr: str = ""  # the workload attribute that fills a workload column, where it differs from the name
    doc_in: Mapping[str, str] = field(default_factory=dict)  # what it means in one table, where that differs
    old_names: tuple[str, ...] = ()


def _col(name: str, kind: Kind, unit: str, doc: str, *tables: str, **extra: object) -> Column:
    """A column of `tables`; `_add` puts it in its section."""
    return Column(name, kind, unit, doc, frozenset(tables), "", **extra)  # type: ignore[arg-type]


_DEFINITIONS: list[Column] = []


def _add(section: str, *columns: Column) -> None:
    _DEFINITIONS.extend(replace(c, section=section) for c in columns)


MS = "ms per forward"  # a train row: per training step (see the `pass` column)

_add("the workload",
     _col("variant", "text", "", "conv type (the seed's names: conv1x1 ... conv3x3sep); empty for a network", R),
     _col("channels", "number", "", "channels in and out of every layer; empty for a network", R),
     _col("layers", "number", "", "conv layers in the workload", R),
     _col("batch", "number", "", "batch size", R),
     _col("image", "number", "pixels", "input height = width", R),
     _col("dtype", "text", "", "float32 (IEEE), tf32 (float32 tensors, TF32 math on CUDA's tensor cores), float16, "
                               "bfloat16 or int8", R),
     _col("seed", "number", "", "random seed of the weights and the input", R),
     _col("pass", "text", "", "forward, or train: one training step (forward, loss = the output's sum, gradients of "
                              "the input and every conv weight; no optimizer), counted as 3x the forward's FLOPs", R,
          attr="pass_"),
     _col("network", "text", "", "the real network whose conv layers the row times (empty: the seed's stack)", R),
     _col("model", "text", "", "the whole network the row times, every layer as its library defines it: "
                               "torchvision's for the torch sources, keras.applications' for keras, tf2onnx and "
                               "tflite (convbench.models.whole; torchvision:NAME and keras:NAME: a user's choice); "
                               "empty: conv layers only", R))
_add("the key: which workload, timed by which runtime on which model source, device and machine",
     _col("stack_id", "text", "", "the workload's file-name-safe id (conv type or network, sizes, dtype other than "
                                  "float32, -train in the train pass)", R, P, K, L, S, B, key=True),
     _col("runtime", "text", "", "the runtime that timed it (convbench.runners.RUNTIMES)", R, P, K, L, S, B, key=True),
     _col("source", "text", "", "the model it ran: a framework's own (torch, keras) or an exported file (torch.onnx, "
                                "tf2onnx: ONNX; tflite: LiteRT); graphs.csv: the exporter's framework",
          R, P, K, L, G, S, B, key=True),
     _col("device", "text", "", "cpu or cuda", R, P, K, L, S, B, key=True),
     _col("machine", "text", "", "the machine that timed it (convbench.machines): the CPU model and its usable cores, "
                                 "the GPU model, or the name CONVBENCH_MACHINE gave it", R, P, K, L, S, B, key=True),
     _col("status", "text", "", "ok; skipped (a package not installed, no GPU, a dtype or pass the runtime cannot "
                                "run); failed (an error, the time limit, a dead worker, parity, a changed file)", R, P,
          B),
     _col("reason", "text", "", "why a row was skipped or failed; empty when ok", R, P, B))
_add("timing (throughput: forwards back to back, the device synchronised once per sample)",
     _col("ms_per_forward", "number", "ms", "throughput: the median over processes of each process's median sample "
                                            "(train rows: per training step, as every per-forward column)",
          R, P, K, L, S, B, combine="median",
          doc_in={P: "this process's median sample", K: "this kernel's time per forward, as profiled",
                  L: "this layer's kernel time per forward, as profiled",
                  S: "one throughput sample (its forwards' time over their count), or one single forward's latency",
                  B: "the bare process's median per forward (torch.utils.benchmark, or a session.run loop)"}),
     _col("ms_iqr", "number", "ms", "interquartile range of one process's samples; results: median over processes",
          R, P, combine="median"),
     _col("ms_min", "number", "ms", "fastest sample of any process", R, P, combine="min"),
     _col("cv", "number", "fraction", "coefficient of variation of one process's samples; results: median over "
                                      "processes", R, P, combine="median"),
     _col("processes", "number", "", "fresh worker processes that timed the case", R, combine="repeats"),
     _col("process", "number", "", "which process of the repeats, 0 .. processes - 1 (bare.csv: the round it ran in)",
          P, S, B),
     _col("pid", "number", "", "the worker process's id", P),
     _col("malloc", "text", "", "the bare process's glibc malloc: default (as a plain script starts) or pinned (as "
                                "convbench's workers have it: convbench.malloc_settings); empty in older runs: default",
          B),
     _col("ms_process_min", "number", "ms", "fastest process median", R, combine="repeats"),
     _col("ms_process_max", "number", "ms", "slowest process median", R, combine="repeats"),
     _col("process_spread", "number", "fraction", "(ms_process_max - ms_process_min) / ms_per_forward", R,
          combine="repeats"),
     _col("unstable", "flag", "", "processes disagree far beyond the within-process IQR (convbench.repeats)", R,
          combine="repeats"),
     _col("samples", "number", "", "throughput samples (results: all processes')", R, P, combine="sum"),
     _col("iterations", "number", "", "forwards per sample (results: median over processes)", R, P,
          combine="median"),
     _col("latency_ms_p50", "number", "ms", "latency: single forwards, each synchronised, 50th percentile (results: "
                                            "median over processes)", R, P, combine="median"),
     _col("latency_ms_p90", "number", "ms", "single forwards: 90th percentile", R, P, combine="median"),
     _col("latency_ms_p99", "number", "ms", "single forwards: 99th percentile", R, P, combine="median"),
     _col("latency_forwards", "number", "", "single forwards behind the percentiles (results: all processes')", R, P,
          combine="sum"))
_add("cold start",
     _col("import_ms", "number", "ms", "importing the runtime's framework in a fresh process", R, P,
          combine="median"),
     _col("setup_ms", "number", "ms", "build or load the model, create the session, compile: all before the first "
                                      "forward", R, P, combine="median_cold"),
     _col("compile_ms", "number", "ms", "the part of setup_ms spent compiling, tracing or capturing, where separated",
          R, P, combine="median_cold"),
     _col("compile_cache", "text", "", "torch.compile: cold where inductor compiled a graph itself (its autotuning may "
                                       "still come from its on-disk cache), warm where that cache served every graph; "
                                       "empty for the other runtimes. results.csv: cold where any process was, and "
                                       "then setup_ms, compile_ms and first_forward_ms are the cold processes' "
                                       "medians", R, P, combine="repeats"),
     _col("first_forward_ms", "number", "ms", "the first forward, synchronised (lazy initialisation, algorithm search)",
          R, P, combine="median_cold"))
_add("memory",
     _col("host_peak_mb", "number", "MB", "the peak host memory the case added: the worker's peak resident set "
                                          "during set-up, the first forward and the timing, above its resident set "
                                          "before the case. Memory an earlier case of the same worker freed but the "
                                          "allocator kept counts as there before, so a case can show less than it "
                                          "needs; results: the most any process added (each process runs its cases "
                                          "in another order)", R, P, combine="max"),
     _col("memory_method", "text", "", "how the memory columns were measured, or why they were not", R, P,
          combine="first"),
     _col("device_peak_mb", "number", "MB", "CUDA: the peak device memory the case added (torch's allocator: its peak "
                                            "allocation above before the case; otherwise NVML: the process's device "
                                            "memory after the timing above before the case); results: the most of "
                                            "any process", R, P, combine="max"),
     _col("device_memory_method", "text", "", "how device_peak_mb was measured, or why it was not", R, P,
          combine="first"))
_add("energy",
     _col("energy_mj_per_forward", "number", "mJ", "energy per forward of forwards back to back after the timing, "
                                                   "between two updates of the hardware's counter at least "
                                                   "--energy-seconds apart (CUDA: NVML's, the whole GPU; CPU: RAPL's, "
                                                   "the package); results: the median of the processes",
          R, P, combine="median"),
     _col("mean_watts", "number", "W", "mean power over the same window (its energy over its wall time)",
          R, P, combine="median"),
     _col("energy_method", "text", "", "how the energy was measured, or why it was not (no counter here)", R, P,
          combine="first"))
_add("work and accuracy",
     _col("gflop", "number", "GFLOP", "per forward of the whole workload (2*B*H*W*C_out*C_in/groups*kh*kw per conv "
                                     "layer; train pass: per step, 3x the forward's)",
          R, L, doc_in={L: "this layer's, per forward"}),
     _col("gflop_per_s", "number", "GFLOP/s", "achieved rate at the median", R),
     _col("theoretical_vs_conv3x3", "number", "ratio", "the seed's FLOP ratio of this conv type to conv3x3", R),
     _col("parity_rel_err", "number", "fraction", "||out - reference|| / ||reference|| against PyTorch float32 on the "
                                                  "CPU (results: the worst process); the tolerance per dtype, device "
                                                  "and pass is one table in convbench/parity.py", R, P, G,
          combine="max",
          doc_in={G: "the export's worst: its native model's or the ONNX file's, against the reference"}))
_add("kernels (a separate, profiled run: --profile)",
     _col("kernel_ms_per_forward", "number", MS, "from the runtime's own profiler", R),
     _col("overhead_ms_per_forward", "number", MS, "ms_per_forward - kernel_ms_per_forward; empty where the kernels "
                                                   "took over 1.05x ms_per_forward (the profiled process ran other "
                                                   "kernels: kernel_method says so)", R),
     _col("profiled_ms_per_forward", "number", MS, "wall time per forward of the profiled run (profiler included)", R),
     _col("conv_events_per_forward", "number", "", "convolution events the profiler saw per forward", R),
     _col("kernel_method", "text", "", "how the kernel time was measured, or why it was not", R),
     _col("copy_ms_per_forward", "number", MS, "device memory copies (CUDA: host<->device)", R),
     _col("launches_per_forward", "number", "", "host kernel / graph launch calls per forward (CUDA)", R),
     _col("gpu_idle_ms_per_forward", "number", MS, "GPU idle between a forward's first and last kernel (CUDA)", R))
_add("where a training step's kernel time goes (train pass, profiled; convbench.runners.phases)",
     _col("kernel_forward_ms", "number", "ms per step", "the convolutions' forward kernels", R),
     _col("kernel_backward_data_ms", "number", "ms per step", "the convolutions' backward-data (input gradient) "
                                                              "kernels", R),
     _col("kernel_backward_weights_ms", "number", "ms per step", "the convolutions' backward-weights (weight "
                                                                 "gradient) kernels", R),
     _col("kernel_backward_ms", "number", "ms per step", "backward-data and backward-weights together (where the "
                                                         "profiler cannot tell them apart, only this)", R),
     _col("kernel_other_ms", "number", "ms per step", "every other kernel of the step (the loss, layout changes, adds, "
                                                      "pools, copies inside the graph)", R),
     _col("phase_method", "text", "", "how the kernel time was split into forward and backward, or why it was not", R))
_add("roofline and library floor",
     _col("floor_ms", "number", MS, "roofline floor: max(FLOPs / peak, bytes / bandwidth) with measured ceilings",
          R, L, doc_in={L: "this layer's roofline floor"}),
     _col("efficiency", "number", "fraction", "floor_ms / ms_per_forward (above 1: the case beat its floor; the report "
                                            "names why, never shows it as a percentage)", R),
     _col("peak_used", "text", "", "which measured peak the floor took", R),
     _col("arithmetic_intensity", "number", "FLOP/byte", "FLOPs per byte moved (activations in and out + weights)",
          R),
     _col("largest_layer_mb", "number", "MB", "the largest conv layer's input and output activations and weights: "
                                              "a case above its floor is called 'in cache' only where this fits the "
                                              "machine's caches (env.json ceilings' cache_mb)", R),
     _col("library_floor_ms", "number", MS, "CUDA: the sum over the case's conv layers (and, in a training step, "
                                            "their dgrad and wgrad) of cuDNN's fastest plan, timed by its kernels "
                                            "(--floor)", R, L, doc_in={L: "this layer's: cuDNN's fastest plan"}),
     _col("library_floor_plan", "text", "", "the cuDNN plans the library floor took (operation, layout, plan name)",
          R),
     _col("library_floor_method", "text", "", "how the library floor was measured, or why it was not", R),
     _col("ms_vs_library_floor", "number", "ratio", "ms_per_forward / library_floor_ms (1: as fast as cuDNN's best "
                                                    "plans)", R),
     _col("kernel_vs_library_floor", "number", "ratio", "kernel_ms_per_forward / library_floor_ms (below 1: a kernel "
                                                        "outside cuDNN's list, or a fused one, beat it)", R),
     _col("tf32", "flag", "", "whether the runtime's float32 math ran in TF32 (GPU), as it reports it: True for dtype "
                              "tf32, False for float32 (runs before tf32 was a dtype read as tf32 where True); "
                              "empty where n/a", R))
_add("run metadata",
     _col("threads", "number", "", "intra-op threads of every CPU runtime", R, P, combine="first"),
     _col("options", "json", "", "runtime options used", R, P, combine="first"),
     _col("host", "text", "", "the host name of the machine that timed it", R, P, combine="join"),
     _col("node", "text", "", "the Ray node that timed it (its id's first 8 hex digits); empty outside a cluster", R,
          P, combine="join"),
     _col("env_id", "text", "", "the environment the row was timed in (env.json; in a cluster, the node's entry "
                                "under env.json's machines)", R, P, combine="first"),
     _col("run_id", "text", "", "the run directory's id", R),
     _col("finished_at", "text", "", "when the row was written (local time, ISO 8601)", R, P, B))
_add("kernels.csv: per profiled case, every kernel (operator, primitive, node type) its profiler saw",
     _col("kernel", "text", "", "the name the profiler gives it (CUDA kernel, aten op, ORT op type and provider...)",
          K),
     _col("kind", "text", "", "kernel, copy (memcpy) or memset", K),
     _col("calls_per_forward", "number", "", "calls of this kernel per forward", K),
     _col("calls_per_layer", "number", "", "calls per forward / conv layers", K),
     _col("share", "number", "fraction", "of the case's kernel time (copies and memsets: of the copy time); sums to 1",
          K))
_add("layers.csv: per profiled case whose profiler tells its convs apart, each conv layer",
     _col("layer", "text", "", "the conv layer's name in the workload's skeleton (torchvision's module path)", L),
     _col("conv_kind", "text", "", "pointwise 1x1, depthwise kxk, full kxk, strided kxk, projection, squeeze-excite",
          L),
     _col("mbyte", "number", "MB", "what the layer moves at least: input and output activations and weights", L),
     _col("layer_share", "number", "fraction", "the layer's share of the case's attributed conv kernel time", L))
_add("samples.csv (samples.parquet once the run ends): every timed value of every process, so a run can be judged "
     "again later",
     _col("sample_kind", "text", "", "throughput (a sample of forwards back to back, the device synchronised once) or "
                                     "latency (one forward, synchronised)", S),
     _col("sample", "number", "", "the value's place in its process's order, 0 first", S))
_add("graphs.csv: each exported ONNX file the run's runtimes read (from the export manifest)",
     _col("file", "text", "", "the file, relative to the artifacts folder", G),
     _col("nodes", "number", "", "nodes in the graph", G),
     _col("conv_nodes", "number", "", "Conv nodes", G),
     _col("layout_ops", "number", "", "Transpose and other layout nodes", G),
     _col("params", "number", "", "parameters (weights) in the graph", G),
     _col("macs", "number", "", "multiply-accumulates of one forward, counted from the graph", G),
     _col("note", "text", "", "why a file is listed but not described (missing or changed since its export)", G))

COLUMN: dict[str, Column] = {c.name: c for c in _DEFINITIONS}
OLD_NAMES: dict[str, str] = {old: c.name for c in _DEFINITIONS for old in c.old_names}
KEY_COLUMNS: list[str] = [c.name for c in _DEFINITIONS if c.key]  # a row: a case on one machine
CASE_COLUMNS: list[str] = [name for name in KEY_COLUMNS if name != "machine"]  # a case, whichever machine
WORKLOAD_COLUMNS: tuple[Column, ...] = tuple(c for c in _DEFINITIONS if c.section == "the workload")
TABLES: tuple[str, ...] = (R, P, K, L, G, S, B)
STATUSES = ("ok", "skipped", "failed")


def table_columns(table: str) -> list[str]:
    """A table's columns in file order: results.csv the workload then the key; the others the key first; then each
    table's own columns in declaration order."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(TABLES)}")
    carried = [c.name for c in _DEFINITIONS if table in c.tables]
    if table == G:
        return carried
    lead = [c.name for c in WORKLOAD_COLUMNS] if table == R else []
    lead += list(KEY_COLUMNS)
    return [*lead, *(name for name in carried if name not in lead)]


def combined(rule: Combine) -> list[str]:
    """The columns whose result is made from process rows by `rule`."""
    return [c.name for c in _DEFINITIONS if c.combine == rule]


def kind_of(name: str) -> Kind:
    """A column's kind; a column this version does not declare (an older or newer run's) is text."""
    column = COLUMN.get(OLD_NAMES.get(name, name))
    return column.kind if column else "text"


def check_known_columns(names: Iterable[str], table: str) -> None:
    """ValueError naming every key that is no declared column (a value the tables would otherwise drop)."""
    unknown = sorted(set(names) - set(COLUMN))
    if unknown:
        raise ValueError(f"{table}: no column is declared for {', '.join(unknown)} (convbench/schema.py declares "
                         "every column)")


def markdown() -> str:
    """docs/columns.md: every column by section, with its kind, unit, tables, how processes combine, meaning."""
    lines = ["# The columns of a run directory", "", "Back to the [README](../README.md).", "",
             "Generated from `convbench/schema.py`, where every column is declared once "
             "(`python -m convbench.schema > docs/columns.md`; a test fails when this file is stale). Tables: "
             "`results` (results.csv, one row per case and machine), `processes` (processes.csv, one row per case "
             "and worker process), `kernels` (kernels.csv), `layers` (layers.csv), `graphs` (graphs.csv), `samples` "
             "(samples.csv, every timed value), `bare` (bare.csv, a user's own script timing reference cases each "
             "round, convbench.bare_reference). "
             "*Across processes* says how a case's process rows make its results.csv value. "
             "A cell is checked against its kind when read: a `number` is empty or a number, a `flag` empty, True "
             "or False.", ""]
    sections = list(dict.fromkeys(c.section for c in _DEFINITIONS))
    for section in sections:
        lines += [f"## {section[0].upper()}{section[1:]}", "",
                  "| column | kind | unit | tables | across processes | meaning |", "|---|---|---|---|---|---|"]
        for c in (c for c in _DEFINITIONS if c.section == section):
            tables = ", ".join(t for t in TABLES if t in c.tables)
            meaning = c.doc + "".join(f" *{t}:* {text}." for t, text in c.doc_in.items())
            lines.append(f"| `{c.name}` | {c.kind} | {c.unit} | {tables} | {c.combine or ''} | "
                         f"{meaning.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())
