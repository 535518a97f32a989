"""The Runner protocol: the one plug-in seam between a runtime and the timing harness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from convbench.artifacts import Artifacts
from convbench.harness import Clock, Sync
from convbench.spec import Case


class Skip(Exception):
    """Raised by prepare() when this case cannot run here; the message is the row's reason."""


@dataclass
class Prepared:
    """A case made ready to time.

    `forward()` issues one forward and returns its output. Where that output may still be in flight on a device
    when forward() returns (CUDA launches, JAX's async dispatch), `sync(output)` waits until the device is done
    with it; `sync` is None for a forward that returns only when its work is done (every CPU runtime, numpy
    outputs). `clock` times throughput samples on the device (CUDA events) where the runtime has one; the
    harness uses the host clock and `sync` otherwise."""

    forward: Callable[[], Any]
    to_nchw: Callable[[Any], np.ndarray]  # an output as a float32 NCHW numpy array, for the parity check
    options: dict[str, object] = field(default_factory=dict)  # runtime options in force, for the results
    sync: Sync | None = None
    clock: Clock | None = None
    compile_ms: float | None = None  # compilation / graph capture / tracing done inside prepare(), if separable


class Runner(Protocol):
    """One runtime. Constructed once per worker process with the intra-op thread count."""

    def __init__(self, threads: int) -> None: ...

    def available(self, device: str) -> str | None:
        """None if this runtime can run on `device` here, else the reason it cannot (a skip, never a crash)."""

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        """Build or load the model and its input for `case` (compiling it where the runtime compiles); raise Skip
        when it cannot run. Everything before the first forward happens here: it is timed as `setup_ms`."""

    # Optional: kernel_time(case, artifacts, forwards) -> runners.profilers.KernelTime, the kernel milliseconds
    # per forward from the runtime's own profiler, in a run separate from the timed one; the runner prepares
    # what it profiles itself (or nothing, where it cannot profile).
