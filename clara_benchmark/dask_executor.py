"""``DaskExecutor``: the executor interface (ordered ``imap``, bounded in flight) on Dask ``distributed``.

Kept apart from executors.py so that local runs never import ``distributed``. How it meets the contract:

- Tasks (batches of file paths) are submitted lazily: at most ``in_flight_per_worker`` x (worker threads)
  are submitted and not yet passed on. Finished results wait on the workers until their turn in task order
  and are then fetched a few at a time, so client memory stays flat for a million files.
- The initializer (models, reference set) runs once per worker process, through a ``WorkerPlugin`` that the
  scheduler also hands to workers that join or restart later. Its arguments are pickled once per worker,
  so they should be small (model file paths): workers must see the same paths (a shared filesystem).
- A worker that dies mid-task: the scheduler reruns its tasks elsewhere (up to
  ``distributed.scheduler.allowed-failures`` deaths per task, then a ``ClaraError`` naming the batch); an
  exception raised by ``fn`` is retried ``retries`` times, then raised to the caller when its turn in the
  output order comes. Results are placed by task index, so a rerun can neither drop nor duplicate a row.
- A scheduler that cannot be reached within ``connect_timeout`` seconds is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import dask
from distributed import Client, Future, LocalCluster, as_completed, get_worker
from distributed.client import CancelledError
from distributed.comm import connect, get_address_host_port, parse_address
from distributed.comm.registry import get_backend
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from clara_benchmark.config import ClaraError, ConfigError

log = logging.getLogger(__name__)

#: how often (seconds) the in-flight bound is recomputed from the cluster's current thread count
WINDOW_REFRESH_SECONDS = 5.0
#: at most this many finished results are fetched to the client in one round trip
GATHER_AT_ONCE = 8


class _WorkerState:
    """Which run's initializer state this worker process holds, and how many tasks are using it.

    Initializers set process globals (as with ``LocalExecutor``), so tasks of two runs sharing a worker
    must not overlap: a task of another run waits until the tasks running here finish, then rebuilds its
    own run's state. With one run at a time the initializer runs exactly once per worker process.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.active: str | None = None
        self.running = 0

    def _activate(self, run_id: str, initializer: Callable, initargs: tuple) -> None:
        self.active = None  # a failing initializer leaves no run's state marked as ready
        initializer(*initargs)
        self.active = run_id

    def try_activate(self, run_id: str, initializer: Callable, initargs: tuple) -> bool:
        """Build the run's state now, unless another run's tasks are busy here (then its tasks will)."""
        with self._cond:
            if self.active != run_id and self.running == 0:
                self._activate(run_id, initializer, initargs)
            return self.active == run_id

    @contextmanager
    def use(self, run_id: str, initializer: Callable, initargs: tuple):
        with self._cond:
            while self.active != run_id and self.running:
                self._cond.wait()
            if self.active != run_id:
                log.info("worker switches to the state of run %s", run_id)
                self._activate(run_id, initializer, initargs)
            self.running += 1
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self._cond.notify_all()


_STATE = _WorkerState()


class InitializerPlugin(WorkerPlugin):
    """Runs ``initializer(*initargs)`` once in every worker of the cluster, now and on join or restart."""

    idempotent = False

    def __init__(self, run_id: str, initializer: Callable, initargs: tuple) -> None:
        self.run_id = run_id
        self.initializer = initializer
        self.initargs = tuple(initargs)

    async def setup(self, worker) -> None:
        # off the worker's event loop: loading models can take seconds and must not stall heartbeats
        await asyncio.to_thread(_STATE.try_activate, self.run_id, self.initializer, self.initargs)


def _run_task(fn: Callable[[Any], Any], task: Any, run_id: str | None) -> Any:
    """Worker side of one task: make sure this run's state is active, then ``fn(task)``."""
    if run_id is None:
        return fn(task)
    worker = get_worker()
    plugin = worker.plugins.get(run_id)
    if plugin is None:
        raise RuntimeError(f"worker {worker.address} never received the initializer of run {run_id}")
    with _STATE.use(run_id, plugin.initializer, plugin.initargs):
        return fn(task)


