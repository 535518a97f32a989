"""Host cost of the two ways to write a training step, where the host path is nearly all of the time.

convbench's step returns `torch.autograd.grad(out.float().sum(), [x, *weights])`; scripts/cuda-event-reference.py's
sets every .grad to None and calls `.backward()`. On the H200, convbench's compiled CUDA-graph step was 1.7-2.7%
slower than the reference's (docs/results/h200-keras-2026-12-02/NOTES.md). This times both on the CPU on a
torch.compile'd 16-layer conv1x1 stack of 8 channels at batch 1 and 4x4, one thread, alternating the two in 7
rounds of 2,000 steps after a warm-up, and prints each one's median and range in microseconds per step.

    python scripts/train-step-api-probe.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from convbench.models.torch_stack import build_torch_stack
from convbench.spec import SeedStack

ROUNDS, STEPS, WARMUP = 7, 2000, 200


def microseconds_per_step(step: Callable[[], object]) -> float:
    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    return (time.perf_counter() - start) / STEPS * 1e6


def main() -> None:
    torch.set_num_threads(1)
    model = build_torch_stack(SeedStack("conv1x1", 8, layers=16, batch=1, image=4, pass_="train"))
    weights = list(model.parameters())
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(1, 8, 4, 4, requires_grad=True)

    def by_grad() -> object:
        return torch.autograd.grad(compiled(x).float().sum(), [x, *weights])

    def by_backward() -> None:
        for tensor in (x, *weights):
            tensor.grad = None
        compiled(x).sum().backward()

    times: dict[str, list[float]] = {"autograd.grad": [], "backward": []}
    for _ in range(ROUNDS):
        times["autograd.grad"].append(microseconds_per_step(by_grad))
        times["backward"].append(microseconds_per_step(by_backward))
    for name, values in times.items():
        print(f"{name:14s} median {statistics.median(values):7.1f} us/step, range {min(values):.1f}-{max(values):.1f}")
    grad, backward = (statistics.median(values) for values in times.values())
    print(f"autograd.grad / backward: {grad / backward:.3f}")


if __name__ == "__main__":
    main()
