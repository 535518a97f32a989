"""The hardware floor of a stack: max(FLOPs / peak FLOP rate, bytes moved / memory bandwidth).

Bytes moved per layer = its input and output activations plus its weights, in the stack's dtype: the least
traffic any implementation needs if nothing stays in cache between layers. Ceilings are measured on the machine
(measure_ceilings, run in the torch worker at the start of a bench run) and stored in env.json: the float32 matmul
rate, on CUDA also TF32, float16 and bfloat16 (tensor cores). Where a dtype has no measured peak (int8, and float16
/bfloat16 on the CPU) the float32 peak stands in, which `peak_key` says."""

from __future__ import annotations

import math
import time

from convbench.skeleton import ConvNode, convs
from convbench.spec import PASS_FLOP_FACTOR, Workload

BYTES_PER_ELEMENT = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
# The ceilings key of each dtype's peak rate (float32 on a GPU that runs it as TF32: "peak_tf32_gflop_per_s").
PEAK_KEYS = {"float32": "peak_gflop_per_s", "float16": "peak_float16_gflop_per_s",
             "bfloat16": "peak_bfloat16_gflop_per_s", "int8": "peak_int8_gop_per_s"}


def peak_key(dtype: str, tf32: bool, ceilings: dict[str, float]) -> str:
    """Which measured peak the floor of a `dtype` case uses: its own where measured, else float32's."""
    key = "peak_tf32_gflop_per_s" if dtype == "float32" and tf32 else PEAK_KEYS[dtype]
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


def arithmetic_intensity(spec: Workload) -> float:
    """FLOPs per byte moved."""
    return spec.flops / stack_bytes(spec)


def roofline_ms(flops: float, bytes_moved: float, peak_gflop_per_s: float, bandwidth_gb_per_s: float) -> float:
    """max(FLOPs / peak, bytes / bandwidth), in milliseconds."""
    return max(flops / (peak_gflop_per_s * 1e9), bytes_moved / (bandwidth_gb_per_s * 1e9)) * 1e3


def floor_ms(spec: Workload, peak_gflop_per_s: float, bandwidth_gb_per_s: float) -> float:
    """The roofline floor of one pass (a forward, or a training step) in milliseconds."""
    return roofline_ms(spec.flops, stack_bytes(spec), peak_gflop_per_s, bandwidth_gb_per_s)


def measure_ceilings(device: str, threads: int) -> dict[str, float]:
    """Peak float32 matmul rate (GFLOP/s; on CUDA also with TF32, float16 and bfloat16) and copy bandwidth
    (GB/s, read + write)."""
    import torch

    torch.set_num_threads(threads)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def best_seconds(fn, repeats: int) -> float:
        fn()
        sync()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            best = min(best, time.perf_counter() - t0)
        return best

    n = 8192 if dev.type == "cuda" else 2048
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    out: dict[str, float] = {}
    previous = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        out["peak_gflop_per_s"] = 2 * n**3 / best_seconds(lambda: a @ b, 5) / 1e9
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            out["peak_tf32_gflop_per_s"] = 2 * n**3 / best_seconds(lambda: a @ b, 5) / 1e9
            for dtype in (torch.float16, torch.bfloat16):
                low_a, low_b = a.to(dtype), b.to(dtype)
                out[f"peak_{str(dtype).removeprefix('torch.')}_gflop_per_s"] = \
                    2 * n**3 / best_seconds(lambda x=low_a, y=low_b: x @ y, 5) / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    elements = (1 << 28) if dev.type == "cuda" else (1 << 26)  # 1 GiB on the GPU, 256 MiB on the CPU
    src = torch.ones(elements, device=dev)
    dst = torch.empty_like(src)
    out["bandwidth_gb_per_s"] = 2 * src.numel() * 4 / best_seconds(lambda: dst.copy_(src), 5) / 1e9
    out["matmul_n"] = n
    return out
