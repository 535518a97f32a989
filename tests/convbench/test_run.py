"""A run started from Python (convbench.run) leaves the same complete run directory as `convbench bench`."""

from convbench.artifacts import Artifacts
from convbench.bench import plan_cases
from convbench.harness import TimingConfig
from convbench.run import RunObserver, RunRequest, run
from convbench.spec import expand_specs

QUICK = TimingConfig(warmup_seconds=0.01, sample_seconds=0.005, budget_seconds=0.04, min_samples=2, max_samples=3,
                     processes=2)


class Heard(RunObserver):
    def __init__(self) -> None:
        self.rows, self.families = [], []

    def row(self, case, row) -> None:
        self.rows.append((case.key, row["status"]))

    def family(self, family, process, cases) -> None:
        self.families.append((family, process, cases))


def test_a_run_from_python_writes_the_whole_run_directory(exported, tmp_path):
    specs = expand_specs(["conv1x1", "conv3x3"], [8], layers=2, batch=2, image=8)
    cases = plan_cases(specs, ["torch", "ort"], "cpu")
    heard = Heard()
    outcome = run(RunRequest(cases, Artifacts(exported), QUICK, 1, "cpu", tmp_path / "run", tmp_path), heard)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"results.csv", "processes.csv", "env.json", "conditions.jsonl", "results.parquet", "graphs.csv",
            "report.md", "workers.log"} <= names
    assert (tmp_path / "latest").resolve() == (tmp_path / "run").resolve()
    assert outcome.counts == {"ok": 6, "skipped": 0, "failed": 0, "missing": 0} and outcome.exit_status == 0
    assert sorted(status for _, status in heard.rows) == ["ok"] * 6
    assert [f for f, p, _ in heard.families] == ["torch", "torch", "onnxruntime", "onnxruntime"]
    assert "## The answers" in outcome.report.read_text()
    again = run(RunRequest(cases, Artifacts(exported), QUICK, 1, "cpu", tmp_path / "run"), Heard())
    assert again.counts["ok"] == 6 and len(again.results) == 6  # resumed: nothing timed twice


class HeardFloors(Heard):
    def __init__(self) -> None:
        super().__init__()
        self.said = []

    def floors(self, measured, wanted, why_not) -> None:
        self.said.append((measured, wanted, why_not))


def test_a_floor_asked_for_without_a_gpu_gives_every_row_its_reason(exported, tmp_path):
    specs = expand_specs(["conv3x3"], [8], layers=2, batch=2, image=8)
    heard = HeardFloors()
    outcome = run(RunRequest(plan_cases(specs, ["torch"], "cpu"), Artifacts(exported), QUICK, 1, "cpu",
                             tmp_path / "run", floor=True), heard)
    assert outcome.counts["ok"] == 1
    assert heard.said == [(0, 0, "the library floor enumerates cuDNN's plans: CUDA only (--device cuda)")]
    row = outcome.results.iloc[0]
    assert row["library_floor_method"] == "not measured: the library floor enumerates cuDNN's plans: CUDA only"
    assert row["library_floor_ms"] != row["library_floor_ms"]  # NaN: no floor, the reason beside it
