"""Energy: the hardware's cumulative counters read around the throughput samples (RAPL on a recorded sysfs tree,
the harness with a counter, NVML on a real GPU)."""

from __future__ import annotations

import time

import pytest

from convbench.energy import energy_columns, meter_for, rapl_meter
from convbench.harness import TimingConfig, measure


def _rapl(root, energy_uj: int, max_uj: int = 1_000_000) -> None:
    domain = root / "intel-rapl:0"
    domain.mkdir(parents=True, exist_ok=True)
    (domain / "energy_uj").write_text(f"{energy_uj}\n")
    (domain / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_counters_are_read_in_millijoules_across_a_wrap(tmp_path):
    _rapl(tmp_path, 900_000)
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain (a core): not summed with its package
    read, method = rapl_meter(tmp_path)
    assert read() == 0 and "RAPL" in method
    _rapl(tmp_path, 950_000)
    assert read() == pytest.approx(50.0)  # 50,000 uJ
    _rapl(tmp_path, 20_000)  # wrapped at 1,000,000
    assert read() == pytest.approx(50.0 + 70.0)


def test_no_counter_is_a_reason_not_a_number(tmp_path):
    with pytest.raises(Exception, match="no RAPL counter here"):
        rapl_meter(tmp_path)
    assert energy_columns(0.0, 0.5, 100, "m") == {
        "energy_method": "not measured: the counter did not move in 500 ms (m)"}
    assert energy_columns(200.0, 0.5, 100, "m") == {"energy_mj_per_forward": 2.0, "mean_watts": 0.4,
                                                    "energy_method": "m"}


def test_the_harness_reads_the_meter_around_the_throughput_samples_only():
    readings = []

    def meter() -> float:
        readings.append(time.perf_counter())
        return 10.0 * len(readings)  # 10 mJ more at each reading

    config = TimingConfig(warmup_seconds=0.0, sample_seconds=0.005, budget_seconds=0.03, processes=1)
    m = measure(lambda: time.sleep(0.001), config, meter=meter)
    assert len(readings) == 2 and m.energy_mj == pytest.approx(10.0)
    assert m.energy_seconds == pytest.approx(readings[1] - readings[0], abs=0.002)
    assert m.energy_seconds >= m.samples * m.iterations * 0.001


def test_nvml_counts_the_energy_of_real_gpu_work():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: NVML's energy counter is read on a GPU")
    read, method = meter_for("cuda")
    assert read is not None, method
    a = torch.randn(8192, 8192, device="cuda")
    torch.cuda.synchronize()
    start, began = read(), time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    watts = (read() - start) / 1e3 / (time.perf_counter() - began)
    assert 50 < watts < 1500  # an H100 or H200 under a sustained matmul
