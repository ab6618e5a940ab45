"""Stream mode of ``score``: a sector scored straight from MAST's download script, without keeping it.

``score`` with ``tesscurl_script`` (or ``sector_number`` + ``catalogues_folder``) instead of ``input_dirs``
runs here. The inputs are the script's files, still to download, and they flow like this:

1. The client parses the script exactly as ``download`` does (``script.read_script``, fetched from
   ``base_url`` when missing), slices ``[start_index, start_index + max_downloads)`` and cuts the lines
   into batches of ``batch_size`` ``StreamItem`` s (file name, URL, destination, sha256 known from the
   manifest). Only these small items go to the workers.
2. Each worker process (local or Dask) holds the models (``urf_scoring.worker.init_worker``) and one
   ``Fetcher`` with ``num_threads / P`` download threads (P worker processes; at least one each) and a
   ``max_requests_per_second / P`` share of the rate limit. For a batch it starts every download at once
   on those threads (``Fetcher.fetch_file``: ``<name>.part``, Range resume, retries, Retry-After, verified
   as ``download`` verifies, renamed into ``<out_dir_tess>/<sector>/<name>``) and meanwhile reads and
   scores the files in order as they land: the pipeline's ``apply_batch`` with a loader that waits for
   the file. A download that fails becomes the light curve's failure row ("download failed: <reason>").
   The worker sends back the batch's scores, failures, feature rows and download results.
3. The client only merges, in script order: the feature shard (``save_features``), one part in the score
   work folder (scores, failures *and the batch's manifest rows*), then removes the files ``keep_fits``
   does not keep, and rewrites ``manifest_sector_<N>.csv`` every few seconds.

At most ``executor in-flight tasks x batch_size`` files are on disk beyond the ones kept, and memory
holds one light curve per worker plus the in-flight batches' feature rows, whatever the sector size.

Resume (``resume: true``). The work folder's parts are the record of what is done, the manifest a view
of them: a resumed run rebuilds the manifest rows of every finished batch from its part, skips their
files, and retries only downloads that failed because their retries ran out (a 404 is a final answer;
a run that ends with such failures keeps its work folder for that resume). A file whose batch never landed
is still on disk, verified, under its final name (files are removed only after their part is written):
``fetch_file`` finds it and makes no request; a ``.part`` is resumed with Range. At the end every finished
light curve that is not kept is removed (a kill between a part and its removals left some), the final CSVs
are written from the parts as ``score`` writes them, and the manifest is written in full.

Stopping early: Ctrl-C creates a stop file in the work folder before the executor waits for its running
tasks, and each worker's watcher thread aborts its transfers when it sees it; many downloads in a row
failing after their retries (the archive or the network gone) stop the run the same way, resumable.

Files already in the sector folder before the run started (an earlier ``download``) are used, never
removed. The sector folder is locked against a concurrent ``download`` (``run.sector_lock``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import socket
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.commands.score import INFO_KEYS, PART_KEYS
from clara_benchmark.exceptions import ClaraError, DownloadError, LightCurveError
from clara_benchmark.extract import features_of
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import Batch, apply_batch, batched
from clara_benchmark.tess_spoc_download.fetch import FAILED, Fetcher, FetchOptions, FileResult, Interrupted
from clara_benchmark.tess_spoc_download.run import (
    MANIFEST_COLUMNS,
    ON_DISK,
    BlockError,
    counts_text,
    ensure_script,
    fetch_one,
    fetch_options,
    manifest_path,
    manifest_row,
    outcome_line,
    read_manifest,
    sector_lock,
    verified_sha256,
    write_manifest,
)
from clara_benchmark.tess_spoc_download.script import ParsedScript, read_script
from clara_benchmark.urf_scoring.worker import init_worker, score_rows
from clara_benchmark.utils.io import atomic_write_text, sha256_file

#: manifest columns as they are stored in a work part (next to the part's scores and failures)
PART_MANIFEST_KEYS = tuple(f"manifest_{c}" for c in MANIFEST_COLUMNS) + ("download_gave_up",)
#: names of the files in the sector folder before a run started: never removed by it (in the work folder)
PREEXISTING = "stream_preexisting.json"
MANIFEST_EVERY_SECONDS = 2.0
#: this many downloads in a row that failed after all their retries (and at least twice the run's
#: download threads) stop the run: the archive or the network is gone, and going on would only fail
#: every remaining file, each after its full backoff
UNREACHABLE_AFTER = 8
STOP_POLL_SECONDS = 0.5  # how often a worker looks for the client's stop file
STOP_FILE = "stop"  # in the work folder: the client's "stop now" to its workers
CONSOLE_LINES = 20  # refused script lines / failed files echoed to the console; all are in the log


# ================================================================================================ worker


@dataclass(frozen=True)
class StreamItem:
    """One file still to download: a path-like (its destination) for the pipeline's ``item_key``."""

    filename: str
    url: str
    path: str  # <out_dir_tess>/<sector>/<filename>
    known_sha256: str | None = None

    def __fspath__(self) -> str:
        return self.path


