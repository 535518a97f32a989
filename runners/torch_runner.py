"""PyTorch in inference mode: eager (NCHW), eager with cudnn.benchmark, channels_last, and CUDA-graph replay."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch

from convbench.artifacts import Artifacts
from convbench.models.torch_stack import build_torch_stack
from convbench.models.weights import make_input
from convbench.runners.base import Prepared
from convbench.runners.cuda_clock import CudaEventClock
from convbench.runners.profilers import KernelTime, torch_kernel_time
from convbench.spec import Case


class TorchEager:
    """model(x) under torch.inference_mode(); on CUDA the harness synchronises (torch.cuda.synchronize) where it
    needs the device done, and times throughput samples with CUDA events."""

    cudnn_benchmark = False
    channels_last = False
    cuda_graph = False
    cuda_only: str | None = None  # why the mode needs a CUDA device, if it does

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # only allowed before the process's first parallel work
            torch.set_num_interop_threads(1)
        self.threads = threads

    def available(self, device: str) -> str | None:
        if device != "cuda":
            return self.cuda_only
        if not torch.cuda.is_available():
            return "torch sees no CUDA device"
        return None

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        device = torch.device(case.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark  # process-wide: set for every case
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        model = build_torch_stack(case.spec).to(device=device, memory_format=layout)
        x = torch.from_numpy(make_input(case.spec)).to(device).contiguous(memory_format=layout)
        compile_ms = None
        if self.cuda_graph:
            start = time.perf_counter()
            forward = self._graph_forward(model, x)
            compile_ms = (time.perf_counter() - start) * 1e3  # warm-up on a side stream and the capture
        else:
            forward = self._eager_forward(model, x)
        options: dict[str, object] = {
            "inference_mode": True,
            "memory_format": "channels_last" if self.channels_last else "contiguous (NCHW)",
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
        }
        if device.type == "cuda":
            options.update(cudnn_benchmark=torch.backends.cudnn.benchmark, cuda_graph=self.cuda_graph,
                           tf32=torch.backends.cudnn.allow_tf32,  # convolutions: cuDNN's flag (default on)
                           matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
        cuda = device.type == "cuda"
        return Prepared(forward, lambda out: out.detach().float().cpu().contiguous().numpy(), options,
                        sync=_cuda_sync if cuda else None, clock=CudaEventClock() if cuda else None,
                        compile_ms=compile_ms)

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        prepared = self.prepare(case, artifacts)
        return torch_kernel_time(prepared.forward, prepared.sync, forwards, cuda=case.device == "cuda")

    @staticmethod
    def _eager_forward(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], torch.Tensor]:
        def forward() -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

        return forward

    @staticmethod
    def _graph_forward(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], torch.Tensor]:
        """Capture the whole forward once as a CUDA graph; each call replays it (one launch for 16 layers)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # warm-up on a side stream before capture, as torch.cuda.graphs asks
                model(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = model(x)

        def forward() -> torch.Tensor:
            graph.replay()
            return static_out

        return forward


class TorchCudnnBenchmark(TorchEager):
    cudnn_benchmark = True
    cuda_only = "cudnn.benchmark is a cuDNN setting: cuda only"


class TorchChannelsLast(TorchEager):
    channels_last = True


class TorchCudaGraph(TorchEager):
    cuda_graph = True
    cuda_only = "CUDA-graph replay needs a CUDA device"


def _cuda_sync(_output: object) -> None:
    torch.cuda.synchronize()
