"""The Runner protocol: the one plug-in seam between a runtime and the timing harness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from convbench.artifacts import Artifacts
from convbench.spec import Case


class Skip(Exception):
    """Raised by prepare() when this case cannot run here; the message is the row's reason."""


@dataclass
class Prepared:
    """A case made ready to time."""

    forward: Callable[[], Any]  # runs one forward, returns when the device is done, returns the output
    to_nchw: Callable[[Any], np.ndarray]  # that output as a float32 NCHW numpy array, for the parity check
    options: dict[str, object] = field(default_factory=dict)  # runtime options in force, for the results


class Runner(Protocol):
    """One runtime. Constructed once per worker process with the intra-op thread count."""

    def __init__(self, threads: int) -> None: ...

    def available(self, device: str) -> str | None:
        """None if this runtime can run on `device` here, else the reason it cannot (a skip, never a crash)."""

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        """Build or load the model and its input for `case`; raise Skip when it cannot run."""

    # Optional: kernel_time(case, artifacts, forwards) -> runners.profilers.KernelTime, the kernel milliseconds
    # per forward from the runtime's own profiler, in a run separate from the timed one; the runner prepares
    # what it profiles itself (or nothing, where it cannot profile).
