"""The ``download`` command: for each config block, a sector's light curves from MAST's script.

Per block: fetch the script if it is missing, parse it, slice ``[start_index, start_index + max_downloads)``,
download on ``num_threads`` threads into ``<out_dir_tess>/<sector>/``, and merge the outcome into the
sector's manifest CSV. Exit code 1 when any file failed or any script line was refused.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import logging
import os
import stat
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from clara_benchmark.config import FETCH_OPTION_KEYS, DownloadBlock
from clara_benchmark.tess_spoc_download.fetch import (
    ALREADY_PRESENT,
    DOWNLOADED,
    FAILED,
    Fetcher,
    FetchOptions,
    FileResult,
    FinalError,
    Interrupted,
)
from clara_benchmark.tess_spoc_download.script import ParsedScript, parse_script, read_script, script_name
from clara_benchmark.utils.context import RunContext
from clara_benchmark.utils.io import atomic_write_bytes, atomic_write_text
from clara_benchmark.utils.logs import DATE_FORMAT, LINE_FORMAT, LOG

MANIFEST_COLUMNS = ("filename", "tic_id", "status", "bytes", "sha256", "attempts", "error")
LOCK_NAME = ".clara-download.lock"
CONSOLE_FAILURES = 20  # failed files (and refused lines) echoed to the console per block; all are in the log
#: manifest statuses of a file verified on disk
ON_DISK = (DOWNLOADED, ALREADY_PRESENT)

try:  # one writer per sector directory (POSIX); elsewhere the lock is skipped
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class BlockError(Exception):
    """A block that cannot run at all (no script, directory locked); the next block still runs."""


def manifest_path(sector_dir: Path, sector: int) -> Path:
    return sector_dir / f"manifest_sector_{sector}.csv"


def fetch_options(block: DownloadBlock) -> FetchOptions:
    """The block's fetch keys (``config.FETCH_OPTION_KEYS``: timeouts, retries, rate limits)."""
    return FetchOptions(**{name: getattr(block, name) for name in FETCH_OPTION_KEYS})


