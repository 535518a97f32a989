"""The fastest way at a stated confidence: ties called ties (convbench.ranking), on numbers whose answer is known."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pandas as pd
import pytest

from convbench.analysis.findings import findings
from convbench.artifacts import Artifacts
from convbench.bench import plan_cases, run_bench
from convbench.harness import TimingConfig
from convbench.jobs import RunSettings
from convbench.outputs import undecided_keys
from convbench.ranking import modes, paired_ratio, rank, round_values
from convbench.ranking import undecided_keys as undecided_rankings
from convbench.results import ResultsStore, read_results
from convbench.runners import FAMILY_ENV, RUNTIMES, RuntimeInfo
from tests.conftest import SMALL_SPECS


def test_beaten_tied_and_undecided_follow_the_interval_of_the_paired_ratio():
    always = paired_ratio({0: 2.0, 1: 2.2, 2: 2.1}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert always.beaten and always.low > 1.8 and always.speedup_text() == "2.1x (1.9-2.4)"
    swaps = paired_ratio({0: 1.1, 1: 0.9, 2: 1.05}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert swaps.undecided and swaps.low < 1 < swaps.high  # 0.9-1.1 in three rounds: neither tied nor beaten yet
    close = paired_ratio({0: 1.01, 1: 1.0, 2: 1.02}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert close.tied  # within 5% of each other, at 95%
    alone = paired_ratio({0: 2.0}, {0: 1.0})
    assert not alone.judged and not alone.tied and math.isnan(alone.low)


def test_two_clusters_of_processes_are_two_modes_and_a_spread_is_not():
    assert [(m.ms, m.processes) for m in modes([17.2, 30.1, 30.6])] == [(17.2, 1), (30.35, 2)]
    assert len(modes([10.0, 13.5, 18.0])) == 1  # spread out, not two tight clusters
    assert len(modes([10.0, 10.4, 10.2])) == 1


def test_a_verdict_whose_interval_straddles_its_threshold_is_undecided():
    """Dilated counted as costlier above 1.1x conv3x3: 1.5x in every round holds; 1.0-1.2 is undecided."""
    rows, rounds = [], {}
    for runtime, dilated in (("a", (1.5, 1.55, 1.45)), ("b", (1.0, 1.2, 1.1))):
        for variant, times in (("conv3x3", (1.0, 1.0, 1.0)), ("conv3x3dilated", dilated)):
            key = (f"{variant}-c64", runtime, "torch", "cpu", "")
            rows.append({"stack_id": key[0], "runtime": runtime, "source": "torch", "device": "cpu", "dtype": "float32",
                         "machine": "", "channels": 64, "variant": variant, "status": "ok",
                         "ms_per_forward": sorted(times)[1]})
            rounds[key] = dict(enumerate(times))
    dilated = findings(pd.DataFrame(rows), rounds)[4]
    assert dilated.held == 1 and dilated.undecided == 1 and dilated.verdict == "holds in 1 of 2, undecided in 1"


@pytest.mark.figures
def test_equal_runtimes_tie_and_a_slower_one_is_beaten_through_real_workers(exported, tmp_path, monkeypatch):
    """Three test runtimes whose forwards sleep 2, 2 and 4 ms, timed in 3 interleaved rounds of real workers."""
    names = {"SleepsTwoMs": "two", "SleepsTwoMsToo": "two-too", "SleepsFourMs": "four"}
    _sleepers(monkeypatch, names)
    store = ResultsStore(tmp_path / "run")
    store.open()
    spec = next(s for s in SMALL_SPECS if s.variant == "conv1x1")
    timing = TimingConfig(warmup_seconds=0.02, sample_seconds=0.02, budget_seconds=0.6, processes=3)
    run_bench(plan_cases([spec], list(names.values()), "cpu"), store, Artifacts(exported),
              RunSettings(timing, 1, "env"), lambda case, row: None)
    results = read_results(store.csv_path)
    ranking = rank(results, round_values(read_results(store.processes_path)))
    assert sorted(ranking.fastest["runtime"]) == ["two", "two-too"], ranking.vs_best
    assert ranking.vs_best["four[torch]"].beaten and ranking.vs_best["four[torch]"].low > 1.5


def _sleepers(monkeypatch, names: dict[str, str]) -> None:
    for cls, name in names.items():
        monkeypatch.setitem(RUNTIMES, name, RuntimeInfo(name, f"fake-{name}", ("torch",),
                                                        f"tests.convbench.fake_runtimes:{cls}", (), "test"))
        monkeypatch.setitem(FAMILY_ENV, f"fake-{name}", {})


@pytest.mark.parametrize(("seconds_left", "rounds_of_undecided"), [(3600.0, 5), (0.0, 3)])
def test_the_time_left_goes_to_the_undecided_case_until_it_is_decided(exported, tmp_path, monkeypatch, seconds_left,
                                                                      rounds_of_undecided):
    """A ranking policy that calls one runtime's case undecided until it has 5 rounds: it gets rounds 4 and 5, the
    other none; with no time left, neither gets any."""
    _sleepers(monkeypatch, {"SleepsTwoMs": "two", "SleepsFourMs": "four"})
    store = ResultsStore(tmp_path / "run")
    store.open()
    spec = next(s for s in SMALL_SPECS if s.variant == "conv1x1")
    cases = plan_cases([spec], ["two", "four"], "cpu")
    undecided_key = next(c.key for c in cases if c.runtime == "two")

    def undecided(results, processes):
        done = processes[processes["runtime"] == "two"]["process"].nunique()
        return {undecided_key} if done < 5 else set()

    timing = TimingConfig(warmup_seconds=0.01, sample_seconds=0.005, budget_seconds=0.06, processes=3)
    settings = RunSettings(timing, 1, "env", deadline=time.monotonic() + seconds_left, undecided=undecided)
    run_bench(cases, store, Artifacts(exported), settings, lambda case, row: None)
    processes = read_results(store.processes_path)
    assert processes.groupby("runtime")["process"].nunique().to_dict() == {"two": rounds_of_undecided, "four": 3}
    results = read_results(store.csv_path).set_index("runtime")
    assert results.loc["two", "processes"] == rounds_of_undecided and results.loc["four", "processes"] == 3


def _decided_rankings_and_an_undecided_verdict() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, processes): keras-tf twice as slow as torch everywhere (rankings decided); torch eager's
    dilated-over-conv3x3 ratio 1.0-1.2 over three rounds (the claim's threshold 1.1x: undecided); keras-tf's 1.5x in
    every round (holds)."""
    rows, processes = [], []
    for runtime, source, scale, dilated in (("torch", "torch", 1.0, (1.0, 1.2, 1.1)),
                                            ("keras-tf", "keras", 2.0, (1.5, 1.55, 1.45))):
        for variant, ratios in (("conv3x3", (1.0, 1.0, 1.0)), ("conv3x3dilated", dilated)):
            key = {"stack_id": f"{variant}-c64", "runtime": runtime, "source": source, "device": "cpu", "machine": "m"}
            times = [scale * r for r in ratios]
            rows.append({**key, "dtype": "float32", "channels": 64, "variant": variant, "pass": "forward",
                         "status": "ok", "ms_per_forward": sorted(times)[1]})
            processes += [{**key, "process": k, "status": "ok", "ms_per_forward": ms} for k, ms in enumerate(times)]
    return pd.DataFrame(rows), pd.DataFrame(processes)


