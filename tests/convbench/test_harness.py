import time

import pytest

from convbench.harness import Measurement, TimingConfig, measure


def test_statistics_of_known_samples():
    m = Measurement((1.0, 2.0, 3.0, 4.0, 10.0), iterations=7, warmup_forwards=2)
    assert m.median_ms == 3.0
    assert m.iqr_ms == 2.0  # numpy's linear percentiles: q75 = 4, q25 = 2
    assert m.min_ms == 1.0
    assert m.samples == 5
    assert m.cv == pytest.approx(3.1623 / 4.0, rel=1e-3)
    assert "3.000 ms/forward" in str(m)


def test_measure_warms_up_calibrates_and_samples_a_real_callable():
    calls = []

    def forward() -> None:
        calls.append(1)
        time.sleep(0.002)

    config = TimingConfig(warmup_iterations=3, warmup_seconds=0.01, sample_seconds=0.02, budget_seconds=0.1,
                          min_samples=3, max_samples=6)
    m = measure(forward, config)
    assert m.warmup_forwards >= 3
    assert m.iterations >= 2  # a 2 ms forward needs several per 20 ms sample
    assert 3 <= m.samples <= 6
    assert len(calls) == m.warmup_forwards + m.samples * m.iterations
    assert m.median_ms >= 2.0  # sleep never returns early


def test_a_slow_forward_gets_one_iteration_and_the_minimum_samples():
    config = TimingConfig(warmup_iterations=1, warmup_seconds=0.0001, sample_seconds=0.001, budget_seconds=0.001,
                          min_samples=2, max_samples=9)
    m = measure(lambda: time.sleep(0.01), config)
    assert m.iterations == 1
    assert m.samples == 2


def test_config_rejects_impossible_sample_counts():
    with pytest.raises(ValueError):
        TimingConfig(min_samples=5, max_samples=2)
