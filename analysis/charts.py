"""The report's pictures as interactive charts for report.html (plotly), one maker per Figure kind
(convbench.analysis.figures), from the same data as the PNGs of convbench.analysis.plots.

Every maker takes (data, title, **options) and returns a plotly Figure whose hover gives each point's values with
their units. Plotly because one library draws every kind here (lines, grouped and stacked bars, log axes,
scatter with ceilings) and its own script can be inlined once per page (`plotly_script`), so the page runs offline."""

from __future__ import annotations

import base64
import gzip

import pandas as pd
import plotly.graph_objects as go
import plotly.io
import plotly.offline

from convbench.analysis.figures import KINDS, Figure
from convbench.models.variants import VARIANTS

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
COLOURS = dict(zip(VARIANTS, PALETTE, strict=False))  # the same colour per conv type as the PNGs (tab10)
SYMBOLS = dict(zip(VARIANTS, ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "star"),
                   strict=True))


def _layout(fig: go.Figure, title: str, y_title: str, x_title: str = "", log_y: bool = True) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=440, margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      legend={"font": {"size": 11}}, hovermode="closest")
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    fig.update_xaxes(title=x_title)
    return fig


def _with_process_range(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with ms_process_min/max, the median itself where a run predates repeats in fresh processes."""
    return rows.assign(**{c: pd.to_numeric(rows[c], errors="coerce").fillna(rows["ms_per_forward"])
                          if c in rows else rows["ms_per_forward"] for c in ("ms_process_min", "ms_process_max")})


def seed_chart(group: pd.DataFrame, title: str) -> go.Figure:
    """The 2017 figure: seconds per 100 forwards vs number of filters, one line per conv type, log axes."""
    ok = _with_process_range(group[group["status"] == "ok"])
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
    return _layout(fig, title, "processing time [s / 100 forwards]", "number of filters (channels)")


def fastest_chart(best: pd.DataFrame, title: str) -> go.Figure:
    """Per conv type, one bar per device and dtype: the fastest runtime's ms per forward with its process range."""
    fig = go.Figure()
    for (device, dtype, channels), rows in _with_process_range(best).groupby(["device", "dtype", "channels"],
                                                                             sort=False):
        speedups = [c for c in rows.columns if c.startswith("x vs ")]
        fig.add_bar(x=rows["variant"], y=rows["ms_per_forward"], name=f"{device} {dtype}, C={channels}",
                    text=rows["fastest"], textposition="inside",
                    error_y={"type": "data", "symmetric": False,
                             "array": (rows["ms_process_max"] - rows["ms_per_forward"]).clip(lower=0),
                             "arrayminus": (rows["ms_per_forward"] - rows["ms_process_min"]).clip(lower=0)},
                    customdata=rows[["fastest", *speedups]].to_numpy(),
                    hovertemplate="%{x}: %{customdata[0]}<br>%{y:.4g} ms per forward<br>"
                                  + "<br>".join(f"{c[2:]} default / fastest: %{{customdata[{i + 1}]:.2f}}x"
                                                for i, c in enumerate(speedups)) + "<extra></extra>")
    fig.update_layout(barmode="group")
    return _layout(fig, title, "ms per forward (fastest runtime)", "conv type")


def native_vs_onnx_chart(table: pd.DataFrame, title: str) -> go.Figure:
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
    return _layout(fig, title, "ms per forward", "conv type (framework)")


def precision_chart(table: pd.DataFrame, title: str) -> go.Figure:
    """Per conv type, one bar per lower-precision runtime: its speed-up over the same runtime's float32."""
    variants = [v for v in VARIANTS if v in table.columns]
    fig = go.Figure()
    for row in table.itertuples(index=False):
        values = [getattr(row, v) for v in variants]
        fig.add_bar(x=variants, y=values, name=row.runtime,
                    hovertemplate=f"%{{x}}, {row.runtime} (C={row.C}): %{{y:.3g}}x the float32 speed<extra></extra>")
    fig.add_hline(y=1.0, line_color="#444444", line_width=1)
    fig.update_layout(barmode="group")
    return _layout(fig, title, "speed-up over float32 (x)", "conv type")


def kernel_chart(split: pd.DataFrame, title: str) -> go.Figure:
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
    return _layout(fig, title, "ms per forward", "conv type", log_y=False)


def roofline_chart(cases: pd.DataFrame, title: str, ceilings: dict[str, float]) -> go.Figure:
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
    return _layout(fig, title, "achieved [GFLOP/s]", "arithmetic intensity [FLOP / byte moved]")


def kinds_chart(shares: pd.DataFrame, title: str) -> go.Figure:
    """Stacked shares per runtime, and of the FLOPs: each conv kind's part of the conv kernel time."""
    columns = ["FLOP share", *[c for c in shares.columns if c not in ("network", "batch", "dtype", "conv kind",
                                                                          "layers", "FLOP share")]]
    fig = go.Figure()
    for _, row in shares.iterrows():
        fig.add_bar(x=["FLOPs" if c == "FLOP share" else c for c in columns], y=row[columns].fillna(0.0),
                    name=row["conv kind"],
                    hovertemplate=f"{row['conv kind']} ({row['layers']} layers): %{{y:.1%}} of %{{x}}<extra></extra>")
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "share of conv FLOPs / of conv kernel time", log_y=False)


CHART_MAKERS = {"seed": seed_chart, "fastest": fastest_chart, "native_vs_onnx": native_vs_onnx_chart,
                "precision": precision_chart, "kernel": kernel_chart, "roofline": roofline_chart,
                "kinds": kinds_chart}
assert set(CHART_MAKERS) == set(KINDS), "every Figure kind has a chart maker"


def chart_html(figure: Figure, element_id: str) -> str:
    """The Figure as an HTML fragment: a div, and a script that draws it once plotly.js is loaded (plotly_script)."""
    chart = CHART_MAKERS[figure.kind](figure.data, figure.title, **figure.options)
    spec = plotly.io.to_json({"data": chart.to_plotly_json()["data"], "layout": chart.to_plotly_json()["layout"],
                              "config": {"displaylogo": False, "responsive": True}})
    return (f'<div id="{element_id}" class="chart"></div><script>convbenchPlotly.then(() => {{ const s = {spec}; '
            f'Plotly.newPlot("{element_id}", s.data, s.layout, s.config); }});</script>')


def plotly_script() -> str:
    """A script that loads plotly.js from the page itself: gzipped and base64-encoded (1.8 MB in place of 4.6 MB),
    unpacked by the browser's DecompressionStream, so the page opens with no network. `convbenchPlotly` is a
    promise that resolves once `Plotly` is defined."""
    packed = base64.b64encode(gzip.compress(plotly.offline.get_plotlyjs().encode(), 9, mtime=0)).decode("ascii")
    return ("<script>window.convbenchPlotly = (async () => {"
            f'const bytes = Uint8Array.from(atob("{packed}"), c => c.charCodeAt(0));'
            "const text = await new Response(new Blob([bytes]).stream().pipeThrough("
            'new DecompressionStream("gzip"))).text();'
            'const script = document.createElement("script"); script.textContent = text; '
            "document.head.appendChild(script); })();</script>")