def fetch_one(
    fetcher: Fetcher, filename: str, url: str, dest: str | os.PathLike, known_sha256: str | None, detail=None
) -> tuple[FileResult, float]:
    """One file fetched (``Fetcher.fetch_file``) and the seconds it took; shared by download and score's
    stream mode.

    A bug costs this file, not the run: it becomes a failed result, its traceback goes to ``detail`` (a log
    function) when given. When the fetcher is stopping, ``Interrupted`` instead.
    """
    start = time.perf_counter()
    try:
        result = fetcher.fetch_file(url, dest, known_sha256)
    except Interrupted:
        raise
    except Exception as exc:
        if fetcher.stop.is_set():
            raise Interrupted() from None
        if detail is not None:
            detail(f"{filename}: internal error, traceback follows\n{traceback.format_exc()}")
        result = FileResult(filename, FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
    return result, time.perf_counter() - start


# ------------------------------------------------------------------------------------------------ logging


class _BlockLog:
    """Per-file lines go to the block's ``log_file``; run-level lines also go to the console and main.log.

    The CLI opened the first block's log_file as the command log; a later block with another log_file gets
    its own handler here.
    """

    def __init__(self, ctx: RunContext, path: Path):
        self.ctx = ctx
        self.path = Path(path)
        self.failures = 0
        self._logger: logging.Logger | None = None
        self._handler: logging.Handler | None = None
        own = Path(ctx.log.command_log_path)
        if Path(path).resolve() != own.resolve():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._handler = logging.FileHandler(path, encoding="utf-8")
            self._handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
            self._logger = logging.getLogger(f"clara.download.block.{id(self)}")
            self._logger.setLevel(LOG)
            self._logger.propagate = False
            self._logger.addHandler(self._handler)

    def detail(self, msg: str) -> None:
        if self._logger is not None:
            self._logger.log(LOG, msg)
        else:
            self.ctx.log.log(msg)

    def main(self, msg: str) -> None:
        self.ctx.log.main(msg)
        if self._logger is not None:
            self._logger.log(logging.getLevelName("MAIN"), msg)

    def error(self, msg: str) -> None:
        self.ctx.log.error(msg)
        if self._logger is not None:
            self._logger.log(logging.ERROR, msg)

    def file_failed(self, msg: str) -> None:
        """The first CONSOLE_FAILURES failed files reach the console and main.log; all reach the log file."""
        self.failures += 1
        if self.failures <= CONSOLE_FAILURES:
            self.error(msg)
            if self.failures == CONSOLE_FAILURES:
                self.main(f"more failed files are listed only in {self.path} and the manifest")
        elif self._logger is not None:
            self._logger.log(logging.ERROR, msg)
        else:
            self.ctx.log.log(f"ERROR {msg}")

    def close(self) -> None:
        if self._logger is not None and self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()


# ------------------------------------------------------------------------------------------------ script


def script_url(base_url: str, sector: int) -> str:
    return base_url.rstrip("/") + "/" + script_name(sector)


def ensure_script(block: DownloadBlock, fetcher: Fetcher, log: _BlockLog) -> Path:
    """The sector's script in catalogues_folder, fetched (atomically) from base_url when missing."""
    path = Path(block.catalogues_folder) / script_name(block.sector_number)
    if path.is_file():
        return path
    url = script_url(block.base_url, block.sector_number)
    log.main(f"{path} not found; fetching {url}")
    try:
        body, attempts = fetcher.get_bytes(url)
    except FinalError as exc:
        raise BlockError(f"cannot fetch the sector {block.sector_number} script from {url}: {exc}") from None
    parsed = parse_script(body.decode("utf-8", errors="replace"))
    if not parsed.entries:
        raise BlockError(
            f"{url} is not a download script (no curl/wget line found in {len(body)} bytes); nothing saved"
        )
    try:
        atomic_write_bytes(path, body)
    except OSError as exc:
        raise BlockError(f"cannot save the script to {path}: {exc.strerror}") from None
    log.main(f"saved {path} ({len(parsed.entries)} files, {len(body)} bytes, {attempts} request(s))")
    return path


# ------------------------------------------------------------------------------------------------ manifest


def read_manifest(path: Path) -> dict[str, dict]:
    """Rows of an earlier run's manifest by file name; an unreadable one is ignored (rewritten)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
                return {}
            return {row["filename"]: row for row in reader}
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}


def write_manifest(path: Path, rows: dict[str, dict], order: dict[str, int]) -> None:
    """All rows, in script order (names no longer in the script last), written atomically."""
    names = sorted(rows, key=lambda n: (order.get(n, len(order)), n))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for name in names:
        writer.writerow({k: rows[name].get(k, "") for k in MANIFEST_COLUMNS})
    atomic_write_text(path, buf.getvalue())


def verified_sha256(rows: dict[str, dict]) -> dict[str, str]:
    """The sha256 of each file that manifest ``rows`` record as verified on disk, for ``fetch_file`` to
    check a file already there against."""
    return {n: r["sha256"] for n, r in rows.items() if r.get("status") in ON_DISK and r.get("sha256")}


def counts_text(statuses: list[str]) -> str:
    """How many files of each status, as the summary lines say it: "3 downloaded, 1 already present, 0 failed"."""
    return (
        f"{statuses.count(DOWNLOADED)} downloaded, {statuses.count(ALREADY_PRESENT)} already present, "
        f"{statuses.count(FAILED)} failed"
    )


def manifest_row(result: FileResult, tic_id: int | None) -> dict:
    return {
        "filename": result.filename,
        "tic_id": "" if tic_id is None else tic_id,
        "status": result.status,
        "bytes": result.size if result.status != FAILED else "",
        "sha256": result.sha256,
        "attempts": result.attempts,
        "error": result.error,
    }


# ------------------------------------------------------------------------------------------------ lock


@contextlib.contextmanager
def sector_lock(sector_dir: Path):
    """Hold ``<sector_dir>/.clara-download.lock`` exclusively (``BlockError`` if another run holds it).

    The lock file is opened without following links: a ``.clara-download.lock`` that is a symbolic link
    is refused (``BlockError``) rather than made to create or lock its target.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = sector_dir / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise BlockError(
                f"{path} is a symbolic link; refused: clara never writes through links in the output "
                "folder (remove it)"
            ) from None
        raise BlockError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BlockError(f"{path} is not a regular file; refused (remove it)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BlockError(
                f"another clara download is writing into {sector_dir}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------ run


@dataclass
class BlockSummary:
    sector: int
    results: list[FileResult] = field(default_factory=list)
    refused_lines: int = 0
    error: str = ""
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def counts(self) -> str:
        return counts_text([r.status for r in self.results])

    @property
    def ok(self) -> bool:
        return not (self.error or self.refused_lines or self.count(FAILED) or self.interrupted)


def outcome_line(r: FileResult, seconds: float) -> str:
    if r.status == DOWNLOADED:
        extra = f", resumed at byte {r.resumed_from}" if r.resumed_from else ""
        aside = f", damaged copy kept as {r.moved_aside}" if r.moved_aside else ""
        return (
            f"downloaded {r.filename}: {r.size} bytes, sha256 {r.sha256}, {r.attempts} attempt(s), "
            f"{seconds:.2f} s{extra}{aside}"
        )
    if r.status == ALREADY_PRESENT:
        return f"already present {r.filename}: verified, {r.size} bytes, sha256 {r.sha256}"
    return f"failed {r.filename} after {r.attempts} attempt(s): {r.error}"


def run_block(block: DownloadBlock, ctx: RunContext, log: _BlockLog) -> BlockSummary:
    sector = block.sector_number
    summary = BlockSummary(sector)
    started = time.perf_counter()
    fetcher = Fetcher(fetch_options(block), block.num_threads, log=log.detail)
    try:
        script = ensure_script(block, fetcher, log)
        try:
            parsed: ParsedScript = read_script(script)
        except OSError as exc:
            raise BlockError(f"cannot read {script}: {exc.strerror}") from None
        todo = parsed.sliced(block.start_index, block.max_downloads)
        last = min(block.start_index + block.max_downloads, parsed.n_commands) - 1
        log.main(
            f"sector {sector}: {script} has {parsed.n_commands} download lines; taking lines "
            f"{block.start_index}..{last} (start_index..): {len(todo.entries)} files on "
            f"{block.num_threads} threads into {Path(block.out_dir_tess) / str(sector)}"
        )
        if block.start_index >= parsed.n_commands and block.max_downloads:
            log.main(f"sector {sector}: start_index {block.start_index} is past the end of the script")
        for i, err in enumerate(todo.errors):
            (log.error if i < CONSOLE_FAILURES else log.detail)(f"{script}: refused {err}")
        if len(todo.errors) > CONSOLE_FAILURES:
            log.main(f"{len(todo.errors)} script lines refused; all of them are listed in {log.path}")
        summary.refused_lines = len(todo.errors)

        sector_dir = Path(block.out_dir_tess) / str(sector)
        try:
            sector_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlockError(f"cannot create {sector_dir}: {exc.strerror}") from None
        with sector_lock(sector_dir):
            _download_all(block, ctx, log, fetcher, parsed, todo, sector_dir, summary)
    except BlockError as exc:
        summary.error = str(exc)
        log.error(f"sector {sector}: {exc}")
    finally:
        fetcher.close()
        summary.seconds = time.perf_counter() - started
    return summary


def _download_all(block, ctx, log, fetcher, parsed, todo, sector_dir, summary) -> None:
    sector = block.sector_number
    manifest = manifest_path(sector_dir, sector)
    rows = read_manifest(manifest)
    order = {e.filename: e.index for e in parsed.entries}
    tic = {e.filename: e.tic_id for e in todo.entries}
    known = verified_sha256(rows)
    bar = ctx.progress(total=len(todo.entries), desc=f"sector {sector}", unit="file")
    received = 0
    t0 = time.perf_counter()

    def one(entry) -> tuple[FileResult, float]:
        dest = sector_dir / entry.filename
        return fetch_one(fetcher, entry.filename, entry.url, dest, known.get(entry.filename), log.detail)

    def record(fut: Future) -> None:
        nonlocal received
        try:
            result, seconds = fut.result()
        except Interrupted:
            return
        summary.results.append(result)
        rows[result.filename] = manifest_row(result, tic.get(result.filename))
        received += result.transferred
        (log.file_failed if result.status == FAILED else log.detail)(outcome_line(result, seconds))
        bar.update(1)
        elapsed = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{received / 1e6 / elapsed:.1f} MB/s", refresh=False)

    pool = ThreadPoolExecutor(max_workers=block.num_threads, thread_name_prefix=f"download-s{sector}")
    # a bounded window of futures: wait() scans what it is given, so 20k pending futures would make the
    # main loop quadratic; two per thread keeps every thread busy
    window = 2 * block.num_threads
    entries = iter(todo.entries)
    inflight: set[Future] = set()  # submitted and not yet recorded
    try:
        for entry in itertools.islice(entries, window):
            inflight.add(pool.submit(one, entry))
        while inflight:
            done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                record(fut)
                inflight.discard(fut)
                nxt = next(entries, None)
                if nxt is not None:
                    inflight.add(pool.submit(one, nxt))
    except KeyboardInterrupt:
        summary.interrupted = True
        fetcher.abort()
        log.error(
            f"sector {sector}: interrupted; stopping the downloads in flight (their .part files are kept)"
        )
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in inflight:  # files that finished while we were stopping still count
            if fut.done() and not fut.cancelled():
                record(fut)
        write_manifest(manifest, rows, order)
        log.main(_stopped_line(sector, summary, len(todo.entries), manifest))
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    write_manifest(manifest, rows, order)
    log.main(_done_line(sector, summary, received, time.perf_counter() - t0, manifest))


def _stopped_line(sector: int, summary: BlockSummary, total: int, manifest: Path) -> str:
    return (
        f"sector {sector}: stopped after {len(summary.results)} of {total} files ({summary.counts()}); "
        f"rerun the same command to continue; manifest {manifest}"
    )


def _done_line(sector: int, summary: BlockSummary, received: int, seconds: float, manifest: Path) -> str:
    elapsed = max(seconds, 1e-9)
    n = len(summary.results)
    return (
        f"sector {sector}: {n} files: {summary.counts()}, {summary.refused_lines} script lines refused; {received / 1e6:.1f} MB received in {elapsed:.1f} s "
        f"({n / elapsed:.1f} files/s, {received / 1e6 / elapsed:.1f} MB/s); manifest {manifest}"
    )


def run(blocks: list[DownloadBlock], ctx: RunContext) -> int:
    """Run every block in order; exit code 0 only when every file is verified on disk."""
    summaries = []
    for block in blocks:
        log = _BlockLog(ctx, block.log_file)
        try:
            summaries.append(run_block(block, ctx, log))
        finally:
            log.close()
    if len(summaries) > 1:
        failed = sum(s.count(FAILED) for s in summaries)
        ctx.log.main(
            f"{len(summaries)} sectors: {sum(len(s.results) for s in summaries)} files, {failed} failed, "
            f"{sum(s.refused_lines for s in summaries)} script lines refused, "
            f"{sum(bool(s.error) for s in summaries)} sectors could not run"
        )
    return 0 if all(s.ok for s in summaries) else 1
