"""Keras 3 on its JAX backend (a jit-compiled stateless forward) and on its torch backend (eager calls).

Each runs in a worker whose KERAS_BACKEND was set before keras was imported (see FAMILY_ENV)."""

from __future__ import annotations

import time

import keras

from convbench import passes
from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.models.keras_stack import build_keras_stack
from convbench.models.weights import make_input, nchw_to_nhwc, nhwc_to_nchw
from convbench.runners.base import Prepared, Runner, no_output
from convbench.runners.cuda_clock import CudaEventClock
from convbench.runners.keras_common import keras_spec, step_variables
from convbench.runners.profile_torch import cupti_kernel_time, torch_kernel_time
from convbench.runners.profilers import KernelTime, not_measured
from convbench.spec import Case

KERAS_DEVICE = {"cpu": "cpu:0", "cuda": "gpu:0"}


class _KerasBackend(Runner):
    backend = ""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def available(self, device: str) -> Skip | None:
        if keras.backend.backend() != self.backend:
            return Skip(f"Keras backend is {keras.backend.backend()!r} in this worker, not {self.backend!r}")
        if device == "cuda" and not self._sees_gpu():
            return Skip(f"Keras's {self.backend} backend sees no GPU")
        return None


class KerasJax(_KerasBackend):
    """jax.jit of model.stateless_call: XLA compiles the whole 16-layer forward once."""

    backend = "jax"

    def _sees_gpu(self) -> bool:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        import jax

        with keras.device(KERAS_DEVICE[case.device]):
            spec = keras_spec(case)
            model = build_keras_stack(spec)
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            x = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)), dtype=spec.dtype)
        start = time.perf_counter()  # XLA compiles ahead of time here, not inside the first forward
        compiled = jax.jit(lambda t, n, inputs: model.stateless_call(t, n, inputs, training=False)[0]).lower(
            trainable, non_trainable, x).compile()
        compile_ms = (time.perf_counter() - start) * 1e3

        def forward():
            return compiled(trainable, non_trainable, x)  # dispatched asynchronously

        return Prepared(forward, lambda out: nhwc_to_nchw(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))),
                        {"call": "jax.jit(model.stateless_call)", "jax_device": str(x.devices()),
                         # set per case by keras_spec: "highest" for float32, "tensorfloat32" for tf32
                         **({"tf32": case.workload.tf32,
                             "jax_matmul_precision": jax.config.jax_default_matmul_precision}
                            if case.device == "cuda" else {})},
                        sync=lambda out: out.block_until_ready(), compile_ms=compile_ms)

    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        """jax.jit of jax.value_and_grad over model.stateless_call, with respect to the trainable variables and the
        input: the output's sum in float32, and its gradients."""
        import jax

        spec = keras_spec(case)
        with keras.device(KERAS_DEVICE[case.device]):
            model = build_keras_stack(spec)
            kernels, named = step_variables(model, spec)
            trainable_vars = list(model.trainable_variables)
            kernel_index = [next(i for i, v in enumerate(trainable_vars) if v is k) for k in kernels]
            trainable = [v.value for v in trainable_vars]
            non_trainable = [v.value for v in model.non_trainable_variables]
            x = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)), dtype=spec.dtype)

        def loss(t, inputs):
            out = model.stateless_call(t, non_trainable, inputs, training=True)[0]
            return keras.ops.sum(keras.ops.cast(out, "float32"))

        start = time.perf_counter()
        compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(trainable, x).compile()
        compile_ms = (time.perf_counter() - start) * 1e3

        def call():
            return compiled(trainable, x)  # (loss, (weight gradients, input gradient)), dispatched asynchronously

        def gradients(result) -> dict:
            _, (weight_grads, input_grad) = result
            return named(jax.device_get(input_grad), [jax.device_get(weight_grads[i]) for i in kernel_index])

        return Prepared(call, no_output,
                        {"call": "jax.jit(jax.value_and_grad(loss of model.stateless_call))",
                         "jax_device": str(x.devices()),
                         **({"tf32": case.workload.tf32,
                             "jax_matmul_precision": jax.config.jax_default_matmul_precision}
                            if case.device == "cuda" else {})},
                        sync=lambda result: jax.block_until_ready(result), compile_ms=compile_ms, gradients=gradients)

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        if case.device != "cuda":
            return not_measured("XLA's CPU ops are invisible to CUPTI, and JAX's own profiler writes XPlane traces "
                                "that convbench does not read")
        prepared = passes.prepare(self, case, artifacts)
        return cupti_kernel_time(prepared.forward, prepared.sync, forwards)


class KerasTorch(_KerasBackend):
    """model(x) eagerly on the torch backend: every Keras layer call goes through Keras's machinery."""

    backend = "torch"

    def _sees_gpu(self) -> bool:
        import torch

        return torch.cuda.is_available()

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        import torch

        torch.set_num_threads(self.threads)
        with keras.device(KERAS_DEVICE[case.device]):
            spec = keras_spec(case)
            model = build_keras_stack(spec)
            x = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)), dtype=spec.dtype)
        cuda = case.device == "cuda"

        def forward():
            with torch.inference_mode():
                return model(x, training=False)

        return Prepared(forward, lambda out: nhwc_to_nchw(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))),
                        {"call": "model(x) eager", "torch_device": str(x.device),
                         "intra_op_threads": torch.get_num_threads(),
                         **({"tf32": torch.backends.cudnn.allow_tf32} if cuda else {})},
                        sync=(lambda _out: torch.cuda.synchronize()) if cuda else None,
                        clock=CudaEventClock() if cuda else None)

    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        """model(x, training=True) eagerly, then torch.autograd.grad of the output's sum (in float32) with respect
        to the input and every conv kernel (each a torch Parameter under Keras's variable)."""
        import torch

        torch.set_num_threads(self.threads)
        spec = keras_spec(case)
        with keras.device(KERAS_DEVICE[case.device]):
            model = build_keras_stack(spec)
            kernels, named = step_variables(model, spec)
            x = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)), dtype=spec.dtype)
        x.requires_grad_(True)
        weights = [k.value for k in kernels]
        cuda = case.device == "cuda"

        def call():
            return torch.autograd.grad(model(x, training=True).float().sum(), [x, *weights])

        def gradients(grads) -> dict:
            arrays = [g.detach().float().cpu().numpy() for g in grads]
            return named(arrays[0], arrays[1:])

        return Prepared(call, no_output,
                        {"call": "torch.autograd.grad(model(x).sum()) eager", "torch_device": str(x.device),
                         "intra_op_threads": torch.get_num_threads(),
                         **({"tf32": torch.backends.cudnn.allow_tf32} if cuda else {})},
                        sync=(lambda _out: torch.cuda.synchronize()) if cuda else None,
                        clock=CudaEventClock() if cuda else None, gradients=gradients)

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        prepared = passes.prepare(self, case, artifacts)
        return torch_kernel_time(prepared.forward, prepared.sync, forwards, cuda=case.device == "cuda",
                                 train=case.workload.pass_ == "train")
