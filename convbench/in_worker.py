"""The worker side of a bench: what runs inside a worker process for one case. `run_case` prepares the case, checks
its parity and times it with the harness; `profile_case` takes its kernel time from the runtime's profiler, in a
process that times nothing. Both return plain rows (never raise): the parent's recorder (convbench.recorder) writes
them and derives every other column."""

from __future__ import annotations

import gc
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from convbench import device_memory, energy, host_memory, passes
from convbench.artifacts import ONNX_EXPORTERS, Artifacts
from convbench.derived import profiled_overhead
from convbench.errors import Skip, one_line
from convbench.harness import Measurement, TimingConfig, measure
from convbench.layer_map import attribute, resolver
from convbench.parity import parity_ok, tolerance
from convbench.results import case_row
from convbench.roofline import layer_bytes
from convbench.runners import RuntimeInfo, get_runner
from convbench.runners.phases import phase_columns
from convbench.runners.profilers import KernelTime, profile_forwards
from convbench.skeleton import convs
from convbench.spec import Case
from convbench.workers import worker_threads

KERNELS = "kernels"  # key of a profile row's kernel table (kernels.csv), not a results column
LAYERS = "layers"  # key of a profile row's per-layer table (layers.csv), not a results column
SAMPLE_ROWS = "sample_rows"  # key of a process row's every timed value (samples.csv), not a column


@dataclass(frozen=True)
class CaseTask:
    """What a worker is handed: the case, its runtime's registry entry (the worker keeps no registry of its own),
    and which process of the repeats it is (or, for profiling, the case's timed median)."""

    case: Case
    runtime: RuntimeInfo
    process: int = 0
    median_ms: float = float("nan")


def run_case(task: CaseTask, config: TimingConfig, artifacts_root: str) -> dict[str, object]:
    """Worker side, one process's timing of a case: set-up and first forward timed, parity against the reference
    output, then the harness. Never raises: a failure is a row."""
    case, threads = task.case, worker_threads()
    row = {**case_row(case, threads=threads), "process": task.process, "pid": os.getpid()}
    try:
        runner = get_runner(task.runtime, threads)
        unavailable = runner.available(case.device)
        if unavailable is not None:
            return {**row, "status": "skipped", "reason": unavailable.reason}
        artifacts = Artifacts(Path(artifacts_root))
        reference = passes.reference(case, artifacts)
        try:
            memory_before = host_memory.start()
            row["memory_method"] = host_memory.METHOD
        except Skip as why:
            memory_before, row["memory_method"] = None, f"not measured: {why.reason}"
        device_before = device_memory.start(case.device)
        meter, energy_method = energy.meter_for(case.device)
        start = time.perf_counter()
        passes.check_pass(task.runtime, case)
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
        spec = case.workload
        if not parity_ok(error, spec.dtype, case.device, spec.pass_, spec.whole_model):
            limit = tolerance(spec.dtype, case.device, spec.pass_, spec.whole_model)
            what = "" if worst == "output" else f" in the gradient of {worst}"
            return {**row, "status": "failed",
                    "reason": f"parity: relative error {error:.2e}{what} > {limit:.0e} ({spec.dtype} {spec.pass_}); "
                              "not timed"}
        m = measure(prepared.forward, config, prepared.sync, prepared.clock, meter=meter)
        if memory_before is not None:
            row["host_peak_mb"] = host_memory.added_mb(memory_before)
        row.update(device_memory.added(device_before))
        row.update(energy.energy_columns(m.energy.energy_mj, m.energy.seconds, m.energy.forwards, energy_method)
                   if m.energy else {"energy_method": energy_method})
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
        SAMPLE_ROWS: sample_rows(m),
    }


def sample_rows(m: Measurement) -> list[dict[str, object]]:
    """samples.csv rows of one process's timing: every throughput sample, then every latency, in order."""
    return [*({"sample_kind": "throughput", "sample": i, "ms_per_forward": ms}
              for i, ms in enumerate(m.ms_per_forward_samples)),
            *({"sample_kind": "latency", "sample": i, "ms_per_forward": ms} for i, ms in enumerate(m.latency_ms))]


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
        if task.runtime.no_profiler:
            return {"kernel_method": f"not measured: {task.runtime.no_profiler}"}
        runner = get_runner(task.runtime, worker_threads())
        kt = runner.kernel_time(case, Artifacts(Path(artifacts_root)), profile_forwards(median_ms))
    except Exception as error:  # a profiler's failure leaves the timing as it is
        return {"kernel_method": f"not measured: {one_line(error)}"}
    kernel = kt.kernel_ms_for(median_ms)
    measured = not math.isnan(kernel)
    method = kt.method + kt.applied(median_ms)
    train = case.workload.pass_ == "train"
    try:
        if train:
            raise Skip("a training step's backward kernels are not matched to its layers")
        layers = layer_table(case, kt, Artifacts(Path(artifacts_root)))
    except Skip as why:
        method += f"; per layer: not attributed ({why.reason})" if measured else ""
        layers = []
    phases = phase_columns(kt) if train and measured else {}
    overhead, disagreement = profiled_overhead(median_ms, kernel, kt.host_timed)
    method += disagreement
    return {**phases, "kernel_ms_per_forward": kernel, "overhead_ms_per_forward": overhead,
            "profiled_ms_per_forward": kt.profiled_wall_ms, "conv_events_per_forward": kt.conv_events,
            "kernel_method": method, "copy_ms_per_forward": kt.copy_ms, "launches_per_forward": kt.launches,
            "gpu_idle_ms_per_forward": kt.gpu_idle_ms, KERNELS: kernel_table(kt, case.workload.layers),
            LAYERS: layers}


def layer_table(case: Case, kt: KernelTime, artifacts: Artifacts) -> list[dict[str, object]]:
    """layers.csv rows of one profiled case: each conv layer's kind, GFLOP, MB moved and kernel time as profiled
    (and its share of the conv layers' total); Skip saying why where the profiler's events cannot be told apart."""
    nodes = convs(case.workload.nodes)
    framework = ONNX_EXPORTERS.get(case.source)
    onnx_path = artifacts.onnx_path(framework, case.workload) if framework else None
    times = attribute(kt.layer_events, resolver(case.workload, onnx_path), len(nodes))
    total = sum(times)
    batch, dtype = case.workload.batch, case.workload.dtype
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
