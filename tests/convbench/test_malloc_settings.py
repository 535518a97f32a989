"""glibc's malloc thresholds pinned in every worker: a small stack's activations stop being mapped and faulted in
anew on every forward (convbench.malloc_settings), counted in page faults, not timed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convbench.malloc_settings import not_glibc
from convbench.workers import Worker

ROOT = Path(__file__).parents[2]
FORWARDS = 10
pytestmark = pytest.mark.skipif(not_glibc() is not None, reason="the thresholds are glibc's")


def page_faults_per_forward() -> float:
    """Minor page faults per forward of the seed's conv1x1 stack at C=8 (1 MiB activations, above glibc's starting
    mmap threshold of 128 KiB) in this process, after three forwards of warm-up."""
    import resource

    import torch

    from convbench.models.torch_stack import build_torch_stack
    from convbench.models.weights import make_input
    from convbench.spec import SeedStack

    spec = SeedStack(variant="conv1x1", channels=8)
    model, x = build_torch_stack(spec).eval(), torch.from_numpy(make_input(spec))
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(FORWARDS):
            model(x)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / FORWARDS


def test_a_worker_maps_a_small_stacks_activations_once_where_a_plain_process_maps_them_every_forward():
    with Worker("torch", threads=1) as worker:
        in_worker = worker.call(page_faults_per_forward, timeout_s=300)
    plain = subprocess.run([sys.executable, "-c", "import tests.convbench.test_malloc_settings as t; "
                            "print(t.page_faults_per_forward())"], cwd=ROOT, capture_output=True, text=True,
                           check=True)
    in_plain_process = float(plain.stdout.split()[-1])
    assert in_plain_process > 100, f"a plain process: {in_plain_process} faults per forward"  # 1 MiB = 256 pages
    assert in_worker < in_plain_process / 10, f"worker {in_worker}, plain process {in_plain_process}"
