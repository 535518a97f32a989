"""PyTorch eager in inference mode, on the CPU or a CUDA device."""

from __future__ import annotations

import contextlib

import torch

from convbench.artifacts import Artifacts
from convbench.models.torch_stack import build_torch_stack
from convbench.models.weights import make_input
from convbench.runners.base import Prepared
from convbench.spec import Case


class TorchEager:
    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # only allowed before the process's first parallel work
            torch.set_num_interop_threads(1)
        self.threads = threads

    def available(self, device: str) -> str | None:
        if device == "cuda" and not torch.cuda.is_available():
            return "torch sees no CUDA device"
        return None

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        device = torch.device(case.device)
        model = build_torch_stack(case.spec).to(device)
        x = torch.from_numpy(make_input(case.spec)).to(device)
        sync = torch.cuda.synchronize if device.type == "cuda" else _no_sync

        def forward() -> torch.Tensor:
            with torch.inference_mode():
                out = model(x)
            sync()
            return out

        return Prepared(
            forward,
            lambda out: out.detach().cpu().numpy(),
            {"inference_mode": True, "intra_op_threads": torch.get_num_threads(),
             "inter_op_threads": torch.get_num_interop_threads()},
        )


def _no_sync() -> None:
    return None
