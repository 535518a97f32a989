"""The `fastest` picture: each conv type's fastest way at the largest channel count, with the process range. `png`
draws it for report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    chart_layout,
    plt,
    save_png,
    with_process_range,
)


def png(best: pd.DataFrame, title: str, path: Path) -> Path:
    """Bars per conv type, one per device and dtype: the fastest runtime's ms per forward (log scale), its process
    range as an error bar and its name on the bar (answers.fastest_at_largest_channels's table)."""
    groups = list(best.groupby(["device", "dtype", "channels"], sort=False))
    variants = list(dict.fromkeys(best["variant"]))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(variants) * max(1, len(groups)) ** 0.5), 4.8), dpi=110)
    width = 0.8 / len(groups)
    for i, ((device, dtype, channels), rows) in enumerate(groups):
        rows = rows.set_index("variant").reindex(variants)
        x = [j + (i - (len(groups) - 1) / 2) * width for j in range(len(variants))]
        low = (rows["ms_per_forward"] - rows["ms_process_min"]).clip(lower=0).fillna(0)
        high = (rows["ms_process_max"] - rows["ms_per_forward"]).clip(lower=0).fillna(0)
        ax.bar(x, rows["ms_per_forward"], width, yerr=[low, high], capsize=2, label=f"{device} {dtype}, C={channels}")
        for xi, ms, name in zip(x, rows["ms_per_forward"], rows["best"], strict=True):
            if pd.notna(ms):
                ax.text(xi, ms, f" {name}", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms per forward (fastest runtime)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(fig, path)


def chart(best: pd.DataFrame, title: str) -> go.Figure:
    """Per conv type, one bar per device and dtype: the fastest runtime's ms per forward with its process range."""
    fig = go.Figure()
    for (device, dtype, channels), rows in with_process_range(best).groupby(["device", "dtype", "channels"],
                                                                             sort=False):
        speedups = [c for c in rows.columns if c.startswith("x vs ")]
        fig.add_bar(x=rows["variant"], y=rows["ms_per_forward"], name=f"{device} {dtype}, C={channels}",
                    text=rows["best"], textposition="inside",
                    error_y={"type": "data", "symmetric": False,
                             "array": (rows["ms_process_max"] - rows["ms_per_forward"]).clip(lower=0),
                             "arrayminus": (rows["ms_per_forward"] - rows["ms_process_min"]).clip(lower=0)},
                    customdata=rows[["fastest", *speedups]].to_numpy(),
                    hovertemplate="%{x}: %{customdata[0]}<br>%{y:.4g} ms per forward<br>"
                                  + "<br>".join(f"{c[2:]} default / fastest: %{{customdata[{i + 1}]:.2f}}x"
                                                for i, c in enumerate(speedups)) + "<extra></extra>")
    fig.update_layout(barmode="group")
    return chart_layout(fig, title, "ms per forward (fastest runtime)", "conv type")
