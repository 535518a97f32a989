"""Which runtimes are fastest, at a stated confidence, and how much faster, with an interval.

The runtimes compared in a case are timed in interleaved rounds (convbench.bench): round k runs process k of each.
A comparison of two runtimes is paired by round: the log of the ratio of their process medians in each round, whose
mean over rounds is the comparison's ratio (a geometric mean) and whose Student t interval at CONFIDENCE
(scipy.stats.t, n - 1 degrees of freedom) is its interval. The t interval, not a bootstrap: with the default 3
rounds a bootstrap's percentile interval is about the smallest to the largest of the 3 ratios, which excludes 1 for
two equal runtimes one time in four; the t interval keeps its confidence at any number of rounds (for ratios whose
logs are about normal: process medians are).

Against the best runtime of a case (by median), every other one is
- **beaten** where the interval lies wholly above 1 + TIE_MARGIN: slower by more than 5% at CONFIDENCE;
- **tied** where the interval lies wholly within 1 / (1 + TIE_MARGIN) .. 1 + TIE_MARGIN: not more than 5% apart;
- **undecided** otherwise: the interval straddles the margin, and more rounds would tell (convbench.bench's budget).
The fastest way of a case is the best and the runtimes tied with it; a case is decided where no runtime is
undecided. 5%: differences smaller than that are no answer a reader should act on, on machines whose fresh processes
disagree by 5-30%.

A run from before rounds were interleaved is paired by process index all the same; its processes of two runtimes
were minutes apart, and its intervals are the wider for it. Where fewer than two rounds pair (one process each),
there is no interval: such a runtime is neither tied nor beaten, it is not judged, and the answer says so."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from convbench.results import KEY_COLUMNS, row_keys

CONFIDENCE = 0.95
TIE_MARGIN = 0.05  # runtimes whose interval keeps them within 5% of each other are tied

Rounds = Mapping[int, float]  # a case's process medians (ms) by round (the process index)
Interval = tuple[float, float]


def mean_interval(values: Sequence[float] | np.ndarray) -> Interval | None:
    """The Student t interval at CONFIDENCE of the mean of per-round values; None where fewer than two rounds give
    one."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    mean, scale = float(values.mean()), float(stats.sem(values))
    if scale == 0:
        return mean, mean
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=scale)
    return float(low), float(high)


@dataclass(frozen=True)
class Ratio:
    """A's time over B's, paired by round: the geometric mean of the per-round ratios and its interval (NaN where
    fewer than two rounds pair)."""

    value: float
    low: float
    high: float
    rounds: int

    @property
    def judged(self) -> bool:
        """There is an interval (two rounds or more paired)."""
        return not math.isnan(self.low)

    @property
    def beaten(self) -> bool:
        """A is slower than B by more than TIE_MARGIN at CONFIDENCE."""
        return self.judged and self.low > 1 + TIE_MARGIN

    @property
    def tied(self) -> bool:
        """A and B are within TIE_MARGIN of each other at CONFIDENCE."""
        return self.judged and self.low >= 1 / (1 + TIE_MARGIN) and self.high <= 1 + TIE_MARGIN

    @property
    def undecided(self) -> bool:
        """The interval straddles TIE_MARGIN: more rounds would tell."""
        return self.judged and not self.beaten and not self.tied and self.high >= 1 / (1 + TIE_MARGIN)

    def speedup_text(self) -> str:
        """As a speed-up with its interval, e.g. "1.9x (1.5-2.4)"; the point only where there is no interval."""
        if math.isnan(self.low):
            return f"{self.value:.1f}x"
        low, high = (f"{v:.2g}" if v < 10 else f"{v:.0f}" for v in (self.low, self.high))
        return f"{self.value:.1f}x ({low}-{high})"


