"""What one timed call of a case does: the forward pass, or one training step.

A runner offers the forward (`prepare`) and, where its framework has a backward, the training step
(`prepare_train`); the case's pass decides which is timed, so no runner carries a pass flag. A training step here
is forward, loss = the output's sum (accumulated in float32), and the gradients of every conv weight (a whole
model's: every trainable parameter) and of the input, with no optimizer: every layer runs its forward, its
backward-data and its backward-weights (3x the forward's FLOPs, convbench.spec.PASS_FLOP_FACTOR).

Parity is one check for both passes: the arrays a call returns (the output; or the input's and each weight's
gradient) against the CPU reference, the worst relative error of any of them against the tolerance of the dtype,
device and pass (convbench.parity). The reference: PyTorch float32's for a conv stack (gradients in PyTorch's
layouts); for a whole model its own framework's, the float32 output and the float64 gradients (torchvision's by
PyTorch, keras.applications' by TensorFlow's Keras, in Keras' layouts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from convbench.artifacts import Artifacts
from convbench.errors import Skip
from convbench.parity import relative_error
from convbench.runners import RuntimeInfo
from convbench.runners.base import Prepared, Runner
from convbench.spec import REFERENCE_DTYPE, Case, WholeModel, Workload

INPUT_GRADIENT = "input"  # the key of the input's gradient; every other key is a conv layer's name


def check_pass(info: RuntimeInfo, case: Case) -> None:
    """Skip where the runtime's registry entry declares no such pass."""
    if case.workload.pass_ not in info.passes:
        raise Skip(info.inference_only or f"{case.runtime} does not time the {case.workload.pass_} pass")


def prepare(runner: Runner, case: Case, artifacts: Artifacts) -> Prepared:
    """The runner's callable for the case's pass (one its registry entry declares: check_pass)."""
    if case.workload.pass_ == "train":
        return runner.prepare_train(case, artifacts)
    return runner.prepare(case, artifacts)


def arrays(prepared: Prepared, out: Any) -> dict[str, np.ndarray]:
    """What the parity check compares of one call's result: the NCHW output, or the gradients by name."""
    if prepared.gradients is not None:
        return prepared.gradients(out)
    return {"output": prepared.to_nchw(out)}


def reference(case: Case, artifacts: Artifacts) -> dict[str, np.ndarray]:
    """The reference arrays of the case's pass (as `arrays` names them), on the CPU: PyTorch float32's for a conv
    stack; for a whole model its own framework's float32 output and float64 gradients of its step."""
    if case.workload.pass_ == "train":
        framework = case.workload.reference_framework(case.source)
        with np.load(artifacts.gradient_reference_path(case.workload, framework)) as stored:
            return {name: stored[name] for name in stored.files}
    path = artifacts.source_reference_path(case.workload, case.source)
    if not path.exists():
        framework = case.workload.reference_framework(case.source)
        why = artifacts.manifest_reason(framework, case.workload.reference.stack_id) or "no manifest row says why"
        raise FileNotFoundError(f"no reference output {path.name}: the {framework} export of "
                                f"{case.workload.reference.stack_id} did not make it ({why})")
    return {"output": np.load(path)}


# A gradient far smaller than the largest of the step can be zero by construction, and its rounding noise is no
# error: a bias followed by a conv and a batch norm in training mode, which takes any per-channel shift away again
# (MobileNetV2's projection biases: 1e-10 of its largest gradient, noise of 1e-6 in absolute terms, 2026-12-07).
# Every gradient's error is taken relative to at least this fraction of the largest gradient's norm: a gradient of
# 1e-5 of the largest, computed wholly wrong, is still 0.1 off, far above every tolerance.
NEGLIGIBLE_GRADIENT = 1e-4


def worst_error(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> tuple[float, str]:
    """The largest relative error of any array and its name (a gradient's relative to at least NEGLIGIBLE_GRADIENT x
    the largest one's norm); a missing or extra array is a ValueError."""
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        raise ValueError(f"gradients differ in what they name: missing {missing[:3]}, unexpected {extra[:3]}")
    floor = NEGLIGIBLE_GRADIENT * max(float(np.linalg.norm(np.asarray(a, dtype=np.float64))) for a in expected.values())
    errors = {name: relative_error(got[name], expected[name], floor) for name in expected}
    name = max(errors, key=lambda n: errors[n])
    return errors[name], name


def compute_gradient_reference(spec: Workload, artifacts_root: str, threads: int) -> dict[str, object]:
    """Worker side (torch family): PyTorch float32's training-step gradients on the CPU for `spec` (a whole model's
    in float64), saved as the reference of every runtime and dtype of its train cases: {"path": the file}, or
    {"error": why not}."""
    return _saved(_save_gradient_reference, spec, artifacts_root, threads)


def compute_keras_gradient_reference(spec: Workload, artifacts_root: str, threads: int) -> dict[str, object]:
    """Worker side (tensorflow family): a keras.applications model's training-step gradients in float64 on the CPU
    (TensorFlow's Keras), the reference of its Keras train cases (every backend), as compute_gradient_reference."""
    return _saved(_save_keras_gradient_reference, spec, artifacts_root, threads)


def _saved(save: Callable[[Workload, str, int], str], spec: Workload, artifacts_root: str, threads: int
           ) -> dict[str, object]:
    try:
        return {"path": save(spec, artifacts_root, threads)}
    except Exception as error:  # out of memory, say: the parent fails the workload's train cases with this
        from convbench.errors import one_line

        return {"error": one_line(error)}


def _save_gradient_reference(spec: Workload, artifacts_root: str, threads: int) -> str:
    import torch

    from convbench.models.torch_stack import build_torch_stack, trained_tensors
    from convbench.models.weights import make_input

    torch.set_num_threads(threads)
    reference_spec = replace(spec, dtype=REFERENCE_DTYPE)  # a whole model's step runs in train mode
    # a whole model's step in float64: its float32 gradients are themselves up to 8% off in some tensors (parity.py)
    precision = torch.float64 if spec.whole_model else torch.float32
    model = build_torch_stack(reference_spec).to(precision)
    x = torch.from_numpy(make_input(reference_spec)).to(precision).requires_grad_(True)
    trained = trained_tensors(model, reference_spec)
    gradients = torch.autograd.grad(model(x).sum(), [x, *trained.values()])
    named = {name: g.numpy() for name, g in zip([INPUT_GRADIENT, *trained], gradients, strict=True)}
    return _write(Artifacts(Path(artifacts_root)).gradient_reference_path(spec), named)


def _save_keras_gradient_reference(spec: Workload, artifacts_root: str, threads: int) -> str:
    import tensorflow as tf

    from convbench.models.keras_whole import build_keras_whole
    from convbench.models.weights import make_calibration_input, make_input, nchw_to_nhwc
    from convbench.runners.keras_common import step_variables

    with contextlib.suppress(RuntimeError):  # set once per process, before TensorFlow runs anything
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    whole = cast(WholeModel, spec)
    model = build_keras_whole(whole.model, whole.seed, "float64", whole.batch, whole.image,
                              nchw_to_nhwc(make_calibration_input(whole)), train=True)
    variables, named = step_variables(model, whole)
    x = tf.constant(nchw_to_nhwc(make_input(whole)).astype(np.float64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(model(x, training=True))
    gradients = tape.gradient(loss, [x, *variables])
    return _write(Artifacts(Path(artifacts_root)).gradient_reference_path(spec, "keras"),
                  named(gradients[0].numpy(), [g.numpy() for g in gradients[1:]]))


def _write(path: Path, arrays: dict[str, np.ndarray]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return str(path)
