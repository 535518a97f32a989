"""The `roofline` picture: every case's achieved rate against its arithmetic intensity, under the measured ceilings.
`png` draws it for report.md (matplotlib), `chart` for report.html (plotly)."""

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
)
from convbench.models.variants import VARIANTS


def png(cases: pd.DataFrame, title: str, path: Path, ceilings: dict[str, float]) -> Path:
    """Achieved GFLOP/s vs arithmetic intensity, one point per case (colour: conv type), ceilings drawn."""
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    lo = cases["arithmetic_intensity"].min() / 2
    hi = cases["arithmetic_intensity"].max() * 2
    bandwidth = ceilings["bandwidth_gb_per_s"]
    for name, key, style in (("float32 peak", "peak_gflop_per_s", "-"), ("TF32 peak", "peak_tf32_gflop_per_s", ":")):
        if key in ceilings:
            peak = ceilings[key]
            knee = peak / bandwidth
            xs = [lo, max(lo, min(knee, hi)), hi]
            ax.plot(xs, [min(peak, x * bandwidth) for x in xs], "k" + style, linewidth=1.2,
                    label=f"{name} {peak:,.0f} GFLOP/s, {bandwidth:,.0f} GB/s")
    for variant in VARIANTS:
        rows = cases[cases["variant"] == variant]
        if not rows.empty:
            ax.scatter(rows["arithmetic_intensity"], rows["gflop_per_s"], s=18, color=COLOURS[variant],
                       marker=MARKERS[variant], label=variant, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity [FLOP / byte moved]")
    ax.set_ylabel("achieved [GFLOP/s]")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return save_png(fig, path)


def chart(cases: pd.DataFrame, title: str, ceilings: dict[str, float]) -> go.Figure:
    """Achieved GFLOP/s vs arithmetic intensity, one point per case, with the measured ceilings."""
    fig = go.Figure()
    lo, hi = cases["arithmetic_intensity"].min() / 2, cases["arithmetic_intensity"].max() * 2
    bandwidth = ceilings["bandwidth_gb_per_s"]
    for name, key, dash in (("float32 peak", "peak_gflop_per_s", "solid"), ("TF32 peak", "peak_tf32_gflop_per_s",
                                                                             "dot")):
        if key in ceilings:
            peak = ceilings[key]
            xs = [lo, max(lo, min(peak / bandwidth, hi)), hi]
            fig.add_scatter(x=xs, y=[min(peak, x * bandwidth) for x in xs], mode="lines", line={"color": "black",
                            "dash": dash}, name=f"{name} {peak:,.0f} GFLOP/s, {bandwidth:,.0f} GB/s",
                            hovertemplate="ceiling: %{y:,.0f} GFLOP/s at %{x:.3g} FLOP/byte<extra></extra>")
    for variant in VARIANTS:
        rows = cases[cases["variant"] == variant]
        if rows.empty:
            continue
        names = rows["runtime"] + "[" + rows["source"] + "] " + rows["stack_id"]
        fig.add_scatter(x=rows["arithmetic_intensity"], y=rows["gflop_per_s"], mode="markers", name=variant,
                        marker={"color": COLOURS[variant], "symbol": SYMBOLS[variant], "size": 7, "opacity": 0.8},
                        customdata=pd.concat([names, rows["ms_per_forward"]], axis=1).to_numpy(),
                        hovertemplate="%{customdata[0]}<br>%{y:,.1f} GFLOP/s at %{x:.3g} FLOP/byte<br>"
                                      "%{customdata[1]:.4g} ms per forward<extra></extra>")
    fig.update_xaxes(type="log")
    return chart_layout(fig, title, "achieved [GFLOP/s]", "arithmetic intensity [FLOP / byte moved]")
