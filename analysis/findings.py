"""The 2017 conclusions, re-tested on a run's numbers: each finding is computed, never a canned sentence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from convbench.analysis.ratios import GROUP, label, times_at_largest_channels, vs_conv3x3
from convbench.models.variants import REFERENCE_VARIANT, theoretical_vs_conv3x3


@dataclass(frozen=True)
class Finding:
    claim: str  # the 2017 conclusion
    text: str  # what this run says about it
    held: int = 0  # runtimes in which it holds...
    measured: int = 0  # ...of those that measured it
    unstable: bool = False  # whether a verdict rests on a case whose processes disagreed

    @property
    def verdict(self) -> str:
        """holds, does not hold, holds in k of n, or not measured."""
        if not self.measured:
            return "not measured"
        if self.held == self.measured:
            return "holds"
        return "does not hold" if not self.held else f"holds in {self.held} of {self.measured}"


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


def findings(results: pd.DataFrame) -> list[Finding]:
    times = times_at_largest_channels(results)
    ratios = vs_conv3x3(times) if not times.empty and "conv3x3" in times else pd.DataFrame()
    unstable = unstable_keys(results)
    return [_judge(test, times, ratios, unstable) for test in TESTS]


def unstable_keys(results: pd.DataFrame) -> set[tuple[str, str, str, int, str]]:
    """(runtime, source, device, channels, variant) of every ok case flagged unstable."""
    if "unstable" not in results:
        return set()
    flagged = results[(results["status"] == "ok") & results["unstable"].eq(True)]
    return {(*key, int(c), v) for *key, c, v in flagged[[*GROUP, "channels", "variant"]].itertuples(index=False)}


def _judge(test: _Test, times: pd.DataFrame, ratios: pd.DataFrame,
           unstable: set[tuple[str, str, str, int, str]]) -> Finding:
    if ratios.empty:
        return Finding(test.claim, "Not measured: the run has no conv3x3 timing to compare with.")
    devices = times.index.get_level_values("device")
    measured = all(need in ratios.columns for need in test.needs)
    rows = ratios[devices.isin(test.devices)].dropna(subset=list(test.needs)) if measured else ratios.iloc[:0]
    if rows.empty:
        where = " or ".join(test.devices)
        return Finding(test.claim, f"Not measured: the run has no {where} timings of "
                                   f"{', '.join(test.needs)} and conv3x3.")
    verdicts = []
    shaky = []
    for key, row in rows.iterrows():
        value = float(test.ratio(row))
        channels = int(times.loc[key, "channels"])
        verdicts.append((label(*key), value, test.holds(value, channels)))
        shaky += [f"{label(*key)} {v}" for v in (*test.needs, REFERENCE_VARIANT) if (*key, channels, v) in unstable]
    held = [f"{name} {value:.2f}x" for name, value, ok in verdicts if ok]
    not_held = [f"{name} {value:.2f}x" for name, value, ok in verdicts if not ok]
    channels = int(times.loc[rows.index, "channels"].max())
    if not not_held:
        verdict = f"Holds in all {len(verdicts)} runtimes measured"
    elif not held:
        verdict = f"Does not hold in any of the {len(verdicts)} runtimes measured"
    else:
        verdict = f"Holds in {len(held)} of {len(verdicts)} runtimes"
    parts = [f"{verdict} (C={channels}; {test.expectation(channels)})."]
    if held:
        parts.append(f"Holds: {', '.join(held)}.")
    if not_held:
        parts.append(f"Does not hold: {', '.join(not_held)}.")
    if shaky:
        parts.append(f"Rests on cases whose processes disagreed (unstable): {', '.join(shaky)}.")
    return Finding(test.claim, " ".join(parts), len(held), len(verdicts), bool(shaky))
