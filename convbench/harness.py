"""The one timing harness for every runtime: warm-up, calibration, throughput samples, latencies, statistics.

A runtime hands the harness a zero-argument `forward` that issues one forward and returns its output, and, if
that output may still be in flight on a device when `forward` returns, a `sync(output)` that waits for it.

- **Throughput** (`ms_per_forward`): each sample issues `iterations` forwards back to back and waits for the
  device once, at the end; the sample's time over `iterations`. Timed by the host clock, or by a runtime's device
  clock (CUDA events) where it has one.
- **Latency**: each forward synchronised and timed on its own by the host clock. For a synchronous forward (no
  `sync`) the forwards of the throughput samples are those forwards, each lap timed; otherwise a separate phase
  of single forwards takes `latency_share` of the budget.
- **Energy** (where a cumulative energy counter is given, convbench.energy): a last phase of forwards back to back
  for at least `energy_seconds`, the counter read after every few milliseconds of them; the energy and the time and
  the forwards between its first and its last update in that phase. Hardware counters advance in steps (NVML's
  every few tens of milliseconds), so a window read at arbitrary times is off by up to a step at each end: a 0.3 s
  window read 1,023 W on an H100 whose limit is 700 W.

The harness never knows which framework it times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from convbench.errors import BadInput

Sync = Callable[[Any], None]


@dataclass(frozen=True)
class TimingConfig:
    """How long to warm up and to time one case (seconds), how many samples, and in how many processes.

    `budget_seconds` is the timed samples' total for one case, shared by its `processes`: each process times
    `budget_seconds / processes` (more processes give a truer spread, not a longer sweep)."""

    warmup_iterations: int = 1  # at least this many forwards before timing (after the timed first forward)...
    warmup_seconds: float = 0.1  # ...and at least this long (per process), so autotuners and caches settle
    sample_seconds: float = 0.1  # each throughput sample runs enough forwards to last at least this long
    budget_seconds: float = 1.2  # timed samples of one case aim at this total, over all its processes
    min_samples: int = 2  # per process
    max_samples: int = 20  # per process
    processes: int = 3  # fresh worker processes that each time every case
    latency_share: float = 0.25  # of a process's budget, for single forwards where forward() returns early
    min_latency_forwards: int = 10
    max_latency_forwards: int = 1000
    energy_seconds: float = 1.0  # with an energy counter: forwards back to back at least this long between two of
    # its updates (per process; convbench.energy)

    def __post_init__(self) -> None:
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise BadInput(f"max samples {self.max_samples} is below min samples {self.min_samples} (or min "
                             "samples below 1); give 1 <= --min-samples <= --max-samples")
        if self.processes < 1:
            raise BadInput(f"need at least one process, got {self.processes}")
        if not self.energy_seconds > 0:
            raise BadInput(f"--energy-seconds must be above 0, got {self.energy_seconds}")

    @property
    def process_budget_seconds(self) -> float:
        return self.budget_seconds / self.processes


class Clock(Protocol):
    """Times a throughput sample: start() before its first forward, stop(token, last output) -> seconds, once
    the device is done with every forward issued since start()."""

    def start(self) -> Any: ...

    def stop(self, token: Any, last_output: Any) -> float: ...


class HostClock:
    """perf_counter around the sample, the device synchronised on the last output before reading it."""

    def __init__(self, sync: Sync | None) -> None:
        self.sync = sync

    def start(self) -> float:
        return time.perf_counter()

    def stop(self, token: float, last_output: Any) -> float:
        if self.sync is not None:
            self.sync(last_output)
        return time.perf_counter() - token


@dataclass(frozen=True)
class EnergyWindow:
    """What an energy counter counted between two of its updates while forwards ran back to back."""

    energy_mj: float  # 0 where the counter did not move twice within the phase's time
    seconds: float  # wall time between the two updates (or the whole phase, where it did not move twice)
    forwards: int  # forwards issued between them


ENERGY_POLL_SECONDS = 0.005  # the counter is read after (synchronised) groups of forwards this long
ENERGY_PATIENCE = 3.0  # the phase gives up after this many times energy_seconds (plus 1 s) without two updates


def energy_window(forward: Callable[[], Any], sync: Sync | None, meter: Callable[[], float], per_forward_s: float,
                  min_seconds: float) -> EnergyWindow:
    """Forwards back to back, the meter read after each synchronised group of about ENERGY_POLL_SECONDS, until at
    least `min_seconds` lie between the counter's first update and its latest. An update is placed midway between the
    reading that saw it and the one before, with the forwards issued up to that point."""
    group = max(1, math.ceil(ENERGY_POLL_SECONDS / max(per_forward_s, 1e-9)))
    deadline = time.perf_counter() + ENERGY_PATIENCE * min_seconds + 1.0
    previous_value, previous_time, forwards = meter(), time.perf_counter(), 0
    began = previous_time
    first: tuple[float, float, float] | None = None  # (counter mJ, seconds, forwards) at its first update
    last: tuple[float, float, float] | None = None
    while True:
        out = None
        for _ in range(group):
            out = forward()
        if sync is not None:
            sync(out)
        forwards += group
        value, now = meter(), time.perf_counter()
        if value != previous_value:
            update = (value, (previous_time + now) / 2, forwards - group / 2)
            first, last = (update, None) if first is None else (first, update)
            previous_value = value
        previous_time = now
        if now > deadline or (first is not None and last is not None and last[1] - first[1] >= min_seconds):
            break
    if first is None or last is None:
        return EnergyWindow(0.0, now - began, forwards)
    return EnergyWindow(last[0] - first[0], last[1] - first[1], round(last[2] - first[2]))


@dataclass(frozen=True)
class Measurement:
    """One process's timing of one case: throughput samples and single-forward latencies, in milliseconds."""

    ms_per_forward_samples: tuple[float, ...]
    iterations: int  # forwards per throughput sample
    warmup_forwards: int
    latency_ms: tuple[float, ...]  # single forwards, each synchronised
    energy: EnergyWindow | None = None  # where a meter was given

    @property
    def samples(self) -> int:
        return len(self.ms_per_forward_samples)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.ms_per_forward_samples))

    @property
    def iqr_ms(self) -> float:
        q25, q75 = np.percentile(self.ms_per_forward_samples, [25, 75])
        return float(q75 - q25)

    @property
    def min_ms(self) -> float:
        return float(min(self.ms_per_forward_samples))

    @property
    def cv(self) -> float:
        """Coefficient of variation of the samples (standard deviation over mean, a fraction)."""
        values = np.asarray(self.ms_per_forward_samples)
        return float(values.std() / values.mean()) if values.mean() > 0 else float("nan")

    def latency_percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q))

    def __str__(self) -> str:
        return (
            f"{self.median_ms:.3f} ms/forward (median of {self.samples} x {self.iterations}, "
            f"IQR {self.iqr_ms:.3f} ms, cv {self.cv:.1%}); latency p50 {self.latency_percentile_ms(50):.3f} ms "
            f"of {len(self.latency_ms)} forwards"
        )