@dataclass
class StreamBatch:
    """A worker's answer for one batch: the scored ``Batch``, each file's download and its seconds, the
    fetcher's retry notes, and which worker (host:pid) did it."""

    batch: Batch
    downloads: list[tuple[FileResult, float]]
    notes: list[str]
    worker: str


_WORKER: dict = {}  # this process's fetcher, download threads and options (init_stream_worker)
_NOTES_LOCK = threading.Lock()
_DOWNLOADER_LOCK = threading.Lock()


def init_stream_worker(specs, options: FetchOptions, threads: int, stop_path: str | None = None) -> None:
    """Executor initializer: the models (once per worker) and this process's downloader.

    ``stop_path``: a file the client creates when the run stops early (Ctrl-C, an error); a thread here
    sees it within ``STOP_POLL_SECONDS`` and ends the transfers in flight, so the client's executor does
    not wait for whole batches of downloads (and their retries) that nobody will use. (Local worker
    processes ignore Ctrl-C itself: executors._init_worker.)
    """
    init_worker(specs)
    _close_downloader()
    _WORKER.update(options=options, threads=max(1, int(threads)), notes=[], stop_path=stop_path)
    if stop_path is not None:
        threading.Thread(target=_watch_stop, args=(stop_path,), name="clara-stream-stop", daemon=True).start()


def _watch_stop(stop_path: str) -> None:
    """Abort this process's transfers once ``stop_path`` exists; ends when another run takes over."""
    while _WORKER.get("stop_path") == stop_path:
        if os.path.exists(stop_path):
            fetcher = _WORKER.get("fetcher")
            if fetcher is not None:
                fetcher.abort()
        time.sleep(STOP_POLL_SECONDS)


def _stopping() -> bool:
    path = _WORKER.get("stop_path")
    return path is not None and os.path.exists(path)


def _close_downloader(ending: bool = True) -> None:
    """Drop this process's fetcher and threads; ``ending`` also ends the stop watcher (the run is over)."""
    if ending:
        _WORKER.pop("stop_path", None)
    fetcher, pool = _WORKER.pop("fetcher", None), _WORKER.pop("pool", None)
    if fetcher is not None:
        fetcher.abort()
        fetcher.close()
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _note(msg: str) -> None:
    with _NOTES_LOCK:
        _WORKER.setdefault("notes", []).append(msg)


def _downloader() -> tuple[Fetcher, ThreadPoolExecutor]:
    """This process's Fetcher and threads (made again after an abort); shared by the tasks a
    multi-threaded Dask worker runs at once."""
    with _DOWNLOADER_LOCK:
        fetcher = _WORKER.get("fetcher")
        if fetcher is None or fetcher.stop.is_set():
            _close_downloader(ending=False)
            if "options" not in _WORKER:
                raise RuntimeError("stream_task ran in a worker without init_stream_worker")
            threads = _WORKER["threads"]
            fetcher = Fetcher(_WORKER["options"], threads, log=_note)
            _WORKER["fetcher"] = fetcher
            _WORKER["pool"] = ThreadPoolExecutor(threads, thread_name_prefix="clara-stream-download")
        return fetcher, _WORKER["pool"]


def _fetch(fetcher: Fetcher, item: StreamItem) -> tuple[FileResult, float]:
    """One file as ``download`` fetches it; a bug costs this file, not the batch (its traceback is a note)."""
    return fetch_one(fetcher, item.filename, item.url, item.path, item.known_sha256, _note)


