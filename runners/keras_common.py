"""What every Keras runner (TensorFlow, JAX, torch backends) shares. Import after KERAS_BACKEND is set."""

from __future__ import annotations

from convbench.models.keras_stack import KERAS_DTYPES
from convbench.runners.base import Skip
from convbench.spec import Case, Workload


def keras_spec(case: Case) -> Workload:
    """The case's stack, if Keras builds it in that dtype; Skip otherwise."""
    if case.spec.dtype not in KERAS_DTYPES:
        raise Skip(f"Keras has no {case.spec.dtype} stack; convbench times {case.spec.dtype} through the quantised "
                   "ONNX files (ort, openvino)")
    return case.spec
