import time

import pytest

from convbench.harness import Measurement, TimingConfig, measure

ONE_PROCESS = {"processes": 1}
pytestmark = pytest.mark.figures  # sleeps timed against bounds: make test runs these alone


def test_statistics_of_known_samples():
    m = Measurement((1.0, 2.0, 3.0, 4.0, 10.0), iterations=7, warmup_forwards=2, latency_ms=tuple(range(1, 101)))
    assert m.median_ms == 3.0
    assert m.iqr_ms == 2.0  # numpy's linear percentiles: q75 = 4, q25 = 2
    assert m.min_ms == 1.0
    assert m.samples == 5
    assert m.cv == pytest.approx(3.1623 / 4.0, rel=1e-3)
    assert m.latency_percentile_ms(50) == 50.5 and m.latency_percentile_ms(99) == pytest.approx(99.01)
    assert "3.000 ms/forward" in str(m)


def test_measure_warms_up_calibrates_and_samples_a_real_callable():
    calls = []

    def forward() -> None:
        calls.append(1)
        time.sleep(0.002)

    config = TimingConfig(warmup_iterations=3, warmup_seconds=0.01, sample_seconds=0.02, budget_seconds=0.1,
                          min_samples=3, max_samples=6, **ONE_PROCESS)
    m = measure(forward, config)
    assert m.warmup_forwards >= 3
    assert m.iterations >= 2  # a 2 ms forward needs several per 20 ms sample
    assert 3 <= m.samples <= 6
    assert len(calls) == m.warmup_forwards + m.samples * m.iterations
    assert m.median_ms >= 2.0  # sleep never returns early
    assert len(m.latency_ms) == m.samples * m.iterations  # synchronous: each forward of the samples, lapped
    assert min(m.latency_ms) >= 2.0


def test_the_budget_is_shared_by_the_processes():
    config = TimingConfig(budget_seconds=3.0, processes=3)
    assert config.process_budget_seconds == 1.0
    with pytest.raises(ValueError):
        TimingConfig(processes=0)


def test_an_asynchronous_forward_is_synchronised_once_per_sample_for_throughput_and_each_time_for_latency():
    """A pretend device: forward() returns at once; the work (3 ms) is waited for by sync(). Throughput
    counts the wait once per sample of many forwards; latency counts it for every forward."""
    syncs = []

    def sync(_output) -> None:
        syncs.append(1)
        time.sleep(0.003)

    config = TimingConfig(warmup_iterations=2, warmup_seconds=0.01, sample_seconds=0.02, budget_seconds=0.2,
                          min_samples=3, max_samples=5, min_latency_forwards=10, **ONE_PROCESS)
    m = measure(lambda: "out", config, sync=sync)
    assert m.iterations >= 5  # calibrated on a synchronised 3 ms forward: 20 ms needs at least 7
    assert m.median_ms < 3.0 / 2  # the 3 ms wait spread over the sample's forwards
    assert len(m.latency_ms) >= 10 and min(m.latency_ms) >= 3.0
    assert len(syncs) == m.warmup_forwards + m.samples + len(m.latency_ms)


def test_a_device_clock_times_the_throughput_samples():
    class FixedClock:
        def start(self):
            return "token"

        def stop(self, token, last_output):
            assert token == "token" and last_output == "out"
            return 0.004  # seconds for the whole sample, whatever the host clock says

    config = TimingConfig(warmup_iterations=1, warmup_seconds=0.001, sample_seconds=0.001, budget_seconds=0.01,
                          min_samples=2, max_samples=2, **ONE_PROCESS)
    m = measure(lambda: "out", config, sync=lambda out: None, clock=FixedClock())
    assert m.median_ms == pytest.approx(4.0 / m.iterations)


def test_a_slow_forward_gets_one_iteration_and_the_minimum_samples():
    config = TimingConfig(warmup_iterations=1, warmup_seconds=0.0001, sample_seconds=0.001, budget_seconds=0.001,
                          min_samples=2, max_samples=9, **ONE_PROCESS)
    m = measure(lambda: time.sleep(0.01), config)
    assert m.iterations == 1
    assert m.samples == 2


def test_config_rejects_impossible_sample_counts():
    with pytest.raises(ValueError):
        TimingConfig(min_samples=5, max_samples=2)
