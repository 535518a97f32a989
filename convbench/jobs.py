"""What a bench job is told and what it tells: the options every job of a run shares (`RunSettings`), where a job
runs (`Where`) and the events it sends back (`Event`). A job runs here (convbench.bench) or on a cluster's node
(convbench.cluster); its events go to the run's one writer (convbench.recorder)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from convbench.harness import TimingConfig
from convbench.library_floor import Floors
from convbench.spec import Case


@dataclass
class RunSettings:
    """How `run_bench` runs: timing, limits, where worker output goes, and what to do besides timing."""

    config: TimingConfig
    threads: int
    env_id: str
    case_timeout_s: float | None = None  # None: default_case_timeout_s per runtime
    log_path: Path | None = None  # worker stdout/stderr; None: the terminal
    profile: bool = False
    ceilings: dict[str, float] | None = None
    library_floors: Floors | None = None  # None: no floor asked for (convbench.library_floor)
    machine_ceilings: dict[str, dict | None] | None = None  # a cluster's: each machine's ceilings (None: `ceilings`)
    bare: tuple[Case, ...] = ()  # reference cases a bare process (convbench.bare_reference) times in each round
    deadline: float | None = None  # time.monotonic() by which extra rounds stop (None: no extra rounds)
    undecided: Callable[[pd.DataFrame, pd.DataFrame], set[tuple[str, ...]]] | None = None  # the row keys whose
    # ranking or 2017 verdict is still undecided, from the results and processes (convbench.outputs.undecided_keys)


Event = tuple  # what a job tells the run: ("process" | "result" | "kernel", case, row), ("conditions", snapshot),
# ("family", family, process, cases), the family named "family (runtime)" for a runtime with workers of its own


@dataclass(frozen=True)
class Where:
    """Where a job runs: the host, the Ray node (empty outside a cluster) and the environment its rows name."""

    host: str
    node: str = ""
    env_id: str = ""

    def columns(self) -> dict[str, object]:
        return {"host": self.host, "node": self.node, "env_id": self.env_id}
