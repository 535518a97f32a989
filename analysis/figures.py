"""A picture in the report, described once and drawn twice: as a PNG beside report.md (matplotlib,
`convbench.analysis.plots`) and as an interactive chart inside report.html (plotly, `convbench.analysis.charts`).

A report section returns markdown lines and Figures; each writer draws the Figures its own way."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# What a Figure can show; each name has a PNG maker in plots.PNG_MAKERS and a chart maker in charts.CHART_MAKERS.
KINDS = ("seed", "fastest", "native_vs_onnx", "precision", "kernel", "roofline", "kinds")


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
