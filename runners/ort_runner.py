"""onnxruntime on an exported ONNX file: plain session.run with numpy in and out (CPU or CUDA execution
provider), and on CUDA also IO binding on device-resident tensors and the CUDA EP's CUDA-graph replay."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.models.weights import nhwc_to_nchw
from convbench.runners.base import Prepared, Runner
from convbench.runners.onnx_files import onnx_file_and_input
from convbench.runners.profile_ort import ort_kernel_time
from convbench.runners.profile_torch import cupti_kernel_time
from convbench.runners.profilers import KernelTime
from convbench.spec import Case

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OrtRunner(Runner):
    """InferenceSession.run(None, {input: numpy}): what most users write; on CUDA it copies in and out."""

    io_binding = False
    cuda_graph = False
    algo_search = "EXHAUSTIVE"  # cuDNN convolution algorithm search of the CUDA EP (EXHAUSTIVE, HEURISTIC, DEFAULT)
    prefer_nhwc = False  # the CUDA EP's NHWC convolution kernels (transposes the NCHW graph's layout itself)

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def available(self, device: str) -> Skip | None:
        provider = PROVIDERS[device]
        if provider not in ort.get_available_providers():
            return Skip(f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu for cuda)")
        return None

    def provider_options(self, device: str, tf32: bool = False) -> dict[str, str]:
        if device != "cuda":
            return {}
        # The algorithm search is set, never left to the release's default (which has changed between releases);
        # TF32 only for the tf32 dtype (the provider's default is on). Every option in force is recorded per row.
        options = {"device_id": "0", "cudnn_conv_algo_search": self.algo_search, "use_tf32": "1" if tf32 else "0",
                   "prefer_nhwc": "1" if self.prefer_nhwc else "0"}
        if self.cuda_graph:
            options["enable_cuda_graph"] = "1"
        return options

    def _providers(self, case: Case) -> list[tuple[str, dict[str, str]]]:
        return [(PROVIDERS[case.device], self.provider_options(case.device, case.workload.tf32))]

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        path, x, channels_last = onnx_file_and_input(case, artifacts)
        session = ort.InferenceSession(
            str(path), sess_options=session_options(self.threads), providers=self._providers(case)
        )
        if session.get_providers()[0] != PROVIDERS[case.device]:
            raise Skip(f"onnxruntime fell back to {session.get_providers()[0]} for {PROVIDERS[case.device]}")
        options = {
            "providers": session.get_providers(),
            "provider_options": session.get_provider_options().get(PROVIDERS[case.device], {}),
            "intra_op_threads": self.threads,
            "inter_op_threads": 1,
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "io": "IO binding, device tensors" if self.io_binding or self.cuda_graph else "numpy in/out",
        }
        if case.device == "cuda":
            options["tf32"] = options["provider_options"].get("use_tf32") == "1"
        if self.io_binding or self.cuda_graph:
            forward, fetch, sync = self._bound(session, x, case.device)
            options["run_sync"] = "skipped per run (disable_synchronize_execution_providers); outputs synchronised " \
                                  "where the harness needs them"
        else:
            (forward, fetch), sync = self._plain(session, x), None
        return Prepared(forward, lambda out: nhwc_to_nchw(fetch(out)) if channels_last else fetch(out), options,
                        sync=sync)

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        if case.device == "cuda":  # ORT's own profiler times CUDA nodes on the host; CUPTI sees the device
            prepared = self.prepare(case, artifacts)
            return cupti_kernel_time(prepared.forward, prepared.sync, forwards)
        path, x, _ = onnx_file_and_input(case, artifacts)
        return ort_kernel_time(path, session_options(self.threads), self._providers(case), x, forwards)

    @staticmethod
    def _plain(session: ort.InferenceSession, x: np.ndarray):
        feed = {session.get_inputs()[0].name: x}

        def forward() -> list[np.ndarray]:
            return session.run(None, feed)

        return forward, lambda outputs: outputs[0]

    @staticmethod
    def _bound(session: ort.InferenceSession, x: np.ndarray, device: str):
        """Input and output live on the device at fixed addresses (what CUDA-graph replay requires). Each run
        returns without waiting for the device (a run option); `sync` waits for the bound output."""
        x_device = ort.OrtValue.ortvalue_from_numpy(x, device, 0)
        out_device = ort.OrtValue.ortvalue_from_shape_and_type(_output_shape(session, x), x.dtype, device, 0)
        binding = session.io_binding()
        binding.bind_ortvalue_input(session.get_inputs()[0].name, x_device)
        binding.bind_ortvalue_output(session.get_outputs()[0].name, out_device)
        run_options = ort.RunOptions()
        run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")

        def forward() -> ort.OrtValue:
            session.run_with_iobinding(binding, run_options)
            return out_device

        def sync(_output: object) -> None:
            binding.synchronize_outputs()

        return forward, lambda value: value.numpy(), sync


def _output_shape(session: ort.InferenceSession, x: np.ndarray) -> tuple[int, ...]:
    """The first output's shape: from the file where it is static (convbench's exports are), else from one run. A
    network's output differs from its input (ResNet-50 at batch 1: 1x2048x7x7 from 1x3x224x224)."""
    shape = session.get_outputs()[0].shape
    if all(isinstance(d, int) for d in shape):
        return tuple(shape)
    return session.run(None, {session.get_inputs()[0].name: x})[0].shape


class OrtIOBinding(OrtRunner):
    io_binding = True


class OrtCudaGraph(OrtRunner):
    cuda_graph = True


class OrtCudaNhwc(OrtIOBinding):
    """IO binding with the CUDA EP's NHWC kernels (prefer_nhwc)."""

    prefer_nhwc = True


class OrtCudaHeuristic(OrtIOBinding):
    """IO binding with cuDNN's heuristic algorithm choice instead of the exhaustive search."""

    algo_search = "HEURISTIC"
