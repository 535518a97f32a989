"""The report's pictures as PNGs (matplotlib, Agg backend), one maker per Figure kind (convbench.analysis.figures).

Every maker takes (data, title, path, **options) and returns the path it wrote."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from convbench.analysis.figures import KINDS, Figure  # noqa: E402
from convbench.csvfile import replace_text  # noqa: E402
from convbench.models.variants import VARIANTS  # noqa: E402

# One colour per conv type, the same in every picture.
COLOURS = dict(zip(VARIANTS, plt.get_cmap("tab10").colors, strict=False))
MARKERS = dict(zip(VARIANTS, "osD^vP*", strict=True))


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    try:
        replace_text(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".")))
    finally:
        plt.close(fig)
    return path


def seed_plot(group: pd.DataFrame, title: str, path: Path) -> Path:
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
    return _save(fig, path)


def native_vs_onnx_plot(table: pd.DataFrame, title: str, path: Path) -> Path:
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
    return _save(fig, path)


def precision_plot(table: pd.DataFrame, title: str, path: Path) -> Path:
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
    return _save(fig, path)


def kernel_overhead_plot(split: pd.DataFrame, title: str, path: Path) -> Path:
    """Stacked bars per conv type: kernel ms (bottom) and overhead ms (top) per forward."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    x = range(len(split))
    ax.bar(x, split["kernel_ms"], color=[COLOURS[v] for v in split["variant"]], label="kernel")
    ax.bar(x, split["overhead_ms"].clip(lower=0), bottom=split["kernel_ms"], color="#cccccc", hatch="//",
           edgecolor="#888888", label="overhead (wall - kernel)")
    ax.set_xticks(list(x), split["variant"], rotation=30, ha="right")
    ax.set_ylabel("ms per forward")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def roofline_plot(cases: pd.DataFrame, title: str, path: Path, ceilings: dict[str, float]) -> Path:
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
    return _save(fig, path)


def kind_share_plot(shares: pd.DataFrame, title: str, path: Path) -> Path:
    """Stacked bars, one per runtime plus one for the FLOPs: each conv kind's share of the conv kernel time (or
    of the FLOPs), so a kind whose time slice is wider than its FLOP slice is slow for its FLOPs."""
    columns = ["FLOP share", *[c for c in shares.columns if c not in ("network", "batch", "dtype", "conv kind",
                                                                          "layers", "FLOP share")]]
    table = shares.set_index("conv kind")[columns].fillna(0.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(columns) + 3), 4.8), dpi=110)
    bottom = pd.Series(0.0, index=columns)
    colours = plt.get_cmap("tab10").colors
    for i, (kind, row) in enumerate(table.iterrows()):
        ax.bar(range(len(columns)), row.values, bottom=bottom.values, color=colours[i % len(colours)], label=kind,
               edgecolor="white", linewidth=0.5)
        bottom += row.values
    ax.set_xticks(range(len(columns)), ["FLOPs" if c == "FLOP share" else c for c in columns], rotation=30,
                  ha="right", fontsize=8)
    ax.set_ylabel("share of conv FLOPs / of conv kernel time")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path)


def fastest_plot(best: pd.DataFrame, title: str, path: Path) -> Path:
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
        for xi, ms, name in zip(x, rows["ms_per_forward"], rows["fastest"], strict=True):
            if pd.notna(ms):
                ax.text(xi, ms, f" {name}", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms per forward (fastest runtime)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


PNG_MAKERS = {"seed": seed_plot, "fastest": fastest_plot, "native_vs_onnx": native_vs_onnx_plot,
              "precision": precision_plot, "kernel": kernel_overhead_plot, "roofline": roofline_plot,
              "kinds": kind_share_plot}
assert set(PNG_MAKERS) == set(KINDS), "every Figure kind has a PNG maker"


def draw_png(figure: Figure, folder: Path) -> Path:
    """Write the Figure's PNG into folder; return its path."""
    return PNG_MAKERS[figure.kind](figure.data, figure.title, Path(folder) / figure.file, **figure.options)