def round_values(processes: pd.DataFrame | None) -> dict[tuple[str, ...], dict[int, float]]:
    """Per row key, its ok processes' medians (ms) by round."""
    if processes is None or processes.empty or "process" not in processes:
        return {}
    ok = processes[processes["status"] == "ok"]
    values: dict[tuple[str, ...], dict[int, float]] = {}
    for key, process, ms in zip(row_keys(ok), ok["process"], ok["ms_per_forward"], strict=True):
        values.setdefault(key, {})[int(process)] = float(ms)
    return values


def paired_ratio(a: Rounds, b: Rounds, fallback: float = math.nan) -> Ratio:
    """A over B over the rounds both have (`fallback`, their medians' ratio, where none pair)."""
    rounds = sorted(set(a) & set(b))
    logs = np.log([a[k] / b[k] for k in rounds])
    if not len(logs):
        return Ratio(fallback, math.nan, math.nan, 0)
    value = float(np.exp(logs.mean()))
    interval = mean_interval(logs)
    if interval is None:
        return Ratio(value, math.nan, math.nan, len(logs))
    return Ratio(value, float(np.exp(interval[0])), float(np.exp(interval[1])), len(logs))


@dataclass(frozen=True)
class Ranking:
    """One case's runtimes ranked: `order` their rows fastest first (by median), `fastest` the best and the rows tied
    with it, `vs_best` each row's ratio to the best, by its label, `undecided` the labels neither tied nor beaten yet,
    `unjudged` those with no interval to judge them by."""

    order: pd.DataFrame
    fastest: pd.DataFrame
    vs_best: dict[str, Ratio]
    undecided: tuple[str, ...] = ()
    unjudged: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        """Every other runtime is tied with the best or beaten by it, at CONFIDENCE."""
        return not self.undecided and not self.unjudged

    @property
    def best(self) -> pd.Series:
        return self.order.iloc[0]

    @property
    def tied_within(self) -> float:
        """How far behind the best the slowest of the tied runtimes is, at its point ratio (0.02: 2%)."""
        return max(self.vs_best[label].value for label in self.fastest["label"]) - 1

    def fastest_text(self) -> str:
        """"a[x]", or "a[x] and b[y], tied within 2%" (at CONFIDENCE); then those not told apart from the best yet,
        and how many runtimes were not judged."""
        names = list(self.fastest["label"])
        text = names[0] if len(names) == 1 else (", ".join(names[:-1]) + f" and {names[-1]}, tied within "
                                                 f"{self.tied_within:.0%}")
        if self.undecided:
            more = f" and {len(self.undecided) - 2} more" if len(self.undecided) > 2 else ""
            text += f" (undecided against {', '.join(self.undecided[:2])}{more})"
        if self.unjudged:
            text += f" ({len(self.unjudged)} other(s) not judged: fewer than 2 rounds)"
        return text


