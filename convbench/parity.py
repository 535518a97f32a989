"""Output agreement between runtimes: relative error ||out - ref|| / ||ref|| and its tolerance per device."""

from __future__ import annotations

import numpy as np

# float32 on the CPU lands near 1e-6 for these stacks; TF32 on a GPU near 1e-3 (../shared/gpu/README.md).
TOLERANCE = {"cpu": 1e-4, "cuda": 5e-3}


def relative_error(output: np.ndarray, reference: np.ndarray) -> float:
    """Frobenius-norm relative error in float64; NaN or Inf anywhere gives inf, never a pass."""
    if output.shape != reference.shape:
        raise ValueError(f"output shape {output.shape} differs from reference shape {reference.shape}")
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def parity_ok(error: float, device: str) -> bool:
    return bool(error <= TOLERANCE[device])
