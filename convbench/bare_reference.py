"""A user's own script, as a reference for convbench's workers: in a plain fresh Python process (no convbench worker,
no harness), build one case's model and time it the way a user would, then print one JSON line.

- torch: the PyTorch stack in inference mode, timed by torch.utils.benchmark's Timer (blocked_autorange): its median
  per forward;
- ort: an onnxruntime InferenceSession on the torch.onnx file with the same thread settings as convbench's, a bare
  `session.run` loop timed with time.perf_counter in blocks of forwards: the median block's time per forward.

With `--malloc pinned` the process first pins glibc's malloc thresholds as convbench's workers do
(convbench.malloc_settings); with `--malloc default` (a user's plain script) it leaves them as glibc starts them.

convbench.bench starts two such processes per reference case in each round (default, then pinned), after that round's
workers, so a reader can see whether convbench's workers run as a user's process does (the report's "convbench's
workers against a user's own script"). Run by hand:
`python -m convbench.bare_reference torch '{"variant": "conv1x1", "channels": 16}' --threads 2 --malloc default`
(the seed stack's fields as JSON; the others take their defaults)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from convbench.malloc_settings import MALLOC_MODES, pin_thresholds

MIN_RUN_TIME_S = 0.4  # what torch.utils.benchmark's blocked_autorange, and the ort loop, time at least


def torch_ms(spec, threads: int) -> float:
    import torch
    from torch.utils import benchmark

    from convbench.models.torch_stack import build_torch_stack
    from convbench.models.weights import make_input

    torch.set_num_threads(threads)
    model = build_torch_stack(spec).eval()
    x = torch.from_numpy(make_input(spec))
    with torch.inference_mode():
        timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads)
        return timer.blocked_autorange(min_run_time=MIN_RUN_TIME_S).median * 1e3


def ort_ms(spec, threads: int, artifacts: Path) -> float:
    import onnxruntime as ort

    from convbench.artifacts import Artifacts
    from convbench.models.weights import make_input

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(Artifacts(artifacts).onnx_path("torch", spec)), options,
                                   providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: make_input(spec)}
    session.run(None, feed)
    start = time.perf_counter()
    session.run(None, feed)
    per_forward = max(time.perf_counter() - start, 1e-6)
    block = max(1, int(0.05 / per_forward))
    blocks, begun = [], time.perf_counter()
    while time.perf_counter() - begun < MIN_RUN_TIME_S or len(blocks) < 3:
        start = time.perf_counter()
        for _ in range(block):
            session.run(None, feed)
        blocks.append((time.perf_counter() - start) / block)
    return statistics.median(blocks) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convbench.bare_reference")
    parser.add_argument("runtime", choices=("torch", "ort"))
    parser.add_argument("stack", help="the seed stack's fields as JSON (convbench.spec.SeedStack)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--malloc", choices=MALLOC_MODES, default="default",
                        help="default: glibc's malloc as a plain script has it; pinned: as convbench's workers have it")
    args = parser.parse_args(argv)
    if args.malloc == "pinned" and (skip := pin_thresholds()):
        parser.error(skip.reason)
    from convbench.spec import SeedStack

    spec = SeedStack(**json.loads(args.stack))
    ms = torch_ms(spec, args.threads) if args.runtime == "torch" else ort_ms(spec, args.threads, args.artifacts)
    print(json.dumps({"ms_per_forward": ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
