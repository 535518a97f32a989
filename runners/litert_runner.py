"""LiteRT (formerly TensorFlow Lite) on the CPU, on the .tflite files converted from the Keras models
(convbench.exporters.litert): one Interpreter, `--threads` threads, the input set and the output read back on every
call as an app would.

- `litert`: LiteRT's default CPU path, the XNNPACK delegate (OpResolverType.AUTO), as mobile apps ship it.
- `litert-builtin`: the same file on LiteRT's built-in kernels, no default delegate: what XNNPACK buys.

LiteRT's Python API exposes no per-op timing, so these rows have no kernel time (the reason is in the row)."""

from __future__ import annotations

from importlib import metadata

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.models.weights import make_input, nchw_to_nhwc, nhwc_to_nchw
from convbench.runners.base import Prepared, Runner
from convbench.runners.onnx_files import exported_file
from convbench.spec import Case


class LiteRT(Runner):
    resolver = OpResolverType.AUTO
    delegate = "XNNPACK (LiteRT's default CPU delegate)"

    def available(self, device: str) -> Skip | None:
        return None if device == "cpu" else Skip("convbench times LiteRT on the CPU only")

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        path = exported_file("litert", case, artifacts, ".tflite file", "convbench export --sources torch.onnx tflite")
        interpreter = Interpreter(model_path=str(path), num_threads=self.threads,
                                  experimental_op_resolver_type=self.resolver)
        interpreter.allocate_tensors()
        x = nchw_to_nhwc(make_input(case.workload)).astype(np.float32)  # int8 files quantise their float input
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]
        ops = [op["op_name"] for op in interpreter._get_ops_details()]

        def forward() -> np.ndarray:
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output_index)

        options = {"litert": metadata.version("ai-edge-litert"), "num_threads": self.threads,
                   "op_resolver": self.resolver.name, "delegate": self.delegate,
                   "delegated_ops": ops.count("DELEGATE"), "ops_after_delegation": len(ops),
                   "io": "set_tensor / invoke / get_tensor (numpy, NHWC)"}
        return Prepared(forward, lambda out: nhwc_to_nchw(np.asarray(out, dtype=np.float32)), options)


class LiteRTBuiltin(LiteRT):
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    delegate = "none: LiteRT's built-in kernels (default delegates off)"
