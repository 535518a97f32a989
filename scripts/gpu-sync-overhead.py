"""Why can convbench's GPU figures sit above figures timed another way? Time the same forward two ways:
synchronising after every forward (convbench's harness) and 100 forwards with one synchronisation at the end
(CUDA events / a single block), for PyTorch eager, Keras on JAX and Keras on torch. Run on the GPU machine:
    KERAS_BACKEND=jax python3 scripts/gpu-sync-overhead.py jax
    KERAS_BACKEND=torch python3 scripts/gpu-sync-overhead.py torch
"""

from __future__ import annotations

import statistics
import sys
import time

from convbench.models.weights import make_input, nchw_to_nhwc
from convbench.spec import SeedStack

VARIANTS = ("conv1x1", "conv3x3", "conv5x5")


def per_forward(call, sync, n=100):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def blocked(call, sync, n=100, repeats=5):
    blocks = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            out = call()
        sync(out)
        blocks.append((time.perf_counter() - t0) / n)
    return statistics.median(blocks) * 1e3


def main(backend: str) -> None:
    for variant in VARIANTS:
        for label, (a, b) in rows_for(backend, SeedStack(variant, 64)).items():
            print(f"{variant:8s} {label:28s} sync every forward {a:7.3f} ms   100 forwards, one sync {b:7.3f} ms")


def rows_for(backend: str, spec: SeedStack) -> dict[str, tuple[float, float]]:
    import keras

    from convbench.models.keras_stack import build_keras_stack
    from convbench.models.torch_stack import build_torch_stack

    rows = {}
    if backend == "torch":
        import torch

        def sync(_=None):
            torch.cuda.synchronize()

        model = build_torch_stack(spec).cuda()
        x = torch.from_numpy(make_input(spec)).cuda()
        with torch.inference_mode():
            for _ in range(20):
                model(x)
            rows["torch eager"] = (per_forward(lambda: model(x), sync), blocked(lambda: model(x), sync))
        with keras.device("gpu:0"):
            kmodel = build_keras_stack(spec)
            kx = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)))
        for label, ctx in (("keras-torch inference_mode", torch.inference_mode), ("keras-torch no_grad",
                                                                                    torch.no_grad)):
            with ctx():
                for _ in range(20):
                    kmodel(kx, training=False)
                rows[label] = (per_forward(lambda: kmodel(kx, training=False), sync),
                               blocked(lambda: kmodel(kx, training=False), sync))
    else:
        import jax

        with keras.device("gpu:0"):
            kmodel = build_keras_stack(spec)
            tv = [v.value for v in kmodel.trainable_variables]
            ntv = [v.value for v in kmodel.non_trainable_variables]
            kx = keras.ops.convert_to_tensor(nchw_to_nhwc(make_input(spec)))
        fn = jax.jit(lambda t, n, inputs: kmodel.stateless_call(t, n, inputs, training=False)[0])
        for _ in range(20):
            fn(tv, ntv, kx).block_until_ready()

        def sync(out=None):
            if out is not None:
                out.block_until_ready()

        rows["keras-jax jit"] = (per_forward(lambda: fn(tv, ntv, kx).block_until_ready(), sync),
                                 blocked(lambda: fn(tv, ntv, kx), sync))
    return rows


if __name__ == "__main__":
    main(sys.argv[1])
