"""Device memory a case adds: torch's allocator where torch ran the case, NVML otherwise; nothing off CUDA."""

from __future__ import annotations

import pytest

from convbench import device_memory


def test_off_cuda_there_is_nothing_to_measure():
    assert device_memory.start("cpu") is None and device_memory.added(None) == {}


def test_a_larger_tensor_shows_as_a_larger_peak_on_a_real_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: device memory is measured on a GPU")
    torch.zeros(1, device="cuda")  # CUDA started, as a runtime's prepare would
    peaks = []
    for mib in (64, 256):
        before = device_memory.start("cuda")
        block = torch.ones(mib * 2**20 // 4, device="cuda")
        del block
        columns = device_memory.added(before)
        assert columns["device_memory_method"] == device_memory.TORCH_METHOD
        peaks.append(columns["device_peak_mb"])
    assert peaks[0] == pytest.approx(64 * 2**20 / 1e6, rel=0.05) and peaks[1] == pytest.approx(256 * 2**20 / 1e6,
                                                                                                rel=0.05)
