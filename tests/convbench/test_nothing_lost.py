"""Nothing lost, nothing silent: a crash at any point costs at most the case in flight, every row on disk can be
trusted, exports are hashed whole, and a command that failed says so in one line and its exit status."""

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.results import new_run_dir, read_results
from tests.conftest import (
    QUICK_TIMING,
    SMALL_SPECS,
    SMALL_SWEEP,
    assert_one_line_error,
    convbench,
)

ORT = ["--runtimes", "ort"]


def _bench_ort(artifacts: Path, run_dir: Path, *extra: str):
    return convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, *ORT, "--artifacts", str(artifacts),
                     "--run-dir", str(run_dir), *extra)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


@pytest.fixture(scope="module")
def ort_run(exported, tmp_path_factory) -> Path:
    """A finished small sweep in onnxruntime (both exports), one process per case."""
    run_dir = tmp_path_factory.mktemp("ort") / "run"
    done = _bench_ort(exported, run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir


# 1. A full disk


@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 MiB tmpfs (room for a run with its report.html once the filler goes) filled to its last 16 KiB (root
    only: skipped where mount is refused)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    filler = mount / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k", "count=2044"], capture_output=True)
    try:
        yield mount, filler
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_one_error_and_the_run_resumes_once_there_is_space(exported, tiny_disk):
    mount, filler = tiny_disk
    run_dir = mount / "run"
    full = _bench_ort(exported, run_dir)
    assert full.returncode == 1, full.stdout + full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in full.stderr
    for name in ("results.csv", "processes.csv"):  # what was written before stays readable
        if (run_dir / name).exists():
            read_results(run_dir / name)
    filler.unlink()
    resumed = _bench_ort(exported, run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    results = read_results(run_dir / "results.csv")
    assert len(results) == 2 * len(SMALL_SPECS) and (results["status"] == "ok").all()
    assert (run_dir / "report.md").exists()


# 2. Rows lost between processes.csv and results.csv, and partial lines


def test_a_case_whose_result_row_was_lost_is_rebuilt_from_its_process_rows(exported, ort_run, tmp_path):
    run_dir = _copy(ort_run, tmp_path / "run")
    lines = (run_dir / "results.csv").read_text().splitlines(keepends=True)
    (run_dir / "results.csv").write_text("".join(lines[:-1]))  # stopped before the last case's result row
    resumed = _bench_ort(exported, run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "rebuilding 1 case(s)' results.csv rows from their complete rows in processes.csv" in resumed.stdout
    assert "process 1 of 1" not in resumed.stdout  # nothing was timed again
    before, after = read_results(ort_run / "results.csv"), read_results(run_dir / "results.csv")
    assert len(after) == len(before)
    key = ["stack_id", "source"]
    pd.testing.assert_series_equal(before.set_index(key)["ms_per_forward"].sort_index(),
                                   after.set_index(key)["ms_per_forward"].sort_index())


def test_a_run_begun_by_an_older_convbench_stays_readable_when_resumed(exported, ort_run, tmp_path):
    """Its results.csv lacks a column added since (network): resumed rows are written in the file's columns."""
    run_dir = _copy(ort_run, tmp_path / "run")
    old = read_results(run_dir / "results.csv").drop(columns=["network"])
    old.iloc[:-1].to_csv(run_dir / "results.csv", index=False)
    resumed = _bench_ort(exported, run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = read_results(run_dir / "results.csv")
    assert len(after) == len(old) and "network" not in after


def test_partial_last_lines_are_dropped_on_resume_and_the_case_in_flight_timed_again(exported, ort_run, tmp_path):
    run_dir = _copy(ort_run, tmp_path / "run")
    processes = (run_dir / "processes.csv").read_text().splitlines(keepends=True)
    results = (run_dir / "results.csv").read_text().splitlines(keepends=True)
    # killed mid-write: the last case's process row half written, its result row not at all
    (run_dir / "processes.csv").write_text("".join(processes[:-1]) + processes[-1][:40])
    (run_dir / "results.csv").write_text("".join(results[:-1]))
    report = convbench("report", str(run_dir))
    assert report.returncode == 0, report.stderr
    assert "left out a partial last line" in report.stdout
    resumed = _bench_ort(exported, run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "processes.csv: dropped a partial last line" in resumed.stdout
    assert "1 cases in a fresh worker" in resumed.stdout
    after = read_results(run_dir / "results.csv")
    assert len(after) == len(results) - 1 and (after["status"] == "ok").all()
    assert len(read_results(run_dir / "processes.csv")) == len(processes) - 1


# 3. Exports hashed whole


def _torch_data_file(artifacts: Artifacts, variant: str) -> Path:
    spec = next(s for s in SMALL_SPECS if s.variant == variant)
    return artifacts.onnx_path("torch", spec).with_name(f"{spec.stack_id}.onnx.data")


def test_a_missing_or_changed_onnx_data_is_named_and_export_repairs_it(exported, tmp_path):
    artifacts = Artifacts(_copy(exported, tmp_path / "artifacts"))
    missing, changed = _torch_data_file(artifacts, "conv3x3"), _torch_data_file(artifacts, "conv5x5")
    assert missing.stat().st_size > 0  # its weights live there
    missing.unlink()
    with changed.open("ab") as handle:
        handle.write(b"\0")
    run = _bench_ort(artifacts.root, tmp_path / "run", "--variants", "conv3x3", "conv5x5")
    assert run.returncode == 1, run.stdout + run.stderr
    rows = read_results(tmp_path / "run" / "results.csv").set_index(["stack_id", "source"])
    reasons = rows.xs("torch.onnx", level="source")["reason"]
    assert f"{missing} is missing: run `convbench export`" in reasons.iloc[0]
    assert f"{changed} changed since export" in reasons.iloc[1]
    assert (rows.xs("tf2onnx", level="source")["status"] == "ok").all()
    graphs = pd.read_csv(tmp_path / "run" / "graphs.csv")  # the listing names them instead of crashing
    assert graphs["note"].fillna("").str.contains("is missing").sum() == 1
    assert (tmp_path / "run" / "report.md").exists()
    inspect = convbench("inspect", str(artifacts.onnx_path("torch", SMALL_SPECS[4])))
    assert_one_line_error(inspect, "external data file", "is missing")

    export = convbench("export", *SMALL_SWEEP, "--variants", "conv3x3", "conv5x5", "--sources", "torch",
                       "--artifacts", str(artifacts.root))
    assert export.returncode == 0, export.stderr
    assert export.stdout.count("up to date") == 0 and missing.exists()
    again = _bench_ort(artifacts.root, tmp_path / "run2", "--variants", "conv3x3", "conv5x5")
    assert again.returncode == 0, again.stdout + again.stderr


# 4. Exit codes


def test_bench_exits_1_when_every_case_failed_and_counts_them(exported, tmp_path):
    artifacts = Artifacts(_copy(exported, tmp_path / "artifacts"))
    for path in (artifacts.root / "onnx").rglob("*.onnx"):
        path.unlink()
    run = _bench_ort(artifacts.root, tmp_path / "run")
    assert run.returncode == 1
    cases = 2 * len(SMALL_SPECS)
    assert f"{cases} cases: 0 ok, 0 skipped, {cases} failed: exit status 1" in run.stdout


def test_help_says_what_the_exit_status_means():
    run = convbench("bench", "--help")
    assert run.returncode == 0
    for needle in ("1 a failure", "2 bad input", "130 interrupted"):
        assert needle in " ".join(run.stdout.split())


# 5. One line, exit 2, for every bad input


@pytest.mark.parametrize("args", [
    ["--run-dir", "{file}"], ["--run-dir", "/proc/convbench-x"], ["--results", "{file}"], ["--run-dir", "{other}"],
], ids=["run-dir-file", "run-dir-proc", "results-file", "run-dir-not-a-run"])
def test_bad_paths_are_one_line(exported, tmp_path, args):
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    args = [a.format(file=tmp_path / "file", other=tmp_path / "other") for a in args]
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, *ORT, "--artifacts", str(exported), *args)
    assert_one_line_error(run, args[0], args[1])
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("command", "args", "needles"), [
    ("bench", ["--case-timeout", "inf"], ["--case-timeout", "'inf'", "finite"]),
    ("bench", ["--warmup-seconds", "nan"], ["--warmup-seconds", "'nan'"]),
    ("bench", ["--threads", "1000"], ["--threads", "1000", "usable cores"]),
    ("export", ["--channels", "1000000000"], ["c1000000000", "GiB", "memory"]),
], ids=["timeout-inf", "warmup-nan", "threads", "channels-huge"])
def test_bad_numbers_are_one_line(exported, tmp_path, command, args, needles):
    run = convbench(command, *SMALL_SWEEP, *args, "--artifacts", str(tmp_path / "a"))
    assert_one_line_error(run, *needles)
    assert not (tmp_path / "a" / "onnx" / "manifest.csv").exists()


@pytest.mark.parametrize(("command", "flag", "valid"), [
    ("bench", "--variants", "conv3x3sep"), ("export", "--variants", "conv1x1"), ("export", "--channels", "8"),
    ("bench", "--runtimes", "ort"), ("export", "--dtype", "float16"), ("export", "--sources", "keras"),
])
def test_an_empty_list_is_one_line_naming_the_valid_values(exported, command, flag, valid):
    assert_one_line_error(convbench(command, *SMALL_SWEEP, flag, "", "--artifacts", str(exported)),
                          flag, "empty list", valid)


@pytest.mark.parametrize(("damage", "needle"), [
    (lambda text: "", "empty"),
    (lambda text: text.replace("\n", '\n"unclosed quote,\n', 1), "fields"),
    (lambda text: text.replace("\n", "\ngarbage row\n", 2), "has 1 fields"),
    (lambda text: text.replace(",ok,", ",ok,,", 1), "fields"),
    (lambda text: text.replace("False,", "Nope,", 1), "is not True or False"),
], ids=["empty", "unclosed-quote", "garbage-row", "extra-cell", "non-flag"])
def test_report_and_compare_on_a_damaged_results_file_are_one_line(ort_run, tmp_path, damage, needle):
    run_dir = _copy(ort_run, tmp_path / "run")
    path = run_dir / "results.csv"
    path.write_text(damage(path.read_text()))
    assert_one_line_error(convbench("report", str(run_dir)), str(path), needle)
    assert_one_line_error(convbench("compare", str(ort_run), str(run_dir)), str(path), needle)


def test_non_utf8_bytes_and_non_numeric_cells_are_one_line(ort_run, tmp_path):
    run_dir = _copy(ort_run, tmp_path / "run")
    path = run_dir / "results.csv"
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[1].rstrip("\n").split(",")
    cells[header.index("ms_per_forward")] = "fast"
    path.write_text(lines[0] + ",".join(cells) + "\n" + "".join(lines[2:]))
    assert_one_line_error(convbench("report", str(run_dir)), "line 2, column ms_per_forward: 'fast'")
    path.write_bytes(text.encode() + b"\xff\xfe\n")
    assert_one_line_error(convbench("report", str(run_dir)), "not UTF-8")


@pytest.mark.parametrize("cut", ["field-boundary", "quoted-field"])
def test_a_results_file_cut_short_loses_only_its_last_row(ort_run, tmp_path, cut):
    run_dir = _copy(ort_run, tmp_path / "run")
    path = run_dir / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    last = lines[-1]
    at = last.index(",", 30) + 1 if cut == "field-boundary" else last.index('"{') + 5  # inside the options JSON
    path.write_text("".join(lines[:-1]) + last[:at])
    run = convbench("report", str(run_dir))
    assert run.returncode == 0, run.stderr
    assert "left out a partial last line" in run.stdout
    assert len(read_results(path)) == len(lines) - 2


def test_compare_checks_its_csv_path_before_printing_anything(ort_run):
    run = convbench("compare", str(ort_run), str(ort_run), "--csv", "/proc/convbench-x/o.csv")
    assert_one_line_error(run, "--csv /proc/convbench-x/o.csv", "cannot write")
    assert run.stdout == ""


def test_inspect_of_a_cut_onnx_file_is_one_line(exported, tmp_path):
    source = Artifacts(exported).onnx_path("torch", SMALL_SPECS[0])
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(source.read_bytes()[:200])
    assert_one_line_error(convbench("inspect", str(cut)), str(cut), "not a readable ONNX model")


def _interrupt(args: list[str], marker: str = "", after_s: float = 0.0) -> subprocess.CompletedProcess:
    """Start the CLI and send Ctrl-C (SIGINT) once `marker` appears in its output, or `after_s` seconds after it
    started; return how it ended. The CLI starts with Ctrl-C's default action even where the suite inherited it
    ignored (a shell runs a background job with SIGINT ignored, and Python then keeps it ignored)."""
    process = subprocess.Popen([sys.executable, "-m", "convbench.cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    output = []
    if marker:
        for line in process.stdout:
            output.append(line)
            if marker in line:
                break
    else:
        time.sleep(after_s)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, "".join(output) + out, err)


def test_ctrl_c_while_the_ceilings_are_measured_ends_with_130_and_leaves_the_results_folder_as_it_was(
        exported, tmp_path):
    results = tmp_path / "results"
    (results / "earlier").mkdir(parents=True)
    (results / "latest").symlink_to("earlier")
    done = _interrupt(["bench", *SMALL_SWEEP, *QUICK_TIMING, *ORT, "--artifacts", str(exported),
                       "--results", str(results)], marker="measuring this machine's cpu ceilings")
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "interrupted before any case was measured" in done.stdout
    assert "what was measured is in" not in done.stdout
    # no stub run left, and `latest` still names the run it named before
    assert sorted(p.name for p in results.iterdir()) == ["earlier", "latest"]
    assert (results / "latest").resolve() == (results / "earlier").resolve()


def test_ctrl_c_during_export_ends_with_130_in_one_line(tmp_path):
    done = _interrupt(["export", *SMALL_SWEEP, "--artifacts", str(tmp_path / "a")], after_s=4)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("convbench: interrupted")


# 6. Smaller


def test_run_ids_never_collide():
    now = datetime(2026, 12, 1, 12, 0, 0)
    with tempfile.TemporaryDirectory() as root:
        first, second = new_run_dir(Path(root), now), new_run_dir(Path(root), now)
        assert first != second and first.name == "20261201-120000" and second.name == "20261201-120000-2"
