"""The `kernel` picture: each runtime's time split into kernels and the overhead around them. `png` draws it for
report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    COLOURS,
    chart_layout,
    plt,
    save_png,
)


def png(split: pd.DataFrame, title: str, path: Path) -> Path:
    """Stacked bars per conv type: kernel ms (bottom) and overhead ms (top) per forward."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    x = range(len(split))
    ax.bar(x, split["kernel_ms"], color=[COLOURS[v] for v in split["variant"]], label="kernel")
    ax.bar(x, split["overhead_ms"].clip(lower=0), bottom=split["kernel_ms"], color="#cccccc", hatch="//",
           edgecolor="#888888", label="overhead (wall - kernel)")
    ax.set_xticks(list(x), split["variant"], rotation=30, ha="right")
    ax.set_ylabel("ms per forward")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def chart(split: pd.DataFrame, title: str) -> go.Figure:
    """Stacked bars per conv type: kernel ms and overhead ms per forward."""
    fig = go.Figure()
    custom = split[["ms_per_forward", "overhead_us_per_layer", "kernel_share"]].to_numpy()
    fig.add_bar(x=split["variant"], y=split["kernel_ms"], name="kernel",
                marker_color=[COLOURS.get(v, "#888888") for v in split["variant"]], customdata=custom,
                hovertemplate="%{x}: kernel %{y:.4g} ms per forward (%{customdata[2]:.0%} of "
                              "%{customdata[0]:.4g} ms)<extra></extra>")
    fig.add_bar(x=split["variant"], y=split["overhead_ms"].clip(lower=0), name="overhead (wall - kernel)",
                marker_color="#cccccc", customdata=custom,
                hovertemplate="%{x}: overhead %{y:.4g} ms per forward, %{customdata[1]:.1f} µs per layer"
                              "<extra></extra>")
    fig.update_layout(barmode="stack")
    return chart_layout(fig, title, "ms per forward", "conv type", log_y=False)
