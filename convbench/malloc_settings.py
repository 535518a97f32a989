"""glibc malloc's thresholds, pinned in every worker so that a case's time does not depend on what ran before it in
the same process.

glibc serves an allocation of at least M_MMAP_THRESHOLD (128 KiB when a process starts) with a fresh mmap and unmaps
it again on free, so every page of it is faulted in anew each time. Freeing such a chunk raises the threshold to that
chunk's size (up to 32 MiB), and later allocations below it come from the heap, whose pages stay mapped. PyTorch's
CPU allocator keeps no cache: each forward allocates its activations afresh, one tensor per layer
(1 MiB each for the seed's stack at C=8, 8 MiB at C=64). In a fresh process they are mapped and faulted in on every
forward; once something larger has been freed (a bigger case timed earlier in the same worker), they are
not. Measured on the 2-core AMD EPYC (2026-12-07, docs/results/cpu-2core-malloc-2026-12-07): one
worker timed conv1x1 C=8 at 16.0 ms per forward as its first case and 2.9 ms after bigger ones; conv3x3sep C=64 at
58.0 and 14.6 ms. Which process of a case ran it early was chance, so process medians of one case spread 4-5x.

Pinning the thresholds (mallopt, which also stops glibc's adjusting them) puts every allocation up to 32 MiB on
the heap from the start and keeps up to 64 MiB of freed heap mapped: the steady state a long-running process reaches
anyway, whatever the order. A user's own script gets the same with MALLOC_MMAP_THRESHOLD_=33554432 and
MALLOC_TRIM_THRESHOLD_=67108864 in its environment; convbench.bare_reference times both, each round, so the report
shows what a plain script sees beside convbench's workers.
"""

from __future__ import annotations

import ctypes
import platform

from convbench.errors import Skip

MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's own ceiling for the threshold it adjusts (64-bit)
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES  # what glibc sets beside a threshold it raised
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
PINNED = (f"glibc malloc pinned in every worker (mallopt): M_MMAP_THRESHOLD {MMAP_THRESHOLD_BYTES // 2**20} MiB, "
          f"M_TRIM_THRESHOLD {TRIM_THRESHOLD_BYTES // 2**20} MiB (convbench.malloc_settings)")
MALLOC_MODES = ("default", "pinned")  # a bare process's malloc: as a plain script starts; as convbench's workers
ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES)}


def not_glibc() -> Skip | None:
    """Skip where this process's C library is not glibc (the thresholds are glibc's); None where it is."""
    libc = platform.libc_ver()[0]
    return None if libc == "glibc" else Skip(f"the C library is {libc or 'not glibc'}: its malloc is left as it is")


def pin_thresholds() -> Skip | None:
    """Pin glibc's mmap and trim thresholds in this process (call it before a framework allocates); a Skip saying
    why not where they cannot be set."""
    if skip := not_glibc():
        return skip
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                  TRIM_THRESHOLD_BYTES)):
        return Skip("glibc's mallopt refused the thresholds: malloc left as it is")
    return None


def workers_malloc() -> str:
    """What env.json says of the workers' malloc: PINNED, or why it is left as it is."""
    skip = not_glibc()
    return PINNED if skip is None else skip.reason
