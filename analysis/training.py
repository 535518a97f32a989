"""The training step against the forward: what a step costs per conv type (step / forward, step vs conv3x3's step,
each against the FLOPs), where its kernel time goes (forward, backward-data, backward-weights), and per device which
conv type is cheapest to train and which to deploy.

Reads the seed stacks' train rows and forward rows of one results table (analysis.workloads picks them); runs
nothing. A train row's
`ms_per_forward` is ms per training step."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import GROUP, label, ok_at_largest_channels
from convbench.derived import profiled_overhead
from convbench.models.variants import REFERENCE_VARIANT, VARIANTS, theoretical_vs_conv3x3

# what makes a train case and a forward case the same workload in the same runtime
SAME_CASE = [*GROUP, "variant", "channels", "layers", "batch", "image"]
PHASES = {"kernel_forward_ms": "forward", "kernel_backward_data_ms": "backward-data",
          "kernel_backward_weights_ms": "backward-weights", "kernel_backward_ms": "backward (all)",
          "kernel_other_ms": "other kernels", "overhead_ms_per_forward": "overhead"}


def step_costs(train: pd.DataFrame, forward: pd.DataFrame) -> pd.DataFrame:
    """Per runtime (GROUP) and conv type at the runtime's largest channel count in train: ms per step, ms per
    forward of the same case, step / forward, the step and the forward vs conv3x3's, and the FLOPs vs conv3x3."""
    steps = ok_at_largest_channels(train)
    if steps.empty:
        return pd.DataFrame()
    forwards = forward[forward["status"] == "ok"][[*SAME_CASE, "ms_per_forward"]]
    table = steps[[*SAME_CASE, "ms_per_forward"]].merge(forwards, on=SAME_CASE, how="left",
                                                        suffixes=("_step", "_forward"))
    table = table.rename(columns={"ms_per_forward_step": "ms per step", "ms_per_forward_forward": "ms per forward"})
    table["step / forward"] = table["ms per step"] / table["ms per forward"]
    for column, ratio in (("ms per step", "step vs conv3x3"), ("ms per forward", "forward vs conv3x3")):
        reference = table[table["variant"] == REFERENCE_VARIANT].set_index(GROUP)[column]
        table[ratio] = table[column] / table.set_index(GROUP).index.map(reference).to_numpy(dtype=float)
    table["FLOPs vs conv3x3"] = [theoretical_vs_conv3x3(v, int(c)) for v, c in zip(table["variant"],
                                                                                    table["channels"], strict=True)]
    table["runtime"] = [label(*key) for key in table[GROUP].itertuples(index=False)]
    return _in_seed_order(table)[["runtime", "channels", "variant", "ms per step", "ms per forward", "step / forward",
                  "step vs conv3x3", "forward vs conv3x3", "FLOPs vs conv3x3"]].reset_index(drop=True)


def phase_split(train: pd.DataFrame) -> pd.DataFrame:
    """Per profiled train case at the largest channel count: ms per step in the convolutions' forward,
    backward-data and backward-weights kernels, the other kernels and the overhead, and how it was split."""
    steps = ok_at_largest_channels(train)
    present = [c for c in PHASES if c in steps]
    if steps.empty or "phase_method" not in steps or not present:
        return pd.DataFrame()
    steps = steps[steps["phase_method"].notna()]
    table = steps[["channels", "variant", "ms_per_forward", *present, "phase_method"]].rename(
        columns={"ms_per_forward": "ms per step", **PHASES, "phase_method": "how"})
    # where the profiled process ran other kernels than the timed ones, the overhead is blank: say why
    table["how"] += [profiled_overhead(ms, kernel)[1] for ms, kernel in
                     zip(steps["ms_per_forward"], steps["kernel_ms_per_forward"], strict=True)]
    table["how"] += [_unnamed(row) for _, row in steps.iterrows()]
    table.insert(0, "runtime", [label(*key) for key in steps[GROUP].itertuples(index=False)])
    return _in_seed_order(table).reset_index(drop=True)


