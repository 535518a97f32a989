"""The one timing harness for every runtime: warm-up, calibration, samples, statistics.

A runtime hands the harness a zero-argument callable that runs one forward and returns only when the device
is done with it. The harness never knows which framework it times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimingConfig:
    """How long to warm up and to time one case (seconds) and how many samples to take."""

    warmup_iterations: int = 2  # at least this many forwards before timing...
    warmup_seconds: float = 0.3  # ...and at least this long, so autotuners and caches settle
    sample_seconds: float = 0.1  # each sample runs enough forwards to last at least this long
    budget_seconds: float = 3.0  # timed samples of one case aim at this total
    min_samples: int = 5
    max_samples: int = 20

    def __post_init__(self) -> None:
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError(f"need 1 <= min_samples <= max_samples, got {self.min_samples}, {self.max_samples}")


@dataclass(frozen=True)
class Measurement:
    """Per-sample times of one case in milliseconds per forward, and how they were taken."""

    ms_per_forward_samples: tuple[float, ...]
    iterations: int  # forwards per sample
    warmup_forwards: int

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

    def __str__(self) -> str:
        return (
            f"{self.median_ms:.3f} ms/forward (median of {self.samples} x {self.iterations}, "
            f"IQR {self.iqr_ms:.3f} ms, cv {self.cv:.1%})"
        )


def measure(forward: Callable[[], object], config: TimingConfig) -> Measurement:
    """Warm up, calibrate iterations per sample from the last warm-up forward, then time the samples."""
    warmup_forwards = 0
    start = time.perf_counter()
    last_forward_s = 0.0
    while warmup_forwards < config.warmup_iterations or time.perf_counter() - start < config.warmup_seconds:
        t0 = time.perf_counter()
        forward()
        last_forward_s = time.perf_counter() - t0
        warmup_forwards += 1

    per_forward_s = max(last_forward_s, 1e-9)
    iterations = max(1, math.ceil(config.sample_seconds / per_forward_s))
    wanted = int(config.budget_seconds / (iterations * per_forward_s))
    n_samples = min(config.max_samples, max(config.min_samples, wanted))

    samples = []
    for _ in range(n_samples):
        t0 = time.perf_counter()
        for _ in range(iterations):
            forward()
        samples.append((time.perf_counter() - t0) * 1e3 / iterations)
    return Measurement(tuple(samples), iterations, warmup_forwards)
