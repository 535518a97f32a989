"""The report's pictures. A picture is described once (`Figure`: its kind, data and title) and drawn twice: as a PNG
beside report.md (`draw_png`, matplotlib) and as an interactive chart inside report.html (`chart_html`, plotly). Each
kind of picture is one module of this package with its `png` and `chart`; adding a kind is a module and a line in
KINDS. A report section returns markdown lines and Figures; each writer draws the Figures its own way.

Plotly because one library draws every kind here (lines, grouped and stacked bars, log axes, scatter with
ceilings) and its own script can be inlined once per page (`plotly_script`), so the page runs offline."""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pandas as pd
import plotly.io
import plotly.offline

from convbench.analysis.pictures import (
    fastest,
    kernel,
    kinds,
    memory,
    native_vs_onnx,
    precision,
    roofline,
    seed,
)

KINDS: dict[str, ModuleType] = {"seed": seed, "fastest": fastest, "native_vs_onnx": native_vs_onnx,
                                "precision": precision, "kernel": kernel, "roofline": roofline, "kinds": kinds,
                                "memory": memory}


@dataclass(frozen=True, eq=False)  # compared by identity: its data is a DataFrame
class Figure:
    kind: str  # one of KINDS
    data: pd.DataFrame  # the rows or table it shows (as the section computed it)
    title: str  # the picture's heading
    file: str  # the PNG's file name beside report.md
    alt: str  # the markdown's alt text
    options: dict = field(default_factory=dict)  # what else a kind needs (the roofline: the measured ceilings)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown figure kind {self.kind!r}; known: {', '.join(KINDS)}")


Lines = list["str | Figure"]  # a report section: markdown lines and the pictures between them


def draw_png(figure: Figure, folder: Path) -> Path:
    """Write the Figure's PNG into folder; return its path."""
    return KINDS[figure.kind].png(figure.data, figure.title, Path(folder) / figure.file, **figure.options)


def chart_html(figure: Figure, element_id: str) -> str:
    """The Figure as an HTML fragment: a div, and a script that draws it once plotly.js is loaded (plotly_script)."""
    chart = KINDS[figure.kind].chart(figure.data, figure.title, **figure.options)
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
