"""Terminal rendering (rich) of what analysis computes: seed tables, graph tables, comparisons."""

from __future__ import annotations

import pandas as pd
from rich.markup import escape
from rich.table import Table

from convbench.analysis.graph import GraphSummary
from convbench.console import console


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "x".join(map(str, value))
    if isinstance(value, float):
        return "n/a" if pd.isna(value) else f"{value:.3f}"
    return str(value)


def print_frame(frame: pd.DataFrame, title: str, index_label: str = "") -> None:
    view = Table(title=escape(title), title_justify="left")
    view.add_column(escape(index_label))
    for column in frame.columns:
        view.add_column(escape(str(column)), justify="right")
    for label, row in frame.iterrows():
        view.add_row(escape(str(label)), *(escape(_fmt(v)) for v in row))
    console.print(view)


def print_seed_tables(results: pd.DataFrame) -> None:
    """The seed's three-row table for every runtime/source/device of the run, at its largest channel count."""
    from convbench.analysis.ratios import label
    from convbench.analysis.seed_table import STEP_TIME_ROW, TIME_ROW, seed_tables
    from convbench.analysis.workloads import pass_rows, seed_rows

    for name, time_row in (("forward", TIME_ROW), ("train", STEP_TIME_ROW)):
        for key, channels, table in seed_tables(seed_rows(pass_rows(results, name)), time_row):
            print_frame(table, f"{label(*key)}, C={channels}" + (", training step" if name == "train" else ""))
    bad = results[results["status"] != "ok"]
    if not bad.empty:
        console.print(f"{len(bad)} case(s) not ok:")
        for (status, reason), group in bad.groupby(["status", "reason"], sort=False):
            first = group.iloc[0]
            more = f" and {len(group) - 1} more" if len(group) > 1 else ""
            console.print(escape(f"  {status:>7}  {first.stack_id} {first.runtime}[{first.source}]{more}: {reason}"))


def print_graph(summary: GraphSummary) -> None:
    console.print(escape(f"{summary.path}: opset {summary.opset}, producer {summary.producer}"))
    for kind, tensors in (("input", summary.inputs), ("output", summary.outputs)):
        for name, dims in tensors.items():
            console.print(escape(f"  {kind} {name}: {_fmt(dims)}"))
    view = Table(title=None)
    for column in ("#", "op", "name", "kernel", "strides", "pads", "dilations", "group", "in shape", "out shape",
                   "params", "MACs", "layout"):
        view.add_column(column, justify="right" if column in ("#", "params", "MACs") else "left")
    for n in summary.nodes:
        view.add_row(*(escape(_fmt(v)) for v in (
            n.index, n.op_type, n.name, n.kernel, n.strides, n.pads, n.dilations, n.group, n.input_shape,
            n.output_shape, f"{n.params:,}", f"{n.macs:,}", f"LAYOUT: {n.between}" if n.layout else "")))
    console.print(view)
    counts = ", ".join(f"{op} {count}" for op, count in summary.op_counts.items())
    console.print(f"totals: {len(summary.nodes)} nodes ({escape(counts)}), {summary.params:,} parameters, "
                  f"{summary.macs:,} MACs, {len(summary.layout_ops)} layout op(s)")


def print_comparison(a: GraphSummary, b: GraphSummary, diff: dict[str, object]) -> None:
    view = Table(title="comparison", title_justify="left")
    view.add_column("")
    view.add_column(escape(a.path))
    view.add_column(escape(b.path))
    for key in ("nodes", "conv_nodes", "params", "macs"):
        left, right = diff[key]
        view.add_row(key, f"{left:,}", f"{right:,}")
    console.print(view)
    console.print(f"same conv nodes (kernel, dilation, group, stride): {'yes' if diff['same_conv_nodes'] else 'NO'}")
    console.print(f"same total MACs: {'yes' if diff['same_macs'] else 'NO'}")
    for side, path in (("only_in_a", a.path), ("only_in_b", b.path)):
        only = diff[side]
        if only:
            console.print(escape(f"ops only in {path}: " + ", ".join(f"{op} x{n}" for op, n in only.items())))
    for op, (left, right) in diff["count_differs"].items():
        console.print(escape(f"{op}: {left} vs {right}"))