async def _identity(address: str, timeout: float) -> Any:
    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "n_workers": 0, "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _probe(address: str, timeout: float) -> None:
    """Ask the address who it is, within ``timeout`` seconds in all (a ``Client`` alone can wait forever on
    a port that accepts but never answers, and one whose connection failed still blocks for seconds when
    garbage-collected). Runs on its own thread so that it works even under a running event loop."""
    scheme, _ = parse_address(address)
    get_backend(scheme)  # ValueError naming the known schemes
    if scheme in ("tcp", "tls", "ws", "wss"):  # plain TCP first: its error says why (refused, unknown host)
        with socket.create_connection(get_address_host_port(address), timeout=timeout):
            pass

    def ask() -> Any:
        # Dask's own connect retries until 90% of the budget, so its reason (refused, unknown host) surfaces
        return asyncio.run(asyncio.wait_for(_identity(address, 0.9 * timeout), timeout))

    with ThreadPoolExecutor(1, thread_name_prefix="clara-dask-probe") as pool:
        try:
            reply = pool.submit(ask).result()
        except (asyncio.TimeoutError, TimeoutError):
            raise TimeoutError("no answer") from None
        except (OSError, ValueError):
            raise
        except Exception as exc:  # a non-Dask server can make the handshake fail in many ways
            raise OSError(f"the address answers but not as a Dask scheduler ({type(exc).__name__})") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise OSError("the address answers but is not a Dask scheduler")


#: Dask sets MALLOC_TRIM_THRESHOLD_=65536 in every worker it spawns, to hand memory back to the OS sooner.
#: That also freezes glibc's mmap threshold at 128 KiB, so each larger array (a light curve's columns, its
#: FFT buffers) is mmapped and page-faulted afresh: 35-120x the page faults and 40-50% more CPU per light
#: curve in our extraction (bench/bench_dask.py). These values keep arrays up to 32 MiB on the heap and
#: trim only beyond 128 MiB free: worker memory here is small and flat, so that costs nothing.
WORKER_MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "134217728", "MALLOC_MMAP_THRESHOLD_": "33554432"}


def local_cluster(n_workers: int, **kwargs) -> LocalCluster:
    """A ``LocalCluster`` of ``n_workers`` single-threaded worker processes on the loopback interface."""
    options = dict(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # loopback, any free port (never a fixed 8787)
        silence_logs=logging.CRITICAL,
    )
    options.update(kwargs)
    config = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()}
    # the nannies read these when made and reuse them for restarts; a value already in this process's
    # environment (which an earlier nanny may have put there) would win over the config, so set it too
    # Dask also leaves OMP/MKL/OPENBLAS_NUM_THREADS=1 and more in this (the client's) environment, which
    # every later subprocess of the run would inherit: the whole environment is put back once it started
    saved = dict(os.environ)
    os.environ.update(WORKER_MALLOC_ENV)
    try:
        with dask.config.set(config):
            return LocalCluster(**options)
    finally:
        os.environ.clear()
        os.environ.update(saved)


