"""The `memory` picture: each runtime's time against the peak memory its case added, per workload (device memory
where measured, else host memory). `png` draws it for report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import PALETTE, chart_layout, plt, save_png


def _memory(table: pd.DataFrame) -> tuple[pd.Series, str]:
    if table["device MB"].notna().any():
        return table["device MB"], "peak device memory added (MB)"
    return table["host MB"], "peak host memory added (MB)"


# A marker per turn through the palette, so that no two runtimes share a colour and a marker (17 runtimes on CUDA)
MARKERS = ("o", "s", "^", "D", "v", "P")
PLOTLY_MARKERS = ("circle", "square", "triangle-up", "diamond", "triangle-down", "cross")


def png(table: pd.DataFrame, title: str, path: Path) -> Path:
    """One point per runtime and workload: x the memory, y ms per forward, both log; one colour and marker per
    runtime."""
    memory, label = _memory(table)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for i, (runtime, rows) in enumerate(table.groupby("runtime", sort=False)):
        ax.scatter(memory[rows.index], rows["ms"], label=runtime, color=PALETTE[i % len(PALETTE)], s=30,
                   marker=MARKERS[(i // len(PALETTE)) % len(MARKERS)])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("ms per forward")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_png(fig, path)


def chart(table: pd.DataFrame, title: str) -> go.Figure:
    memory, label = _memory(table)
    fig = go.Figure()
    for i, (runtime, rows) in enumerate(table.groupby("runtime", sort=False)):
        fig.add_scatter(x=memory[rows.index], y=rows["ms"], mode="markers", name=runtime,
                        marker_color=PALETTE[i % len(PALETTE)],
                        marker_symbol=PLOTLY_MARKERS[(i // len(PALETTE)) % len(PLOTLY_MARKERS)],
                        customdata=rows[["workload"]].to_numpy(),
                        hovertemplate=f"{runtime}, %{{customdata[0]}}<br>%{{x:.4g}} MB, %{{y:.4g}} ms<extra></extra>")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return chart_layout(fig, title, "ms per forward", label)
