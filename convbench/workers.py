"""Worker processes: each runtime family runs in a process of its own (spawned, so no thread pool or GPU
context is inherited), one task at a time. A worker that dies fails its current task and those left."""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

# Set in every worker before any framework is imported: their thread pools read these at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}


class WorkerDied(RuntimeError):
    """The worker process ended while running a task (a crash, a kill, out of memory)."""


def _init_worker(threads: int, env: dict[str, str]) -> None:
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    os.environ.update(QUIET)
    os.environ.update(env)
    os.environ["CONVBENCH_THREADS"] = str(threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def worker_threads() -> int:
    """The intra-op thread count this worker was started with (all CPU cores outside a worker)."""
    return int(os.environ.get("CONVBENCH_THREADS", os.cpu_count() or 1))


class FamilyWorker:
    """One spawned process that runs the tasks of one runtime family in order."""

    def __init__(self, family: str, threads: int, env: dict[str, str] | None = None) -> None:
        self.family = family
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads, dict(env or {})),
        )

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in the worker and return its result; WorkerDied if the process ended."""
        try:
            return self._pool.submit(fn, *args).result()
        except BrokenProcessPool as error:
            raise WorkerDied(f"the {self.family} worker process died (crash, kill or out of memory)") from error

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FamilyWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_in_worker(
    worker: FamilyWorker,
    items: Iterable[T],
    task: Callable[[T], dict[str, object]],
    failed: Callable[[T, str], dict[str, object]],
    on_row: Callable[[T, dict[str, object]], None],
) -> None:
    """Run task(item) in the worker for each item and hand each row to on_row as soon as it exists.

    After the worker dies, the item it was running and every item left get a failed row naming why."""
    died: str | None = None
    for item in items:
        if died is None:
            try:
                row = worker.call(task, item)
            except WorkerDied as error:
                died = str(error)
                row = failed(item, died)
        else:
            row = failed(item, f"not run: {died} on an earlier case")
        on_row(item, row)
