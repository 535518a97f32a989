"""The report's first screen: what this run answers, per device and dtype, before any evidence.

- the fastest way to run each conv type (runtime, ms with the spread between processes, and how much faster than
  each framework's default), and each whole network (with its memory, energy and native over ONNX);
- the five 2017 conclusions as verdicts, per device, on the frameworks' defaults and on the fastest configurations;
- native vs ONNX, one line per framework, device and dtype;
- the headline of each other part the run measured (networks, training step, precision, roofline);
- what it could not measure and why;
- how far to trust it, in three lines.

Everything here is computed from the results table by the same functions as the sections below it; nothing runs."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from convbench.analysis.above_ceiling import FLAG_COLUMN, unexplained_lines
from convbench.analysis.fastest import DEFAULTS
from convbench.analysis.findings import TESTS, findings
from convbench.analysis.floor_gap import floor_lines as library_floor_lines
from convbench.analysis.native_vs_onnx import native_vs_onnx
from convbench.analysis.networks import depthwise_verdicts, kind_shares, network_times
from convbench.analysis.pictures import Figure
from convbench.analysis.precision import precision_speedups
from convbench.analysis.training import cheapest_lines, train_vs_deploy
from convbench.analysis.trust import conditions_lines
from convbench.analysis.verdicts import verdict_rows
from convbench.analysis.whole_models import answer_table, whole_model_table
from convbench.analysis.workloads import network_rows, seed_rows
from convbench.models.variants import VARIANTS
from convbench.ranking import CONFIDENCE, MODE_GAP, TIE_MARGIN, Rounds, modes, modes_text, rank, versus
from convbench.results import KEY_COLUMNS

TRUST_ANCHOR = "#how-far-the-numbers-can-be-trusted"
SHORT_CLAIMS = ("depthwise far slower than its FLOPs", "3x1 + 1x3 saves ~1/3 on CPU", "3x1 / 1x3 save little on GPU",
                "5x5 costlier than its FLOPs on GPU", "dilated costlier than 3x3")


def answers(forward: pd.DataFrame, train: pd.DataFrame, every_row: pd.DataFrame, layers: pd.DataFrame,
            snapshots: list[dict], cpu_count: int | None, unfinished: pd.DataFrame,
            rounds: Mapping[tuple[str, ...], Rounds]) -> list[str | Figure]:
    """The first screen of report.md (markdown lines, and the fastest way as a picture); `unfinished`: the cases
    the run began and did not finish (analysis.trust.unfinished_cases); `rounds`: each case's process medians by
    round (convbench.ranking.round_values), for the rankings' intervals."""
    seed = seed_rows(forward)
    out: list[str | Figure] = ["## The answers", "",
           "What this run found, per device and dtype; the evidence for every line is in the sections below.", ""]
    unexplained = unexplained_lines(every_row)
    out += [*unexplained, ""] if unexplained else []
    out += _fastest(seed, rounds)
    out += _whole_networks(every_row, rounds)
    out += _verdicts(seed, rounds)
    out += _native_vs_onnx(seed)
    out += _headlines(forward, train, layers, every_row)
    out += _not_measured(every_row, unfinished)
    out += _trust(every_row, snapshots, cpu_count)
    return out


