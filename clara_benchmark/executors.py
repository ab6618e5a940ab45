"""Where work runs. Commands hand an executor a function and an iterable of tasks (batches of file paths);
the executor yields results in task order while keeping only a bounded number of tasks in flight, so
memory stays flat for a million files and CSVs can be streamed in a stable order.

``LocalExecutor`` uses worker processes that work under both ``fork`` and ``spawn`` (the default on
macOS and Windows): task functions and initializers must be importable module-level functions, and each
worker's expensive state (models, reference set) is built once by the initializer, never per task.

``DaskExecutor`` (clara_benchmark/dask_executor.py, imported only when asked for) runs the same tasks on a
Dask ``distributed`` cluster with the same ordering and in-flight guarantees; see docs/dask.md.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any


def _exit_with_parent(parent_pid: int, period: float = 1.0) -> None:
    """Worker side: leave as soon as the parent is gone (SIGKILL, OOM killer). Forked workers hold each
    other's pipe ends, so they would never see EOF and would compute on, orphaned, forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(period)
        os._exit(1)

    threading.Thread(target=watch, name="clara-parent-watch", daemon=True).start()


def _init_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    # Ctrl-C reaches the whole process group; it is the parent's to handle (it stops the pool and exits
    # 130): a worker interrupted while waiting for a task would only print a KeyboardInterrupt traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


class LocalExecutor:
    """Run ``fn(task)`` over tasks in ``max_workers`` processes (in this process when ``max_workers`` is 1).

    A pool of processes lives for one ``imap`` call (its initializer is that call's: the models of one
    run), so the executor itself holds nothing between calls; ``with`` is accepted for symmetry with
    ``DaskExecutor``.
    """

    def __init__(self, max_workers: int = 1, start_method: str | None = None, in_flight_per_worker: int = 2):
        self.max_workers = max(1, int(max_workers))
        self.start_method = start_method
        self.in_flight = max(1, in_flight_per_worker) * self.max_workers

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __repr__(self) -> str:
        return f"LocalExecutor(max_workers={self.max_workers})"

    def imap(
        self,
        fn: Callable[[Any], Any],
        tasks: Iterable[Any],
        initializer: Callable | None = None,
        initargs: tuple = (),
    ) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task, in order. Exceptions from ``fn`` propagate to the caller."""
        if self.max_workers == 1:
            if initializer is not None:
                initializer(*initargs)
            for task in tasks:
                yield fn(task)
            return
        context = multiprocessing.get_context(self.start_method)
        pool = ProcessPoolExecutor(
            self.max_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(), initializer, initargs),
        )
        pending: deque[Future] = deque()
        it = iter(tasks)
        try:
            for task in islice(it, self.in_flight):
                pending.append(pool.submit(fn, task))
            while pending:
                result = pending.popleft().result()
                for task in islice(it, 1):
                    pending.append(pool.submit(fn, task))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split ``items`` into lists of ``size`` (the last may be shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def open_executor(kind: str = "local", max_workers: int = 1, scheduler_address: str | None = None):
    """An executor for the library's ``executor=`` arguments, as a context manager.

    Parameters
    ----------
    kind : {"local", "dask"}
        ``"local"``: ``max_workers`` processes on this machine (1: in this process). ``"dask"``: the
        Dask scheduler at ``scheduler_address``, or a local cluster of ``max_workers`` processes that
        lives as long as the ``with`` block.
    max_workers : int
        Worker processes (local, or of the local Dask cluster).
    scheduler_address : str, optional
        ``host:port`` of a running Dask scheduler.

    Examples
    --------
    >>> import clara_benchmark as clara
    >>> with clara.open_executor("local", max_workers=2) as ex:
    ...     matrix = clara.clara4000_many(TESS_DIR, executor=ex)
    >>> len(matrix)
    3
    """
    from clara_benchmark.config import ConfigError

    if kind == "local":
        return LocalExecutor(max_workers=max_workers)
    if kind == "dask":
        try:
            from clara_benchmark.dask_executor import DaskExecutor
        except ImportError as exc:
            raise ConfigError(f'executor "dask" needs the dask[distributed] package: {exc}') from None
        return DaskExecutor(scheduler_address=scheduler_address, n_workers=max_workers)
    raise ConfigError(f'key "executor" must be "local" or "dask", got "{kind}"')


def get_executor(config):
    """The executor a command's config asks for: key ``executor`` "local" (``max_workers`` processes) or
    "dask" (the scheduler at ``scheduler_address``, or a local cluster of ``max_workers`` processes)."""
    return open_executor(
        getattr(config, "executor", "local"),
        max_workers=getattr(config, "max_workers", 1),
        scheduler_address=getattr(config, "scheduler_address", None),
    )


def __getattr__(name: str):
    # ``from clara_benchmark.executors import DaskExecutor`` without importing distributed for local runs
    if name == "DaskExecutor":
        from clara_benchmark.dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
