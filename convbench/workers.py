"""Worker processes: each runtime family runs in processes of its own (spawned, so no thread pool or GPU context
is inherited), one task at a time, each task under a time limit.

A task that runs past its limit has its worker killed; a worker that dies (a crash, SIGKILL, out of memory) fails
only the task it was running. Either way a fresh worker takes the next task; after `MAX_DEATHS` deaths in a row
the tasks left are failed without being tried.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

from convbench.errors import one_line
from convbench.malloc_settings import pin_thresholds

T = TypeVar("T")

# Set in every worker before any framework is imported: their thread pools read these at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# TensorFlow's C++ logging below errors; absl's start-up lines still go to fd 2, which the log file takes.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}
MAX_DEATHS = 3  # deaths in a row after which a family's remaining tasks are failed untried
# Workers are killed on purpose (a task past its limit, Ctrl-C in the parent). multiprocessing's resource tracker
# then unlinks the semaphores a killed worker held, and would print a UserWarning about them after convbench's own
# last line; the tracker that convbench's workers share is started with that warning off.
QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


class WorkerDied(RuntimeError):
    """The worker process ended while running a task (a crash, a kill, out of memory)."""


class TaskTimedOut(RuntimeError):
    """The task ran past its time limit; its worker was killed."""


def _serve(conn: Connection, threads: int, env: dict[str, str], log_path: str | None) -> None:
    """The worker's main loop: receive (fn, args), send back ("ok", result) or ("error", message)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it kills its workers
    pin_thresholds()  # before any framework allocates: a case's time must not depend on the cases before it
    if log_path:  # native libraries write to fds 1 and 2 directly: redirect the descriptors, not sys.stdout
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    os.environ.update(QUIET)
    os.environ.update(env)
    os.environ["CONVBENCH_THREADS"] = str(threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except Exception as error:  # tasks report their own failures as rows; this is the last line of defence
            reply = ("error", one_line(error))
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send(reply)


def worker_threads() -> int:
    """The intra-op thread count this worker was started with (all CPU cores outside a worker)."""
    return int(os.environ.get("CONVBENCH_THREADS", os.cpu_count() or 1))


def _start_quiet_resource_tracker() -> None:
    """Start this process's resource tracker (which spawned workers share) with QUIET_TRACKER in its
    PYTHONWARNINGS, unless it runs already."""
    from multiprocessing import resource_tracker

    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [before, QUIET_TRACKER]))
    try:
        resource_tracker.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = before


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C waits until the block ends: a worker interrupted half-way through its start would die reading a
    truncated pipe and print its own traceback ("EOFError: Ran out of input") after convbench's last line.

    Blocking SIGINT in this thread is not enough: the kernel hands a process-wide signal to any thread that does not
    block it (the console's refresh thread, a framework's pool), and Python then raises KeyboardInterrupt in the main
    thread all the same. So the handler itself is swapped for one that only notes the signal, and KeyboardInterrupt is
    raised after the block. The mask is blocked too, so the child starts with SIGINT blocked (a terminal's Ctrl-C
    reaches the whole process group) until its own loop ignores it."""
    noted: list[int] = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum)) if in_main_thread else None
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if in_main_thread:  # a handler set outside Python reads as None: it goes back as the default action
            signal.signal(signal.SIGINT, signal.SIG_DFL if before is None else before)
    if noted and callable(before):  # Python's own handler raises KeyboardInterrupt here
        before(signal.SIGINT, None)
    elif noted and before == signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGINT)


class Worker:
    """One spawned process that runs the tasks of one runtime family in order, each under a time limit.

    With `log_path`, everything the process writes to stdout and stderr (framework start-up chatter included)
    is appended to that file instead of the terminal."""

    def __init__(self, family: str, threads: int, env: dict[str, str] | None = None,
                 log_path: Path | None = None) -> None:
        self.family = family
        _start_quiet_resource_tracker()
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, threads, dict(env or {}), str(log_path) if log_path else None),
            name=f"convbench-{family}", daemon=True)
        with _ctrl_c_deferred():
            self._process.start()
        child.close()  # the parent keeps one end, so a dead child reads as end-of-file

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """fn(*args) in the worker. TaskTimedOut (worker killed) past `timeout_s`; WorkerDied if it ended."""
        try:
            self._conn.send((fn, args))
        except (BrokenPipeError, OSError) as error:
            raise self._died() from error
        ready = wait([self._conn, self._process.sentinel], timeout_s)
        if not ready:
            self.kill()
            raise TaskTimedOut(f"timed out after {timeout_s:.0f} s; its {self.family} worker was killed")
        if self._conn in ready:
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError) as error:
                raise self._died() from error
            if kind == "error":
                raise RuntimeError(value)
            return value
        raise self._died()

    def _died(self) -> WorkerDied:
        self._process.join(5)
        code = self._process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return WorkerDied(f"the {self.family} worker process died ({how}: a crash, a kill or out of memory)")

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(10)
        self._conn.close()

    def close(self) -> None:
        """Ask the worker to finish and wait for it; kill it if it does not end within 30 s."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
            self._process.join(30)
        self.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # an error or Ctrl-C in the parent: the worker's task is not waited for
            self.kill()


def run_tasks(
    start: Callable[[], Worker],
    items: Iterable[T],
    task: Callable[[T], dict[str, object]],
    failed: Callable[[T, str], dict[str, object]],
    on_row: Callable[[T, dict[str, object]], None],
    timeout_for: Callable[[T], float | None] = lambda item: None,
) -> None:
    """iter_tasks, each row handed to on_row as soon as it exists."""
    for item, row in iter_tasks(start, items, task, failed, timeout_for):
        on_row(item, row)


def iter_tasks(
    start: Callable[[], Worker],
    items: Iterable[T],
    task: Callable[[T], dict[str, object]],
    failed: Callable[[T, str], dict[str, object]],
    timeout_for: Callable[[T], float | None] = lambda item: None,
) -> Iterator[tuple[T, dict[str, object]]]:
    """Run task(item) in a worker for each item, under `timeout_for(item)` seconds (None: no limit), and yield
    (item, row) as soon as each row exists.

    `start()` makes a worker (and may run set-up tasks in it); it is called again after a kill or a death, so a
    timed-out or dead task costs one failed row. After MAX_DEATHS deaths in a row, the items left get failed
    rows without being tried. An exception in the parent (Ctrl-C included), or the generator closed early, kills
    the worker (an exception propagates)."""
    worker: Worker | None = None
    deaths = 0
    last_death = ""
    try:
        for item in items:
            if deaths >= MAX_DEATHS:
                yield item, failed(item, f"not run: the worker died on {deaths} cases in a row ({last_death})")
                continue
            started = time.perf_counter()
            try:
                worker = worker or start()
                row = worker.call(task, item, timeout_s=timeout_for(item))
                deaths = 0
            except TaskTimedOut as error:
                worker = None
                row = failed(item, str(error))
            except WorkerDied as error:
                worker = None
                deaths += 1
                last_death = str(error)
                row = failed(item, f"{error} after {time.perf_counter() - started:.1f} s")
            except RuntimeError as error:  # the task raised inside the worker, which goes on
                row = failed(item, str(error))
            yield item, row
    except BaseException:  # Ctrl-C, an error in the parent (a full disk), the consumer gone: stop, do not wait
        if worker is not None:
            worker.kill()
        raise
    if worker is not None:
        worker.close()
