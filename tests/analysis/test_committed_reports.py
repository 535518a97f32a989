"""Committed runs still read: `convbench report` on a copy of a committed run directory writes the committed
report.md again, byte for byte (a CPU sweep with kernels and roofline, a GPU networks run, a two-machine merge)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convbench.analysis.report import write_report

COMMITTED = Path(__file__).parents[2] / "docs" / "results"
# What each run exercises: the seed sweep profiled on the CPU; real networks on CUDA with layer tables; machines
# side by side from a merge.
RUNS = ["cpu-2core-2026-12-02", "h200-networks", "two-machines"]


@pytest.mark.parametrize("name", RUNS)
def test_a_committed_report_is_written_again_unchanged(tmp_path: Path, name: str) -> None:
    committed = COMMITTED / name
    run_dir = tmp_path / name
    shutil.copytree(committed, run_dir, ignore=shutil.ignore_patterns("report*", "*.png", "NOTES.md"))
    written = write_report(run_dir).read_text()
    expected = (committed / "report.md").read_text()
    assert written == expected, _first_difference(written, expected)


def _first_difference(written: str, expected: str) -> str:
    for number, (a, b) in enumerate(zip(written.splitlines(), expected.splitlines(), strict=False), start=1):
        if a != b:
            return f"line {number}:\n  written:   {a}\n  committed: {b}"
    return f"lengths differ: {len(written.splitlines())} lines written, {len(expected.splitlines())} committed"
