"""The hardware floor of a stack: max(FLOPs / peak FLOP rate, bytes moved / memory bandwidth).

Bytes moved per layer = its input and output activations plus its weights, in the stack's dtype: the least
traffic any implementation needs if nothing stays in cache between layers. Ceilings are measured on the machine
at the start of a bench run (convbench.ceilings) and stored in env.json: the float32 peak (on the CPU the best large
GEMM of the installed runtimes), on CUDA also TF32, float16 and bfloat16 (tensor cores). Where a dtype has no
measured peak (int8, and float16/bfloat16 on the CPU) the float32 peak stands in, which `peak_key` says."""

from __future__ import annotations

import math

from convbench.skeleton import ConvNode, convs
from convbench.spec import PASS_FLOP_FACTOR, Workload

BYTES_PER_ELEMENT = {"float32": 4, "tf32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
# The ceilings key of each dtype's peak rate: its math mode's (IEEE float32 without tensor cores, TF32 on them...).
PEAK_KEYS = {"float32": "peak_gflop_per_s", "tf32": "peak_tf32_gflop_per_s", "float16": "peak_float16_gflop_per_s",
             "bfloat16": "peak_bfloat16_gflop_per_s", "int8": "peak_int8_gop_per_s"}


def peak_key(dtype: str, ceilings: dict[str, float]) -> str:
    """Which measured peak the floor of a `dtype` case uses: its math mode's where measured, else float32's."""
    key = PEAK_KEYS[dtype]
    return key if key in ceilings else PEAK_KEYS["float32"]


def layer_bytes(node: ConvNode, batch: int, dtype: str) -> int:
    """Input + output activations + weights of one conv layer, in bytes of `dtype`."""
    return (node.activation_elements(batch) + math.prod(node.weight_shape)) * BYTES_PER_ELEMENT[dtype]


def stack_bytes(spec: Workload) -> int:
    """Bytes every conv layer of the workload moves at least in one pass (adds and pools not counted). A training
    step counts its three parts alike: forward (input, weights -> output), backward-data (output gradient, weights
    -> input gradient) and backward-weights (input, output gradient -> weight gradient) each move one layer's
    worth."""
    return PASS_FLOP_FACTOR[spec.pass_] * sum(layer_bytes(node, spec.batch, spec.dtype) for node in convs(spec.nodes))


def largest_layer_mb(spec: Workload) -> float:
    """The largest conv layer's input and output activations and weights (MB): what must fit the caches for a
    layer's data to stay there between layers."""
    return max(layer_bytes(node, spec.batch, spec.dtype) for node in convs(spec.nodes)) / 1e6


def arithmetic_intensity(spec: Workload) -> float:
    """FLOPs per byte moved."""
    return spec.flops / stack_bytes(spec)


def roofline_ms(flops: float, bytes_moved: float, peak_gflop_per_s: float, bandwidth_gb_per_s: float) -> float:
    """max(FLOPs / peak, bytes / bandwidth), in milliseconds."""
    return max(flops / (peak_gflop_per_s * 1e9), bytes_moved / (bandwidth_gb_per_s * 1e9)) * 1e3


def floor_ms(spec: Workload, peak_gflop_per_s: float, bandwidth_gb_per_s: float) -> float:
    """The roofline floor of one pass (a forward, or a training step) in milliseconds."""
    return roofline_ms(spec.flops, stack_bytes(spec), peak_gflop_per_s, bandwidth_gb_per_s)