def fastest_at_largest_channels(seed: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> pd.DataFrame:
    """Per device, dtype and conv type at the largest channel count of that device and dtype: the fastest way
    (convbench.ranking: the runtime[source] rows that cannot be told apart from the best at its confidence, `fastest`,
    and whether that is one runtime, `decided`), the best's ms per forward with its process range, and how many
    times faster it is than each framework's plain default that ran the case, paired by round, with the interval as
    text (empty where the default was the best or did not run)."""
    ok = seed[seed["status"] == "ok"]
    rows = []
    for (device, dtype), group in ok.groupby(["device", "dtype"], sort=False):
        at = group[group["channels"] == group["channels"].max()]
        for variant, cases in at.groupby("variant"):
            ranking = rank(cases, rounds)
            best = ranking.best
            row = {"device": device, "dtype": dtype, "channels": int(best["channels"]), "variant": variant,
                   "batch": int(best["batch"]), "fastest": ranking.fastest_text(),
                   "best": best["label"] + (f" (+{len(ranking.fastest) - 1} tied)" if len(ranking.fastest) > 1
                                            else ""),
                   "decided": ranking.decided,
                   **{c: best.get(c, float("nan")) for c in ("ms_per_forward", "ms_process_min", "ms_process_max",
                                                             "library_floor_ms")}}
            two_modes = []
            for name, (runtime, source) in DEFAULTS.items():
                default = cases[(cases["runtime"] == runtime) & (cases["source"] == source)]
                fastest_is_default = runtime == best["runtime"] and source == best["source"]
                speedup = (versus(rounds, default.iloc[0], best) if len(default) and not fastest_is_default
                           else None)
                row[f"x vs {name}"] = speedup.value if speedup else float("nan")
                row[f"x vs {name} text"] = speedup.speedup_text() if speedup else ""
                found = modes(list(_rounds_of(rounds, default.iloc[0]).values())) if len(default) else []
                if len(found) == 2:
                    two_modes.append(modes_text(name, found, None if fastest_is_default else best["ms_per_forward"]))
            found = modes(list(_rounds_of(rounds, best).values()))
            if len(found) == 2:
                two_modes.insert(0, modes_text(f"the best, {best['label']},", found))
            row["two modes"] = "; ".join(dict.fromkeys(two_modes))
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {v: i for i, v in enumerate(VARIANTS)}
    return table.sort_values("variant", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def _fastest(seed: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> list[str | Figure]:
    """One table: conv types down, each device and dtype across; a cell names the fastest way at the largest
    channel count (one runtime, or those tied with the best), the best's ms (process range) and its speed-up over
    each framework default that ran the case, with its interval; and the same as a picture."""
    best = fastest_at_largest_channels(seed, rounds)
    if best.empty:
        return []
    columns: dict[str, dict[str, str]] = {}
    for (device, dtype, channels), group in best.groupby(["device", "dtype", "channels"], sort=False):
        cells = {}
        for _, row in group.iterrows():
            cell = f"{row['fastest']} {_ms(row)}"
            for name in DEFAULTS:
                if row[f"x vs {name} text"]:
                    cell += f", {row[f'x vs {name} text']} {name}"
            cells[row["variant"]] = cell
        columns[f"{device} {dtype}, C={channels}"] = cells
        floors = group.set_index("variant")["library_floor_ms"].dropna()
        if len(floors):
            columns[f"{device} {dtype}: cuDNN floor"] = {
                variant: f"{floor:.3g} ms (fastest at {ms / floor:.2f}x)"
                for (variant, floor), ms in zip(floors.items(), group.set_index("variant").loc[floors.index,
                                                                                              "ms_per_forward"],
                                                strict=True)}
    table = pd.DataFrame(columns).reindex(list(dict.fromkeys(best["variant"])))
    table.index.name = "conv type"
    decided = int(best["decided"].sum())
    ties = int((best["decided"] & best["fastest"].str.contains(", tied within")).sum())
    two_modes = [f"- {row['variant']} ({row['device']} {row['dtype']}): {row['two modes']}; each speed-up above is "
                 "paired by round, over whichever mode each round's process landed in." for _, row in best.iterrows()
                 if row["two modes"]]
    return ["### The fastest way to run each conv type", "",
            f"ms per forward of the 16-layer stack (batch {int(best['batch'].iloc[0])}): the fastest way of this run, "
            f"paired by round at {CONFIDENCE:.0%} confidence: the best runtime and those tied with it (within "
            f"{TIE_MARGIN:.0%}), and those it could not yet tell apart from it (undecided); the best's time with the "
            "range of its process medians; how many times faster it is than each framework's plain default (torch "
            "eager, keras-tf) where that default ran, with the interval of that ratio; where the run measured it, "
            "the library floor (cuDNN's fastest plans, the sum over the layers) and the best's time over it. "
            f"Decided: {decided} of {len(best)} cases ({decided - ties} with one fastest runtime, {ties} ties); "
            f"undecided: {len(best) - decided} (docs/method.md: how a ranking is decided).", "",
            table.fillna("").to_markdown(), "",
            *([f"Processes in two modes (convbench.ranking.modes: split at a gap of {MODE_GAP}x or more between "
               "tight clusters):", "", *two_modes, ""] if two_modes else []),
            Figure("fastest", best, "the fastest way to run each conv type (largest channel count)", "fastest.png",
                   "the fastest way to run each conv type"), ""]


def _whole_networks(every_row: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> list[str]:
    """Whole networks: per network, batch, dtype, device and pass, the fastest runtime end to end, its peak memory
    and energy, and native over ONNX per library (the evidence: "Whole networks" below)."""
    table = answer_table(every_row, whole_model_table(every_row), rounds)
    if table.empty:
        return []
    return ["### The fastest way to run each whole network", "",
            "ms per forward (per training step where the pass says train) of the whole network, every layer: the "
            f"fastest runtime[source] with those tied with it (within {TIE_MARGIN:.0%}) or not yet told apart from it "
            f"(undecided), paired by round at {CONFIDENCE:.0%}; the best's ms with the range of its process medians; "
            "the peak memory its case added (the GPU's on cuda, "
            "the host's on the CPU, MB) and its energy (mJ per forward, empty where no counter); each library's "
            "fastest native runtime over the fastest on its own ONNX export, with the interval. The two libraries' "
            "models differ (\"Whole networks\" below says where).", "",
            table.to_markdown(index=False, disable_numparse=True), ""]


def _rounds_of(rounds: Mapping[tuple[str, ...], Rounds], row: pd.Series) -> Rounds:
    return rounds.get(tuple(str(row[c]) for c in KEY_COLUMNS), {})


def _ms(row: pd.Series) -> str:
    low, high = row.get("ms_process_min"), row.get("ms_process_max")
    spread = f" ({low:.3g}-{high:.3g})" if pd.notna(low) and pd.notna(high) and low != high else ""
    return f"**{row['ms_per_forward']:.3g} ms**{spread}"


def _verdicts(seed: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> list[str]:
    """The five conclusions down; per device, on the defaults and on the fastest configuration, across."""
    columns = {}
    for device, what, rows in verdict_rows(seed):
        found = findings(rows, rounds)
        columns[f"{device}: {what}"] = [
            "n/a" if device not in test.devices else f.verdict + (" (unstable)" if f.unstable else "")
            for test, f in zip(TESTS, found, strict=True)]
    if not columns:
        return []
    table = pd.DataFrame(columns, index=pd.Index(SHORT_CLAIMS, name="2017 conclusion"))
    return ["### The 2017 conclusions, re-tested", "",
            "At each runtime's largest channel count; *defaults* are torch eager and keras-tf, *fastest* the fastest "
            "configuration of each case; \"holds in k of n\" counts runtimes (and dtypes); *undecided*: the "
            f"interval of the ratio, paired by round at {CONFIDENCE:.0%} confidence, straddles the claim's threshold. "
            "The reasoning and the figures: \"Findings\" below.", "", table.to_markdown(), ""]


def _native_vs_onnx(seed: pd.DataFrame) -> list[str]:
    table = native_vs_onnx(seed)
    if table.empty:
        return []
    out = ["### Native vs ONNX", ""]
    for (framework, device, dtype, native, onnx), group in table.groupby(
            ["framework", "device", "dtype", "native", "onnx"], sort=False):
        ratio = group["onnx_vs_native"]
        verdict = "faster" if ratio.median() < 1 else "slower"
        out.append(f"- {framework} on {device} {dtype}: {onnx} runs the export {verdict} than {native} runs the model, "
                   f"at a median {ratio.median():.2f}x its time ({ratio.min():.2f}-{ratio.max():.2f}x over "
                   f"{len(group)} cases).")
    return [*out, ""]


def _fastest_line(network: str, best: pd.DataFrame, timed: int) -> str:
    """One network's fastest runtime and ms per forward in each of its cases (batch, dtype), the runtime said once
    where one runtime is the fastest in all of them, and among how many runtimes (`timed`) it was the fastest."""
    runtimes = best["runtime"].str.split("/").str[0]
    one = runtimes.nunique() == 1
    cases = ", ".join(f"b{row['batch']} {row['dtype']} {row['ms per forward']:.3g} ms" + ("" if one else f" ({rt})")
                      for (_, row), rt in zip(best.iterrows(), runtimes, strict=True))
    who = (f"{runtimes.iloc[0]} is the fastest in all {len(best)} cases" if one and len(best) > 1 else
           f"fastest {runtimes.iloc[0]}" if one else "fastest runtime per case")
    among = "the only runtime timed" if timed == 1 else f"of {timed} runtimes timed"
    return f"Real networks' conv layers, {network}: {who} ({among}): {cases}."


def _headlines(forward: pd.DataFrame, train: pd.DataFrame, layers: pd.DataFrame, every_row: pd.DataFrame
               ) -> list[str]:
    """One or two lines for each other part the run measured."""
    lines = []
    networks = network_rows(forward)
    if not networks.empty:
        times = network_times(networks)
        if not times.empty:
            best = times.loc[times.groupby(["network", "batch", "dtype"], sort=False)["ms per forward"].idxmin()]
            timed = times["runtime"].str.split("/").str[0].groupby(times["network"]).nunique()
            lines += [_fastest_line(network, group, timed[network])
                      for network, group in best.groupby("network", sort=False)]
        shares = kind_shares(layers, networks)
        if not shares.empty:
            lines += depthwise_verdicts(shares)[:2]
    if not train.empty:
        both = train_vs_deploy(seed_rows(train), seed_rows(forward))
        lines += cheapest_lines(both) if not both.empty else _cheapest_steps(seed_rows(train))
    seed = seed_rows(forward)
    precision = precision_speedups(seed)
    if not precision.empty:
        speedups = precision[[v for v in VARIANTS if v in precision]].stack()
        lines.append(f"Lower precision: {len(precision)} runtime/dtype pairs, a median {speedups.median():.2f}x the "
                     f"float32 speed ({speedups.min():.2f}-{speedups.max():.2f}x over conv types).")
    lines += library_floor_lines(every_row)
    if "efficiency" in seed and seed["efficiency"].notna().any():
        for device, group in seed[seed["status"] == "ok"].groupby("device", sort=False):
            eff = group["efficiency"].dropna()
            under = eff[eff <= 1]
            if len(eff):
                line = f"Roofline on {device}: "
                if len(under):
                    line += (f"a median efficiency (roofline floor / time) of {under.median():.0%}, best "
                             f"{under.max():.0%}, over the {len(under)} cases at or under the ceiling")
                above = group.loc[eff.index[eff > 1], FLAG_COLUMN] if FLAG_COLUMN in group else pd.Series()
                if len(above):
                    causes = ", ".join(f"{n} {c}" for c, n in above.value_counts().items())
                    line += (f"{'; ' if len(under) else ''}{len(above)} cases beat their floor ({causes})")
                lines.append(line + ".")
    return ["### Headlines of the other parts", "", *[f"- {line}" for line in lines], ""] if lines else []


def _cheapest_steps(train: pd.DataFrame) -> list[str]:
    """Where a run timed only training steps: per device and dtype, the cheapest conv type to train and how
    depthwise's step compares with conv3x3's (fastest way each)."""
    ok = train[train["status"] == "ok"]
    lines = []
    for (device, dtype), group in ok.groupby(["device", "dtype"], sort=False):
        at = group[group["channels"] == group["channels"].max()]
        best = at.loc[at.groupby("variant")["ms_per_forward"].idxmin()].set_index("variant")
        cheapest = best["ms_per_forward"].idxmin()
        line = (f"Training step, {device} {dtype} (C={int(at['channels'].iloc[0])}): cheapest to train "
                f"**{cheapest}** ({best.loc[cheapest, 'ms_per_forward']:.3g} ms per step, "
                f"{best.loc[cheapest, 'runtime']})")
        if {"conv3x3sep", "conv3x3"} <= set(best.index):
            ratio = best.loc["conv3x3sep", "ms_per_forward"] / best.loc["conv3x3", "ms_per_forward"]
            line += f"; depthwise's step {ratio:.2f}x conv3x3's, fastest way each"
        lines.append(line + ".")
    return lines


def _not_measured(every_row: pd.DataFrame, unfinished: pd.DataFrame) -> list[str]:
    skipped = every_row[every_row["status"] == "skipped"]
    failed = every_row[every_row["status"] == "failed"]
    if skipped.empty and failed.empty and unfinished.empty:
        return ["### Not measured here", "", "Every case of the sweep ran.", ""]
    out = ["### Not measured here", ""]
    if not unfinished.empty:
        out.append(f"- {len(unfinished)} begun and not finished ({_names(unfinished['runtime'])}): the run stopped "
                   f"before their last process; {int(unfinished['processes_done'].sum())} of their process rows are "
                   "in processes.csv, and `convbench bench --run-dir` on this folder with the same flags finishes "
                   "them")
    for status, rows in (("failed", failed), ("skipped", skipped)):
        rows = rows.assign(reason=rows["reason"].map(_general))
        counts = rows.groupby("reason", sort=False).agg(cases=("reason", "size"), runtimes=("runtime", _names))
        for reason, row in counts.sort_values("cases", ascending=False).head(4).iterrows():
            out.append(f"- {row['cases']} {status} ({row['runtimes']}): {reason}")
        if len(counts) > 4:
            out.append(f"- ... and {int(counts['cases'].iloc[4:].sum())} more {status} with "
                       f"{len(counts) - 4} other reasons (\"Skipped and failed cases\" at the end)")
    return [*out, ""]


def _general(reason: str) -> str:
    """A reason without the file or stack it names, so that one cause is one line."""
    reason = re.sub(r"[^\s:]*/[^\s:]+", "`FILE`", str(reason))
    # a stack id: a name, then its sizes (a whole model's "-whole" among them), then its dtype and pass; never a number
    # such as 8.81e-01
    return re.sub(r"\b[a-z][a-z0-9_]*(-(whole|[a-z]?\d+))+(-(tf32|float16|bfloat16|int8|train))*\b", "`WORKLOAD`",
                  reason)


def _names(values: pd.Series) -> str:
    names = list(dict.fromkeys(values))
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _trust(every_row: pd.DataFrame, snapshots: list[dict], cpu_count: int | None) -> list[str]:
    ok = every_row[every_row["status"] == "ok"]
    if ok.empty:
        return []
    processes = ok["processes"].dropna() if "processes" in ok else pd.Series(dtype=float)
    unstable = int(ok["unstable"].eq(True).sum()) if "unstable" in ok else 0
    warnings = [line for line in conditions_lines(snapshots, cpu_count) if line.startswith("**Warning")]
    spread = ok["process_spread"].dropna() if "process_spread" in ok else pd.Series(dtype=float)
    return ["### How far to trust it", "",
            f"- Processes: each case timed in {int(processes.median()) if len(processes) else 1} fresh worker "
            f"process(es); the median spread between their medians is "
            f"{spread.median():.1%}." if len(spread) else "- Processes: one per case (a run from before repeats).",
            f"- Unstable: {unstable} of {len(ok)} ok cases, whose processes disagree far beyond their own noise.",
            f"- Conditions: {len(warnings)} warning(s) about the machine while it ran"
            + (f" (first: {warnings[0].removeprefix('**Warning:** ')})" if warnings else "") + ".",
            f"- Details: [How far the numbers can be trusted]({TRUST_ANCHOR}).", ""]

