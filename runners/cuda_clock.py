"""A device clock for throughput samples on CUDA: two CUDA events around the sample, on the current stream."""

from __future__ import annotations

from typing import Any


class CudaEventClock:
    """start() records an event before the sample's first launch; stop() records one after its last and waits
    for it: the GPU time between the two, in seconds (what torch.utils.benchmark's CUDA timing reads)."""

    def __init__(self) -> None:
        import torch

        self._event = lambda: torch.cuda.Event(enable_timing=True)

    def start(self) -> Any:
        begin = self._event()
        begin.record()
        return begin

    def stop(self, token: Any, last_output: Any) -> float:
        end = self._event()
        end.record()
        end.synchronize()
        return token.elapsed_time(end) / 1e3