class DaskExecutor:
    """Run ``fn(task)`` over tasks on a Dask cluster; same results and order as ``LocalExecutor``.

    ``scheduler_address`` None starts a ``LocalCluster`` of ``n_workers`` single-threaded worker processes
    (on 127.0.0.1) for each ``imap`` call and closes it afterwards; otherwise the client connects to that
    scheduler and leaves the cluster running.
    """

    def __init__(
        self,
        scheduler_address: str | None = None,
        n_workers: int = 1,
        retries: int = 2,
        in_flight_per_worker: int = 4,
        connect_timeout: float = 5.0,
        max_in_flight: int | None = None,
    ):
        if scheduler_address is not None and not str(scheduler_address).strip():
            raise ConfigError('key "scheduler_address" is empty: give host:port, or null for a local cluster')
        self.scheduler_address = None if scheduler_address is None else str(scheduler_address).strip()
        self.n_workers = max(1, int(n_workers))
        self.retries = max(0, int(retries))
        self.in_flight_per_worker = max(1, int(in_flight_per_worker))
        self.connect_timeout = float(connect_timeout)
        self.max_in_flight = max_in_flight
        self._held: tuple[Client, LocalCluster | None] | None = None

    def __enter__(self) -> DaskExecutor:
        """Connect once (or start the local cluster once) for every ``imap`` inside the ``with`` block."""
        if self._held is None:
            self._held = self._connect()
        return self

    def __exit__(self, *exc) -> None:
        held, self._held = self._held, None
        if held is not None:
            client, cluster = held
            client.close()
            if cluster is not None:
                cluster.close()

    def __repr__(self) -> str:
        return f"DaskExecutor(scheduler_address={self.scheduler_address!r}, n_workers={self.n_workers})"

    def _connect(self) -> tuple[Client, LocalCluster | None]:
        if self.scheduler_address is None:
            cluster = local_cluster(self.n_workers)
            try:
                return Client(cluster, set_as_default=False), cluster
            except BaseException:
                cluster.close()
                raise
        address = self.scheduler_address
        try:
            _probe(address, self.connect_timeout)
            client = Client(address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, MemoryError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f'cannot reach the Dask scheduler at "{address}" (key "scheduler_address"): '
                f"{reason} (connect timeout {self.connect_timeout:g} s)"
            ) from None
        return client, None

    def worker_count(self) -> int:
        """Worker processes that will run tasks: ``n_workers`` for a local cluster; for a running cluster,
        as many as its scheduler knows now (inside ``with``; 1 if none has joined yet)."""
        if self.scheduler_address is None or self._held is None:
            return self.n_workers
        return max(1, len(self._held[0].scheduler_info().get("workers", {})))

    def _window(self, client: Client) -> int:
        if self.max_in_flight:
            return max(1, int(self.max_in_flight))
        threads = sum(client.nthreads().values())
        return self.in_flight_per_worker * max(1, threads)

    def imap(
        self,
        fn: Callable[[Any], Any],
        tasks: Iterable[Any],
        initializer: Callable | None = None,
        initargs: tuple = (),
    ) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task, in order. Exceptions from ``fn`` propagate to the caller."""
        held = self._held is not None
        client, cluster = self._held if held else self._connect()
        run_id = None
        pending: dict[Future, int] = {}
        try:
            if initializer is not None:
                run_id = f"clara-init-{uuid.uuid4().hex}"
                client.register_plugin(InitializerPlugin(run_id, initializer, initargs), name=run_id)
            yield from self._stream(client, fn, tasks, run_id, pending)
        finally:
            try:  # the cluster may be gone already (that may be why we stop): nothing left to clean then
                if pending:
                    client.cancel(list(pending), force=True)
                    pending.clear()
                if run_id is not None:
                    client.unregister_worker_plugin(run_id)
            except Exception as exc:
                log.debug("cleanup of run %s on the cluster failed: %s", run_id, exc)
            if not held:
                client.close()
                if cluster is not None:
                    cluster.close()

    def _stream(self, client, fn, tasks, run_id, pending) -> Iterator[Any]:
        name = getattr(fn, "__name__", "task")
        tag = uuid.uuid4().hex[:8]
        numbered = enumerate(tasks)
        # done out of order: their results stay on the workers (a dead worker's are recomputed) until their turn
        ready: dict[int, Future] = {}
        given: dict[int, Any] = {}  # the tasks in flight, to name them if they fail
        ac = as_completed(loop=client.loop)
        window, refreshed = self._window(client), time.monotonic()
        next_index = 0

        def fill() -> None:
            while len(pending) + len(ready) < window:
                item = next(numbered, None)
                if item is None:
                    return
                i, task = item
                fut = client.submit(
                    _run_task, fn, task, run_id, key=f"{name}-{tag}-{i}", retries=self.retries, pure=False
                )
                pending[fut] = i
                given[i] = task
                ac.add(fut)

        fill()
        while pending:
            fut = next(ac)
            ready[pending.pop(fut)] = fut
            del fut
            while next_index in ready:
                batch = []  # the next results in order, fetched in one round trip
                while (
                    len(batch) < GATHER_AT_ONCE
                    and next_index + len(batch) in ready
                    and ready[next_index + len(batch)].status not in ("error", "cancelled")
                ):
                    batch.append(ready.pop(next_index + len(batch)))
                if not batch:
                    self._raise_failure(ready.pop(next_index), next_index, given.pop(next_index), client)
                values = client.gather(batch)
                for k in range(next_index, next_index + len(batch)):
                    del given[k]
                next_index += len(batch)
                del batch
                while values:
                    yield values.pop(0)
            if self.max_in_flight is None and time.monotonic() - refreshed > WINDOW_REFRESH_SECONDS:
                window, refreshed = self._window(client), time.monotonic()
            fill()

    def _raise_failure(self, failed: Future, index: int, task: Any, client: Client) -> None:
        """Raise why task ``index`` failed: ``fn``'s own exception, or a run-level error saying what was lost."""
        try:
            failed.result()
        except KilledWorker as exc:
            raise ClaraError(
                f"Dask workers died {exc.allowed_failures + 1} times running task {index} ({_describe(task)}): "
                "a file in it may crash the process, or workers run out of memory; see the workers' logs"
            ) from None
        except CancelledError:
            raise ClaraError(
                f"task {index} ({_describe(task)}) was cancelled: the connection to the Dask scheduler "
                f"at {client.scheduler.address} was lost"
            ) from None
        raise ClaraError(f"task {index} ({_describe(task)}) ended as {failed.status}")


def _describe(task: Any) -> str:
    """A short name for a task: a batch of paths by its first file and size."""
    if isinstance(task, (list, tuple)) and task and all(isinstance(t, (str, os.PathLike)) for t in task):
        return f"{len(task)} files from {os.fspath(task[0])}"
    text = repr(task)
    return text if len(text) <= 80 else text[:77] + "..."
