"""Whole networks as deployed (convbench.models.whole): per network, batch, dtype, device and pass, each runtime's
time end to end, its model's multiply-adds, native against ONNX, the conv share (the conv-only `--networks` case of
the same network beside it, and the profiled kernel time by op kind), peak memory and energy per forward. Reads the
results, the graphs (multiply-adds per exported file) and the kernels; runs nothing."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

import pandas as pd

from convbench.analysis.workloads import network_rows, whole_model_rows
from convbench.models.whole import framework_of_source
from convbench.ranking import CONFIDENCE, Ranking, Ratio, Rounds, rank, versus
from convbench.spec import PASS_FLOP_FACTOR

# A profiled kernel's op kind, by its name (cuDNN's and cuBLAS's kernels, PyTorch's aten ops, onnxruntime's and
# OpenVINO's node types), the first pattern that matches: a fused conv names the fusion, a conv its algorithm.
OP_KINDS: tuple[tuple[str, str], ...] = (
    ("fused conv", r"fusedconv|fused_conv|conv.*(relu|bias|add|swish|sigmoid|clip)|(relu|bias|add).*conv"),
    ("conv", r"conv|wgrad|dgrad|fprop|winograd|implicit_gemm|implicit_convolve|depthwise|dw_"),
    ("norm", r"norm|batchnorm|\bbn_"),
    ("activation", r"relu|clamp|clip|hardtanh|sigmoid|silu|swish|gelu|tanh|hardswish|threshold|\belu|softmax"),
    ("pooling", r"pool|reducemean|\bmean\b|avg"),
    ("matmul/gemm", r"gemm|matmul|addmm|aten::mm\b|aten::bmm|fullyconnected|linear|cublas|sgemm"),
)
OTHER = "other"
KINDS = (*(kind for kind, _ in OP_KINDS), OTHER)
GROUP = ["model", "batch", "dtype", "device", "pass"]


def op_kind(kernel: str) -> str:
    """The op kind of a profiled kernel's name (OP_KINDS), or "other"."""
    name = kernel.lower()
    return next((kind for kind, pattern in OP_KINDS if re.search(pattern, name)), OTHER)


def kernel_shares(kernels: pd.DataFrame | None) -> pd.DataFrame:
    """Per profiled whole-model row (stack id, runtime, source, device, machine), each op kind's share of its kernel
    time (kernels, not copies), as a fraction; empty where no whole model was profiled."""
    if kernels is None or kernels.empty or "stack_id" not in kernels:
        return pd.DataFrame()
    rows = kernels[kernels["stack_id"].astype(str).str.contains("-whole-") & (kernels["kind"] == "kernel")]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(op_kind=rows["kernel"].astype(str).map(op_kind))
    key = ["stack_id", "runtime", "source", "device", "machine"]
    per_kind = rows.pivot_table(index=key, columns="op_kind", values="ms_per_forward", aggfunc="sum", fill_value=0.0)
    per_kind = per_kind.reindex(columns=list(KINDS), fill_value=0.0)
    return per_kind.div(per_kind.sum(axis=1), axis=0).reset_index()


