"""The Runner protocol: the one plug-in seam between a runtime and the timing harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.harness import Clock, Sync
from convbench.spec import Case

if TYPE_CHECKING:
    from convbench.runners.profilers import KernelTime


@dataclass
class Prepared:
    """A case made ready to time.

    `forward()` issues one call of the case's pass and returns its result: one forward and its output, or (train
    pass, convbench.passes) one training step and its gradients, which `gradients(result)` turns into float32
    numpy arrays by name (the input's NCHW, each conv layer's in PyTorch's weight layout) for the parity check.
    Where that result may still be in flight on a device when forward() returns (CUDA launches, JAX's async
    dispatch), `sync(result)` waits until the device is done with it; `sync` is None for a call that returns only
    when its work is done (every CPU runtime, numpy outputs). `clock` times throughput samples on the device (CUDA
    events) where the runtime has one; the harness uses the host clock and `sync` otherwise."""

    forward: Callable[[], Any]
    to_nchw: Callable[[Any], np.ndarray]  # an output as a float32 NCHW numpy array, for the parity check (train:
    # no_output)
    options: dict[str, object] = field(default_factory=dict)  # runtime options in force, for the results
    sync: Sync | None = None
    clock: Clock | None = None
    compile_ms: float | None = None  # compilation / graph capture / tracing done inside prepare(), if separable
    compile_cache: str | None = None  # "cold" or "warm" where an on-disk compile cache may serve it (column doc)
    gradients: Callable[[Any], dict[str, np.ndarray]] | None = None  # train pass: a step's gradients by name


def no_output(_result: object) -> np.ndarray:
    """`to_nchw` of a training step, which returns gradients (see `gradients`), not an output."""
    raise TypeError("a training step returns gradients, not an output")


class Runner(ABC):
    """One runtime, constructed once per worker process with the intra-op thread count.

    What it can do is declared once, in its registry entry (convbench.runners.RuntimeInfo), which the parent reads
    without importing the framework: the passes it times (`inference_only`: no `prepare_train`), whether it has a
    kernel profiler (`no_profiler`: no `kernel_time`), the devices its default sweep includes. The worker calls a
    member only where the declaration says it exists; a test checks that every class overrides exactly the members
    its entry declares."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    @abstractmethod
    def available(self, device: str) -> Skip | None:
        """None if this runtime can run on `device` here, else a Skip saying why (a skipped row, never a crash)."""

    @abstractmethod
    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        """Build or load the model and its input for `case` (compiling it where the runtime compiles); raise Skip
        when it cannot run. Everything before the first forward happens here: it is timed as `setup_ms`."""

    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        """The same for one training step (convbench.passes says what it computes); only for a runtime whose entry
        has no `inference_only`."""
        raise NotImplementedError(f"{type(self).__name__} has no training step; its registry entry must say "
                                  "inference_only")

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        """The kernel milliseconds per forward from the runtime's own profiler, in a run separate from the timed one
        (the runner prepares what it profiles itself); only for a runtime whose entry has no `no_profiler`."""
        raise NotImplementedError(f"{type(self).__name__} has no profiler; its registry entry must say no_profiler")
