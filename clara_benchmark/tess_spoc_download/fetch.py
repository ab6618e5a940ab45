"""The HTTP side of ``download``: one file at a time per thread, many threads sharing one connection pool.

A file is streamed into ``<name>.part`` next to its final name, resumed with ``Range`` on the next attempt
(or the next run) when the server honours it, verified (length, light curve, FITS checksums) and only then
renamed into place, so a file under its final name is always complete. Transient failures (connection
errors, timeouts, dropped or short bodies, 429, 5xx, a body that fails verification) are retried with
exponential backoff and jitter, honouring Retry-After; 404 and other 4xx are final.

HTTP client: urllib3's PoolManager (thread-safe, keep-alive pools, streaming, read timeouts per socket
read). requests adds a session layer that is not documented as thread-safe and nothing we need.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)

from clara_benchmark import __version__
from clara_benchmark.tess_spoc_download.verify import Verified, VerifyError, verify_lightcurve_file

DOWNLOADED = "downloaded"
ALREADY_PRESENT = "already-present"
FAILED = "failed"
INTERRUPTED = "interrupted"  # never written to the manifest: the next run picks the file up again

PART_SUFFIX = ".part"
DAMAGED_SUFFIX = ".damaged"
CHUNK = 256 << 10  # small enough that a stalled or interrupted transfer keeps most of its bytes
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class FetchOptions:
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    max_retries: int = 5
    backoff_seconds: float = 1.0  # first retry waits about this long, doubling each time
    max_backoff_seconds: float = 60.0  # cap on any wait, Retry-After included


@dataclass
class FileResult:
    filename: str
    status: str
    size: int = 0  # bytes of the final file
    sha256: str = ""
    attempts: int = 0  # HTTP requests made for this file in this run
    error: str = ""
    transferred: int = 0  # bytes received in this run (for MB/s)
    resumed_from: int = 0  # bytes of a .part reused through a Range request
    moved_aside: str = ""  # name a damaged existing file was moved to


class Interrupted(Exception):
    """The run is stopping (Ctrl-C): leave the .part file for the next run."""


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, immediate: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.immediate = immediate  # e.g. restart after a refused range: no reason to wait


class FinalError(Exception):
    pass


def backoff_delay(attempt: int, options: FetchOptions, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": between half and all of base * 2**(attempt - 1)."""
    ceiling = min(options.max_backoff_seconds, options.backoff_seconds * 2 ** (attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def describe(exc: BaseException, options: FetchOptions) -> tuple[str, bool]:
    """(one-line reason, retryable) for a urllib3 exception."""
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(reason, ResponseError):
        return f"too many redirects ({reason})", False
    if isinstance(reason, SSLError):
        return f"TLS error: {' '.join(str(reason).split())[:200]}", False
    if isinstance(reason, LocationValueError):  # a malformed URL or an unknown scheme: retrying cannot help
        return f"bad URL: {' '.join(str(reason).split())[:200]}", False
    if isinstance(reason, ConnectTimeoutError):
        return f"connect timeout after {options.connect_timeout:g} s", True
    if isinstance(reason, ReadTimeoutError):
        return f"read timeout after {options.read_timeout:g} s", True
    if isinstance(reason, NewConnectionError):
        return f"cannot connect: {' '.join(str(reason).split())[-160:]}", True
    if isinstance(reason, ProtocolError):
        inner = reason.args[1] if len(reason.args) > 1 else reason
        return f"connection dropped mid-transfer: {type(inner).__name__}: {inner}"[:240], True
    text = " ".join(str(reason).split())[:200]
    return f"{type(reason).__name__}: {text}", True


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    m = _CONTENT_RANGE.match((value or "").strip())
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def _content_range_unsatisfied(value: str | None) -> int | None:
    """The total size from a 416's ``Content-Range: bytes */<size>``."""
    m = re.match(r"^bytes \*/(\d+)$", (value or "").strip())
    return int(m.group(1)) if m else None


class Fetcher:
    """Downloads files into a directory; safe to call from many threads at once."""

    def __init__(
        self,
        options: FetchOptions,
        num_threads: int = 4,
        stop: threading.Event | None = None,
        log: Callable[[str], None] | None = None,
        verify: Callable[[Path, int | None], Verified] = verify_lightcurve_file,
    ):
        self.options = options
        self.stop = stop or threading.Event()
        self.log = log or (lambda msg: None)
        self.verify = verify
        self.pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=max(1, num_threads),
            headers={"User-Agent": f"clara/{__version__}", "Accept-Encoding": "identity"},
        )
        self.timeout = urllib3.Timeout(connect=options.connect_timeout, read=options.read_timeout)
        # urllib3 only follows redirects; every other retry is ours (it must know about .part files)
        self.retries = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=10, raise_on_status=False
        )
        self._active: set = set()  # responses being read, so abort() can unblock their threads
        self._active_lock = threading.Lock()

    def close(self) -> None:
        self.pool.clear()

    def abort(self) -> None:
        """Stop every transfer now (Ctrl-C): threads blocked in a read wake up and raise Interrupted."""
        self.stop.set()
        with self._active_lock:
            active = list(self._active)
        for resp in active:
            with contextlib.suppress(Exception):
                resp.shutdown()

    # ---------------------------------------------------------------------------------------- retries

    def _retrying(self, name: str, attempt_fn: Callable[[], object]) -> tuple[object, int]:
        """Run ``attempt_fn`` until it succeeds, fails finally, or retries run out. Returns (value, attempts)."""
        attempts = 0
        while True:
            if self.stop.is_set():
                raise Interrupted()
            attempts += 1
            try:
                return attempt_fn(), attempts
            except FinalError as exc:
                raise FinalError(str(exc)) from None
            except RetryableError as exc:
                if self.stop.is_set():
                    raise Interrupted() from None
                if attempts > self.options.max_retries:
                    raise FinalError(f"{exc} (gave up after {attempts} attempts)") from None
                if exc.immediate:
                    delay = 0.0
                elif exc.retry_after is not None:
                    delay = min(exc.retry_after, self.options.max_backoff_seconds)
                else:
                    delay = backoff_delay(attempts, self.options)
                self.log(f"{name}: attempt {attempts} failed ({exc}); retrying in {delay:.2f} s")
                if delay > 0 and self.stop.wait(delay):
                    raise Interrupted() from None

    def _request(self, url: str, headers: dict | None = None):
        try:
            return self.pool.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                timeout=self.timeout,
                retries=self.retries,
            )
        except HTTPError as exc:
            reason, retryable = describe(exc, self.options)
            raise (RetryableError(reason) if retryable else FinalError(reason)) from None

    @staticmethod
    def _check_status(resp) -> None:
        status = resp.status
        if status == 429 or 500 <= status <= 599:
            raise RetryableError(
                f"HTTP {status} {resp.reason or ''}".strip(),
                parse_retry_after(resp.headers.get("Retry-After")),
            )
        if status not in (200, 206):
            raise FinalError(f"HTTP {status} {resp.reason or ''}".strip())

    # ---------------------------------------------------------------------------------------- small files

    def get_bytes(self, url: str, max_bytes: int = 256 << 20) -> tuple[bytes, int]:
        """A whole (small) resource in memory, with the same retries; returns (body, attempts)."""

        def attempt() -> bytes:
            resp = self._request(url)
            clean = False
            try:
                self._check_status(resp)
                if resp.status != 200:
                    raise FinalError(f"HTTP {resp.status} to a request without Range")
                chunks, size = [], 0
                for chunk in resp.stream(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FinalError(f"larger than {max_bytes} bytes")
                    chunks.append(chunk)
                clean = True
                return b"".join(chunks)
            except HTTPError as exc:
                reason, retryable = describe(exc, self.options)
                raise (RetryableError(reason) if retryable else FinalError(reason)) from None
            finally:
                if not clean:
                    resp.close()
                resp.release_conn()

        body, attempts = self._retrying(url, attempt)
        return body, attempts  # type: ignore[return-value]

    # ---------------------------------------------------------------------------------------- one file

    def fetch_file(
        self, filename: str, url: str, dest_dir: Path, known_sha256: str | None = None
    ) -> FileResult:
        """Make ``dest_dir/filename`` a verified copy of ``url``; never raises except ``Interrupted``.

        An existing file is kept only if it verifies and, when ``known_sha256`` (from an earlier run's
        manifest) is given, still has that digest; otherwise it is moved aside and fetched again.
        """
        final = dest_dir / filename
        part = dest_dir / (filename + PART_SUFFIX)
        result = FileResult(filename, FAILED)
        if final.exists():
            try:
                v = self.verify(final, None)
                if known_sha256 and v.sha256 != known_sha256:
                    raise VerifyError(
                        f"sha256 {v.sha256[:12]}... differs from the manifest's {known_sha256[:12]}..."
                    )
            except VerifyError as exc:
                aside = dest_dir / (filename + DAMAGED_SUFFIX)
                try:
                    os.replace(final, aside)
                except OSError as err:
                    result.error = (
                        f"existing file is damaged ({exc.reason}) and cannot be moved: {err.strerror}"
                    )
                    return result
                result.moved_aside = aside.name
                self.log(f"{filename}: existing file is damaged ({exc.reason}); moved to {aside.name}")
            else:
                result.status, result.size, result.sha256 = ALREADY_PRESENT, v.size, v.sha256
                return result

        def attempt() -> Verified:
            expected = self._stream_to_part(url, part, result)
            try:
                return self.verify(part, expected)
            except VerifyError as exc:
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
                raise RetryableError(f"downloaded file failed verification: {exc.reason}") from None

        try:
            verified, _ = self._retrying(filename, attempt)
            os.replace(part, final)
        except FinalError as exc:
            result.error = str(exc)
            return result
        except OSError as exc:  # disk full, permissions: this file fails, the run goes on
            if self.stop.is_set():  # ...unless abort() cut the socket under a read
                raise Interrupted() from None
            result.error = f"cannot write {exc.filename or part}: {exc.strerror or exc}"
            return result
        result.status, result.size, result.sha256 = DOWNLOADED, verified.size, verified.sha256  # type: ignore[union-attr]
        return result

    def _stream_to_part(self, url: str, part: Path, result: FileResult) -> int | None:
        """One HTTP attempt into ``part`` (resuming it if possible); returns the expected final size."""
        result.attempts += 1
        try:
            offset = part.stat().st_size
        except FileNotFoundError:
            offset = 0
        headers = {"Range": f"bytes={offset}-"} if offset else None
        resp = self._request(url, headers)
        clean = False
        with self._active_lock:
            self._active.add(resp)
        try:
            if resp.status == 416 and offset:
                rng = _content_range_unsatisfied(resp.headers.get("Content-Range"))
                with contextlib.suppress(HTTPError, OSError):
                    resp.drain_conn()
                    clean = True
                if rng == offset:  # the .part is already whole (a run stopped before the rename)
                    return offset
                part.unlink()
                raise RetryableError("server refused the resume range (HTTP 416); restarting", immediate=True)
            try:
                self._check_status(resp)
            except (RetryableError, FinalError):
                with contextlib.suppress(HTTPError, OSError):
                    resp.drain_conn()  # small error body: keep the connection for the next file
                    clean = True
                raise
            if resp.status == 206:
                rng = _content_range(resp.headers.get("Content-Range"))
                if not offset or rng is None or rng[0] != offset:
                    part.unlink(missing_ok=True)
                    raise RetryableError(
                        f"server answered Range bytes={offset}- with Content-Range "
                        f"{resp.headers.get('Content-Range')!r}; restarting",
                        immediate=True,
                    )
                expected, mode = rng[2], "ab"
                result.resumed_from = offset
            else:
                if offset:
                    self.log(
                        f"{part.name[: -len(PART_SUFFIX)]}: server ignored Range; restarting from byte 0"
                    )
                length = resp.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                mode = "wb"
            with open(part, mode) as fh:
                for chunk in resp.stream(CHUNK):
                    if self.stop.is_set():
                        raise Interrupted()
                    fh.write(chunk)
                    result.transferred += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            clean = True
        except HTTPError as exc:
            reason, retryable = describe(exc, self.options)
            raise (RetryableError(reason) if retryable else FinalError(reason)) from None
        finally:
            with self._active_lock:
                self._active.discard(resp)
            if not clean:
                resp.close()  # the connection may hold unread bytes: never hand it back as reusable
            resp.release_conn()
        size = part.stat().st_size
        if expected is not None and size != expected:
            if size > expected:
                part.unlink()
            raise RetryableError(f"body ended at {size} of {expected} bytes")
        return expected
