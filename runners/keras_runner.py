"""Keras 3 on TensorFlow: a tf.function-compiled forward, and model.predict as the 2017 experiment timed it."""

from __future__ import annotations

import contextlib
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (KERAS_BACKEND must be set before keras is imported)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convbench import passes  # noqa: E402
from convbench.artifacts import Artifacts  # noqa: E402
from convbench.errors import Skip  # noqa: E402
from convbench.models.keras_stack import build_keras_stack  # noqa: E402
from convbench.models.weights import make_input, nchw_to_nhwc, nhwc_to_nchw  # noqa: E402
from convbench.runners.base import Prepared, Runner, no_output  # noqa: E402
from convbench.runners.keras_common import keras_spec, step_variables  # noqa: E402
from convbench.runners.profile_tf import tf_kernel_time  # noqa: E402
from convbench.runners.profile_torch import cupti_kernel_time  # noqa: E402
from convbench.runners.profilers import KernelTime  # noqa: E402
from convbench.spec import Case  # noqa: E402


class _KerasOnTensorFlow(Runner):
    def __init__(self, threads: int) -> None:
        self.threads = threads
        try:  # only possible before TensorFlow's runtime starts; the first runner of the worker does it
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass

    def available(self, device: str) -> Skip | None:
        if keras.backend.backend() != "tensorflow":
            return Skip(f"Keras backend is {keras.backend.backend()!r}, not tensorflow")
        if device == "cuda" and not tf.config.list_physical_devices("GPU"):
            return Skip("TensorFlow sees no GPU (TensorFlow's CUDA build and a GPU are needed for keras-tf on cuda)")
        return None

    def kernel_time(self, case: Case, artifacts: Artifacts, forwards: int) -> KernelTime:
        """CPU: TensorFlow's profiler, the self time of the model's ops. CUDA: CUPTI's device records through
        torch.profiler, as for Keras on JAX: they see every kernel of the process, TensorFlow's included (cuDNN's
        kernel names then tell a step's forward, backward-data and backward-weights apart)."""
        if case.device == "cuda":
            _let_gpu_memory_grow()
            prepared = passes.prepare(self, case, artifacts)
            return cupti_kernel_time(prepared.forward, prepared.sync, forwards)
        prepared = passes.prepare(self, case, artifacts)
        return tf_kernel_time(prepared.forward, forwards, scope=str(prepared.options["model_name"]))

    def _device_name(self, device: str) -> str:
        if device == "cpu":
            return "/CPU:0"
        return "/GPU:0"

    def _options(self) -> dict[str, object]:
        return {
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        }


def _let_gpu_memory_grow() -> None:
    """In a profiling process only (the timed ones keep TensorFlow's default): TensorFlow maps nearly all GPU memory
    when it starts on the GPU, and the CUDA context that torch.profiler's tracing may open beside it needs some.
    Possible until TensorFlow has started on the GPU, so the process's first profiled case sets it for all."""
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # TensorFlow already runs on the GPU in this process
            tf.config.experimental.set_memory_growth(gpu, True)


def _sync(_output: object) -> None:
    tf.test.experimental.sync_devices()


class KerasTFFunction(_KerasOnTensorFlow):
    """model(x, training=False) inside one tf.function: graph execution, no per-call Keras machinery."""

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        with tf.device(self._device_name(case.device)):
            spec = keras_spec(case)
            model = build_keras_stack(spec)
            x = tf.cast(tf.constant(nchw_to_nhwc(make_input(spec))), spec.dtype)
            start = time.perf_counter()
            compiled = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(x)
            trace_ms = (time.perf_counter() - start) * 1e3

        def forward() -> tf.Tensor:
            with tf.device(self._device_name(case.device)):
                return compiled(x)

        return Prepared(forward, lambda out: nhwc_to_nchw(tf.cast(out, tf.float32).numpy()),
                        {**self._options(), "call": "tf.function", "model_name": model.name},
                        sync=_sync if case.device == "cuda" else None, compile_ms=trace_ms)


    def prepare_train(self, case: Case, artifacts: Artifacts) -> Prepared:
        """One training step in one tf.function: a GradientTape that watches the input, model(x, training=True),
        the output's sum in float32, the gradients of the input and every conv kernel (a whole model's: every
        trainable variable, keras_common.step_variables)."""
        spec = keras_spec(case)
        with tf.device(self._device_name(case.device)):
            model = build_keras_stack(spec)
            kernels, named = step_variables(model, spec)
            x = tf.cast(tf.constant(nchw_to_nhwc(make_input(spec))), spec.dtype)

            def step(inputs: tf.Tensor) -> list[tf.Tensor]:
                with tf.GradientTape() as tape:
                    tape.watch(inputs)
                    loss = tf.reduce_sum(tf.cast(model(inputs, training=True), tf.float32))
                # the loss is returned too: a step whose loss nobody reads lets grappler prune the last layer's
                # forward (d loss / d output is 1 whatever the output is)
                return [loss, *tape.gradient(loss, [inputs, *kernels])]

            start = time.perf_counter()
            compiled = tf.function(step).get_concrete_function(x)
            trace_ms = (time.perf_counter() - start) * 1e3

        def call() -> list[tf.Tensor]:
            with tf.device(self._device_name(case.device)):
                return compiled(x)

        return Prepared(call, no_output, {**self._options(), "call": "tf.function(GradientTape step)",
                                                 "model_name": model.name},
                        sync=_sync if case.device == "cuda" else None, compile_ms=trace_ms,
                        gradients=lambda result: named(result[1].numpy(), [g.numpy() for g in result[2:]]))


class KerasPredict(_KerasOnTensorFlow):
    """model.predict(numpy, batch_size=B): what the seed timed, with Keras's data handling around the model."""

    def prepare(self, case: Case, artifacts: Artifacts) -> Prepared:
        with tf.device(self._device_name(case.device)):
            model = build_keras_stack(keras_spec(case))
        x = nchw_to_nhwc(make_input(case.workload))  # float32: the model casts it to its dtype, as users' input is

        def forward():
            with tf.device(self._device_name(case.device)):
                return model.predict(x, batch_size=case.workload.batch, verbose=0)

        return Prepared(forward, lambda out: nhwc_to_nchw(np.asarray(out, dtype=np.float32)),
                        {**self._options(), "call": "model.predict", "model_name": model.name})
