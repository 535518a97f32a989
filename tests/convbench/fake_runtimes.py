"""Test-only runtimes, registered by the tests that use them (never in the shipped registry): each returns the
reference output, so parity passes, and misbehaves on conv3x3 in its own way."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from convbench.errors import Skip
from convbench.runners.base import Prepared, Runner


class _ReturnsTheReference(Runner):
    def available(self, device: str) -> Skip | None:
        return None

    def prepare(self, case, artifacts) -> Prepared:
        reference = np.load(artifacts.reference_path(case.workload))
        if case.workload.variant == "conv3x3":
            self.misbehave()
        return Prepared(self.forward(case, reference), lambda out: out)

    def misbehave(self) -> None:
        return None

    def forward(self, case, reference):
        return lambda: reference


class Hangs(_ReturnsTheReference):
    """conv3x3's forward never returns."""

    def forward(self, case, reference):
        def forward():
            if case.workload.variant == "conv3x3":
                time.sleep(3600)
            return reference

        return forward


class DiesMidCase(_ReturnsTheReference):
    """The worker is killed with SIGKILL while setting up conv3x3, as the kernel's OOM killer would."""

    def misbehave(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class OutOfMemory(_ReturnsTheReference):
    """conv3x3 raises what PyTorch raises when the GPU is full."""

    def misbehave(self) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (pretend)")


class WrongBackward(_ReturnsTheReference):
    """A training step whose gradients are PyTorch's own (read from the reference) except conv3x3's last layer's,
    which is doubled: a backward that is wrong in one weight's gradient. Its step counts its calls, so a test can
    tell whether conv3x3's was ever timed."""

    def prepare_train(self, case, artifacts) -> Prepared:
        from convbench import passes

        gradients = passes.reference(case, artifacts)
        if case.workload.variant == "conv3x3":
            last = list(gradients)[-1]
            gradients = {**gradients, last: 2 * gradients[last]}
        calls = []

        def step():
            calls.append(1)
            if case.workload.variant == "conv3x3" and len(calls) > 1:  # parity took the first; a second is timing
                raise AssertionError("a step whose gradients failed parity was timed")
            return gradients

        return Prepared(step, lambda out: out, gradients=lambda out: out)


class _Sleeps(_ReturnsTheReference):
    """A forward that takes a known time: it sleeps `ms` (a sleep's length does not depend on what else the CPU
    runs, so the answer of a ranking is known: equal sleeps tie, a twice as long one is slower in every round)."""

    ms = 2.0

    def forward(self, case, reference):
        def forward():
            time.sleep(self.ms / 1e3)
            return reference

        return forward


class SleepsTwoMs(_Sleeps):
    ms = 2.0


class SleepsTwoMsToo(_Sleeps):
    ms = 2.0


class SleepsFourMs(_Sleeps):
    ms = 4.0
