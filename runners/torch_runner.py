"""PyTorch in inference mode: eager (NCHW), eager with cudnn.benchmark, channels_last, CUDA-graph replay (NCHW or
channels_last), and torch.compile (inductor: default, max-autotune, and with CUDA graphs)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator

import torch

from convbench import passes
from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.models.torch_stack import TORCH_DTYPES, build_torch_stack, trained_tensors
from convbench.models.weights import make_input
from convbench.passes import INPUT_GRADIENT
from convbench.runners.base import Prepared, Runner, no_output
from convbench.runners.cuda_clock import CudaEventClock
from convbench.runners.profile_torch import torch_kernel_time
from convbench.runners.profilers import KernelTime
from convbench.spec import Case, WholeModel

Forward = Callable[[], torch.Tensor]
Step = Callable[[], tuple[torch.Tensor, ...]]  # one training step: the input's gradient, then each conv weight's
CUDA_GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")  # torch.compile modes that record CUDA graphs


class TorchEager(Runner):
    """model(x) under torch.inference_mode(); on CUDA the harness synchronises (torch.cuda.synchronize) where it
    needs the device done, and times throughput samples with CUDA events."""

    cudnn_benchmark = False
    channels_last = False
    cuda_graph = False

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # only allowed before the process's first parallel work
            torch.set_num_interop_threads(1)
        self.threads = threads

    def available(self, device: str) -> Skip | None:
        if device != "cuda":  # a mode that needs CUDA says so in the registry (RuntimeInfo.cuda_only)
            return None
        if not torch.cuda.is_available():
            return Skip("torch sees no CUDA device")
        return None

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        model, x, options = self._build(case)
        start = time.perf_counter()
        forward = self.make_forward(model, x, options)
        return self._prepared(forward, x, options, start,
                              to_nchw=lambda out: out.detach().float().cpu().contiguous().numpy())

    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        """One training step (convbench.passes): forward, the output's sum, torch.autograd.grad of it with respect
        to the input and every conv weight; nothing accumulates into .grad, and there is no optimizer."""
        model, x, options = self._build(case)
        x.requires_grad_(True)
        trained = trained_tensors(model, case.workload)
        weights, names = list(trained.values()), [INPUT_GRADIENT, *trained]
        what = "every parameter" if isinstance(case.workload, WholeModel) else "conv weights"
        options.update(inference_mode=False, step=f"autograd.grad(output.sum(), [input, *{what}])")
        start = time.perf_counter()
        step = self.make_step(model, x, weights, options)
        return self._prepared(step, x, options, start, to_nchw=no_output,
                              gradients=lambda grads: {n: g.detach().float().cpu().contiguous().numpy()
                                                       for n, g in zip(names, grads, strict=True)})

    def _build(self, case: Case) -> tuple[torch.nn.Module, torch.Tensor, dict[str, object]]:
        if case.workload.dtype not in TORCH_DTYPES:
            dtype = case.workload.dtype
            raise Skip(f"PyTorch runs {dtype} only as a quantised model; convbench times {dtype} "
                       "through the quantised ONNX files (ort, openvino)")
        device = torch.device(case.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark  # process-wide: set for every case
            # IEEE float32 for float32, TF32 on tensor cores for tf32 (torch's own default: TF32 convolutions)
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = case.workload.tf32
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        model = build_torch_stack(case.workload).to(device=device, memory_format=layout)
        x = torch.from_numpy(make_input(case.workload)).to(device, TORCH_DTYPES[case.workload.dtype]).contiguous(
            memory_format=layout)
        options: dict[str, object] = {
            "inference_mode": True,
            "memory_format": "channels_last" if self.channels_last else "contiguous (NCHW)",
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
        }
        if device.type == "cuda":
            options.update(cudnn_benchmark=torch.backends.cudnn.benchmark, cuda_graph=self.cuda_graph,
                           tf32=torch.backends.cudnn.allow_tf32,  # convolutions: cuDNN's flag
                           matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
        return model, x, options

    def _prepared(self, call: Callable[[], object], x: torch.Tensor, options: dict[str, object], start: float,
                  **outputs: object) -> Prepared:
        """`start`: when making `call` began (compiling or capturing, where the mode does)."""
        compile_ms = (time.perf_counter() - start) * 1e3 if self.compiles else None
        cuda = x.is_cuda
        return Prepared(call, options=options, sync=_cuda_sync if cuda else None,
                        clock=CudaEventClock() if cuda else None, compile_ms=compile_ms, **outputs)

    @property
    def compiles(self) -> bool:
        """Whether make_forward compiles or captures (its time is then `compile_ms`)."""
        return self.cuda_graph

    def make_forward(self, model: torch.nn.Module, x: torch.Tensor, options: dict[str, object]) -> Forward:
        if self.cuda_graph:
            return _graph_forward(model, x)

        def forward() -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

        return forward

    def make_step(self, model: torch.nn.Module, x: torch.Tensor, weights: list[torch.Tensor],
                  options: dict[str, object]) -> Step:
        def step() -> tuple[torch.Tensor, ...]:
            return torch.autograd.grad(model(x).float().sum(), [x, *weights])

        return _graph_step(step) if self.cuda_graph else step

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        prepared = passes.prepare(self, case, artifacts)
        return torch_kernel_time(prepared.forward, prepared.sync, forwards, cuda=case.device == "cuda",
                                 train=case.workload.pass_ == "train")


class TorchCudnnBenchmark(TorchEager):
    cudnn_benchmark = True


class TorchChannelsLast(TorchEager):
    channels_last = True


class TorchChannelsLastCudnnBenchmark(TorchChannelsLast):
    cudnn_benchmark = True


class TorchCudaGraph(TorchEager):
    cuda_graph = True


class TorchChannelsLastCudaGraph(TorchCudaGraph):
    channels_last = True


class TorchCudaGraphCudnnBenchmark(TorchCudaGraph):
    """The CUDA graph captured after warm-up forwards in which cudnn.benchmark timed cuDNN's algorithms and kept the
    fastest (what a GPU engineer tries first); the graph replays those."""

    cudnn_benchmark = True


class TorchChannelsLastCudaGraphCudnnBenchmark(TorchCudaGraphCudnnBenchmark):
    channels_last = True


class TorchCompile(TorchEager):
    """torch.compile (TorchInductor) of the whole stack, asked for one graph (fullgraph=True; a graph break
    falls back to fullgraph=False and is recorded). The first call compiles: it happens in prepare() and is
    `compile_ms`; later worker processes reuse inductor's on-disk cache, so their compile is warm (compile_cache
    says which a process's was)."""

    mode: str | None = None  # torch.compile's mode (None: "default")

    @property
    def compiles(self) -> bool:
        return True

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        return _noting_compile_cache(functools.partial(super().prepare, case, artifacts))

    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        return _noting_compile_cache(functools.partial(super().prepare_train, case, artifacts))

    def make_forward(self, model: torch.nn.Module, x: torch.Tensor, options: dict[str, object]) -> Forward:
        # Every case is a new nn.Sequential whose forward shares one code object: without a reset, dynamo's
        # recompile limit (8) fails the ninth stack a worker compiles under fullgraph=True.
        torch._dynamo.reset()
        graph_breaks = "none (fullgraph=True)"
        try:
            forward = self._compiled(model, x, fullgraph=True)
        except Exception as error:  # a graph break under fullgraph=True: compile the pieces instead
            graph_breaks = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            torch._dynamo.reset()
            forward = self._compiled(model, x, fullgraph=False)
        options.update(compiler="torch.compile (inductor)", compile_mode=self.mode or "default",
                       graph_breaks=graph_breaks)
        if x.is_cuda:  # inductor's CUDA-graph trees, not convbench's own capture
            options["cuda_graph"] = self.mode in CUDA_GRAPH_COMPILE_MODES
        return forward

    def make_step(self, model: torch.nn.Module, x: torch.Tensor, weights: list[torch.Tensor],
                  options: dict[str, object]) -> Step:
        """The forward compiled as for inference (outside inference mode), its backward by AOTAutograd, compiled on
        the first step, which happens here."""
        torch._dynamo.reset()
        compiled = torch.compile(model, mode=self.mode, fullgraph=True)
        cuda_graphs = x.is_cuda and self.mode in CUDA_GRAPH_COMPILE_MODES

        def step() -> tuple[torch.Tensor, ...]:
            if cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            return torch.autograd.grad(compiled(x).float().sum(), [x, *weights])

        grads = step()  # compiles forward and backward now
        if x.is_cuda:
            torch.cuda.synchronize()
        del grads
        options.update(compiler="torch.compile (inductor), backward by AOTAutograd",
                       compile_mode=self.mode or "default", graph_breaks="none (fullgraph=True)")
        if x.is_cuda:
            options["cuda_graph"] = cuda_graphs
        return step

    def _compiled(self, model: torch.nn.Module, x: torch.Tensor, fullgraph: bool) -> Forward:
        compiled = torch.compile(model, mode=self.mode, fullgraph=fullgraph)
        cuda_graphs = x.is_cuda and self.mode in CUDA_GRAPH_COMPILE_MODES

        def forward() -> torch.Tensor:
            if cuda_graphs:  # each call a new step of inductor's CUDA-graph trees (outputs of the last are reused)
                torch.compiler.cudagraph_mark_step_begin()
            with torch.inference_mode():
                return compiled(x)

        out = forward()  # compiles (and on CUDA, autotunes and records graphs) now, not in the first timed forward
        if x.is_cuda:
            torch.cuda.synchronize()
        del out
        return forward


