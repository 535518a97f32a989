"""onnxruntime on an exported ONNX file: CPUExecutionProvider (CUDAExecutionProvider on --device cuda)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from convbench.artifacts import FRAMEWORK_LAYOUT, ONNX_EXPORTERS, Artifacts
from convbench.models.weights import make_input, nchw_to_nhwc, nhwc_to_nchw
from convbench.runners.base import Prepared, Skip
from convbench.spec import Case

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OrtRunner:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def available(self, device: str) -> str | None:
        provider = PROVIDERS[device]
        if provider not in ort.get_available_providers():
            return f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu for cuda)"
        return None

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        framework = ONNX_EXPORTERS[case.source]
        path = artifacts.onnx_path(framework, case.spec)
        if not path.exists():
            raise Skip(f"no ONNX file {path}: run `convbench export` for this sweep first")
        session = ort.InferenceSession(
            str(path), sess_options=session_options(self.threads), providers=[PROVIDERS[case.device]]
        )
        input_name = session.get_inputs()[0].name
        channels_last = FRAMEWORK_LAYOUT[framework] == "NHWC"
        x = make_input(case.spec)
        feed = {input_name: nchw_to_nhwc(x) if channels_last else x}

        def forward() -> list[np.ndarray]:
            return session.run(None, feed)

        def to_nchw(outputs: list[np.ndarray]) -> np.ndarray:
            return nhwc_to_nchw(outputs[0]) if channels_last else outputs[0]

        return Prepared(
            forward,
            to_nchw,
            {
                "providers": session.get_providers(),
                "intra_op_threads": self.threads,
                "inter_op_threads": 1,
                "graph_optimization_level": "ORT_ENABLE_ALL",
                "io": "numpy in/out",
            },
        )
