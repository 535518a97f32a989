"""report.html: the same sections as report.md in one self-contained page, its pictures as interactive charts
(convbench.analysis.charts) and every result row in a table that sorts and filters.

Everything the page needs is inlined (plotly.js, the DataTables bundle that itables ships), so it opens from disk
with no network. The markdown is turned into HTML by Python-Markdown; a Figure becomes a placeholder first and its
chart after, so headings keep the anchors that report.md's links use."""

from __future__ import annotations

import html
from pathlib import Path

import markdown
import pandas as pd
from itables import options as itables_options
from itables import to_html_datatable
from itables.javascript import generate_init_offline_itables_html

from convbench.analysis.pictures import Figure, Lines, chart_html, plotly_script
from convbench.csvfile import replace_text
from convbench.schema import kind_of

REPORT_HTML = "report.html"
TABLE_ANCHOR = "every-result"
# The results table's columns, in this order, where the run has them: what a case is, then what it measured.
TABLE_COLUMNS = ("pass", "network", "variant", "channels", "batch", "dtype", "runtime", "source", "device", "machine",
                 "status", "ms_per_forward", "ms_process_min", "ms_process_max", "unstable", "latency_ms_p50",
                 "kernel_ms_per_forward", "overhead_ms_per_forward", "gflop_per_s", "efficiency", "above_ceiling",
                 "parity_rel_err", "first_forward_ms", "stack_id", "reason")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 0 auto; padding: 0 1.5em 4em; color: #222; }
nav { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; z-index: 10; }
nav a { margin-right: 1.2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; }
th { background: #f4f4f4; }
td { text-align: right; }
td:first-child { text-align: left; }
code { background: #f4f4f4; padding: 0 3px; }
.figure { margin: 1em 0; }
"""


def write_html(run_dir: Path, content: Lines, results: pd.DataFrame, title: str) -> Path:
    """Write run_dir/report.html from the report's sections and the run's result rows; return its path."""
    figures: list[Figure] = []
    lines = []
    for item in content:
        if isinstance(item, Figure):
            lines.append(_placeholder(len(figures)))
            figures.append(item)
        else:
            lines.append(item)
    body = markdown.markdown("\n".join(lines), extensions=["tables", "toc"], output_format="html")
    for i, figure in enumerate(figures):
        body = body.replace(_placeholder(i), f'<div class="figure">{chart_html(figure, f"figure-{i}")}</div>', 1)
    page = "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>convbench report: {html.escape(title)}</title>", f"<style>{STYLE}</style>",
        plotly_script(), "</head><body>",
        f'<nav><a href="#the-answers">The answers</a><a href="#{TABLE_ANCHOR}">Every result (sort, filter)</a>'
        '<a href="#how-far-the-numbers-can-be-trusted">Trust</a></nav>',
        generate_init_offline_itables_html(itables_options.dt_bundle),
        body,
        f'<h2 id="{TABLE_ANCHOR}">Every result</h2>',
        "<p>Every row of results.csv: click a heading to sort, type in the boxes under the headings to filter a "
        "column, or search all columns. Times in ms (per forward; per training step where pass is train), "
        "figures to 4 significant digits; the full precision is in results.csv.</p>",
        results_table(results),
        "</body></html>"])
    path = Path(run_dir) / REPORT_HTML
    replace_text(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def results_table(results: pd.DataFrame) -> str:
    """Every result row as a DataTable (itables) with a filter box per column."""
    shown = results[[c for c in TABLE_COLUMNS if c in results]].copy()
    if "efficiency" in shown:  # above 1 it is not an efficiency: the above_ceiling column says why instead
        shown["efficiency"] = shown["efficiency"].where(shown["efficiency"].le(1))
    for column in shown:
        if kind_of(column) == "number":
            shown[column] = pd.to_numeric(shown[column], errors="coerce").map(_four_digits)
        elif kind_of(column) == "flag":
            shown[column] = shown[column].map({True: "yes", False: "no"}).fillna("")
        else:
            shown[column] = shown[column].fillna("").astype(str)
    return to_html_datatable(shown, table_id="every-result-table", connected=False, display_logo_when_loading=False,
                             showIndex=False,
                             column_filters="header", maxBytes=0, pageLength=25,
                             lengthMenu=[10, 25, 100, 500, -1], classes="display compact",
                             layout={"topStart": "pageLength", "topEnd": "search", "bottomStart": "info",
                                     "bottomEnd": "paging"})


def _four_digits(value: float) -> float:
    return float(f"{value:.4g}") if pd.notna(value) else value


def _placeholder(i: int) -> str:
    return f'<div data-figure="{i}"></div>'
