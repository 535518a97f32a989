"""Sweeps that survive: hangs, dead workers, out of memory, two writers, changed files, stray links."""

import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.bench import plan_cases, run_bench
from convbench.harness import TimingConfig
from convbench.jobs import RunSettings
from convbench.results import ResultsStore
from convbench.runners import FAMILY_ENV, RUNTIMES, RuntimeInfo
from tests.conftest import (
    QUICK_TIMING,
    SMALL_SPECS,
    SMALL_SWEEP,
    assert_one_line_error,
    bench_conv3x3_in_ort,
    convbench,
)

QUICK = TimingConfig(warmup_seconds=0.01, sample_seconds=0.005, budget_seconds=0.04, min_samples=2,
                     max_samples=3, processes=2)


def _bench_fake(runtime_class: str, exported, tmp_path, monkeypatch, timeout_s=None):
    """Register a test-only runtime, time the small sweep with it in real worker processes, return the tables."""
    name = f"fake-{runtime_class.lower()}"
    monkeypatch.setitem(RUNTIMES, name, RuntimeInfo(name, "fake", ("torch",),
                                                    f"tests.convbench.fake_runtimes:{runtime_class}", (), "test"))
    monkeypatch.setitem(FAMILY_ENV, "fake", {})
    store = ResultsStore(tmp_path / "run")
    store.open()
    cases = plan_cases(SMALL_SPECS, [name], "cpu")
    run_bench(cases, store, Artifacts(exported), RunSettings(QUICK, 1, "env", case_timeout_s=timeout_s),
              lambda case, row: None)
    results = pd.read_csv(store.csv_path).set_index("variant")
    return results, pd.read_csv(store.processes_path)


def test_a_case_that_hangs_becomes_a_timed_out_row_and_the_next_case_runs(exported, tmp_path, monkeypatch):
    started = time.perf_counter()
    results, processes = _bench_fake("Hangs", exported, tmp_path, monkeypatch, timeout_s=5)
    assert time.perf_counter() - started < 90
    assert results.loc["conv3x3", "status"] == "failed"
    assert results.loc["conv3x3", "reason"] == "timed out after 5 s; its fake worker was killed"
    assert (results.drop(index="conv3x3")["status"] == "ok").all()
    assert len(processes[processes["stack_id"].str.startswith("conv3x3-")]) == 1  # not tried again in process 1


def test_a_worker_killed_mid_case_costs_exactly_one_failed_row(exported, tmp_path, monkeypatch):
    results, processes = _bench_fake("DiesMidCase", exported, tmp_path, monkeypatch)
    assert (results["status"] == "failed").sum() == 1
    assert "worker process died (signal 9" in results.loc["conv3x3", "reason"]
    assert (results.drop(index="conv3x3")["status"] == "ok").all()
    assert (results.drop(index="conv3x3")["processes"] == 2).all()


def test_out_of_memory_is_a_failed_row_and_the_worker_goes_on(exported, tmp_path, monkeypatch):
    results, processes = _bench_fake("OutOfMemory", exported, tmp_path, monkeypatch)
    assert "CUDA out of memory" in results.loc["conv3x3", "reason"]
    assert (results.drop(index="conv3x3")["status"] == "ok").all()
    assert processes.groupby("process")["pid"].nunique().eq(1).all()  # one worker per process, never replaced


def _holder(run_dir):
    """Another process holding the run directory's lock, as a second `convbench bench` would."""
    code = ("import sys, time; from pathlib import Path; from convbench.runlock import RunLock; "
            "lock = RunLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_on_a_run_directory_is_refused_and_a_stale_lock_taken_over(exported, tmp_path):
    run_dir = tmp_path / "run"
    args = ["bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv1x1", "--runtimes", "ort",
            "--artifacts", str(exported), "--run-dir", str(run_dir)]
    holder = _holder(run_dir)
    try:
        refused = convbench(*args)
        assert_one_line_error(refused, str(run_dir), f"pid {holder.pid}", "--run-dir")
        assert not (run_dir / "results.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    taken = convbench(*args)  # the holder died without unlocking: its lock file is stale
    assert taken.returncode == 0, taken.stderr
    assert f"took over the lock left by a run that ended without releasing it (pid {holder.pid}" in taken.stdout
    assert (pd.read_csv(run_dir / "results.csv")["status"] == "ok").all()


def test_a_changed_onnx_file_is_a_failed_row_telling_to_export_again(exported, tmp_path):
    artifacts = Artifacts(tmp_path / "artifacts")
    shutil.copytree(exported, artifacts.root)
    conv3x3 = next(s for s in SMALL_SPECS if s.variant == "conv3x3")
    with artifacts.onnx_path("torch", conv3x3).open("ab") as handle:
        handle.write(b"\0")  # one byte more: the file no longer is the one exported
    rows = bench_conv3x3_in_ort(artifacts.root, tmp_path / "results")
    assert rows.loc["torch.onnx", "status"] == "failed"
    assert "changed since export" in rows.loc["torch.onnx", "reason"]
    assert "run `convbench export`" in rows.loc["torch.onnx", "reason"]
    assert rows.loc["tf2onnx", "status"] == "ok"


@pytest.mark.parametrize("inside_results", [False, True])
def test_latest_lives_only_in_the_results_folder(exported, tmp_path, inside_results):
    results = tmp_path / "results"
    run_dir = results / "mine" if inside_results else tmp_path / "x" / "run"
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv1x1", "--runtimes", "ort",
                    "--artifacts", str(exported), "--results", str(results), "--run-dir", str(run_dir))
    assert run.returncode == 0, run.stderr
    assert not (run_dir.parent / "latest").exists() or inside_results
    if inside_results:
        assert (results / "latest").resolve() == run_dir.resolve()
    else:
        assert not results.exists()
