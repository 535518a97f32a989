"""Which rows each 2017 verdict of the report is judged on (per device: the frameworks' defaults and the fastest
configuration of each case), and which cases a time budget's further rounds should time to decide the verdicts
still undecided. Imports nothing that draws: convbench.bench asks it mid-run, on machines without the report's
plotting libraries."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from convbench.analysis.fastest import DEFAULTS, fastest_as_runtime
from convbench.analysis.findings import undecided_claim_keys
from convbench.analysis.workloads import pass_rows, seed_rows
from convbench.ranking import round_values


def verdict_rows(seed: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(device, "defaults" or "fastest", the rows) of each column of the verdicts: per device, the frameworks'
    defaults and the fastest configuration of each case."""
    ok = seed[seed["status"] == "ok"]
    if ok.empty:
        return
    defaults = pd.concat([ok[(ok["runtime"] == r) & (ok["source"] == s)] for r, s in DEFAULTS.values()])
    fastest = fastest_as_runtime(ok)
    for device in dict.fromkeys(ok["device"]):
        for what, rows in (("defaults", defaults), ("fastest", fastest)):
            yield device, what, rows[rows["device"] == device]


def undecided_verdict_keys(results: pd.DataFrame, processes: pd.DataFrame) -> set[tuple[str, ...]]:
    """The row keys behind the report's undecided 2017 verdicts (on the seed stacks' forward, per device, on the
    defaults and on the fastest configuration), for convbench.bench's extra rounds."""
    rounds = round_values(processes)
    seed = seed_rows(pass_rows(results, "forward"))
    return {key for _, _, rows in verdict_rows(seed) for key in undecided_claim_keys(rows, rounds)}