class TorchCompileMaxAutotune(TorchCompile):
    mode = "max-autotune"  # on CUDA this includes CUDA graphs


class TorchCompileCudaGraph(TorchCompile):
    mode = "reduce-overhead"  # CUDA graphs around inductor's kernels


def _graph_forward(model: torch.nn.Module, x: torch.Tensor) -> Forward:
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


def _graph_step(step: Step) -> Step:
    """Capture a whole training step (forward, the output's sum, autograd.grad) once as a CUDA graph, as PyTorch's
    CUDA-graph notes capture a whole network's training step; each call replays it. The gradients are the
    graph's static outputs, overwritten by each replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream before capture (cuDNN picks its algorithms here)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_grads = step()

    def replay() -> tuple[torch.Tensor, ...]:
        graph.replay()
        return static_grads

    return replay


def _cuda_sync(_output: object) -> None:
    torch.cuda.synchronize()


def _noting_compile_cache(prepare: Callable[[], Prepared]) -> Prepared:
    """What `prepare` returns, with whether inductor's on-disk cache served the compiles inside it."""
    with inductor_cache_use() as cache:
        prepared = prepare()
    return dataclasses.replace(prepared, compile_cache=cache["state"])


@contextlib.contextmanager
def inductor_cache_use() -> Iterator[dict[str, str | None]]:
    """What inductor's on-disk FX graph cache did for the compiles inside the block, from dynamo's counters:
    state "cold" where inductor compiled at least one graph itself (a miss or a bypass; autotuning results may
    still come from its cache), "warm" where the cache served every graph, None where no graph was looked up."""
    from torch._dynamo.utils import counters

    def seen() -> tuple[int, int]:
        inductor = counters["inductor"]
        return inductor["fxgraph_cache_miss"] + inductor["fxgraph_cache_bypass"], inductor["fxgraph_cache_hit"]

    cache: dict[str, str | None] = {"state": None}
    misses, hits = seen()
    yield cache
    misses_now, hits_now = seen()
    cache["state"] = "cold" if misses_now > misses else "warm" if hits_now > hits else None