def _synced(forward: Callable[[], Any], sync: Sync | None) -> float:
    """Seconds for one forward, synchronised."""
    t0 = time.perf_counter()
    out = forward()
    if sync is not None:
        sync(out)
    return time.perf_counter() - t0


def measure(forward: Callable[[], Any], config: TimingConfig, sync: Sync | None = None,
            clock: Clock | None = None, budget_seconds: float | None = None,
            meter: Callable[[], float] | None = None) -> Measurement:
    """Warm up, calibrate forwards per sample from the last warm-up forward, time throughput samples, then
    latencies. `budget_seconds` (default: the config's per-process share) is what the timed phases aim at.
    `meter`: a cumulative energy counter (millijoules, convbench.energy), read in a last phase (energy_window)."""
    budget = config.process_budget_seconds if budget_seconds is None else budget_seconds
    warmup_forwards = 0
    start = time.perf_counter()
    last_forward_s = 0.0
    while warmup_forwards < config.warmup_iterations or time.perf_counter() - start < config.warmup_seconds:
        last_forward_s = _synced(forward, sync)
        warmup_forwards += 1

    per_forward_s = max(last_forward_s, 1e-9)
    latency_budget = budget * config.latency_share if sync is not None else 0.0
    iterations = max(1, math.ceil(config.sample_seconds / per_forward_s))
    wanted = int((budget - latency_budget) / (iterations * per_forward_s))
    n_samples = min(config.max_samples, max(config.min_samples, wanted))

    samples: list[float] = []
    laps: list[float] = []
    if sync is None:  # synchronous forwards: every lap of a sample is one forward's latency
        for _ in range(n_samples):
            t0 = previous = time.perf_counter()
            for _ in range(iterations):
                forward()
                now = time.perf_counter()
                laps.append(now - previous)
                previous = now
            samples.append((previous - t0) / iterations)
    else:
        timer = clock or HostClock(sync)
        for _ in range(n_samples):
            token = timer.start()
            out = None
            for _ in range(iterations):
                out = forward()
            samples.append(timer.stop(token, out) / iterations)
    if sync is not None:  # forwards that return early: a separate phase of single, synchronised forwards
        wanted_latencies = int(latency_budget / per_forward_s)
        n_latencies = min(config.max_latency_forwards, max(config.min_latency_forwards, wanted_latencies))
        laps = [_synced(forward, sync) for _ in range(n_latencies)]
    energy = energy_window(forward, sync, meter, per_forward_s, config.energy_seconds) if meter else None
    return Measurement(tuple(s * 1e3 for s in samples), iterations, warmup_forwards, tuple(x * 1e3 for x in laps),
                       energy)
