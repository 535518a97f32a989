"""The report's first screen: the answers from known numbers, before any evidence."""

from convbench.analysis.answers import _general
from convbench.analysis.findings import Finding
from convbench.analysis.report import write_report
from convbench.results import ResultsStore, case_row
from convbench.spec import Case, SeedStack
from tests.analysis.test_report import write_run

ANSWER_LINES = 70  # "about 60 lines": the answers fit one screen of a long terminal

def test_the_report_opens_with_the_answers_on_one_screen(tmp_path):
    report = write_report(write_run(tmp_path / "run", scale={"ort": 0.5})).read_text().splitlines()
    start = report.index("## The answers")
    end = next(i for i, line in enumerate(report) if i > start and line.startswith("## "))
    assert start < 5 and end - start <= ANSWER_LINES
    screen = "\n".join(report[start:end])
    # ort is twice as fast as torch eager in the known numbers: it is the fastest way, 2.0x the default
    assert ("| conv3x3        | ort[torch.onnx] (3 other(s) not judged: fewer than 2 rounds) **50 ms**, 2.0x torch "
            "eager, 2.0x keras-tf") in screen
    assert "| depthwise far slower than its FLOPs | holds" in screen  # 10 ms vs 100 ms, FLOPs say 1/64
    assert "ort[torch.onnx] runs the export faster than torch runs the model, at a median 0.50x" in screen
    assert "Every case of the sweep ran." in screen and "- Unstable: 0 of 56 ok cases" in screen
    assert report.index("## How far the numbers can be trusted") > end  # the details follow the answers

def test_what_was_not_measured_is_one_line_per_cause(tmp_path):
    run_dir = write_run(tmp_path / "run")
    store = ResultsStore(run_dir)
    for variant in ("conv1x1", "conv3x3"):
        case = Case(SeedStack(variant, 64), "openvino", "tf2onnx", "cpu")
        store.append(case_row(case, status="skipped",
                              reason=f"no ONNX file artifacts/onnx/keras/{case.workload.stack_id}.onnx: run export"))
    report = write_report(run_dir).read_text()
    assert "- 2 skipped (openvino): no ONNX file `FILE`: run export" in report

def test_cases_begun_and_not_finished_are_named_not_called_complete(tmp_path):
    run_dir = write_run(tmp_path / "run")
    store = ResultsStore(run_dir)
    done = Case(SeedStack("conv3x3", 64), "torch", "torch", "cpu")  # has its results row: finished
    begun = Case(SeedStack("conv5x5", 64), "torch-compile", "torch", "cpu")  # one process of two, then stopped
    for case in (done, begun):
        store.append_process({**case_row(case, status="ok", ms_per_forward=1.0), "process": 0, "pid": 1})
    report = write_report(run_dir).read_text()
    assert "Every case of the sweep ran." not in report
    assert ("- 1 begun and not finished (torch-compile): the run stopped before their last process; 1 of their "
            "process rows are in processes.csv") in report


def test_a_finding_says_its_verdict_in_a_word():
    assert Finding("c", "t", 3, 3).verdict == "holds"
    assert Finding("c", "t", 0, 2).verdict == "does not hold"
    assert Finding("c", "t", 1, 2).verdict == "holds in 1 of 2"
    assert Finding("c", "t").verdict == "not measured"
    assert _general("parity of conv3x3-c64-l16-b32-i32-float16-train failed") == "parity of `WORKLOAD` failed"
    assert _general("no mobilenet_v2-whole-b1-i224-tf32-train.keras.npy") == "no `WORKLOAD`.keras.npy"
    assert _general("parity: relative error 8.81e-01 > 2e-01") == "parity: relative error 8.81e-01 > 2e-01"


def test_a_networks_fastest_runtime_is_said_once_where_it_wins_every_case():
    import pandas as pd

    from convbench.analysis.answers import _fastest_line

    def best(*runtimes):
        return pd.DataFrame({"batch": [1, 32], "dtype": "float32", "ms per forward": [0.2, 0.9],
                             "runtime": [f"{r}/cuda" for r in runtimes]})

    assert _fastest_line("resnet50", best("torch-compile", "torch-compile"), 5) == (
        "Real networks' conv layers, resnet50: torch-compile is the fastest in all 2 cases (of 5 runtimes timed): "
        "b1 float32 0.2 ms, b32 float32 0.9 ms.")
    assert _fastest_line("resnet50", best("ort", "torch"), 2) == (
        "Real networks' conv layers, resnet50: fastest runtime per case (of 2 runtimes timed): b1 float32 0.2 ms "
        "(ort), b32 float32 0.9 ms (torch).")
    assert "(the only runtime timed)" in _fastest_line("resnet50", best("ort", "ort"), 1)
