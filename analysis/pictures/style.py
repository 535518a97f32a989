"""What every picture shares: one colour and marker per conv type (the same in the PNGs and the charts), saving a
PNG whole or not at all, the charts' layout, and the process range every time is drawn with."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from convbench.csvfile import replace_text  # noqa: E402
from convbench.models.variants import VARIANTS  # noqa: E402

__all__ = ["COLOURS", "MARKERS", "PALETTE", "SYMBOLS", "chart_layout", "plt", "save_png", "with_process_range"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # matplotlib's tab10
COLOURS = dict(zip(VARIANTS, PALETTE, strict=False))  # one colour per conv type, the same in every picture
MARKERS = dict(zip(VARIANTS, "osD^vP*", strict=True))  # matplotlib's markers per conv type
SYMBOLS = dict(zip(VARIANTS, ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "star"),
                   strict=True))  # plotly's


def save_png(fig: plt.Figure, path: Path) -> Path:
    """Write the matplotlib figure to `path` (replacing it whole) and close it."""
    fig.tight_layout()
    try:
        replace_text(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".")))
    finally:
        plt.close(fig)
    return path


def chart_layout(fig: go.Figure, title: str, y_title: str, x_title: str = "", log_y: bool = True) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=440, margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      legend={"font": {"size": 11}}, hovermode="closest")
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    fig.update_xaxes(title=x_title)
    return fig


def with_process_range(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with ms_process_min/max, the median itself where a run predates repeats in fresh processes."""
    return rows.assign(**{c: pd.to_numeric(rows[c], errors="coerce").fillna(rows["ms_per_forward"])
                          if c in rows else rows["ms_per_forward"] for c in ("ms_process_min", "ms_process_max")})