def _load_when_downloaded(futures: dict, options: ReadOptions, item: StreamItem):
    """The pipeline's loader: wait for the item's download, then read it with the run's read options (a
    failed download raises)."""
    result, _ = futures[item.filename].result()
    if result.status == FAILED:
        raise LightCurveError(item.path, f"download failed: {result.error}")
    return options.read(item.path)


def stream_task(task: tuple[list[StreamItem], bool, ReadOptions]) -> StreamBatch:
    """Worker side of one batch: download every file (concurrently), read, score; see the module doc."""
    items, keep_features, options = task
    # the bytes were verified (structure, every checksum) a moment ago by the download: not again
    options = dataclasses.replace(options, verify_checksums=False)
    if _stopping():
        raise Interrupted("the run is stopping")
    fetcher, pool = _downloader()
    futures = {item.filename: pool.submit(_fetch, fetcher, item) for item in items}
    try:
        batch = apply_batch(
            (
                features_of,
                items,
                functools.partial(score_rows, keep_features=keep_features),
                functools.partial(_load_when_downloaded, futures, options),
            )
        )
        downloads = [futures[item.filename].result() for item in items]
    except BaseException:  # Ctrl-C, or the run is stopping: end the transfers now, keep the .part files
        fetcher.abort()
        for fut in futures.values():
            fut.cancel()
        raise
    with _NOTES_LOCK:
        notes, _WORKER["notes"] = _WORKER.get("notes", []), []
    return StreamBatch(batch, downloads, notes, f"{socket.gethostname()}:{os.getpid()}")


# ================================================================================================ client


@dataclass
class StreamPlan:
    """What one stream run works on: the sector, its folder, the script and the slice of it."""

    sector: int
    sector_dir: Path
    script: Path
    parsed: ParsedScript
    todo: ParsedScript
    options: FetchOptions

    @property
    def manifest(self) -> Path:
        return manifest_path(self.sector_dir, self.sector)

    def identity(self, config) -> dict:
        """The inputs a resumed run must share (with the models and feature options, see score)."""
        return {
            "stream": {
                "script": str(self.script.resolve()),
                "script_sha256": sha256_file(self.script),
                "sector": self.sector,
                "start_index": config.start_index,
                "max_downloads": config.max_downloads,
                "sector_dir": str(self.sector_dir.resolve()),
                "keep_fits": config.keep_fits,
            }
        }


def plan_stream(config, ctx) -> StreamPlan:
    """Find (or fetch) and parse the script, slice it, and report refused lines as ``download`` does."""
    block = config.download_block()
    options = fetch_options(block)
    log = SimpleNamespace(main=ctx.log.main, error=ctx.log.error, detail=ctx.log.log)
    if config.tesscurl_script is not None:
        script = Path(config.tesscurl_script)
    else:
        fetcher = Fetcher(options, 1, log=ctx.log.log)
        try:
            script = ensure_script(block, fetcher, log)
        except BlockError as exc:
            raise DownloadError(f"sector {block.sector_number}: {exc}") from None
        finally:
            fetcher.close()
    try:
        parsed = read_script(script)
    except OSError as exc:
        raise DownloadError(f"cannot read {script}: {exc.strerror}") from None
    todo = parsed.sliced(block.start_index, block.max_downloads)
    for i, err in enumerate(todo.errors):
        (ctx.log.error if i < CONSOLE_LINES else ctx.log.log)(f"{script}: refused {err}")
    if not todo.entries:
        raise ClaraError(
            f"{script}: no download line to score from start_index {block.start_index} "
            f"({parsed.n_commands} download lines, {len(todo.errors)} refused in the slice)"
        )
    sector_dir = Path(block.out_dir_tess) / str(block.sector_number)
    return StreamPlan(block.sector_number, sector_dir, script, parsed, todo, options)


# ------------------------------------------------------------------------------------------ the record


