"""The worker layer with real processes: results from another process, time limits, deaths, logs."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from convbench.workers import MAX_DEATHS, Worker, run_tasks


def _row(item, why):
    return {"item": item, "why": why}


def _pid_or_act(item):
    """A task: sleep past any limit ("hang"), die by SIGKILL ("kill"), raise ("raise"), else this process's pid."""
    if item == "hang":
        time.sleep(3600)
    if item == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if item == "raise":
        raise MemoryError("CUDA out of memory (pretend)")
    return {"item": item, "pid": os.getpid()}


def _run(items, timeout_s=None):
    rows, started = [], []

    def start():
        started.append(Worker("test", threads=1))
        return started[-1]

    run_tasks(start, items, _pid_or_act, _row, lambda item, row: rows.append(row), lambda item: timeout_s)
    return rows, started


def test_a_worker_returns_results_from_its_own_process():
    with Worker("test", threads=1) as worker:
        assert worker.call(os.getpid) != os.getpid()
        assert worker.call(os.getenv, "OMP_NUM_THREADS") == "1"


def test_a_task_past_its_limit_is_one_failed_row_and_a_fresh_worker_takes_the_next():
    rows, started = _run(["a", "hang", "b"], timeout_s=2)
    assert rows[1] == {"item": "hang", "why": "timed out after 2 s; its test worker was killed"}
    assert rows[0]["pid"] != rows[2]["pid"]  # the hung worker was replaced
    assert len(started) == 2


def test_a_sigkilled_worker_costs_exactly_one_failed_row():
    rows, started = _run(["a", "kill", "b", "c"])
    assert [r["item"] for r in rows] == ["a", "kill", "b", "c"]
    assert "worker process died (signal 9" in rows[1]["why"]
    assert "why" not in rows[2] and "why" not in rows[3]
    assert rows[2]["pid"] == rows[3]["pid"] != rows[0]["pid"]


def test_after_three_deaths_in_a_row_the_rest_fail_untried():
    rows, started = _run(["kill"] * MAX_DEATHS + ["a", "b"])
    assert len(started) == MAX_DEATHS
    assert all(r["why"].startswith("not run: the worker died on 3 cases in a row") for r in rows[MAX_DEATHS:])


def test_an_exception_in_the_task_is_a_row_and_the_worker_goes_on():
    rows, started = _run(["raise", "a"])
    assert "MemoryError: CUDA out of memory (pretend)" in rows[0]["why"]
    assert len(started) == 1 and rows[1]["pid"] == started[0].pid


def _chatter():
    os.write(1, b"fd1 chatter\n")
    os.write(2, b"fd2 chatter\n")
    print("python print")
    return "done"


def test_worker_output_goes_to_the_log_file(tmp_path, capfd):
    log = tmp_path / "workers.log"
    with Worker("test", threads=1, log_path=log) as worker:
        assert worker.call(_chatter) == "done"
    assert log.read_text().splitlines() == ["fd1 chatter", "fd2 chatter", "python print"]
    out, err = capfd.readouterr()
    assert "chatter" not in out + err


def _process_pending(signum: int) -> bool:
    """Whether `signum` is pending for the whole process, not yet handed to a thread (Linux: ShdPnd in
    /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def test_ctrl_c_that_another_thread_receives_waits_until_the_worker_has_started():
    """The kernel hands a process-wide SIGINT to any thread that does not block it (the console's refresh
    thread); Python then raises KeyboardInterrupt in the main thread. During a worker's start that would cut the
    child's start-up data short (its own "EOFError: Ran out of input" traceback), so it must wait."""
    import threading

    from convbench.workers import _ctrl_c_deferred

    def unblocked_wait() -> None:  # a thread that does not block SIGINT, whatever mask it was started with
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        ready.set()
        stop.wait(30)

    # Python's own Ctrl-C handling, as a user's process has it: earlier tests of a shared test process may have left
    # another (in a fresh clone's make test this test failed after 60 others in its xdist worker, never alone)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop, ready = threading.Event(), threading.Event()
    other = threading.Thread(target=unblocked_wait, daemon=True)
    other.start()
    assert ready.wait(10)
    reached_the_end = []
    try:
        with pytest.raises(KeyboardInterrupt), _ctrl_c_deferred():
            subprocess.run(["kill", "-INT", str(os.getpid())], check=True)  # process-wide, like Ctrl-C
            # until the kernel has handed the signal to the other thread (it leaves the process's pending set), however
            # loaded the machine, then a while more
            deadline = time.monotonic() + 10
            while _process_pending(signal.SIGINT) and time.monotonic() < deadline:
                time.sleep(0.01)
            for _ in range(10):
                time.sleep(0.02)  # the main thread runs bytecode: a pending KeyboardInterrupt is raised here
            reached_the_end.append(True)
    finally:
        stop.set()
        restored = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, handler if handler is not None else signal.SIG_DFL)
    assert reached_the_end == [True]
    assert restored is signal.default_int_handler