def _unnamed(step: pd.Series) -> str:
    """Why a split step's forward or backward cell is empty: none of its kernels was named as one. That phase's time
    is then under whatever its kernels' names say: other kernels (a GEMM, an unknown template), or even the other
    direction: keras-jax's dilated step on an H200 ran 9.9 of its 10.8 ms as fprop-named kernels and none named as
    a backward (docs/results/h200-train)."""
    missing = [name for column, name in (("kernel_forward_ms", "forward"), ("kernel_backward_ms", "backward"))
               if pd.isna(step.get(column))]
    return f"; no kernel was named as its {missing[0]}" if len(missing) == 1 else ""


def _in_seed_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by runtime, then conv type in the seed's order."""
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values(["runtime", "variant"], key=lambda s: s.map(order) if s.name == "variant" else s)


def train_vs_deploy(train: pd.DataFrame, forward: pd.DataFrame) -> pd.DataFrame:
    """Per device, dtype and conv type at the largest channel count both passes timed: the fastest runtime and its
    time for a training step and for a forward, each vs conv3x3's fastest, and the FLOPs vs conv3x3."""
    rows = []
    for (device, dtype), steps in _ok(train).groupby(["device", "dtype"], sort=False):
        forwards = _ok(forward)
        forwards = forwards[(forwards["device"] == device) & (forwards["dtype"] == dtype)]
        common = set(steps["channels"]) & set(forwards["channels"])
        if not common:
            continue
        channels = max(common)
        best_step = _fastest(steps[steps["channels"] == channels])
        best_forward = _fastest(forwards[forwards["channels"] == channels])
        for variant in [v for v in VARIANTS if v in best_step.index and v in best_forward.index]:
            rows.append({"device": device, "dtype": dtype, "channels": channels, "variant": variant,
                         "train: fastest": best_step.loc[variant, "who"],
                         "ms per step": best_step.loc[variant, "ms_per_forward"],
                         "deploy: fastest": best_forward.loc[variant, "who"],
                         "ms per forward": best_forward.loc[variant, "ms_per_forward"]})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for column, ratio in (("ms per step", "step vs conv3x3"), ("ms per forward", "forward vs conv3x3")):
        reference = table[table["variant"] == REFERENCE_VARIANT].set_index(["device", "dtype"])[column]
        table[ratio] = table[column] / table.set_index(["device", "dtype"]).index.map(reference).to_numpy(dtype=float)
    table["FLOPs vs conv3x3"] = [theoretical_vs_conv3x3(v, int(c)) for v, c in zip(table["variant"],
                                                                                    table["channels"], strict=True)]
    return table


def cheapest_lines(table: pd.DataFrame) -> list[str]:
    """Per device and dtype: the conv type cheapest to train and to deploy (fastest way each), and the one whose
    step costs most over what its FLOPs predict, against the same for its forward."""
    lines = []
    for (device, dtype), group in table.groupby(["device", "dtype"], sort=False):
        train, deploy = group.loc[group["ms per step"].idxmin()], group.loc[group["ms per forward"].idxmin()]
        step_excess = group["step vs conv3x3"] / group["FLOPs vs conv3x3"]
        forward_excess = group["forward vs conv3x3"] / group["FLOPs vs conv3x3"]
        worst = group.loc[step_excess.idxmax()]
        lines.append(
            f"{device} {dtype} (C={int(group['channels'].iloc[0])}): cheapest to train **{train['variant']}** "
            f"({train['ms per step']:.4g} ms per step, {train['train: fastest']}); cheapest to deploy "
            f"**{deploy['variant']}** ({deploy['ms per forward']:.4g} ms per forward, {deploy['deploy: fastest']}). "
            f"Furthest above its FLOPs in training: {worst['variant']} at {step_excess[worst.name]:.1f}x its FLOP "
            f"share of conv3x3's step (forward: {forward_excess[worst.name]:.1f}x).")
    return lines


def _ok(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "ok"]


def _fastest(rows: pd.DataFrame) -> pd.DataFrame:
    """Per conv type: the ok row with the lowest median, and who ran it (runtime[source])."""
    best = rows.loc[rows.groupby("variant")["ms_per_forward"].idxmin()].set_index("variant")
    best["who"] = best["runtime"] + "[" + best["source"] + "]"
    return best