def rank(cases: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> Ranking:
    """Rank the ok rows of one case (one workload, device, dtype, pass and machine; each row a runtime[source])."""
    ok = cases[cases["status"] == "ok"].sort_values("ms_per_forward", kind="stable")
    ok = ok.assign(label=ok["runtime"] + "[" + ok["source"] + "]")
    keys = row_keys(ok)
    best_key, best_ms = keys[0], float(ok["ms_per_forward"].iloc[0])
    vs_best = {label: paired_ratio(rounds.get(key, {}), rounds.get(best_key, {}), ms / best_ms)
               for label, key, ms in zip(ok["label"], keys, ok["ms_per_forward"], strict=True)}
    best = ok["label"].iloc[0]
    fastest = ok[[label == best or vs_best[label].tied for label in ok["label"]]]
    others = [label for label in ok["label"] if label != best]
    undecided = tuple(label for label in others if vs_best[label].undecided)
    unjudged = tuple(label for label in others if not vs_best[label].judged)
    return Ranking(ok, fastest, vs_best, undecided, unjudged)


def versus(rounds: Mapping[tuple[str, ...], Rounds], slower: pd.Series, faster: pd.Series) -> Ratio:
    """`slower`'s time over `faster`'s (two result rows of one case), paired by round."""
    key = tuple(str(slower[c]) for c in KEY_COLUMNS)
    other = tuple(str(faster[c]) for c in KEY_COLUMNS)
    return paired_ratio(rounds.get(key, {}), rounds.get(other, {}),
                        float(slower["ms_per_forward"]) / float(faster["ms_per_forward"]))


def count_decisions(rankings: Sequence[Ranking]) -> dict[str, int]:
    """How many cases were decided with one fastest runtime, decided as a tie, and left undecided."""
    decided = [r for r in rankings if r.decided]
    ties = sum(len(r.fastest) > 1 for r in decided)
    return {"one fastest": len(decided) - ties, "tie": ties, "undecided": len(rankings) - len(decided)}


# A case's processes fall in two modes where, split at the widest gap between their sorted medians, that gap is at
# least MODE_GAP and each side is tight (its own max over min at most MODE_TIGHT): the 2-core VMs' PyTorch
# processes land near 17 ms in about one fresh process in four and near 30 ms in the rest, a gap of 1.76x.
MODE_GAP = 1.3
MODE_TIGHT = 1.1


@dataclass(frozen=True)
class Mode:
    ms: float  # the median of the mode's process medians
    processes: int


def modes(process_ms: Sequence[float]) -> list[Mode]:
    """The modes of a case's process medians: one, or two where they fall in two tight clusters (MODE_GAP)."""
    values = sorted(float(v) for v in process_ms if not math.isnan(float(v)))
    if len(values) < 2:
        return [Mode(float(np.median(values)), len(values))] if values else []
    gaps = [values[i + 1] / values[i] for i in range(len(values) - 1)]
    at = int(np.argmax(gaps)) + 1
    fast, slow = values[:at], values[at:]
    if gaps[at - 1] >= MODE_GAP and fast[-1] / fast[0] <= MODE_TIGHT and slow[-1] / slow[0] <= MODE_TIGHT:
        return [Mode(float(np.median(fast)), len(fast)), Mode(float(np.median(slow)), len(slow))]
    return [Mode(float(np.median(values)), len(values))]


def modes_text(name: str, found: Sequence[Mode], against_ms: float | None = None) -> str:
    """"torch eager ran in two modes: 17 ms (1 of 3 processes) and 30 ms (2 of 3)", and, with `against_ms` (the
    fastest way's time), its speed-up over each mode."""
    total = sum(m.processes for m in found)
    fast, slow = found
    text = (f"{name} ran in two modes: {fast.ms:.3g} ms ({fast.processes} of {total} processes) and {slow.ms:.3g} ms "
            f"({slow.processes} of {total})")
    if against_ms:
        text += f": {fast.ms / against_ms:.1f}x over its fast mode, {slow.ms / against_ms:.1f}x over its slow one"
    return text


# The rows ranked against each other: one workload (its stack_id spells dtype, pass and sizes) on one device and
# machine, each row a runtime[source]. (convbench.schema.CASE_COLUMNS is one row's case on any machine.)
RANKED_TOGETHER = ["stack_id", "device", "machine"]


def undecided_keys(results: pd.DataFrame, processes: pd.DataFrame) -> set[tuple[str, ...]]:
    """The row keys a further round should time: in every case whose ranking is undecided, the best runtime and
    those not yet told apart from it (convbench.bench's extra rounds)."""
    if results.empty:
        return set()
    rounds = round_values(processes)
    ok = results[results["status"] == "ok"]
    wanted: set[tuple[str, ...]] = set()
    for _, cases in ok.groupby([c for c in RANKED_TOGETHER if c in ok], sort=False, dropna=False):
        ranking = rank(cases, rounds)
        if ranking.undecided:
            labels = {ranking.best["label"], *ranking.undecided}
            wanted |= {key for key, label in zip(row_keys(ranking.order), ranking.order["label"], strict=True)
                       if label in labels}
    return wanted
