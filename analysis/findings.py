"""The 2017 conclusions, re-tested on a run's numbers: each finding is computed, never a canned sentence."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from convbench.analysis.ratios import GROUP, label, ok_at_largest_channels, times_at_largest_channels, vs_conv3x3
from convbench.models.variants import REFERENCE_VARIANT, theoretical_vs_conv3x3
from convbench.ranking import CONFIDENCE, Interval, Rounds, mean_interval
from convbench.results import row_keys


@dataclass(frozen=True)
class Finding:
    claim: str  # the 2017 conclusion
    text: str  # what this run says about it
    held: int = 0  # runtimes in which it holds...
    measured: int = 0  # ...of those that measured it
    unstable: bool = False  # whether a verdict rests on a case whose processes disagreed
    undecided: int = 0  # runtimes whose interval (convbench.ranking's confidence) straddles the claim's threshold

    @property
    def verdict(self) -> str:
        """holds, does not hold, undecided, holds in k of n (and undecided in u), or not measured."""
        if not self.measured:
            return "not measured"
        if self.held == self.measured:
            return "holds"
        if self.undecided == self.measured:
            return "undecided"
        if not self.held and not self.undecided:
            return "does not hold"
        held = f"holds in {self.held} of {self.measured}" if self.held else f"holds in none of {self.measured}"
        return held + (f", undecided in {self.undecided}" if self.undecided else "")


@dataclass(frozen=True)
class _Test:
    claim: str
    devices: tuple[str, ...]
    needs: tuple[str, ...]  # conv types the ratio needs
    ratio: Callable[[pd.Series], float]  # from a row of vs-conv3x3 ratios
    holds: Callable[[float, int], bool]  # (ratio, channels)
    expectation: Callable[[int], str]  # what the FLOPs say, at `channels`


TESTS = (
    _Test("Depthwise conv is far slower than its FLOP count predicts.", ("cpu", "cuda"), ("conv3x3sep",),
          lambda r: r["conv3x3sep"], lambda x, c: x > 4 * theoretical_vs_conv3x3("conv3x3sep", c),
          lambda c: (f"FLOPs predict {theoretical_vs_conv3x3('conv3x3sep', c):.3f}x of conv3x3; counted as far slower "
                     f"above 4 times that, {4 * theoretical_vs_conv3x3('conv3x3sep', c):.3f}x")),
    _Test("Splitting 3x3 into 3x1 + 1x3 saves close to the theoretical amount on CPU.", ("cpu",),
          ("conv3x1", "conv1x3"), lambda r: r["conv3x1"] + r["conv1x3"], lambda x, c: abs(x / (2 / 3) - 1) <= 0.25,
          lambda c: "FLOPs predict 3x1 + 1x3 = 0.667x of conv3x3; counted as close within 25% of that"),
    _Test("On GPU, smaller kernels save little: 3x1 and 1x3 cost far more than 0.33x of 3x3.", ("cuda",),
          ("conv3x1", "conv1x3"), lambda r: (r["conv3x1"] + r["conv1x3"]) / 2, lambda x, c: x > 0.5,
          lambda c: "FLOPs predict 0.333x of conv3x3; counted as little saving above 0.5x, mean of 3x1 and 1x3"),
    _Test("On GPU, 5x5 costs more than its FLOP ratio, so two 3x3 are better.", ("cuda",), ("conv5x5",),
          lambda r: r["conv5x5"], lambda x, c: x > theoretical_vs_conv3x3("conv5x5", c),
          lambda c: "FLOPs predict 2.778x of conv3x3; holds above that"),
    _Test("Dilated 3x3 costs more than plain 3x3, although its FLOPs are equal.", ("cpu", "cuda"),
          ("conv3x3dilated",), lambda r: r["conv3x3dilated"], lambda x, c: x > 1.1,
          lambda c: "FLOPs predict 1.000x of conv3x3; counted as costlier above 1.1x"),
)


def findings(results: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds] | None = None) -> list[Finding]:
    """Each 2017 conclusion judged on every runtime of `results` at its largest channel count. With `rounds` (each
    case's process medians by round, convbench.ranking.round_values), a runtime's verdict is decided only where the
    interval of its ratio (paired by round, at convbench.ranking.CONFIDENCE) lies wholly on one side of the claim's
    threshold, and is undecided where it straddles it; without, the median's ratio decides."""
    times = times_at_largest_channels(results)
    ratios = vs_conv3x3(times) if not times.empty and "conv3x3" in times else pd.DataFrame()
    unstable = unstable_keys(results)
    by_round = round_ratios(results, rounds) if rounds else {}
    return [_judge(test, times, ratios, unstable, by_round) for test in TESTS]


def round_ratios(results: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> dict[tuple, pd.DataFrame]:
    """Per runtime (GROUP) at its largest channel count: each conv type's time over conv3x3's in each round (rows:
    rounds with a conv3x3 time). A row of the `fastest` pseudo-runtime is found by the runtime it was picked from."""
    out = {}
    for key, rows in ok_at_largest_channels(results).groupby(GROUP, sort=False):
        per_variant = {}
        for row in rows.itertuples(index=False):
            runtime = getattr(row, "ranked_runtime", row.runtime)
            source = getattr(row, "ranked_source", row.source)
            row_key = (row.stack_id, runtime, source, row.device, getattr(row, "machine", ""))
            per_variant[row.variant] = rounds.get(row_key, {})
        table = pd.DataFrame(per_variant)
        if REFERENCE_VARIANT in table:
            out[key] = table.div(table[REFERENCE_VARIANT], axis=0).dropna(subset=[REFERENCE_VARIANT])
    return out


def _decide(test: _Test, ratios_by_round: pd.DataFrame | None, channels: int) -> tuple[str | None, Interval | None]:
    """("holds" | "does not hold" | "undecided", the interval) where rounds allow an interval of the test's ratio
    (undecided where the claim holds at some values of the interval and not at others); (None, None) where not."""
    if ratios_by_round is None or not set(test.needs) <= set(ratios_by_round.columns):
        return None, None
    values = ratios_by_round.dropna(subset=list(test.needs)).apply(test.ratio, axis=1).astype(float).to_numpy()
    interval = mean_interval(values)
    if interval is None:
        return None, None
    verdicts = {test.holds(float(x), channels) for x in np.linspace(*interval, 41)}
    return ("undecided" if len(verdicts) > 1 else "holds" if verdicts.pop() else "does not hold"), interval


def undecided_claim_keys(results: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> set[tuple[str, ...]]:
    """The row keys behind every undecided verdict of `results` (each runtime at its largest channel count): the
    cases of the conv types the claim's ratio needs and of conv3x3, for a further round (convbench.bench's extra
    rounds). A row of the fastest pseudo-runtime is keyed by the runtime it was picked from."""
    wanted: set[tuple[str, ...]] = set()
    by_round = round_ratios(results, rounds)
    for key, rows in ok_at_largest_channels(results).groupby(GROUP, sort=False):
        channels, device = int(rows["channels"].max()), str(rows["device"].iloc[0])
        for test in TESTS:
            if device in test.devices and _decide(test, by_round.get(key), channels)[0] == "undecided":
                needed = rows[rows["variant"].isin([*test.needs, REFERENCE_VARIANT])]
                if "ranked_runtime" in needed:
                    needed = needed.assign(runtime=needed["ranked_runtime"], source=needed["ranked_source"])
                wanted |= set(row_keys(needed))
    return wanted


def unstable_keys(results: pd.DataFrame) -> set[tuple[str, str, str, int, str]]:
    """(runtime, source, device, channels, variant) of every ok case flagged unstable."""
    if "unstable" not in results:
        return set()
    flagged = results[(results["status"] == "ok") & results["unstable"].eq(True)]
    return {(*key, int(c), v) for *key, c, v in flagged[[*GROUP, "channels", "variant"]].itertuples(index=False)}


def _judge(test: _Test, times: pd.DataFrame, ratios: pd.DataFrame,
           unstable: set[tuple[str, str, str, int, str]], by_round: dict[tuple, pd.DataFrame]) -> Finding:
    if ratios.empty:
        return Finding(test.claim, "Not measured: the run has no conv3x3 timing to compare with.")
    devices = times.index.get_level_values("device")
    measured = all(need in ratios.columns for need in test.needs)
    rows = ratios[devices.isin(test.devices)].dropna(subset=list(test.needs)) if measured else ratios.iloc[:0]
    if rows.empty:
        where = " or ".join(test.devices)
        return Finding(test.claim, f"Not measured: the run has no {where} timings of "
                                   f"{', '.join(test.needs)} and conv3x3.")
    verdicts = []  # (name, value, "holds" | "does not hold" | "undecided", interval text)
    shaky = []
    for key, row in rows.iterrows():
        value = float(test.ratio(row))
        channels = int(times.loc[key, "channels"])
        decided, interval = _decide(test, by_round.get(key), channels)
        if decided is None or interval is None:  # no interval: the median's ratio decides
            verdict = "holds" if test.holds(value, channels) else "does not hold"
            what = f"{label(*key)} {value:.2f}x"
        else:
            verdict = decided
            what = f"{label(*key)} {value:.2f}x ({interval[0]:.2f}-{interval[1]:.2f})"
        verdicts.append((verdict, what))
        shaky += [f"{label(*key)} {v}" for v in (*test.needs, REFERENCE_VARIANT) if (*key, channels, v) in unstable]
    held = [what for verdict, what in verdicts if verdict == "holds"]
    not_held = [what for verdict, what in verdicts if verdict == "does not hold"]
    undecided = [what for verdict, what in verdicts if verdict == "undecided"]
    channels = int(times.loc[rows.index, "channels"].max())
    if len(held) == len(verdicts):
        verdict = f"Holds in all {len(verdicts)} runtimes measured"
    elif len(not_held) == len(verdicts):
        verdict = f"Does not hold in any of the {len(verdicts)} runtimes measured"
    elif len(undecided) == len(verdicts):
        verdict = f"Undecided in all {len(verdicts)} runtimes measured"
    else:
        verdict = f"Holds in {len(held)} of {len(verdicts)} runtimes" + (
            f", undecided in {len(undecided)}" if undecided else "")
    parts = [f"{verdict} (C={channels}; {test.expectation(channels)})."]
    if held:
        parts.append(f"Holds: {', '.join(held)}.")
    if not_held:
        parts.append(f"Does not hold: {', '.join(not_held)}.")
    if undecided:
        parts.append(f"Undecided (the interval of the ratio, paired by round at {CONFIDENCE:.0%}, straddles the "
                     f"threshold): {', '.join(undecided)}.")
    if shaky:
        parts.append(f"Rests on cases whose processes disagreed (unstable): {', '.join(shaky)}.")
    return Finding(test.claim, " ".join(parts), len(held), len(verdicts), bool(shaky), len(undecided))
