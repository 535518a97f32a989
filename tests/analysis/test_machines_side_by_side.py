"""Machines side by side, and one machine per device for the other sections, on tables of known numbers."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.machines_side_by_side import machines_answer, machines_table, one_machine_per_device
from convbench.analysis.trust import unstable_cases


def _row(machine: str, runtime: str, variant: str, ms: float, low: float, high: float, device: str = "cpu") -> dict:
    return {"pass": "forward", "dtype": "float32", "variant": variant, "network": None, "channels": 64, "batch": 32,
            "stack_id": f"{variant}-c64", "runtime": runtime, "source": "torch", "device": device,
            "machine": machine, "status": "ok", "ms_per_forward": ms, "ms_process_min": low, "ms_process_max": high}


def test_each_machines_fastest_way_and_the_winner_with_its_margin():
    rows = pd.DataFrame([
        _row("epyc", "torch", "conv3x3", 10.0, 9.0, 11.0), _row("epyc", "ort", "conv3x3", 8.0, 7.5, 8.5),
        _row("xeon", "torch", "conv3x3", 4.0, 3.9, 4.1),
        _row("epyc", "torch", "conv1x1", 2.0, 1.0, 3.0), _row("xeon", "torch", "conv1x1", 2.2, 2.1, 2.3),
        _row("epyc", "torch", "conv5x5", 30.0, 29.0, 31.0),  # one machine only: not compared
    ])
    table = machines_table(rows).set_index("workload")
    assert list(table.index) == ["conv1x1", "conv3x3"]
    assert table.loc["conv3x3", "epyc"] == "8 ms (7.5-8.5) ort[torch]/cpu"
    assert table.loc["conv3x3", "fastest"] == "xeon: torch[torch]/cpu"
    assert table.loc["conv3x3", "x vs next machine"] == 2.0 and table.loc["conv3x3", "beyond spread"]
    assert table.loc["conv1x1", "fastest"].startswith("epyc") and not table.loc["conv1x1", "beyond spread"]
    answer = machines_answer(machines_table(rows))[0]
    assert "**epyc** in 1 of 2" in answer and "**xeon** in 1 of 2" in answer and "beyond both" in answer


def test_the_other_sections_read_the_machine_with_most_rows_per_device():
    rows = pd.DataFrame([_row("epyc", "torch", "conv3x3", 10.0, 9.0, 11.0),
                         _row("epyc", "ort", "conv3x3", 8.0, 7.5, 8.5),
                         _row("xeon", "torch", "conv3x3", 4.0, 3.9, 4.1),
                         _row("h200", "torch", "conv3x3", 0.4, 0.3, 0.5, device="cuda")])
    kept, left_out = one_machine_per_device(rows)
    assert set(kept["machine"]) == {"epyc", "h200"} and left_out == {"cpu": ["xeon"]}
    assert machines_table(rows[rows["machine"] != "xeon"]).loc[0, "fastest"] == "h200: torch[torch]/cuda"


def test_unstable_cases_list_each_process_median_of_their_own_machine():
    results = pd.DataFrame([{**_row(m, "torch", "conv3x3", 10.0, 5.0, 20.0), "unstable": True, "process_spread": 1.5,
                             "ms_iqr": 0.1} for m in ("epyc", "xeon")])
    processes = pd.DataFrame([{**{k: r[k] for k in ("stack_id", "runtime", "source", "device", "machine")},
                               "process": p, "status": "ok", "ms_per_forward": ms}
                              for r in results.to_dict("records")
                              for p, ms in enumerate((5.0, 20.0) if r["machine"] == "epyc" else (6.0, 7.0))])
    table = unstable_cases(results, processes)
    assert list(table["process medians [ms]"]) == ["5, 20", "6, 7"]
