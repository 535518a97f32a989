"""OpenVINO on the CPU, reading the same exported ONNX files as onnxruntime: one synchronous infer request,
float32 inference precision (OpenVINO would pick bfloat16 on CPUs with AMX), latency hint, one stream, the
same thread count as every other CPU runtime. Kernel times come from OpenVINO's own per-node perf counters."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.models.weights import nhwc_to_nchw
from convbench.runners.base import Prepared, Runner
from convbench.runners.onnx_files import onnx_file_and_input
from convbench.runners.profile_openvino import openvino_kernel_time
from convbench.runners.profilers import KernelTime
from convbench.spec import Case


class OpenVinoCpu(Runner):
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.core = ov.Core()

    def available(self, device: str) -> Skip | None:
        if device != "cpu":
            return Skip("convbench times OpenVINO on the CPU only")
        if "CPU" not in self.core.available_devices:
            return Skip(f"OpenVINO {ov.get_version()} lists no CPU device")
        return None

    def config(self, profile: bool = False) -> dict[str, object]:
        return {props.inference_num_threads: self.threads, props.num_streams: 1,
                hints.inference_precision: ov.Type.f32, hints.performance_mode: hints.PerformanceMode.LATENCY,
                props.enable_profiling: profile}

    def compile(self, path: Path, profile: bool = False) -> ov.CompiledModel:
        return self.core.compile_model(self.core.read_model(str(path)), "CPU", self.config(profile))

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        path, x, channels_last = onnx_file_and_input(case, artifacts)
        start = time.perf_counter()
        compiled = self.compile(path)
        compile_ms = (time.perf_counter() - start) * 1e3
        request = compiled.create_infer_request()
        tensor = ov.Tensor(x)

        def forward() -> np.ndarray:
            request.infer({0: tensor})
            return request.get_output_tensor(0).data

        def to_nchw(out: np.ndarray) -> np.ndarray:
            out = np.array(out, dtype=np.float32)
            return nhwc_to_nchw(out) if channels_last else out

        options = {"device": "CPU", "openvino": ov.get_version(), "inference_num_threads": self.threads,
                   "num_streams": 1, "inference_precision": str(compiled.get_property(hints.inference_precision)),
                   "performance_hint": "LATENCY", "api": "InferRequest.infer (synchronous)"}
        return Prepared(forward, to_nchw, options, compile_ms=compile_ms)

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        path, x, _ = onnx_file_and_input(case, artifacts)
        return openvino_kernel_time(self.compile(path, profile=True).create_infer_request(), x, forwards)