def whole_model_table(results: pd.DataFrame, graphs: pd.DataFrame | None = None,
                      shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per whole-model case that ran: its group (model, batch, dtype, device, pass), runtime[source], the
    library that defined its model, ms (and the spread between processes), GMACs of its model's forward (from its
    exported file's graph), GMAC/s (a training step's: 3x the forward's multiply-adds), the conv-only case of the
    same network, runtime and source (ms, and whole / conv only), the conv kernels' share of the profiled kernel
    time (from `shares`: kernel_shares' table), peak memory added and energy per forward."""
    whole = whole_model_rows(results)
    whole = whole[whole["status"] == "ok"]
    if whole.empty:
        return pd.DataFrame()
    macs = _macs_by_file(graphs)  # by (exporter framework, file): a tflite or keras row's model is tf2onnx's file's
    convs = _conv_only_ms(results)
    share_of = ({tuple(r[:5]): r[5] + r[6] for r in shares[["stack_id", "runtime", "source", "device", "machine",
                                                             "fused conv", "conv"]].itertuples(index=False)}
                if shares is not None and not shares.empty else {})
    rows = []
    for _, row in whole.iterrows():
        file_stack = re.sub(r"-train$", "", str(row["stack_id"]))
        gmacs = macs.get((framework_of_source(str(row["source"])), _file_stack_id(file_stack, str(row["dtype"]))),
                         math.nan) / 1e9
        conv_ms = convs.get((str(row["model"]), int(row["batch"]), str(row["dtype"]), str(row["device"]),
                             str(row["pass"]), str(row["runtime"]), str(row["source"])), math.nan)
        ms = float(row["ms_per_forward"])
        rows.append({
            **{c: row[c] for c in GROUP},
            "runtime": f"{row['runtime']}[{row['source']}]",
            "library": "torchvision" if framework_of_source(str(row["source"])) == "torch" else "keras.applications",
            "ms": ms,
            "spread": row.get("process_spread", math.nan),
            "GMACs": gmacs,
            "GMAC/s": PASS_FLOP_FACTOR[str(row["pass"])] * gmacs / (ms / 1e3) if ms > 0 else math.nan,
            "conv-only ms": conv_ms,
            "whole / conv-only": ms / conv_ms if conv_ms > 0 else math.nan,
            "conv kernel share": share_of.get((str(row["stack_id"]), str(row["runtime"]), str(row["source"]),
                                               str(row["device"]), str(row.get("machine", ""))), math.nan),
            "host MB": row.get("host_peak_mb", math.nan),
            "device MB": row.get("device_peak_mb", math.nan),
            "mJ per forward": row.get("energy_mj_per_forward", math.nan),
        })
    return pd.DataFrame(rows).sort_values([*GROUP, "ms"], kind="stable").reset_index(drop=True)


def fastest_lines(results: pd.DataFrame, table: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> list[str]:
    """Per model, batch, dtype, device and pass: the fastest runtime end to end with the runtimes tied with it (the
    rankings' rule, convbench.ranking), and native against its own ONNX export for each library (their ratio paired
    by round, with its interval)."""
    lines = []
    for group_key, group, ranking in _ranked_groups(results, rounds):
        model, batch, dtype, device, pass_ = group_key
        lines.append(f"- **{model}, batch {batch}, {dtype} on {device} ({pass_})**: fastest {ranking.fastest_text()}"
                     f", {float(ranking.best['ms_per_forward']):.3g} ms")
        for library, native, onnx, ratio in native_over_onnx(group_key, group, table, rounds):
            lines.append(f"  - {library}: fastest native {native['runtime']} {native['ms']:.3g} ms, "
                         f"fastest on its ONNX file {onnx['runtime']} {onnx['ms']:.3g} ms: native / ONNX "
                         f"{ratio.speedup_text()}, paired by round at {CONFIDENCE:.0%}")
    return lines


def answer_table(results: pd.DataFrame, table: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]
                 ) -> pd.DataFrame:
    """The report's first screen for whole networks: per model, batch, dtype, device and pass, the fastest runtime (with
    those tied or undecided against it), its ms, the peak memory its case added (the device's on CUDA, the host's
    on the CPU) and its energy per forward; and each library's native / ONNX (paired by round, with its interval)."""
    rows = []
    for group_key, group, ranking in _ranked_groups(results, rounds):
        best = ranking.best
        memory = "device_peak_mb" if group_key[3] == "cuda" else "host_peak_mb"
        ratios = {library: ratio.speedup_text() for library, _, _, ratio in native_over_onnx(group_key, group, table,
                                                                                             rounds)}
        rows.append({**dict(zip(GROUP, group_key, strict=True)), "fastest": ranking.fastest_text(),
                     "ms (process range)": _with_range(best), "peak MB": _figure(best.get(memory, math.nan)),
                     "mJ / forward": _figure(best.get("energy_mj_per_forward", math.nan)),
                     "torchvision native / ONNX": ratios.get("torchvision", ""),
                     "Keras native / ONNX": ratios.get("keras.applications", "")})
    if not rows:
        return pd.DataFrame()
    order = {name: i for i, name in enumerate(dict.fromkeys(whole_model_rows(results)["model"]))}
    return pd.DataFrame(rows).sort_values(["device", "pass", "model", "dtype", "batch"], kind="stable",
                                          key=lambda c: c.map(order) if c.name == "model" else c
                                          ).reset_index(drop=True)


def _with_range(row: pd.Series) -> str:
    """The row's ms per forward and, where its processes differ, the range of their medians: "3.39 (3.37-3.42)"."""
    low, high = row.get("ms_process_min", math.nan), row.get("ms_process_max", math.nan)
    spread = f" ({_figure(low)}-{_figure(high)})" if pd.notna(low) and pd.notna(high) and low != high else ""
    return _figure(row["ms_per_forward"]) + spread


def _figure(value: object) -> str:
    """3 significant figures without an exponent (1,020 not 1.02e+03); empty for NaN."""
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return ""
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


def _ranked_groups(results: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]
                   ) -> Iterator[tuple[tuple, pd.DataFrame, Ranking]]:
    """(group key, its rows, their ranking) per whole-model group with an ok row."""
    whole = whole_model_rows(results)
    if whole.empty:  # also a run from before whole models, with no `model` column
        return
    for group_key, group in whole.groupby(GROUP, sort=False):
        if (group["status"] == "ok").any():
            yield group_key, group, rank(group, rounds)


def native_over_onnx(group_key: tuple, group: pd.DataFrame, table: pd.DataFrame,
                     rounds: Mapping[tuple[str, ...], Rounds]) -> list[tuple[str, pd.Series, pd.Series, Ratio]]:
    """For each library with both: its fastest native row and its fastest row on its own ONNX export (whole_model_table
    rows) and the native / ONNX ratio paired by round (convbench.ranking.versus)."""
    shown = table[(table[GROUP] == pd.Series(dict(zip(GROUP, group_key, strict=True)))).all(axis=1)]
    by_label = {f"{r['runtime']}[{r['source']}]": r for _, r in group.iterrows()}
    out = []
    for library, native, exported in (("torchvision", "[torch]", "[torch.onnx]"),
                                      ("keras.applications", "[keras]", "[tf2onnx]")):
        mine = shown[shown["library"] == library]
        natives = mine[mine["runtime"].str.endswith(native)]
        onnx = mine[mine["runtime"].str.endswith(exported)]
        if natives.empty or onnx.empty:
            continue
        fast_native, fast_onnx = natives.iloc[0], onnx.iloc[0]  # the table is sorted by ms
        out.append((library, fast_native, fast_onnx,
                    versus(rounds, by_label[fast_native["runtime"]], by_label[fast_onnx["runtime"]])))
    return out


def _macs_by_file(graphs: pd.DataFrame | None) -> dict[tuple[str, str], float]:
    """Multiply-adds by (exporter framework, file stack id) from graphs.csv."""
    if graphs is None or graphs.empty or "macs" not in graphs:
        return {}
    stacks = graphs["file"].astype(str).str.extract(r"([^/]+)\.onnx$")[0]
    return {(str(source), str(stack)): float(m) for source, stack, m in zip(graphs["source"], stacks, graphs["macs"],
                                                                             strict=True) if pd.notna(m)}


def _file_stack_id(stack_id: str, dtype: str) -> str:
    """The stack id of the file a row's model was exported as: tf32 runs float32's file."""
    return stack_id.replace("-tf32", "") if dtype == "tf32" else stack_id


def _conv_only_ms(results: pd.DataFrame) -> dict[tuple[object, ...], float]:
    """The ok conv-only network rows' ms by (network, batch, dtype, device, pass, runtime, source)."""
    networks = network_rows(results)
    networks = networks[networks["status"] == "ok"]
    return {(str(r["network"]), int(r["batch"]), str(r["dtype"]), str(r["device"]), str(r["pass"]), str(r["runtime"]),
             str(r["source"])): float(r["ms_per_forward"]) for _, r in networks.iterrows()}
