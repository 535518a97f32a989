"""`bench --cluster` on a real local Ray cluster (a head and worker nodes started on this machine by
ray.cluster_utils, each a real raylet), and `merge` of runs timed apart.

Two nodes on one 2-core machine disturb each other's timings: these tests check the mechanics (where rows come
from, what a lost node costs, what a resume does, what a merge writes), never the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import QUICK_TIMING, SMALL_SWEEP, BenchRun, convbench

ray = pytest.importorskip("ray", reason="Ray is not installed (the cluster extra: pip install -e '.[cluster]')")
from ray.cluster_utils import Cluster  # noqa: E402

NODE = {"num_cpus": 1, "resources": {"convbench": 1}}
MACHINE = "ray-test-machine"  # the nodes' CONVBENCH_MACHINE: their rows are told apart from the local bench run's
SWEEP = [*SMALL_SWEEP, "--runtimes", "torch", "--variants", "conv1x1", "conv3x3", "conv5x5", "conv3x3sep",
         "--warmup-seconds", "0.02", "--sample-seconds", "0.01", "--budget-seconds", "0.1", "--min-samples", "3",
         "--max-samples", "10", "--processes", "2"]


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node, each offering one convbench slot, named MACHINE (set before their raylets
    start, which pass it on to every task)."""
    before = os.environ.get("CONVBENCH_MACHINE")
    os.environ["CONVBENCH_MACHINE"] = MACHINE
    try:
        cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
        worker = cluster.add_node(**NODE)
        cluster.wait_for_nodes()
    finally:
        if before is None:
            os.environ.pop("CONVBENCH_MACHINE")
        else:
            os.environ["CONVBENCH_MACHINE"] = before
    yield cluster, worker
    cluster.shutdown()


def _bench(address: str, exported: Path, run_dir: Path, *extra: str) -> list[str]:
    """The bench command, run in the artifacts' parent folder and naming them by a relative path (the nodes' tasks
    run in another folder: the path they get must be absolute)."""
    return [sys.executable, "-m", "convbench.cli", "bench", "--cluster", address, *SWEEP, "--artifacts",
            exported.name, "--run-dir", str(run_dir), *extra]


def _pythonpath() -> dict[str, str]:
    """This environment, with the project importable from another folder (as an installed convbench is)."""
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def lost_and_resumed(cluster, exported: Path, tmp_path_factory: pytest.TempPathFactory):
    """A sweep through the cluster during which a third node is stopped as soon as it has written a row, then
    the same run resumed on the two nodes left: the tables after each."""
    cluster, _ = cluster
    os.environ["CONVBENCH_MACHINE"] = MACHINE
    try:
        doomed = cluster.add_node(**NODE)
    finally:
        os.environ.pop("CONVBENCH_MACHINE")
    doomed_id = doomed.node_id[:8]
    run_dir = tmp_path_factory.mktemp("cluster") / "run"
    first = subprocess.Popen(_bench(cluster.address, exported, run_dir), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd=exported.parent, env=_pythonpath())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        processes = run_dir / "processes.csv"
        if processes.exists() and doomed_id in processes.read_text():
            cluster.remove_node(doomed, allow_graceful=False)
            break
        time.sleep(0.2)
    first_output = first.communicate(timeout=600)[0]
    after_loss = {name: pd.read_csv(run_dir / name) for name in ("results.csv", "processes.csv")}
    resumed = subprocess.run(_bench(cluster.address, exported, run_dir), capture_output=True, text=True, timeout=600,
                             cwd=exported.parent, env=_pythonpath())
    return {"run_dir": run_dir, "doomed": doomed_id, "first_code": first.returncode, "first_output": first_output,
            "after_loss": after_loss, "resumed": resumed}


