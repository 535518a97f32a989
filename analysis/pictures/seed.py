"""The `seed` picture, as the 2017 post drew it: ms per forward against channels, one line per conv type (one runtime,
source, device). `png` draws it for report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    COLOURS,
    MARKERS,
    SYMBOLS,
    chart_layout,
    plt,
    save_png,
    with_process_range,
)
from convbench.models.variants import VARIANTS


def png(group: pd.DataFrame, title: str, path: Path) -> Path:
    """Time per 100 forwards vs number of filters, one line per conv type (the 2017 figure), log-scaled time."""
    ok = group[group["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for variant in VARIANTS:
        rows = ok[ok["variant"] == variant].groupby("channels")["ms_per_forward"].median().sort_index()
        if rows.empty:
            continue
        ax.plot(rows.index, rows.values * 100 / 1e3, label=variant, color=COLOURS[variant],
                marker=MARKERS[variant], linewidth=1.8)
    channels = sorted(ok["channels"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(channels, [str(c) for c in channels])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("number of filters (channels)")
    ax.set_ylabel("processing time [s / 100 forwards]")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    return save_png(fig, path)


def chart(group: pd.DataFrame, title: str) -> go.Figure:
    """The 2017 figure: seconds per 100 forwards vs number of filters, one line per conv type, log axes."""
    ok = with_process_range(group[group["status"] == "ok"])
    fig = go.Figure()
    for variant in VARIANTS:
        rows = (ok[ok["variant"] == variant].groupby("channels")
                .agg(ms=("ms_per_forward", "median"), low=("ms_process_min", "median"),
                     high=("ms_process_max", "median")).sort_index())
        if rows.empty:
            continue
        fig.add_scatter(x=rows.index, y=rows["ms"] * 100 / 1e3, name=variant, mode="lines+markers",
                        line={"color": COLOURS[variant]}, marker={"symbol": SYMBOLS[variant]},
                        customdata=rows[["ms", "low", "high"]].to_numpy(),
                        hovertemplate=f"{variant}, C=%{{x}}<br>%{{y:.4g}} s / 100 forwards<br>%{{customdata[0]:.4g}} "
                                      "ms per forward (processes %{customdata[1]:.4g}-%{customdata[2]:.4g} ms)"
                                      "<extra></extra>")
    fig.update_xaxes(type="log", tickvals=sorted(ok["channels"].unique()))
    return chart_layout(fig, title, "processing time [s / 100 forwards]", "number of filters (channels)")
