"""What each runtime ran: the kernels of each profiled case (kernels.csv), and the launch view on CUDA."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convbench.analysis.ratios import GROUP, label
from convbench.models.variants import VARIANTS
from convbench.results import KEY_COLUMNS, read_if_present

NAME_CHARS = 70  # CUDA kernel names run to 150 characters; the report shows their start


def read_kernels(run_dir: Path) -> pd.DataFrame:
    return read_if_present(Path(run_dir) / "kernels.csv")


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def what_ran(results: pd.DataFrame, kernels: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Per conv type and runtime, at each runtime's largest channel count: its `top` kernels by time, each with
    its share of the kernel time and its calls per layer, then the copies (on CUDA), in one cell."""
    if kernels.empty:
        return pd.DataFrame()
    ok = results[results["status"] == "ok"]
    largest = ok[ok["channels"] == ok.groupby(GROUP)["channels"].transform("max")]
    merged = kernels.merge(largest[[*KEY_COLUMNS, "variant", "channels", "dtype"]], on=KEY_COLUMNS)
    rows = []
    for (variant, *key), group in merged.groupby(["variant", *GROUP], sort=False):
        compute = group[group["kind"] == "kernel"].sort_values("ms_per_forward", ascending=False)
        shown = [f"{_short(r.kernel)} {r.share:.0%} ({r.calls_per_layer:.3g}/layer)"
                 for r in compute.head(top).itertuples()]
        if len(compute) > top:
            shown.append(f"{len(compute) - top} more {compute['share'].iloc[top:].sum():.0%}")
        copies = group[group["kind"] != "kernel"]
        if not copies.empty:
            shown.append(f"copies {copies['ms_per_forward'].sum():.3g} ms ({copies['calls_per_forward'].sum():.3g}"
                         "/forward)")
        rows.append({"conv type": variant, "runtime": label(*key), "C": int(group["channels"].iloc[0]),
                     "kernels": "; ".join(shown)})
    table = pd.DataFrame(rows)
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values("conv type", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def launch_view(results: pd.DataFrame) -> pd.DataFrame:
    """Per CUDA runtime at its largest channel count, medians over conv types: host launch calls, kernels on the
    GPU, and the GPU's idle time between a forward's kernels (per forward and per layer), against the kernel
    time and the timed forward."""
    if "launches_per_forward" not in results:
        return pd.DataFrame()
    ok = results[(results["status"] == "ok") & results["gpu_idle_ms_per_forward"].notna()]
    if ok.empty:
        return pd.DataFrame()
    largest = ok[ok["channels"] == ok.groupby(GROUP)["channels"].transform("max")]
    rows = []
    for key, group in largest.groupby(GROUP, sort=False):
        rows.append({"runtime": label(*key), "C": int(group["channels"].iloc[0]),
                     "launch calls / forward": group["launches_per_forward"].median(),
                     "GPU idle between kernels [ms / forward]": group["gpu_idle_ms_per_forward"].median(),
                     "GPU idle [µs / layer]": (group["gpu_idle_ms_per_forward"] * 1e3 / group["layers"]).median(),
                     "kernel [ms / forward]": group["kernel_ms_per_forward"].median(),
                     "copies [ms / forward]": group["copy_ms_per_forward"].median(),
                     "timed [ms / forward]": group["ms_per_forward"].median()})
    return pd.DataFrame(rows)
