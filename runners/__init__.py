"""One Runner per runtime, behind a registry. Adding a runtime = one module here and one entry below."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from convbench.errors import BadInput, check_known
from convbench.runners.base import Runner


@dataclass(frozen=True)
class RuntimeInfo:
    name: str
    family: str  # runtimes of one family share a worker process
    sources: tuple[str, ...]  # the models it runs: "torch", "keras", or an ONNX exporter's name
    target: str  # "module:Class"; a bare module name is under convbench.runners
    requires: tuple[str, ...]  # importable modules it needs, in the order a worker imports them
    description: str
    default_on: tuple[str, ...] = ("cpu", "cuda")  # devices whose default sweep includes it
    setup_allowance_s: float = 120.0  # set-up time the per-case time limit allows on top of the timing
    inference_only: str | None = None  # why it has no training step (its train cases are skipped rows), if so
    no_profiler: str | None = None  # why it has no kernel profiler (its kernel columns say so), if so
    cuda_only: str | None = None  # why it runs on a CUDA device only (its cases elsewhere are skipped rows), if so
    own_workers: bool = False  # its cases get worker rounds of their own, after the rest of its family's (see
    # convbench.bench.worker_groups): a runtime that compiles for minutes per case holds back no other's results
    whole_models_on: tuple[str, ...] | None = None  # the same for a sweep of whole models (None: default_on)

    @property
    def passes(self) -> tuple[str, ...]:
        """The passes it times (convbench.passes)."""
        return ("forward",) if self.inference_only else ("forward", "train")

    @property
    def module_and_class(self) -> tuple[str, str]:
        module, class_name = self.target.split(":")
        return (module if "." in module else f"convbench.runners.{module}"), class_name


ONNX_INFERENCE = "runs ONNX files, which hold the forward only: inference, no training step"
LITERT_INFERENCE = "LiteRT runs .tflite files, which hold the forward only: inference, no training step"
LITERT_NO_PROFILER = "LiteRT's Python API exposes no per-op timing (its benchmark tool, a C++ binary, does)"
# Worker environment per family: Keras reads KERAS_BACKEND once, at import.
FAMILY_ENV: dict[str, dict[str, str]] = {
    "torch": {},
    "tensorflow": {"KERAS_BACKEND": "tensorflow"},
    "onnxruntime": {},
    "keras-jax": {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
    "keras-torch": {"KERAS_BACKEND": "torch"},
    "openvino": {},
    "litert": {},
}
CUDA = ("cuda",)
COMPILE_ALLOWANCE_S = 1800.0  # cold max-autotune: 3-34 s per seed stack on an H100, over 8 minutes per network
# (MobileNetV2 at batch 1, 2026-12-02) on an H200; a 2-core CPU compiles slower

RUNTIMES: dict[str, RuntimeInfo] = {
    r.name: r
    for r in (
        RuntimeInfo("torch", "torch", ("torch",), "torch_runner:TorchEager", ("torch",),
                    "PyTorch eager, inference mode"),
        RuntimeInfo("torch-cudnn-benchmark", "torch", ("torch",), "torch_runner:TorchCudnnBenchmark", ("torch",),
                    "PyTorch eager with torch.backends.cudnn.benchmark = True", CUDA,
                    cuda_only="cudnn.benchmark is a cuDNN setting: cuda only"),
        RuntimeInfo("torch-channels-last", "torch", ("torch",), "torch_runner:TorchChannelsLast", ("torch",),
                    "PyTorch eager, model and input in channels_last memory format"),
        RuntimeInfo("torch-channels-last-cudnn-benchmark", "torch", ("torch",),
                    "torch_runner:TorchChannelsLastCudnnBenchmark", ("torch",),
                    "PyTorch eager, channels_last, with torch.backends.cudnn.benchmark = True", CUDA,
                    cuda_only="cudnn.benchmark is a cuDNN setting: cuda only"),
        RuntimeInfo("torch-cuda-graph", "torch", ("torch",), "torch_runner:TorchCudaGraph", ("torch",),
                    "the whole forward captured once as a CUDA graph and replayed", CUDA,
                    cuda_only="CUDA-graph replay needs a CUDA device"),
        RuntimeInfo("torch-channels-last-cuda-graph", "torch", ("torch",), "torch_runner:TorchChannelsLastCudaGraph",
                    ("torch",), "channels_last, the whole forward captured as a CUDA graph and replayed", CUDA,
                    cuda_only="CUDA-graph replay needs a CUDA device"),
        RuntimeInfo("torch-cuda-graph-cudnn-benchmark", "torch", ("torch",),
                    "torch_runner:TorchCudaGraphCudnnBenchmark", ("torch",),
                    "a CUDA graph captured after cudnn.benchmark chose cuDNN's fastest algorithms", CUDA,
                    cuda_only="CUDA-graph replay needs a CUDA device"),
        RuntimeInfo("torch-channels-last-cuda-graph-cudnn-benchmark", "torch", ("torch",),
                    "torch_runner:TorchChannelsLastCudaGraphCudnnBenchmark", ("torch",),
                    "channels_last, a CUDA graph captured after cudnn.benchmark chose cuDNN's fastest algorithms",
                    CUDA, cuda_only="CUDA-graph replay needs a CUDA device"),
        RuntimeInfo("torch-compile", "torch", ("torch",), "torch_runner:TorchCompile", ("torch",),
                    "torch.compile (inductor), default mode", ("cpu", "cuda"), COMPILE_ALLOWANCE_S, own_workers=True),
        RuntimeInfo("torch-compile-max-autotune", "torch", ("torch",), "torch_runner:TorchCompileMaxAutotune",
                    ("torch",), "torch.compile mode max-autotune (on CUDA with CUDA graphs)", CUDA,
                    COMPILE_ALLOWANCE_S, own_workers=True),
        RuntimeInfo("torch-compile-cuda-graph", "torch", ("torch",), "torch_runner:TorchCompileCudaGraph",
                    ("torch",), "torch.compile mode reduce-overhead: inductor's kernels in CUDA graphs", CUDA,
                    COMPILE_ALLOWANCE_S, own_workers=True,
                    cuda_only="reduce-overhead compiles to CUDA graphs: cuda only"),
        RuntimeInfo("keras-tf", "tensorflow", ("keras",), "keras_runner:KerasTFFunction",
                    ("tensorflow", "keras"), "Keras on TensorFlow, forward compiled with tf.function"),
        RuntimeInfo("keras-predict", "tensorflow", ("keras",), "keras_runner:KerasPredict",
                    ("tensorflow", "keras"), "Keras on TensorFlow, model.predict as the seed timed it",
                    inference_only="model.predict runs inference only (keras-tf times the training step)"),
        RuntimeInfo("keras-jax", "keras-jax", ("keras",), "keras_backends:KerasJax", ("keras", "jax"),
                    "Keras on JAX, jax.jit of model.stateless_call", CUDA),
        RuntimeInfo("keras-torch", "keras-torch", ("keras",), "keras_backends:KerasTorch", ("keras", "torch"),
                    "Keras on its torch backend, eager model(x)", CUDA),
        RuntimeInfo("litert", "litert", ("tflite",), "litert_runner:LiteRT", ("ai_edge_litert",),
                    "LiteRT Interpreter with XNNPACK (its default CPU delegate) on the .tflite converted from Keras",
                    default_on=(), whole_models_on=("cpu",), inference_only=LITERT_INFERENCE,
                    no_profiler=LITERT_NO_PROFILER),
        RuntimeInfo("litert-builtin", "litert", ("tflite",), "litert_runner:LiteRTBuiltin", ("ai_edge_litert",),
                    "LiteRT Interpreter on its built-in kernels, default delegates off (what XNNPACK buys)",
                    default_on=(), whole_models_on=("cpu",), inference_only=LITERT_INFERENCE,
                    no_profiler=LITERT_NO_PROFILER),
        RuntimeInfo("ort", "onnxruntime", ("torch.onnx", "tf2onnx"), "ort_runner:OrtRunner",
                    ("onnxruntime",), "onnxruntime InferenceSession.run, numpy in and out, on each ONNX export",
                    inference_only=f"onnxruntime {ONNX_INFERENCE}"),
        RuntimeInfo("ort-iobinding", "onnxruntime", ("torch.onnx", "tf2onnx"), "ort_runner:OrtIOBinding",
                    ("onnxruntime",), "onnxruntime with IO binding on device-resident tensors", CUDA,
                    inference_only=f"onnxruntime {ONNX_INFERENCE}",
                    cuda_only="IO binding on device tensors is timed on cuda only (on the CPU it equals plain run)"),
        RuntimeInfo("ort-cuda-graph", "onnxruntime", ("torch.onnx", "tf2onnx"), "ort_runner:OrtCudaGraph",
                    ("onnxruntime",), "onnxruntime CUDA EP with enable_cuda_graph, IO binding", CUDA,
                    inference_only=f"onnxruntime {ONNX_INFERENCE}", cuda_only="the CUDA EP's CUDA graph needs cuda"),
        RuntimeInfo("ort-cuda-nhwc", "onnxruntime", ("torch.onnx", "tf2onnx"), "ort_runner:OrtCudaNhwc",
                    ("onnxruntime",), "onnxruntime CUDA EP, IO binding, NHWC kernels (prefer_nhwc)", CUDA,
                    inference_only=f"onnxruntime {ONNX_INFERENCE}",
                    cuda_only="prefer_nhwc is a CUDA EP option: cuda only"),
        RuntimeInfo("ort-cuda-heuristic", "onnxruntime", ("torch.onnx", "tf2onnx"), "ort_runner:OrtCudaHeuristic",
                    ("onnxruntime",), "onnxruntime CUDA EP, IO binding, cuDNN algorithm search HEURISTIC", CUDA,
                    inference_only=f"onnxruntime {ONNX_INFERENCE}",
                    cuda_only="cudnn_conv_algo_search is a CUDA EP option: cuda only"),
        RuntimeInfo("openvino", "openvino", ("torch.onnx", "tf2onnx"), "openvino_runner:OpenVinoCpu",
                    ("openvino",), "OpenVINO on the CPU (float32, latency hint) on each ONNX export", ("cpu",),
                    inference_only=f"OpenVINO {ONNX_INFERENCE}"),
    )
}
MODEL_SOURCES = list(dict.fromkeys(source for r in RUNTIMES.values() for source in r.sources))  # results' source column


def default_runtimes(device: str, whole_models: bool = False) -> list[str]:
    """The runtimes a sweep on `device` times when --runtimes is not given (`whole_models`: a sweep of --models, which
    LiteRT joins on the CPU: a deployed network is what it is for)."""
    return [name for name, info in RUNTIMES.items()
            if device in (info.whole_models_on if whole_models and info.whole_models_on is not None
                          else info.default_on)]


# Runner instances of this (worker) process, made on first use.
_RUNNERS: dict[str, Runner] = {}


def check_sources(names: list[str], runtimes: list[str]) -> list[str]:
    """--sources: known model sources, and none of `runtimes` left without one of them (a runtime that would time
    nothing is a usage error, not an empty sweep)."""
    check_known(names, MODEL_SOURCES, "source")
    for runtime in runtimes:
        if not set(RUNTIMES[runtime].sources) & set(names):
            raise BadInput(f"--sources {' '.join(names)} leaves {runtime} nothing to time: its sources are "
                             f"{', '.join(RUNTIMES[runtime].sources)}")
    return names


def check_runtimes(names: list[str]) -> list[str]:
    return check_known(names, list(RUNTIMES), "runtime")


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of `modules` that cannot be imported here, found without importing them."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def missing_requirement(info: RuntimeInfo) -> str | None:
    """Why the runtime's packages are not importable here; None if they are."""
    missing = missing_modules(info.requires)
    return f"{', '.join(missing)} not installed" if missing else None


def runner_class(info: RuntimeInfo) -> type[Runner]:
    """The Runner class of `info` (importing its module imports its framework)."""
    module_name, class_name = info.module_and_class
    return getattr(importlib.import_module(module_name), class_name)


def get_runner(info: RuntimeInfo, threads: int) -> Runner:
    """The runner instance of this process for `info` (made once: models and sessions stay per case). The
    parent hands a worker the RuntimeInfo itself, so the worker needs no registry of its own."""
    if info.name not in _RUNNERS:
        _RUNNERS[info.name] = runner_class(info)(threads)
    return _RUNNERS[info.name]


def import_requirements(modules: tuple[str, ...]) -> dict[str, float]:
    """Worker side: import `modules` in order; milliseconds each took (0 for one already imported)."""
    import time

    took = {}
    for module in modules:
        start = time.perf_counter()
        importlib.import_module(module)
        took[module] = (time.perf_counter() - start) * 1e3
    return took