@dataclass
class StreamRecord:
    """What the parts say: per file name its latest score or failure, and its latest manifest row."""

    names: list[str]
    scored: dict[str, tuple] = field(default_factory=dict)  # name -> (path, tic, score per model...)
    infos: dict[str, tuple] = field(default_factory=dict)  # name -> (product, cadence_s, id_kind, flux)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (path, reason)
    rows: dict[str, dict] = field(default_factory=dict)  # manifest rows by file name
    gave_up: set[str] = field(default_factory=set)  # latest download failed after all its retries

    def add(self, arrays: dict) -> None:
        """One part (or one batch about to become one); later parts win over earlier ones."""
        gave_up = arrays["download_gave_up"]
        for i in range(len(arrays["manifest_filename"])):
            row = {c: str(arrays[f"manifest_{c}"][i]) for c in MANIFEST_COLUMNS}
            self.rows[row["filename"]] = row
            (self.gave_up.add if gave_up[i] else self.gave_up.discard)(row["filename"])
        for i, name in enumerate(arrays["filenames"].astype(str)):
            scores = tuple(float(arrays[f"score_{n}"][i]) for n in self.names)
            self.scored[name] = (str(arrays["paths"][i]), int(arrays["tic_ids"][i]), *scores)
            self.infos[name] = tuple(
                cast(arrays[key][i]) for key, cast in zip(INFO_KEYS, (str, float, str, str))
            )
            self.failed.pop(name, None)
        for name, path, reason in zip(
            arrays["failed_filenames"].astype(str),
            arrays["failed_paths"].astype(str),
            arrays["failed_reasons"].astype(str),
        ):
            self.failed[name] = (path, reason)
            self.scored.pop(name, None)
            self.infos.pop(name, None)

    def done(self) -> set[str]:
        """Files a resumed run skips: all finished ones except downloads that failed only because their
        retries ran out (a 404 is a final answer and is not asked again)."""
        return (set(self.scored) | set(self.failed)) - self.gave_up

    def candidate(self, name: str) -> bool:
        return name in self.scored and any(s > 0 for s in self.scored[name][2:])

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(scored, failed) in the layout of ``commands.score.read_parts``, sorted by file name."""
        names = sorted(self.scored)
        cols = list(zip(*(self.scored[n] for n in names))) if names else [[]] * (2 + len(self.names))
        info = list(zip(*(self.infos[n] for n in names))) if names else [[]] * len(INFO_KEYS)
        scored = pd.DataFrame(
            {
                "filename": names,
                "path": list(cols[0]),
                "tic": np.asarray(cols[1], dtype=np.int64),
                **{f"score_{m}": np.asarray(cols[2 + j], dtype=np.float64) for j, m in enumerate(self.names)},
                "product": list(info[0]),
                "cadence_s": np.asarray(info[1], dtype=np.float64),
                "id_kind": list(info[2]),
                "flux_column": list(info[3]),
            }
        )
        failed = pd.DataFrame(
            [(n, *self.failed[n]) for n in sorted(self.failed)], columns=["filename", "path", "reason"]
        )
        return scored, failed


def part_arrays(sb: StreamBatch, names: list[str], tic_of: dict[str, int | None]) -> dict[str, np.ndarray]:
    """A batch's work part: score's arrays plus the batch's manifest rows."""
    from clara_benchmark.commands.score import part_arrays as score_part_arrays

    arrays = score_part_arrays(sb.batch, names)
    rows = [manifest_row(r, tic_of.get(r.filename)) for r, _ in sb.downloads]
    for c in MANIFEST_COLUMNS:
        arrays[f"manifest_{c}"] = np.array([str(row[c]) for row in rows], dtype=str)
    arrays["download_gave_up"] = np.array(
        [r.status == FAILED and r.gave_up for r, _ in sb.downloads], dtype=bool
    )
    return arrays


# ------------------------------------------------------------------------------------------ files


class SectorFiles:
    """The sector folder's FITS: which this run may remove (``keep_fits``), and what that saved."""

    def __init__(self, sector_dir: Path, keep_fits: str, preexisting: set[str]):
        self.sector_dir = sector_dir
        self.keep_fits = keep_fits
        self.preexisting = preexisting

    def keeps(self, record: StreamRecord, name: str) -> bool:
        if self.keep_fits == "all" or name in self.preexisting:
            return True
        return self.keep_fits == "candidates" and record.candidate(name)

    def tidy(self, record: StreamRecord, names) -> None:
        """Remove the files of ``names`` (finished light curves) that are not kept; never through a link."""
        for name in names:
            if self.keeps(record, name):
                continue
            path = self.sector_dir / name
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.unlink(path)


