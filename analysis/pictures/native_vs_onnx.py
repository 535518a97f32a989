"""The `native_vs_onnx` picture: each framework's native time against its ONNX file's in each runtime. `png` draws it
for report.md (matplotlib), `chart` for report.html (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from convbench.analysis.pictures.style import (
    chart_layout,
    plt,
    save_png,
)


def png(table: pd.DataFrame, title: str, path: Path) -> Path:
    """Grouped bars: for each framework (panel) and conv type, native ms vs onnxruntime ms on its export. Each
    panel is titled with its framework, device and channel count (the title is the figure's heading)."""
    frameworks = list(dict.fromkeys(table["framework"]))
    fig, axes = plt.subplots(1, len(frameworks), figsize=(6.5 * len(frameworks), 4.5), dpi=110, squeeze=False)
    for ax, framework in zip(axes[0], frameworks, strict=True):
        rows = table[table["framework"] == framework]
        x = range(len(rows))
        width = 0.38
        ax.bar([i - width / 2 for i in x], rows["native_ms"], width, label=rows["native"].iloc[0], color="#4c72b0")
        ax.bar([i + width / 2 for i in x], rows["onnx_ms"], width, label=rows["onnx"].iloc[0], color="#dd8452")
        ax.set_xticks(list(x), rows["variant"], rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("ms per forward")
        ax.set_title(f"{framework}: native vs ONNX ({rows['device'].iloc[0]}, C={rows['channels'].iloc[0]})")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    return save_png(fig, path)


def chart(table: pd.DataFrame, title: str) -> go.Figure:
    """Per framework and conv type: the native runtime's ms beside onnxruntime's on the framework's export."""
    fig = go.Figure()
    for framework, rows in table.groupby("framework", sort=False):
        x = rows["variant"] + " (" + framework + ")"
        for side, colour in (("native", "#4c72b0"), ("onnx", "#dd8452")):
            fig.add_bar(x=x, y=rows[f"{side}_ms"], name=f"{framework}: {rows[side].iloc[0]}", marker_color=colour,
                        offsetgroup=side, customdata=rows[["onnx_vs_native", "channels", "device"]].to_numpy(),
                        hovertemplate=f"%{{x}}, %{{customdata[2]}}, C=%{{customdata[1]}}<br>{rows[side].iloc[0]}: "
                                      "%{y:.4g} ms per forward<br>ONNX / native: %{customdata[0]:.2f}x<extra></extra>")
    fig.update_layout(barmode="group")
    return chart_layout(fig, title, "ms per forward", "conv type (framework)")
