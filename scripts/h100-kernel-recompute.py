"""One-off repair of the 2026-11-25 H100 evidence (docs/results/h100/), kept so that it can be checked and redone.

The first H100 machine of that session profiled every float32 case with a convbench whose CUPTI reader counted the
`convbench.forward` record_function range, which also appears on the GPU timeline, as a kernel (fixed in commit
"CUPTI: the record_function range ..."). Its kernels.csv still holds every device event per case, the annotation
as its own row, so the kernel and copy times are recomputed exactly by leaving that row out; launch calls were
counted on the host and are unaffected. The GPU idle time cannot be recomputed (it needs the timeline) and stays
empty. Cases re-profiled later with the fixed code keep their own figures; for them the recomputation is printed
beside the re-profiled value as a check.

    python3 scripts/h100-kernel-recompute.py FIRST_MACHINE_RUN_DIR FINAL_RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ANNOTATION = "convbench.forward"
KEY = ["stack_id", "runtime", "source", "device"]
METHOD = ("CUPTI device records (torch.profiler): summed kernel durations on the GPU; recomputed from the first "
          "H100 machine's kernels.csv without the forward-range annotation (scripts/h100-kernel-recompute.py); "
          "GPU idle not recomputable")


def recomputed(first: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per case of the first machine: kernel and copy ms per forward without the annotation, and its kernel rows."""
    kernels = pd.read_csv(first / "kernels.csv")
    kernels = kernels[kernels["kernel"] != ANNOTATION].copy()
    group = kernels["kind"].where(kernels["kind"] == "kernel", "copy")
    totals = kernels.groupby([*KEY, group])["ms_per_forward"].transform("sum")
    kernels["share"] = kernels["ms_per_forward"] / totals
    sums = kernels.assign(group=group).pivot_table(index=KEY, columns="group", values="ms_per_forward",
                                                   aggfunc="sum", fill_value=0.0)
    old = pd.read_csv(first / "results.csv").set_index(KEY)
    columns = pd.DataFrame({"kernel": sums["kernel"], "copy": sums.get("copy", 0.0)})
    old = old[["launches_per_forward", "profiled_ms_per_forward", "conv_events_per_forward"]].add_prefix("first_")
    return columns.join(old), kernels


def main(first: Path, final: Path) -> None:
    columns, kernels = recomputed(first)
    results = pd.read_csv(final / "results.csv", keep_default_na=False, na_values=[""])
    indexed = results.set_index(KEY)
    have = indexed["kernel_method"].notna()
    check = indexed[have].join(columns, how="inner")
    if not check.empty:
        ratio = check["kernel"] / check["kernel_ms_per_forward"]
        print(f"check on {len(check)} re-profiled cases: recomputed / re-profiled kernel ms: median "
              f"{ratio.median():.3f}, range {ratio.min():.3f}-{ratio.max():.3f}")
    fill = indexed[~have & (indexed["status"] == "ok")].join(columns, how="inner")
    for key, row in fill.iterrows():
        indexed.loc[key, ["kernel_ms_per_forward", "overhead_ms_per_forward", "copy_ms_per_forward",
                          "launches_per_forward", "profiled_ms_per_forward", "conv_events_per_forward",
                          "kernel_method"]] = [row["kernel"], row["ms_per_forward"] - row["kernel"], row["copy"],
                                               row["first_launches_per_forward"], row["first_profiled_ms_per_forward"],
                                               row["first_conv_events_per_forward"], METHOD]
    indexed.reset_index()[results.columns].to_csv(final / "results.csv", index=False)
    final_kernels = pd.read_csv(final / "kernels.csv")
    added = kernels.set_index(KEY).loc[fill.index].reset_index()[final_kernels.columns]
    pd.concat([final_kernels, added], ignore_index=True).to_csv(final / "kernels.csv", index=False)
    print(f"filled {len(fill)} cases from the first machine's profile; "
          f"{int((~have & (indexed['status'] == 'ok')).sum()) - len(fill)} ok cases have no profile")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
