"""The paths added since the core was made safe fail as safely as it: compare across machines, cluster addresses,
damaged run files, merge, resume, LiteRT freshness, and the smaller ones (issue 39). Each test is a user's command
on real files, as the issue's repro gives it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from convbench.cluster import host_and_port
from convbench.errors import BadInput
from tests.conftest import SMALL_SWEEP, CliRun, assert_one_line_error, convbench

ONE_CASE = [*SMALL_SWEEP, "--variants", "conv3x3", "--runtimes", "ort", "--sources", "torch.onnx",
            "--warmup-seconds", "0.01", "--sample-seconds", "0.005", "--budget-seconds", "0.03", "--min-samples", "2",
            "--max-samples", "3", "--processes", "1"]


def bench_as(machine: str, *args: str) -> CliRun:
    env = {**os.environ, "CONVBENCH_MACHINE": machine}
    done = subprocess.run([sys.executable, "-m", "convbench.cli", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    return CliRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def two_machines(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same one-case run on machines named m1 and m2, and their merge."""
    root = tmp_path_factory.mktemp("machines")
    for name in ("m1", "m2"):
        run = bench_as(name, *ONE_CASE, "--artifacts", str(exported), "--run-dir", str(root / name))
        assert run.returncode == 0, run.stdout + run.stderr
    merged = convbench("merge", str(root / "m1"), str(root / "m2"), "--out", str(root / "M"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    return {"m1": root / "m1", "m2": root / "m2", "M": root / "M", "root": root}


# 1. compare never pairs one machine's row with another machine's


def test_a_merged_run_compared_with_its_copy_pairs_each_row_with_its_own_machine(two_machines, tmp_path):
    copy = tmp_path / "M2"
    shutil.copytree(two_machines["M"], copy)
    run = convbench("compare", str(two_machines["M"]), str(copy), "--csv", str(tmp_path / "c.csv"))
    assert run.returncode == 0, run.stdout + run.stderr
    table = pd.read_csv(tmp_path / "c.csv")
    assert len(table) == 2 and sorted(table["machine"]) == ["m1", "m2"]  # 2 rows for 2 cases, not 4
    assert (table["b_vs_a"] == 1.0).all() and not table["differs"].any()


def test_one_machines_run_against_another_is_still_compared_and_says_so(two_machines):
    run = convbench("compare", str(two_machines["m1"]), str(two_machines["m2"]))
    assert run.returncode == 0 and "different machines" in " ".join(run.stdout.split()), run.stdout + run.stderr


def test_a_merged_run_against_a_third_machine_is_refused_in_one_line(two_machines, exported, tmp_path):
    third = tmp_path / "m3"
    assert bench_as("m3", *ONE_CASE, "--artifacts", str(exported), "--run-dir", str(third)).returncode == 0
    assert_one_line_error(convbench("compare", str(two_machines["M"]), str(third)), "share no machine", "m1, m2")


# 2 and 5. a --cluster address that is not a Ray cluster's fails in seconds and leaves nothing behind


def test_a_listener_that_is_not_ray_fails_in_seconds_and_leaves_no_run(exported, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (the cluster extra)")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "8765", "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        results = tmp_path / "results"
        started = time.monotonic()
        run = convbench("bench", "--cluster", "127.0.0.1:8765", *ONE_CASE, "--artifacts", str(exported),
                        "--results", str(results))
        took = time.monotonic() - started
    finally:
        server.kill()
    assert_one_line_error(run, "--cluster 127.0.0.1:8765")
    assert took < 90, took
    assert not results.exists() or list(results.iterdir()) == []  # no stub run, no `latest` pointing at one


def test_cluster_addresses_are_parsed_or_refused_in_one_line():
    assert host_and_port("[::1]:6379") == ("::1", 6379) and host_and_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    with pytest.raises(BadInput, match="not a host:port"):
        host_and_port("10.0.0.5")
    assert_one_line_error(convbench("bench", "--cluster", "", *ONE_CASE), "--cluster got an empty address")


# 3. damaged run files are one line and exit status 2, for every command that reads them


@pytest.fixture
def damaged(two_machines, tmp_path):
    """A copy of m1's run, to damage."""
    run_dir = tmp_path / "run"
    shutil.copytree(two_machines["m1"], run_dir)
    return run_dir


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("env.json", '{"x":', "env.json: not JSON"),
    ("graphs.csv", '"x\n', "graphs.csv"),
    ("request.json", "[1, 2]", "request.json"),
])
def test_a_damaged_file_is_one_line_for_report_merge_and_a_resumed_bench(damaged, two_machines, tmp_path, name, text,
                                                                          needle):
    (damaged / name).write_text(text)
    if name != "request.json":
        assert_one_line_error(convbench("report", str(damaged)), needle)
    out = tmp_path / "merged"
    if name != "request.json":
        assert_one_line_error(convbench("merge", str(damaged), str(two_machines["m2"]), "--out", str(out)), needle)
        assert not out.exists()  # 4: a failed merge leaves no half-written --out
    before = (damaged / "processes.csv").read_text()
    assert_one_line_error(bench_as("m1", "--run-dir", str(damaged)), needle)
    assert (damaged / "processes.csv").read_text() == before  # refused before any work


def test_damaged_conditions_and_an_unknown_status_are_one_line(damaged, two_machines, tmp_path):
    (damaged / "conditions.jsonl").write_text('{"at": 1}\nnot json\n')
    assert_one_line_error(convbench("merge", str(damaged), str(two_machines["m2"]), "--out", str(tmp_path / "o")),
                          "conditions.jsonl: line 2 is not JSON")
    table = pd.read_csv(damaged / "results.csv")
    table.loc[0, "status"] = "weird"
    table.to_csv(damaged / "results.csv", index=False)
    assert_one_line_error(convbench("report", str(damaged)), "column status: 'weird' is not one of ok, skipped, failed")


# 4. merge writes all of its folder or nothing, and its errors name --out


def test_a_failed_merge_can_be_run_again_and_its_errors_name_out(two_machines, tmp_path):
    out = tmp_path / "merged"
    broken = tmp_path / "broken"
    shutil.copytree(two_machines["m1"], broken)
    (broken / "conditions.jsonl").write_text("{\n")
    assert convbench("merge", str(broken), str(two_machines["m2"]), "--out", str(out)).returncode == 2
    assert not out.exists() and not list(tmp_path.glob(".merged*"))
    shutil.copy(two_machines["m1"] / "conditions.jsonl", broken / "conditions.jsonl")
    again = convbench("merge", str(broken), str(two_machines["m2"]), "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert_one_line_error(convbench("merge", str(broken), str(two_machines["m2"]), "--out", str(out)),
                          f"--out {out}: already holds a run")


# 6. a resume never mixes two ways of measuring in one run


@pytest.mark.parametrize(("machine", "flags", "needle"), [
    ("m9", [], "the machine (its hardware, or CONVBENCH_MACHINE): m9 now, m1 in the run"),
    ("m1", ["--threads", "1"], "--threads: 1 now, 2 in the run"),
    ("m1", ["--processes", "3"], "--processes: 3 now, 1 in the run"),
])
def test_a_resume_that_would_measure_differently_is_refused(damaged, machine, flags, needle):
    if needle.startswith("--threads") and os.cpu_count() == 1:
        pytest.skip("one core: the run's threads are 1 already")
    before = (damaged / "results.csv").read_text()
    assert_one_line_error(bench_as(machine, "--run-dir", str(damaged), *flags), needle)
    assert (damaged / "results.csv").read_text() == before


def test_a_resume_with_other_conv_types_extends_the_run_and_says_so(damaged, exported):
    run = bench_as("m1", *ONE_CASE[:-len(["--variants", "conv3x3"])], "--variants", "conv1x1", "--runtimes", "ort",
                   "--sources", "torch.onnx", "--artifacts", str(exported), "--run-dir", str(damaged))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "extends the run with 1 case(s) of an added sweep (--variants conv1x1, conv3x3 in the run)" in " ".join(
        run.stdout.split())
    table = pd.read_csv(damaged / "results.csv")
    assert sorted(table["variant"]) == ["conv1x1", "conv3x3"] and set(table["machine"]) == {"m1"}
    assert len(json.loads((damaged / "request.json").read_text())["sweeps"]) == 2


# 7. LiteRT exports are up to date once made


def test_a_litert_export_is_up_to_date_the_second_time(exported, tmp_path):
    pytest.importorskip("ai_edge_litert", reason="LiteRT is not installed")
    artifacts = tmp_path / "a"
    shutil.copytree(exported, artifacts)
    args = ["export", *SMALL_SWEEP, "--variants", "conv3x3", "--sources", "tflite", "--artifacts", str(artifacts)]
    first = convbench(*args)
    assert first.returncode == 0 and " ok " in first.stdout, first.stdout + first.stderr
    second = convbench(*args)
    assert second.returncode == 0 and "up to date" in second.stdout and " ok " not in second.stdout, second.stdout


# 8. the smaller ones


def test_networks_with_seed_stack_sizes_is_one_line():
    assert_one_line_error(convbench("bench", "--networks", "resnet50", "--channels", "8"),
                          "--channels with --networks")


@pytest.mark.parametrize(("flags", "why"), [(["--runtimes", "ort", "--pass", "train"], "inference"),
                                            (["--runtimes", "torch-cuda-graph"], "needs a CUDA device")])
def test_a_sweep_whose_every_case_is_skipped_is_bad_input_before_any_work(exported, tmp_path, flags, why):
    run = convbench("bench", *SMALL_SWEEP, *flags, "--artifacts", str(exported), "--results", str(tmp_path / "r"))
    assert_one_line_error(run, "every case of this sweep would be skipped", why)
    assert "ceilings" not in run.stdout and not (tmp_path / "r").exists()


def test_two_ctrl_c_end_with_130_and_no_traceback(exported, tmp_path):
    two_runtimes = [*ONE_CASE[:ONE_CASE.index("--runtimes")], "--runtimes", "ort", "torch",
                    *ONE_CASE[ONE_CASE.index("--sources") + 2:]]
    process = subprocess.Popen([sys.executable, "-m", "convbench.cli", "bench", *two_runtimes, "--artifacts",
                                str(exported), "--run-dir", str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in process.stdout:
        if "fresh worker" in line:
            break
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
