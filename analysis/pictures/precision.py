"""The `precision` picture: each dtype's speed-up over float32, per runtime. `png` draws it for report.md (matplotlib),
`chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    chart_layout,
    plt,
    save_png,
)
from convbench.models.variants import VARIANTS


def png(table: pd.DataFrame, title: str, path: Path) -> Path:
    """Grouped bars: per conv type, the speed-up of each lower-precision runtime over its float32, log scale."""
    variants = [v for v in VARIANTS if v in table.columns]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(variants) + 0.4 * len(table)), 4.5), dpi=110)
    width = 0.8 / len(table)
    for i, row in enumerate(table.itertuples(index=False)):
        values = [getattr(row, v) if hasattr(row, v) else float("nan") for v in variants]
        ax.bar([j + (i - (len(table) - 1) / 2) * width for j in range(len(variants))], values, width,
               label=row.runtime)
    ax.axhline(1.0, color="#444444", linewidth=1)
    ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("speed-up over float32 (x)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(fig, path)


def chart(table: pd.DataFrame, title: str) -> go.Figure:
    """Per conv type, one bar per lower-precision runtime: its speed-up over the same runtime's float32."""
    variants = [v for v in VARIANTS if v in table.columns]
    fig = go.Figure()
    for row in table.itertuples(index=False):
        values = [getattr(row, v) for v in variants]
        fig.add_bar(x=variants, y=values, name=row.runtime,
                    hovertemplate=f"%{{x}}, {row.runtime} (C={row.C}): %{{y:.3g}}x the float32 speed<extra></extra>")
    fig.add_hline(y=1.0, line_color="#444444", line_width=1)
    fig.update_layout(barmode="group")
    return chart_layout(fig, title, "speed-up over float32 (x)", "conv type")
