"""Energy: the hardware's cumulative counters read between two of their updates while forwards run back to back
(RAPL on a recorded sysfs tree, the harness with a counter that advances in steps, NVML on a real GPU)."""

from __future__ import annotations

import time

import pytest

from convbench.energy import energy_columns, meter_for, rapl_meter
from convbench.harness import TimingConfig, energy_window, measure


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
        "energy_method": "not measured: the counter did not update twice in 500 ms of forwards (m)"}
    assert energy_columns(200.0, 0.5, 100, "m") == {"energy_mj_per_forward": 2.0, "mean_watts": 0.4,
                                                    "energy_method": "m 0.50 s apart"}


def _stepped_meter(watts: float, step_s: float):
    """A counter of `watts` that, like NVML's, advances only every `step_s` seconds (millijoules)."""
    began = time.perf_counter()
    return lambda: watts * step_s * 1e3 * ((time.perf_counter() - began) // step_s)


def test_a_counter_that_advances_in_steps_gives_its_true_power_between_two_updates():
    # 500 W in 50 ms steps: a window read at arbitrary times over 0.12 s could read 1 to 3 steps, 208 to 625 W
    window = energy_window(lambda: time.sleep(0.001), None, _stepped_meter(500.0, 0.05), 0.001, 0.3)
    assert window.seconds >= 0.3
    assert window.energy_mj / 1e3 / window.seconds == pytest.approx(500.0, rel=0.1)
    assert window.forwards == pytest.approx(window.seconds / 0.001, rel=0.3)  # sleep(1 ms) lasts a little longer


def test_the_harness_reads_the_meter_in_its_own_phase_after_the_timing():
    phases = []

    def forward() -> None:
        phases.append("forward")
        time.sleep(0.001)

    meter = _stepped_meter(100.0, 0.02)

    def reading() -> float:
        phases.append("meter")
        return meter()

    config = TimingConfig(warmup_seconds=0.0, sample_seconds=0.005, budget_seconds=0.03, processes=1,
                          energy_seconds=0.1)
    m = measure(forward, config, meter=reading)
    timed = m.samples * m.iterations + m.warmup_forwards
    assert "meter" not in phases[:timed]  # no reading while the throughput samples run
    assert m.energy is not None and m.energy.seconds >= 0.1
    assert m.energy.energy_mj / 1e3 / m.energy.seconds == pytest.approx(100.0, rel=0.15)


def test_a_counter_that_never_moves_gives_up_and_says_so():
    window = energy_window(lambda: None, None, lambda: 7.0, 1e-4, 0.05)
    assert window.energy_mj == 0 and window.seconds >= 0.05
    assert energy_columns(window.energy_mj, window.seconds, window.forwards, "m")["energy_method"].startswith(
        "not measured: the counter did not update twice")


@pytest.fixture
def gpu_meter():
    """torch and NVML's meter of this process's GPU; a skip without a GPU."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: NVML's energy counter is read on a GPU")
    read, method = meter_for("cuda")
    assert read is not None, method
    return torch, read, method


def test_nvml_counts_the_energy_of_real_gpu_work(gpu_meter):
    torch, read, _ = gpu_meter
    a = torch.randn(8192, 8192, device="cuda")
    torch.cuda.synchronize()
    start, began = read(), time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    watts = (read() - start) / 1e3 / (time.perf_counter() - began)
    assert 50 < watts < 1500  # an H100 or H200 under a sustained matmul


def test_the_harness_reads_nvml_at_no_more_than_the_boards_power_limit(gpu_meter):
    import pynvml

    from convbench.energy import nvml_handle

    torch, read, method = gpu_meter
    limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(nvml_handle()) / 1e3
    a = torch.randn(4096, 4096, device="cuda")
    config = TimingConfig(warmup_seconds=0.1, sample_seconds=0.01, budget_seconds=0.1, processes=1,
                          energy_seconds=0.5)
    m = measure(lambda: a @ a, config, sync=lambda _: torch.cuda.synchronize(), meter=read)
    columns = energy_columns(m.energy.energy_mj, m.energy.seconds, m.energy.forwards, method)
    assert 50 < columns["mean_watts"] <= 1.05 * limit_w, columns
