"""The host memory a case adds: the kernel's peak resident set, reset before each case."""

from __future__ import annotations

import numpy as np
import pytest

from convbench import host_memory
from convbench.errors import Skip


def test_the_peak_a_case_adds_is_measured_and_reset_for_the_next_case():
    try:
        before = host_memory.start()
    except Skip as why:
        pytest.skip(why.reason)
    block = np.ones(200 * 2**20 // 8)  # 200 MiB touched
    first = host_memory.added_mb(before)
    del block
    second = host_memory.added_mb(host_memory.start())  # the next case: the first one's peak does not carry over
    assert 200 * 2**20 / 1e6 * 0.95 < first < 200 * 2**20 / 1e6 * 1.5
    assert second < 20

