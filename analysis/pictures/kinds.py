"""The `kinds` picture: inside a network: each conv kind's share of the FLOPs against its share of the kernel time.
`png` draws it for report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    chart_layout,
    plt,
    save_png,
)


def png(shares: pd.DataFrame, title: str, path: Path) -> Path:
    """Stacked bars, one per runtime plus one for the FLOPs: each conv kind's share of the conv kernel time (or
    of the FLOPs), so a kind whose time slice is wider than its FLOP slice is slow for its FLOPs."""
    columns = ["FLOP share", *[c for c in shares.columns if c not in ("network", "batch", "dtype", "conv kind",
                                                                          "layers", "FLOP share")]]
    table = shares.set_index("conv kind")[columns].fillna(0.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(columns) + 3), 4.8), dpi=110)
    bottom = pd.Series(0.0, index=columns)
    colours = plt.get_cmap("tab10").colors
    for i, (kind, row) in enumerate(table.iterrows()):
        ax.bar(range(len(columns)), row.values, bottom=bottom.values, color=colours[i % len(colours)], label=kind,
               edgecolor="white", linewidth=0.5)
        bottom += row.values
    ax.set_xticks(range(len(columns)), ["FLOPs" if c == "FLOP share" else c for c in columns], rotation=30,
                  ha="right", fontsize=8)
    ax.set_ylabel("share of conv FLOPs / of conv kernel time")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save_png(fig, path)


def chart(shares: pd.DataFrame, title: str) -> go.Figure:
    """Stacked shares per runtime, and of the FLOPs: each conv kind's part of the conv kernel time."""
    columns = ["FLOP share", *[c for c in shares.columns if c not in ("network", "batch", "dtype", "conv kind",
                                                                          "layers", "FLOP share")]]
    fig = go.Figure()
    for _, row in shares.iterrows():
        fig.add_bar(x=["FLOPs" if c == "FLOP share" else c for c in columns], y=row[columns].fillna(0.0),
                    name=row["conv kind"],
                    hovertemplate=f"{row['conv kind']} ({row['layers']} layers): %{{y:.1%}} of %{{x}}<extra></extra>")
    fig.update_layout(barmode="stack")
    return chart_layout(fig, title, "share of conv FLOPs / of conv kernel time", log_y=False)
