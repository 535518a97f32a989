"""Shared fixtures: one real export and one real bench of a small sweep (C=8, 2 layers, batch 2, 8x8)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from convbench.models.variants import VARIANTS
from convbench.spec import expand_specs

# The suite starts many short runs: their CPU ceilings in one process each (a real run takes the best of two).
os.environ.setdefault("CONVBENCH_CEILING_PROCESSES", "1")
SMALL_SWEEP = ["--channels", "8", "--layers", "2", "--batch", "2", "--image", "8"]
QUICK_TIMING = ["--warmup-seconds", "0.02", "--sample-seconds", "0.01", "--budget-seconds", "0.05",
                "--min-samples", "3", "--max-samples", "5", "--processes", "1"]
PROCESSES = 2  # the shared bench run times every case in two fresh processes
SMALL_SPECS = expand_specs(list(VARIANTS), [8], layers=2, batch=2, image=8)


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


def convbench(*args: str, cwd: Path | None = None) -> CliRun:
    """Run the real CLI in a subprocess, as a user would."""
    done = subprocess.run([sys.executable, "-m", "convbench.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=900)
    return CliRun(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(run: CliRun, *needles: str) -> None:
    """Exit status 2, one line on stderr naming every needle, no traceback."""
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def bench_conv3x3_in_ort(artifacts_root: Path, results_root: Path) -> pd.DataFrame:
    """Time conv3x3 of the small sweep in onnxruntime on both exports; its result rows indexed by source."""
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--variants", "conv3x3", "--runtimes", "ort",
                    "--artifacts", str(artifacts_root), "--results", str(results_root))
    rows = pd.read_csv(results_root / "latest" / "results.csv").set_index("source")
    assert run.returncode == (1 if (rows["status"] == "failed").any() else 0), run.stdout + run.stderr
    return rows


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("convbench")


@pytest.fixture(scope="session")
def exported(workdir: Path) -> Path:
    """artifacts/ of a real export of all seven conv types from both sources."""
    run = convbench("export", *SMALL_SWEEP, "--artifacts", str(workdir / "artifacts"))
    assert run.returncode == 0, run.stdout + run.stderr
    return workdir / "artifacts"


@dataclass
class BenchRun:
    run_dir: Path
    output: str


@pytest.fixture(scope="session")
def bench_run(workdir: Path, exported: Path) -> BenchRun:
    """A real bench of the small sweep in every default runtime, in two processes, with kernel times."""
    run = convbench("bench", *SMALL_SWEEP, *QUICK_TIMING, "--processes", str(PROCESSES), "--profile",
                    "--artifacts", str(exported), "--results", str(workdir / "results"))
    assert run.returncode == 0, run.stdout + run.stderr
    return BenchRun((workdir / "results" / "latest").resolve(), run.stdout)