def preexisting_files(work_path: Path, sector_dir: Path, names: list[str]) -> set[str]:
    """Files of the slice in the sector folder before the run began (recorded when it starts, read back
    when it is resumed)."""
    record = work_path / PREEXISTING
    if record.is_file():
        try:
            return set(json.loads(record.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ClaraError(
                f"{record}: cannot read the unfinished run's list of earlier files ({exc})"
            ) from None
    present = sorted(n for n in names if os.path.lexists(sector_dir / n))
    atomic_write_text(record, json.dumps(present) + "\n")
    return set(present)


# ------------------------------------------------------------------------------------------ the run


def worker_processes(executor) -> int:
    """How many processes run tasks (the rate limit and the threads are shared among them)."""
    count = getattr(executor, "worker_count", None)
    if count is not None:
        return max(1, int(count()))
    return max(1, int(getattr(executor, "max_workers", 1)))


def run_stream(config, ctx, models) -> int:
    """``score`` in stream mode (see the module docstring); returns the exit code."""
    from clara_benchmark.commands import score as score_cmd
    from clara_benchmark.executors import get_executor

    plan = plan_stream(config, ctx)
    try:
        plan.sector_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {plan.sector_dir}: {exc.strerror}") from None
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(sector_lock(plan.sector_dir))
        except BlockError as exc:
            raise DownloadError(f"sector {plan.sector}: {exc}") from None
        stack.callback(_close_downloader)  # an in-process run (max_workers 1) made one here
        work = score_cmd.open_work_dir(config, ctx, models, plan.identity(config))
        stack.callback(work.close)  # released on any way out (finish() has already removed the folder)
        executor = stack.enter_context(get_executor(config))
        return _stream_run(config, ctx, models, plan, work, executor)


def _open_record(config, ctx, models, plan: StreamPlan, work) -> StreamRecord:
    """The record of a resumed run's parts over the manifest on disk (the parts win)."""
    from clara_benchmark.commands.score import drop_orphan_shards

    record = StreamRecord(list(models.names))
    record.rows = read_manifest(plan.manifest)
    keys = PART_KEYS + INFO_KEYS + tuple(f"score_{n}" for n in models.names) + PART_MANIFEST_KEYS
    parts, notes = work.read_parts(keys)
    for note in notes:
        ctx.log.main(f"resume: {note}")
    for arrays in parts:
        record.add(arrays)
    if config.save_features:
        drop_orphan_shards(
            Path(config.output_dir) / products.FEATURES.name(ts=work.timestamp), set(record.scored)
        )
    return record


def _items(plan: StreamPlan, record: StreamRecord, done: set[str]) -> list[StreamItem]:
    known = verified_sha256(record.rows)
    return [
        StreamItem(e.filename, e.url, str(plan.sector_dir / e.filename), known.get(e.filename))
        for e in plan.todo.entries
        if e.filename not in done
    ]


def _stream_run(config, ctx, models, plan: StreamPlan, work, executor) -> int:
    from clara_benchmark.featurestore import FeatureStoreWriter

    record = _open_record(config, ctx, models, plan, work)
    done = record.done()
    items = _items(plan, record, done)
    slice_names = [e.filename for e in plan.todo.entries]
    files = SectorFiles(
        plan.sector_dir,
        config.keep_fits,
        preexisting_files(work.path, plan.sector_dir, slice_names),
    )
    read_options = ReadOptions.from_config(config)
    if not read_options.is_default:
        ctx.log.main(
            f"reading light curves with {read_options.describe()} (CLARA: flux pdcsap_flux, no mask)"
        )
    processes = worker_processes(executor)
    threads = max(1, config.num_threads // processes)
    rate = config.max_requests_per_second
    options = dataclasses.replace(plan.options, max_requests_per_second=rate / processes if rate else None)
    ctx.log.main(
        f"score (stream): sector {plan.sector} from {plan.script}: {len(plan.todo.entries)} files "
        f"(script lines {config.start_index}..), models {', '.join(models.names)}; {processes} worker "
        f"process(es) x {threads} download thread(s)"
        + (f", {options.max_requests_per_second:g} requests/s each" if rate else "")
        + f"; files in {plan.sector_dir} (keep_fits {config.keep_fits!r})"
        + (f"; resuming run {work.timestamp}: {len(done)} done, {len(items)} to go" if done else "")
    )
    store = (
        FeatureStoreWriter(Path(config.output_dir) / products.FEATURES.name(ts=work.timestamp), read_options)
        if config.save_features
        else None
    )
    merger = _Merger(ctx, plan, record, files, work, store, models.names)
    merger.unreachable_after = max(UNREACHABLE_AFTER, 2 * threads * processes)
    tasks = ((chunk, bool(config.save_features), read_options) for chunk in batched(items, config.batch_size))
    stop = work.path / STOP_FILE
    stop.unlink(missing_ok=True)  # a stop left by the run this one resumes
    initargs = (models.worker_specs(), options, threads, str(stop))
    results = executor.imap(stream_task, tasks, init_stream_worker, initargs)
    try:
        with _stop_on_interrupt(stop), ctx.progress(total=len(items), desc="stream", unit="lc") as bar:
            merger.bar = bar
            for sb in results:
                merger.merge(sb)
    except BaseException as exc:
        _request_stop(stop)  # before the executor waits for its running tasks
        results.close()
        with contextlib.suppress(OSError):
            merger.flush_manifest()
        if isinstance(exc, KeyboardInterrupt):
            ctx.log.error(
                f"interrupted after {len(done) + merger.counted} of {len(plan.todo.entries)} files; their "
                f'.part files are kept; run again with "resume": true to continue run {work.timestamp}'
            )
        work.close()
        raise
    return _finish(config, ctx, plan, record, files, work, merger)


def _request_stop(stop: Path) -> None:
    with contextlib.suppress(OSError):
        stop.touch()


@contextlib.contextmanager
def _stop_on_interrupt(stop: Path):
    """Ctrl-C creates the stop file first, then raises KeyboardInterrupt as usual: the executor, which
    waits for its running tasks as the interrupt unwinds it, then waits for workers that are stopping."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        _request_stop(stop)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ArchiveUnreachable(ClaraError):
    """Many downloads in a row failed after their retries: the run stops, resumable."""


class _Merger:
    """Client side of the batches: feature shard, work part, removals, manifest, log lines."""

    def __init__(self, ctx, plan, record, files, work, store, names):
        self.ctx, self.plan, self.record, self.files = ctx, plan, record, files
        self.work, self.store, self.names = work, store, list(names)
        self.tic_of = {e.filename: e.tic_id for e in plan.todo.entries}
        self.order = {e.filename: e.index for e in plan.parsed.entries}
        self.counted = 0
        self.received = 0
        self.failed_downloads = 0
        self.gave_up_in_a_row = 0
        self.last_error = ""
        self.unreachable_after = UNREACHABLE_AFTER
        self.workers: set[str] = set()
        self.bar = None
        self.started = time.perf_counter()
        self._flushed = 0.0

    def merge(self, sb: StreamBatch) -> None:
        batch = sb.batch
        if self.store is not None and batch.filenames:
            features = batch.values["features"]
            self.store.write(Batch(batch.filenames, batch.paths, batch.tic_ids, features, infos=batch.infos))
        arrays = part_arrays(sb, self.names, self.tic_of)
        self.work.write_part(arrays)  # from here on the batch is done, whatever happens next
        self.record.add(arrays)
        self.files.tidy(self.record, batch.filenames + [f.filename for f in batch.failures])
        self.workers.add(sb.worker)
        for note in sb.notes:
            self.ctx.log.log(note)
        for result, seconds in sb.downloads:
            self._download_outcome(result, seconds)
        for failure in batch.failures:
            self.ctx.log.log(f"failed: {failure.path}: {failure.reason}")
        self.counted += batch.n_done
        if self.bar is not None:
            self.bar.update(batch.n_done)
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{self.received / 1e6 / elapsed:.1f} MB/s", refresh=False)
        if time.monotonic() - self._flushed > MANIFEST_EVERY_SECONDS:
            self.flush_manifest()
        if self.gave_up_in_a_row >= self.unreachable_after:
            raise ArchiveUnreachable(
                f"stopped: the last {self.gave_up_in_a_row} downloads all failed after their retries "
                f"(last: {self.last_error}); the archive or the network looks unreachable. Finished files "
                f'are kept: run again with "resume": true to retry these and continue run {self.work.timestamp}'
            )

    def _download_outcome(self, result: FileResult, seconds: float) -> None:
        self.received += result.transferred
        if result.status != FAILED:
            self.gave_up_in_a_row = 0
            self.ctx.log.log(outcome_line(result, seconds))
            return
        self.failed_downloads += 1
        self.gave_up_in_a_row = self.gave_up_in_a_row + 1 if result.gave_up else 0
        self.last_error = result.error
        (self.ctx.log.error if self.failed_downloads <= CONSOLE_LINES else self.ctx.log.log)(
            outcome_line(result, seconds)
        )

    def flush_manifest(self) -> None:
        write_manifest(self.plan.manifest, self.record.rows, self.order)
        self._flushed = time.monotonic()


def _finish(config, ctx, plan, record: StreamRecord, files: SectorFiles, work, merger: _Merger) -> int:
    from clara_benchmark.commands.score import scored_infos, write_outputs
    from clara_benchmark.pipeline import warn_untrained

    scored, failed = record.frames()
    warn_untrained(scored_infos(scored))
    outputs = write_outputs(config, work.timestamp, list(record.names), scored, failed)
    slice_names = [e.filename for e in plan.todo.entries]
    finished = [n for n in slice_names if n in record.scored or n in record.failed]
    files.tidy(record, finished)  # files a kill left between a part and its removals
    merger.flush_manifest()
    retry = sorted(record.gave_up & set(finished))
    if retry:  # keep the record, so that a resume asks again for these files only
        work.close()
    else:
        work.finish()
    for label, path in outputs.items():
        ctx.log.main(f"wrote {label}: {path}")
    _summary(ctx, plan, record, files, merger, finished)
    if retry:
        ctx.log.error(
            f"{len(retry)} download(s) failed after all their retries (first: {retry[0]}: "
            f"{record.rows[retry[0]]['error']}); the outputs leave them out and the run's work folder is kept: "
            f'run again with "resume": true to retry exactly these files'
        )
    if len(scored) == 0:
        ctx.log.error(f"no light curve could be scored; reasons in {outputs['failures']}")
        return 1
    return 0


def disk_use(record: StreamRecord, files: SectorFiles, names: list[str]) -> dict:
    """Bytes of the slice's verified files (from the manifest), and of those still in the sector folder."""
    verified = kept = n_kept = 0
    for name in names:
        row = record.rows.get(name, {})
        if row.get("status") not in ON_DISK:
            continue
        size = int(row.get("bytes") or 0)
        verified += size
        if os.path.isfile(files.sector_dir / name):
            kept += size
            n_kept += 1
    return {
        "verified_bytes": verified,
        "kept_bytes": kept,
        "kept_files": n_kept,
        "saved_bytes": verified - kept,
    }


def _summary(ctx, plan, record, files, merger, finished) -> None:
    statuses = [record.rows.get(n, {}).get("status") for n in finished]
    use = disk_use(record, files, finished)
    elapsed = max(time.perf_counter() - merger.started, 1e-9)
    ctx.log.main(
        f"score (stream): sector {plan.sector}: {len(finished)} files: {counts_text(statuses)} to download, "
        f"{len(plan.todo.errors)} script lines refused; {len(record.scored)} scored, "
        f"{len(record.failed)} failed; {merger.received / 1e6:.1f} MB received in {elapsed:.1f} s by "
        f"{len(merger.workers)} worker process(es); manifest {plan.manifest}"
    )
    ctx.log.main(
        f"score (stream): kept {use['kept_files']} FITS ({use['kept_bytes'] / 1e6:.1f} MB, keep_fits "
        f"{files.keep_fits!r}) in {plan.sector_dir}; {use['saved_bytes'] / 1e6:.1f} MB of verified files "
        "removed once scored (disk a download of the whole slice would still use)"
    )