TORCH_DILATED_CASES = {(f"{variant}-c64", "torch", "torch", "cpu", "m") for variant in ("conv3x3", "conv3x3dilated")}


def test_a_budget_goes_to_the_cases_behind_an_undecided_2017_verdict_too():
    """Rankings decided, but torch eager's verdict on dilated conv undecided: its two cases get further rounds,
    keras-tf's none. The fastest configuration is torch's, so its verdict names the same two cases."""
    results, processes = _decided_rankings_and_an_undecided_verdict()
    assert undecided_rankings(results, processes) == set()
    assert undecided_keys(results, processes) == TORCH_DILATED_CASES


def test_choosing_the_extra_rounds_needs_none_of_the_reports_plotting_libraries(tmp_path):
    """convbench.bench asks mid-run; the GPU machine has no plotly (it crashed a run there on 2026-12-07)."""
    results, processes = _decided_rankings_and_an_undecided_verdict()
    results.to_csv(tmp_path / "results.csv", index=False)
    processes.to_csv(tmp_path / "processes.csv", index=False)
    code = ("import sys; sys.modules['plotly'] = sys.modules['matplotlib'] = None\n"
            "import pandas as pd\nfrom convbench.outputs import undecided_keys\n"
            f"print(sorted(undecided_keys(pd.read_csv({str(tmp_path / 'results.csv')!r}), "
            f"pd.read_csv({str(tmp_path / 'processes.csv')!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(TORCH_DILATED_CASES))
