"""samples.csv: every timed value of a process, appended before its process row; a process timed again (its row was
lost in a crash after its samples were written) replaces its values instead of doubling them."""

from __future__ import annotations

from convbench.results import ResultsStore
from convbench.spec import Case, SeedStack


def test_a_process_timed_again_replaces_its_samples_and_the_parquet_reads_the_same(tmp_path):
    store = ResultsStore(tmp_path / "run")
    store.open()
    case = Case(SeedStack("conv3x3", 8), "torch", "torch", "cpu", "m")
    first = [{"sample_kind": "throughput", "sample": i, "ms_per_forward": 1.0 + i} for i in range(3)]
    store.append_samples(case.key, 0, first)
    store.append_samples(case.key, 1, first)
    again = [{"sample_kind": "throughput", "sample": 0, "ms_per_forward": 9.0}]
    store.append_samples(case.key, 0, again)
    fresh = ResultsStore(tmp_path / "run")  # a resumed run's store: reads what is on disk
    fresh.append_samples(case.key, 1, again)
    table = fresh.read_samples().sort_values(["process", "sample"])
    assert list(zip(table["process"], table["ms_per_forward"], strict=True)) == [(0, 9.0), (1, 9.0)]


def test_a_run_kept_without_its_samples_csv_keeps_its_samples_when_resumed(tmp_path):
    """A committed run may keep samples.parquet alone (samples.csv is the log a resume appends to): a resume goes on
    from the parquet instead of writing one with only what it adds."""
    from convbench.results import case_row

    store = ResultsStore(tmp_path / "run")
    store.open()
    before, added = (Case(SeedStack(variant, 8), "torch", "torch", "cpu", "m") for variant in ("conv1x1", "conv3x3"))
    store.append_samples(before.key, 0, [{"sample_kind": "throughput", "sample": 0, "ms_per_forward": 1.0}])
    store.append({**case_row(before), "status": "ok"})
    store.write_parquet()
    store.samples_path.unlink()
    resumed = ResultsStore(tmp_path / "run")
    resumed.open()
    resumed.append_samples(added.key, 0, [{"sample_kind": "throughput", "sample": 0, "ms_per_forward": 2.0}])
    resumed.write_parquet()
    assert sorted(resumed.read_samples()["ms_per_forward"]) == [1.0, 2.0]
