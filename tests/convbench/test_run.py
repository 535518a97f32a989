"""A run started from Python (convbench.run) does what `convbench bench` does: the same checks, the same complete run
directory, its request recorded and resumed from the directory alone."""

import json

import pytest

from convbench.errors import BadInput
from convbench.request import BenchRequest, Sweep
from convbench.run import RunObserver, run

QUICK = {"warmup_seconds": 0.01, "sample_seconds": 0.005, "budget_seconds": 0.04, "min_samples": 2, "max_samples": 3,
         "processes": 2}
SMALL = {"channels": (8,), "layers": 2, "batch": (2,), "image": 8}


class Heard(RunObserver):
    def __init__(self) -> None:
        self.rows, self.families, self.notes = [], [], []

    def row(self, case, row) -> None:
        self.rows.append((case.key, row["status"]))

    def family(self, family, process, cases) -> None:
        self.families.append((family, process, cases))

    def note(self, text) -> None:
        self.notes.append(text)


def request(exported, tmp_path, **sweep) -> BenchRequest:
    return BenchRequest(sweeps=(Sweep(**{**SMALL, **sweep}),), threads=1, timing=QUICK, artifacts=exported,
                        run_dir=tmp_path / "run", results_root=tmp_path)


def test_a_run_from_python_writes_the_whole_run_directory_and_resumes_from_it_alone(exported, tmp_path):
    heard = Heard()
    outcome = run(request(exported, tmp_path, variants=("conv1x1", "conv3x3"), runtimes=("torch", "ort")), heard)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"results.csv", "processes.csv", "env.json", "conditions.jsonl", "results.parquet", "graphs.csv",
            "report.md", "workers.log", "request.json"} <= names
    assert (tmp_path / "latest").resolve() == (tmp_path / "run").resolve()
    assert outcome.counts == {"ok": 6, "skipped": 0, "failed": 0, "missing": 0} and outcome.exit_status == 0
    assert sorted(status for _, status in heard.rows) == ["ok"] * 6
    # interleaved rounds: round k runs process k of every family, before any family's process k + 1
    assert [p for _, p, _ in heard.families] == [0, 0, 1, 1]
    assert {f for f, p, _ in heard.families if p == 0} == {f for f, p, _ in heard.families if p == 1} == {
        "torch", "onnxruntime"}
    assert "## The answers" in outcome.report.read_text()
    recorded = json.loads((tmp_path / "run" / "request.json").read_text())
    assert recorded["sweeps"][0]["variants"] == ["conv1x1", "conv3x3"] and recorded["timing"]["processes"] == 2
    again = Heard()
    resumed = run(BenchRequest(run_dir=tmp_path / "run"), again)  # the directory alone: nothing timed twice
    assert resumed.counts["ok"] == 6 and len(resumed.results) == 6 and again.rows == [] and again.families == []


def test_a_resume_that_would_measure_differently_is_refused_naming_each_difference(exported, tmp_path):
    run(request(exported, tmp_path, variants=("conv1x1",), runtimes=("ort",)), Heard())
    asked = BenchRequest(run_dir=tmp_path / "run", timing={"processes": 3})
    with pytest.raises(BadInput, match=r"--processes: 3 now, 2 in the run"):
        run(asked, Heard())


def test_a_resume_with_another_sweep_extends_the_run_and_says_so(exported, tmp_path):
    run(request(exported, tmp_path, variants=("conv1x1",), runtimes=("ort",)), Heard())
    heard = Heard()
    outcome = run(request(exported, tmp_path, variants=("conv3x3",), runtimes=("ort",)), heard)
    assert outcome.counts["ok"] == 4 and len(heard.rows) == 2  # conv1x1's two rows kept, conv3x3's two timed
    assert any("extends the run with 2 case(s) of an added sweep (--variants conv3x3, conv1x1 in the run)" in note
               for note in heard.notes), heard.notes
    assert len(json.loads((tmp_path / "run" / "request.json").read_text())["sweeps"]) == 2
    again = Heard()
    assert run(BenchRequest(run_dir=tmp_path / "run"), again).counts["ok"] == 4 and again.rows == []


class HeardFloors(Heard):
    def __init__(self) -> None:
        super().__init__()
        self.said = []

    def floors(self, measured, wanted, why_not) -> None:
        self.said.append((measured, wanted, why_not))


