import os

from convbench.workers import FamilyWorker, run_in_worker


def test_a_worker_returns_results_from_its_own_process():
    with FamilyWorker("test", threads=1) as worker:
        assert worker.call(os.getpid) != os.getpid()
        assert worker.call(os.getenv, "OMP_NUM_THREADS") == "1"


def test_a_dead_worker_fails_its_case_and_those_left_and_the_caller_goes_on():
    rows = []
    with FamilyWorker("test", threads=1) as worker:
        # os._exit ends the worker process the way a segfault or an OOM kill would: no exception, no reply
        run_in_worker(worker, [3, 4, 5], os._exit, lambda item, why: {"item": item, "why": why},
                      lambda item, row: rows.append(row))
    assert [r["item"] for r in rows] == [3, 4, 5]
    assert "worker process died" in rows[0]["why"]
    assert all(r["why"].startswith("not run:") for r in rows[1:])
