import pytest

from clara_benchmark.executors import LocalExecutor, batched
from pool_helpers import fail_on_three, init_worker, square_with_pid

METHODS = ["spawn", "fork"]


@pytest.mark.parametrize("method", METHODS)
def test_results_in_order_with_state_built_once_per_worker(method):
    ex = LocalExecutor(max_workers=2, start_method=method)
    out = list(ex.imap(square_with_pid, range(40), initializer=init_worker, initargs=("models",)))
    assert [r[0] for r in out] == [x * x for x in range(40)]
    assert {r[2] for r in out} == {"models"}
    assert {r[3] for r in out} == {1}  # initializer ran once in each worker, not per task
    assert 1 <= len({r[1] for r in out}) <= 2


@pytest.mark.parametrize("method", METHODS)
def test_worker_exception_reaches_caller(method):
    ex = LocalExecutor(max_workers=2, start_method=method)
    with pytest.raises(ValueError, match="three"):
        list(ex.imap(fail_on_three, range(6)))


def test_bounded_in_flight():
    pulled = []

    def tasks():
        for i in range(1000):
            pulled.append(i)
            yield i

    ex = LocalExecutor(max_workers=2, start_method="fork", in_flight_per_worker=2)
    it = ex.imap(square_with_pid, tasks())
    first = next(it)
    assert first[0] == 0
    assert len(pulled) <= 6  # never the whole input at once
    it.close()


def test_inline_when_one_worker():
    import os

    out = list(LocalExecutor(1).imap(square_with_pid, [1, 2], initializer=init_worker, initargs=("x",)))
    assert [r[1] for r in out] == [os.getpid()] * 2


def test_batched():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def _spawn_pool_and_hang():
    """Child process body: a 2-worker pool blocked on long tasks (the parent test kills this process)."""
    import time

    ex = LocalExecutor(max_workers=2, start_method="fork")
    for _ in ex.imap(time.sleep, [60] * 4):
        pass


def test_workers_exit_when_their_parent_is_killed():
    import multiprocessing
    import os
    import signal
    import time

    import psutil

    parent = multiprocessing.get_context("fork").Process(target=_spawn_pool_and_hang)
    parent.start()
    deadline = time.monotonic() + 20
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = [c for c in psutil.Process(parent.pid).children() if c.is_running()]
        time.sleep(0.1)
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    for p in alive:  # never leave orphans behind, even when the test fails
        p.kill()
    assert not alive, f"orphaned workers still running: {[p.pid for p in alive]}"
