"""Where a training step's kernel time goes: the convolutions' forward, backward-data and backward-weights, told
apart by the names the runtime's profiler gives its kernels.

- CUDA (CUPTI kernel names, any framework): cuDNN names its kernels by direction (`fprop`, `dgrad`, `wgrad`);
  PyTorch's own depthwise kernels are `conv_depthwise2d_forward_kernel`, `conv_depthwise2d_backward_kernel`
  (input gradient) and `conv_depthwise2d_grad_weight_kernel`. Inductor's conv template (torch.compile's
  max-autotune) is `triton_tem_fused_convolution_N`: only a forward, since inductor leaves a training step's conv
  backward to aten (cuDNN's dgrad/wgrad).
- TensorFlow (op types): `Conv2D` / `DepthwiseConv2dNative`, their `BackpropInput` and `BackpropFilter` ops (and
  oneDNN's `_MklNative...` versions of them).
- PyTorch on the CPU: `aten::convolution_backward` computes the input's and the weight's gradient in one operator,
  so the split comes from oneDNN's own log instead (its convolution primitives by propagation kind, see
  profile_torch.onednn_phases); where oneDNN ran no convolution, only the backward as a whole is known.

A kernel whose name does not say its direction (a GEMM that runs a 1x1 conv, a layout change, TensorFlow's
SpaceToBatch around a dilated conv, the loss's reduction, an add) counts as other: the split is a lower bound on
each phase, never a guess.
"""

from __future__ import annotations

import math

from convbench.runners.profilers import KernelTime

PHASES = ("forward", "backward_data", "backward_weights", "backward")
PHASE_COLUMNS = ["kernel_forward_ms", "kernel_backward_data_ms", "kernel_backward_weights_ms", "kernel_backward_ms",
                 "kernel_other_ms", "phase_method"]

# (phase, substrings of a lower-cased kernel or op name), first match wins: weights before data before forward,
# since "conv_depthwise2d_grad_weight_kernel" and "Conv2DBackpropFilter" also name the forward's op.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("backward_weights", ("wgrad", "grad_weight", "backpropfilter", "backward_weights")),
    ("backward_data", ("dgrad", "depthwise2d_backward", "backpropinput", "backward_data", "backward_input")),
    ("backward", ("aten::convolution_backward",)),
    ("forward", ("fprop", "tem_fused_convolution", "implicit_convolve_sgemm", "conv2d_c1_k1", "depthwise2d_forward",
                 "convolve_common_engine",
                 "aten::mkldnn_convolution", "aten::_convolution", "aten::convolution", "aten::conv2d",
                 "conv2d", "depthwiseconv2dnative")),
)


def phase_of(name: str) -> str | None:
    """The convolution phase a kernel or op name says it belongs to, or None where it does not say."""
    lower = name.lower()
    for phase, marks in _RULES:
        if any(mark in lower for mark in marks):
            return phase
    return None


def phase_columns(kt: KernelTime) -> dict[str, object]:
    """The phase columns of a profiled training step (ms per step, as profiled): the phases a library profiler
    gave (oneDNN's), or else those its kernel names say; copies and memsets are not kernels. Other = the kernels'
    total less the phases'. `kernel_backward_ms` is data + weights where both are known, else the backward that
    could not be split; a phase nothing was found for is NaN, not 0."""
    total = sum(r.ms_per_forward for r in kt.kernels if r.kind == "kernel")
    if kt.phases:
        sums, method = dict(kt.phases), kt.phase_method
    else:
        sums = {}
        for row in kt.kernels:
            phase = phase_of(row.name) if row.kind == "kernel" else None
            if phase:
                sums[phase] = sums.get(phase, 0.0) + row.ms_per_forward
        method = "; ".join(filter(None, [f"kernel names ({kt.method.split(':')[0]})", kt.phase_method]))
    if not sums:
        return {"phase_method": f"not split: no kernel is named as a convolution's forward or backward ({method})"}
    split = {"backward_data", "backward_weights"} <= set(sums)
    backward = [ms for phase, ms in sums.items() if phase != "forward"]
    return {
        "kernel_forward_ms": sums.get("forward", math.nan),
        "kernel_backward_data_ms": sums["backward_data"] if split else math.nan,
        "kernel_backward_weights_ms": sums["backward_weights"] if split else math.nan,
        "kernel_backward_ms": sum(backward) if backward else math.nan,
        "kernel_other_ms": max(0.0, total - sum(sums.values())),
        "phase_method": method if split else f"{method}; backward-data and backward-weights not told apart",
    }