def test_a_floor_asked_for_without_a_gpu_gives_every_row_its_reason(exported, tmp_path):
    heard = HeardFloors()
    asked = BenchRequest(sweeps=(Sweep(**SMALL, variants=("conv3x3",), runtimes=("torch",)),), threads=1,
                         timing=QUICK, artifacts=exported, run_dir=tmp_path / "run", floor=True)
    outcome = run(asked, heard)
    assert outcome.counts["ok"] == 1
    assert heard.said == [(0, 0, "the library floor enumerates cuDNN's plans: CUDA only (--device cuda)")]
    row = outcome.results.iloc[0]
    assert row["library_floor_method"] == "not measured: the library floor enumerates cuDNN's plans: CUDA only"
    assert row["library_floor_ms"] != row["library_floor_ms"]  # NaN: no floor, the reason beside it


def test_bad_input_found_on_this_machine_leaves_no_run_directory(exported, tmp_path):
    """What this machine cannot run (here: a sweep with no export) is found before a run directory is made."""
    asked = BenchRequest(sweeps=(Sweep(**{**SMALL, "channels": (24,)}, variants=("conv3x3",), runtimes=("torch",)),),
                         threads=1, timing=QUICK, artifacts=exported, results_root=tmp_path / "results")
    with pytest.raises(BadInput, match="no exported reference for conv3x3-c24"):
        run(asked, Heard())
    assert not (tmp_path / "results").exists()


def test_a_run_on_another_device_resumes_without_its_device_flag(tmp_path):
    """A CUDA run resumed with the run directory alone is labelled by the run's device, not the CPU default: it was
    refused as "another machine" (seen on the H100 on 2026-12-07). Here the recorded machine is what this machine
    calls its CUDA device (e.g. "no GPU"), as a run begun here with --device cuda would record."""
    from dataclasses import replace

    from convbench.envinfo import collect_env
    from convbench.machines import machine_label, usable_cores
    from convbench.request import write_request
    from convbench.run import _resolved

    run_dir = tmp_path / "cuda-run"
    run_dir.mkdir()
    recorded = replace(BenchRequest(sweeps=(Sweep(**SMALL),), device="cuda", threads=1, timing=QUICK),
                       machine=machine_label(collect_env(usable_cores()), "cuda"))
    write_request(run_dir, recorded.resolved(1, recorded.machine))
    resumed, _ = _resolved(BenchRequest(run_dir=run_dir, threads=1), run_dir)
    assert resumed.device == "cuda" and resumed.machine == recorded.machine


def test_a_resume_with_other_artifacts_needs_references_only_for_the_cases_it_adds(exported, tmp_path):
    """A sweep added with another artifacts folder, which lacks the first sweep's exports: the kept cases need no
    reference there (it was refused naming the first sweep's stack; seen adding conv-only networks to a whole-model
    run on 2026-12-07)."""
    import shutil

    run(request(exported, tmp_path, variants=("conv1x1",), runtimes=("ort",)), Heard())
    other = tmp_path / "other-artifacts"
    shutil.copytree(exported, other)
    (other / "reference" / "conv1x1-c8-l2-b2-i8.npy").unlink()
    heard = Heard()
    outcome = run(request(other, tmp_path, variants=("conv3x3",), runtimes=("ort",)), heard)
    assert outcome.counts["ok"] == 4 and len(heard.rows) == 2


def test_a_resume_decides_again_a_skip_whose_reason_no_longer_holds(exported, tmp_path):
    """A row skipped before any worker ran it (a runtime not installed, a pass it does not time) is decided again
    on a resume where its reason no longer holds, as after a package is installed or when convbench times it now;
    an ok row is not timed again."""
    import pandas as pd

    from convbench.bench import not_runnable

    asked = request(exported, tmp_path, variants=("conv1x1",), runtimes=("torch", "ort"), passes=("train",))
    run(asked, Heard())
    results = tmp_path / "run" / "results.csv"
    table = pd.read_csv(results)
    skipped = table["status"] == "skipped"
    assert set(table.loc[skipped, "runtime"]) == {"ort"} and table.loc[~skipped, "status"].eq("ok").all()
    table.loc[skipped, "reason"] = "a reason an older convbench gave"
    table.to_csv(results, index=False)
    heard = Heard()
    resumed = run(BenchRequest(run_dir=tmp_path / "run"), heard)
    ort_cases = [case for case in asked.resolved(1, "m").cases() if case.runtime == "ort"]
    heard_rows = sorted((key[:3], status) for key, status in heard.rows)  # (stack, runtime, source)
    assert heard_rows == sorted((case.key[:3], "skipped") for case in ort_cases)  # torch's not timed again
    again = resumed.results[resumed.results["runtime"] == "ort"]
    assert list(again["reason"]) == [not_runnable(ort_cases[0])] * len(ort_cases)
    assert len(resumed.results) == len(table)