def test_a_lost_node_fails_its_open_cases_and_keeps_what_was_written(lost_and_resumed):
    results = lost_and_resumed["after_loss"]["results.csv"]
    processes = lost_and_resumed["after_loss"]["processes.csv"]
    doomed = lost_and_resumed["doomed"]
    assert lost_and_resumed["first_code"] == 1, lost_and_resumed["first_output"]
    lost = results[results["reason"].fillna("").str.contains("was lost")]
    assert len(lost) >= 1, lost_and_resumed["first_output"]
    assert set(lost["node"]) == {doomed}
    assert "the next resume runs it again" in lost["reason"].iloc[0]
    assert (processes["node"] == doomed).any()  # the row written before the node went is kept


def test_resume_reruns_the_lost_cases_and_keeps_the_rest(lost_and_resumed):
    resumed = lost_and_resumed["resumed"]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    before = lost_and_resumed["after_loss"]["results.csv"]
    after = pd.read_csv(lost_and_resumed["run_dir"] / "results.csv")
    assert (after["status"] == "ok").all() and len(after) == 4
    kept = before[before["status"] == "ok"].set_index("stack_id")["finished_at"]
    assert (after.set_index("stack_id").loc[kept.index, "finished_at"] == kept).all()  # not timed again
    old_rows = lost_and_resumed["after_loss"]["processes.csv"]
    kept_processes = old_rows[old_rows["status"] == "ok"]
    now = pd.read_csv(lost_and_resumed["run_dir"] / "processes.csv")
    assert len(now.merge(kept_processes[["stack_id", "process", "pid"]])) == len(kept_processes)


def test_cluster_rows_have_a_local_runs_columns_and_name_every_node(lost_and_resumed, bench_run: BenchRun, cluster):
    cluster, worker = cluster
    run_dir = lost_and_resumed["run_dir"]
    rows = pd.read_csv(run_dir / "results.csv")
    local = pd.read_csv(bench_run.run_dir / "results.csv")
    assert list(rows.columns) == list(local.columns)
    assert set(rows["machine"]) == {MACHINE}
    nodes = set(pd.read_csv(run_dir / "processes.csv")["node"])
    assert {cluster.head_node.node_id[:8], worker.node_id[:8], lost_and_resumed["doomed"]} <= nodes
    assert rows["host"].notna().all() and rows["env_id"].notna().all()
    env = json.loads((run_dir / "env.json").read_text())
    assert {cluster.head_node.node_id[:8], worker.node_id[:8]} <= set(env["machines"][MACHINE]["nodes"])
    assert "peak_gflop_per_s" in env["machines"][MACHINE]["ceilings"]["cpu"]


def test_merge_sets_machines_side_by_side(lost_and_resumed, bench_run: BenchRun, tmp_path: Path):
    out = tmp_path / "merged"
    run = convbench("merge", str(bench_run.run_dir), str(lost_and_resumed["run_dir"]), "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    merged = pd.read_csv(out / "results.csv")
    assert set(merged["machine"]) == {MACHINE, pd.read_csv(bench_run.run_dir / "results.csv")["machine"].iloc[0]}
    report = (out / "report.md").read_text()
    assert "## Machines side by side" in report
    section = report.split("## Machines side by side")[1].split("\n## ")[0]
    assert MACHINE in section and "conv3x3" in section and "Fastest machine per workload" in section
    again = convbench("merge", str(bench_run.run_dir), str(out), "--out", str(tmp_path / "twice"))
    assert again.returncode == 2 and "both hold" in again.stderr


def test_compare_says_when_the_machines_differ(lost_and_resumed, bench_run: BenchRun):
    run = convbench("compare", str(bench_run.run_dir), str(lost_and_resumed["run_dir"]))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "different machines" in " ".join(run.stdout.split())


def test_no_cluster_there_is_a_clear_error(exported: Path, tmp_path: Path):
    run = convbench("bench", "--cluster", "127.0.0.1:1", *SMALL_SWEEP, *QUICK_TIMING, "--artifacts", str(exported),
                    "--run-dir", str(tmp_path / "run"))
    assert run.returncode == 2 and "no Ray cluster answered there" in run.stderr, run.stderr
    assert not (tmp_path / "run").exists()  # refused before a run directory was made for it

