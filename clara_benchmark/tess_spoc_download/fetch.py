"""The HTTP side of ``download``: one file at a time per thread, many threads sharing one connection pool.

A file is streamed into ``<name>.part`` next to its final name, resumed with ``Range`` on the next attempt
(or the next run) when the server honours it, verified (length, light curve, FITS checksums, the star and
sector its SPOC name says) and only then renamed into place, so a file under its final name is always
complete. Transient failures (connection errors, timeouts, dropped or short bodies, 429, 5xx, a body that
fails verification, an attempt past its deadline or below the minimum rate) are retried with exponential
backoff and jitter, honouring Retry-After; 404 and other 4xx, and a light curve of another star, are final.

Links in the output folder are never followed: a ``<name>.part`` or ``<name>`` that is a symbolic link
(or a ``.part`` with other hard links) is refused with a failure row, and files are opened with
``O_NOFOLLOW``, so nothing outside the folder is read, appended to or overwritten.

Manners: ``num_threads`` caps concurrency; ``max_requests_per_second`` spaces requests to one host; a
Retry-After (429/503) pauses every thread's requests to that host, not only the file that got it. Both
hold per ``Fetcher``, i.e. per process.

Used one file at a time from outside ``run.py`` too (a stream mode's workers):
``Fetcher(FetchOptions()).fetch_file(url, dest_dir / name) -> FileResult``, thread-safe, verified, never
raising except ``Interrupted``.

HTTP client: urllib3's PoolManager (thread-safe, keep-alive pools, streaming, read timeouts per socket
read). requests adds a session layer that is not documented as thread-safe and nothing we need.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import os
import random
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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
from clara_benchmark.tess_spoc_download.verify import (
    IdentityError,
    Verified,
    VerifyError,
    verify_lightcurve_file,
)

DOWNLOADED = "downloaded"
ALREADY_PRESENT = "already-present"
FAILED = "failed"
INTERRUPTED = "interrupted"  # never written to the manifest: the next run picks the file up again

PART_SUFFIX = ".part"
DAMAGED_SUFFIX = ".damaged"
CHUNK = 256 << 10  # most bytes one read returns (read1: whatever has arrived, up to this)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class FetchOptions:
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    max_retries: int = 5
    backoff_seconds: float = 1.0  # first retry waits about this long, doubling each time
    max_backoff_seconds: float = 60.0  # cap on any wait, Retry-After included
    file_deadline_seconds: float = 600.0  # one attempt at one file, request to last byte
    min_rate_bytes_per_second: float = 1024.0  # 0: no minimum
    min_rate_seconds: float = 30.0  # ...measured over windows this long
    max_requests_per_second: float | None = None  # per host; None: only num_threads limits
    max_file_bytes: int = 256 << 20  # a light curve is ~2 MB (20-s cadence ~15 MB)


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
    gave_up: bool = False  # failed because the retries ran out (transient: a later run may succeed)


class HostPacer:
    """Request starts per host: at most one every ``1 / max_requests_per_second`` seconds, and none while
    the host has asked to be left alone (Retry-After). Thread-safe; waits are cut short by ``stop``."""

    def __init__(self, max_requests_per_second: float | None):
        self.interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # earliest start of the next request, per host
        self._paused: dict[str, float] = {}  # Retry-After: no request before this, per host

    def wait(self, host: str, stop: threading.Event) -> None:
        """Block until a request to ``host`` may start (and count it); ``Interrupted`` if ``stop`` is set."""
        if not self.interval and not self._paused:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                earliest = max(self._next.get(host, 0.0), self._paused.get(host, 0.0))
                if now >= earliest:
                    if self.interval:
                        self._next[host] = now + self.interval
                    return
            if stop.wait(earliest - now):
                raise Interrupted()

    def pause(self, host: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._paused[host] = max(self._paused.get(host, 0.0), until)


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


class Interrupted(Exception):
    """The run is stopping (Ctrl-C): leave the .part file for the next run."""


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, immediate: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.immediate = immediate  # e.g. restart after a refused range: no reason to wait


class FinalError(Exception):
    """No (further) attempt at this file in this run; ``gave_up`` when only the retries ran out (a
    transient cause: a later run may succeed), not a final answer such as a 404."""

    def __init__(self, reason: str, gave_up: bool = False):
        super().__init__(reason)
        self.gave_up = gave_up


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
    # before ConnectTimeoutError: urllib3 2 makes a refused connection (NewConnectionError) a subclass of it
    if isinstance(reason, NewConnectionError):
        return f"cannot connect: {' '.join(str(reason).split())[-160:]}", True
    if isinstance(reason, ConnectTimeoutError):
        return f"connect timeout after {options.connect_timeout:g} s", True
    if isinstance(reason, ReadTimeoutError):
        return f"read timeout after {options.read_timeout:g} s", True
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
        verify: Callable[..., Verified] = verify_lightcurve_file,
    ):
        """``verify(path, expected_size, filename=..., follow_symlinks=False)`` checks a file (by default
        ``verify.verify_lightcurve_file``); it raises ``VerifyError`` (``IdentityError``: final)."""
        self.options = options
        self.pacer = HostPacer(options.max_requests_per_second)
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
                raise FinalError(str(exc), exc.gave_up) from None
            except RetryableError as exc:
                if self.stop.is_set():
                    raise Interrupted() from None
                if attempts > self.options.max_retries:
                    raise FinalError(f"{exc} (gave up after {attempts} attempts)", gave_up=True) from None
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
        self.pacer.wait(host_of(url), self.stop)
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

    def _check_status(self, resp, url: str) -> None:
        status = resp.status
        if status == 429 or 500 <= status <= 599:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retry_after is not None:  # the host asked every client thread to wait, not only this one
                self.pacer.pause(host_of(url), min(retry_after, self.options.max_backoff_seconds))
            raise RetryableError(f"HTTP {status} {resp.reason or ''}".strip(), retry_after)
        if status not in (200, 206):
            raise FinalError(f"HTTP {status} {resp.reason or ''}".strip())

    def _body(self, resp, started: float) -> Iterator[bytes]:
        """The response body as it arrives; ``RetryableError`` once the attempt is past
        ``file_deadline_seconds`` (counted from ``started``, the request) or slower than
        ``min_rate_bytes_per_second`` over a ``min_rate_seconds`` window.

        Checked whenever data arrives, so a server that goes silent is caught by ``read_timeout`` instead:
        an attempt ends at the latest ``read_timeout`` after its deadline.
        """
        o = self.options
        deadline = started + o.file_deadline_seconds
        window_start, window_bytes, received = time.monotonic(), 0, 0
        while True:
            if self.stop.is_set():
                raise Interrupted()
            chunk = resp.read1(CHUNK)
            if not chunk:
                return
            yield chunk
            now = time.monotonic()
            window_bytes += len(chunk)
            received += len(chunk)
            if now > deadline:
                raise RetryableError(
                    f"attempt not finished after {o.file_deadline_seconds:g} s (file_deadline_seconds; "
                    f"{received} bytes in {now - started:.1f} s)"
                )
            if o.min_rate_bytes_per_second and now - window_start >= o.min_rate_seconds:
                rate = window_bytes / (now - window_start)
                if rate < o.min_rate_bytes_per_second:
                    raise RetryableError(
                        f"transfer slower than min_rate_bytes_per_second {o.min_rate_bytes_per_second:g} "
                        f"({rate:.0f} bytes/s over {now - window_start:.1f} s)"
                    )
                window_start, window_bytes = now, 0

    # ---------------------------------------------------------------------------------------- small files

    def get_bytes(self, url: str, max_bytes: int = 256 << 20) -> tuple[bytes, int]:
        """A whole (small) resource in memory, with the same retries; returns (body, attempts)."""

        def attempt() -> bytes:
            started = time.monotonic()
            resp = self._request(url)
            clean = False
            try:
                self._check_status(resp, url)
                if resp.status != 200:
                    raise FinalError(f"HTTP {resp.status} to a request without Range")
                chunks, size = [], 0
                for chunk in self._body(resp, started):
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

    def fetch_file(self, url: str, dest: str | os.PathLike, known_sha256: str | None = None) -> FileResult:
        """Make ``dest`` a verified copy of ``url``; never raises except ``Interrupted``.

        ``dest`` is the final path (``dest_dir / name``); the download goes through ``<dest>.part`` in the
        same directory. An existing file is kept only if it verifies and, when ``known_sha256`` (from an
        earlier run's manifest) is given, still has that digest; otherwise it is moved aside to
        ``<name>.damaged`` and fetched again. A ``<name>`` or ``<name>.part`` that is a symbolic link (or
        not a regular file) is refused: the result is a failure naming it, and its target is untouched.

        >>> fetcher = Fetcher(FetchOptions(), num_threads=1)  # doctest: +SKIP
        >>> fetcher.fetch_file(url, Path("out/1") / name).status  # doctest: +SKIP
        'downloaded'
        """
        final = Path(dest)
        filename = final.name
        part = final.with_name(filename + PART_SUFFIX)
        result = FileResult(filename, FAILED)
        try:
            if self._keep_existing(final, known_sha256, result):
                return result
        except FinalError as exc:
            result.error = str(exc)
            return result
        except OSError as exc:  # e.g. the folder cannot be read
            result.error = f"cannot check the existing {filename}: {exc.strerror or exc}"
            return result

        def attempt() -> Verified:
            expected = self._stream_to_part(url, part, result)
            held = self._hold(part)  # keeps the inode alive, so an identity match below means this file
            try:
                try:
                    verified = self.verify(part, expected, filename=filename, follow_symlinks=False)
                except VerifyError as exc:
                    with contextlib.suppress(FileNotFoundError):
                        part.unlink()
                    if isinstance(exc, IdentityError):  # another star's file: asking again won't help
                        raise FinalError(f"downloaded file failed verification: {exc.reason}") from None
                    raise RetryableError(f"downloaded file failed verification: {exc.reason}") from None
                self._install(part, final, verified, os.fstat(held))
            finally:
                os.close(held)
            return verified

        try:
            verified, _ = self._retrying(filename, attempt)
        except FinalError as exc:
            result.error, result.gave_up = str(exc), exc.gave_up
            return result
        except OSError as exc:  # disk full, permissions: this file fails, the run goes on
            if self.stop.is_set():  # ...unless abort() cut the socket under a read
                raise Interrupted() from None
            result.error = f"cannot write {exc.filename or part}: {exc.strerror or exc}"
            return result
        result.status, result.size, result.sha256 = DOWNLOADED, verified.size, verified.sha256  # type: ignore[union-attr]
        return result

    def _keep_existing(self, final: Path, known_sha256: str | None, result: FileResult) -> bool:
        """True when ``final`` already holds the verified file (``result`` filled in); a damaged one is
        moved aside; ``FinalError`` for a link or a non-file under that name."""
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            return False
        refuse_non_file(final, st)
        try:
            v = self.verify(final, None, filename=final.name, follow_symlinks=False)
            if known_sha256 and v.sha256 != known_sha256:
                raise VerifyError(
                    f"sha256 {v.sha256[:12]}... differs from the manifest's {known_sha256[:12]}..."
                )
        except VerifyError as exc:
            aside = final.with_name(final.name + DAMAGED_SUFFIX)
            try:
                os.replace(final, aside)  # renames the entry itself: never follows a link
            except OSError as err:
                raise FinalError(
                    f"existing file is damaged ({exc.reason}) and cannot be moved: {err.strerror}"
                ) from None
            result.moved_aside = aside.name
            self.log(f"{final.name}: existing file is damaged ({exc.reason}); moved to {aside.name}")
            return False
        result.status, result.size, result.sha256 = ALREADY_PRESENT, v.size, v.sha256
        return True

    @staticmethod
    def _hold(part: Path) -> int:
        """A read descriptor of the finished ``part`` (never through a link)."""
        try:
            return os.open(
                part, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FinalError(link_refused(part)) from None
            raise

    @staticmethod
    def _install(part: Path, final: Path, verified: Verified, held: os.stat_result) -> None:
        """Rename the verified ``part`` to ``final``, making sure that the file verified, the file held
        open since before the verification and the file that got the final name are one and the same
        (not a link or another file swapped in for ``part`` meanwhile)."""
        identity = (held.st_dev, held.st_ino)
        if verified.identity not in ((0, 0), identity):  # (0, 0): a verifier that does not say
            raise FinalError(f"{part.name} was replaced while being verified; refused")
        os.replace(part, final)
        st = os.lstat(final)
        if (st.st_dev, st.st_ino) != identity:
            final.unlink()  # whatever was swapped in; a link's target is untouched
            raise FinalError(f"{part.name} was replaced while being verified; refused")

    def _part_size(self, part: Path) -> int:
        """Bytes already in ``part`` (0 when absent); ``FinalError`` if it is a link or not a plain file."""
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return 0
        refuse_non_file(part, st, written=True)
        return st.st_size

    @staticmethod
    def _open_part(part: Path, append: bool) -> int:
        """A write descriptor of ``part``, created if missing, never through a link; emptied unless
        ``append``. Nothing is written or truncated before the checks."""
        flags = (
            os.O_WRONLY | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        )
        if append:
            flags |= os.O_APPEND
        try:
            fd = os.open(part, flags, 0o644)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise FinalError(link_refused(part)) from None
            raise
        try:
            refuse_non_file(part, os.fstat(fd), written=True)
            if not append:
                os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _stream_to_part(self, url: str, part: Path, result: FileResult) -> int | None:
        """One HTTP attempt into ``part`` (resuming it if possible); returns the expected final size."""
        offset = self._part_size(part)
        result.attempts += 1
        headers = {"Range": f"bytes={offset}-"} if offset else None
        started = time.monotonic()
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
                self._check_status(resp, url)
            except (RetryableError, FinalError):
                with contextlib.suppress(HTTPError, OSError):
                    resp.drain_conn()  # small error body: keep the connection for the next file
                    clean = True
                raise
            expected, append = self._expected_size(resp, part, offset, result)
            size = self._write_body(resp, part, append, started, result)
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
        if expected is not None and size != expected:
            if size > expected:
                part.unlink()
            raise RetryableError(f"body ended at {size} of {expected} bytes")
        return expected

    def _expected_size(self, resp, part: Path, offset: int, result: FileResult) -> tuple[int | None, bool]:
        """(final size the server announces, whether the body continues ``part``) for a 200 or 206."""
        if resp.status == 206:
            rng = _content_range(resp.headers.get("Content-Range"))
            if not offset or rng is None or rng[0] != offset:
                part.unlink(missing_ok=True)
                raise RetryableError(
                    f"server answered Range bytes={offset}- with Content-Range "
                    f"{resp.headers.get('Content-Range')!r}; restarting",
                    immediate=True,
                )
            expected, append = rng[2], True
            result.resumed_from = offset
        else:
            if offset:
                self.log(f"{part.name[: -len(PART_SUFFIX)]}: server ignored Range; restarting from byte 0")
            length = resp.headers.get("Content-Length")
            expected, append = (int(length) if length and length.isdigit() else None), False
        if expected is not None and expected > self.options.max_file_bytes:
            raise FinalError(f"server announces {expected} bytes, more than {self.options.max_file_bytes}")
        return expected, append

    def _write_body(self, resp, part: Path, append: bool, started: float, result: FileResult) -> int:
        """Stream the body into ``part``, fsync it, and return its size."""
        limit = self.options.max_file_bytes
        with os.fdopen(self._open_part(part, append), "ab" if append else "wb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for chunk in self._body(resp, started):
                size += len(chunk)
                if size > limit:
                    fh.truncate(0)
                    raise FinalError(f"body is larger than {limit} bytes")
                fh.write(chunk)
                result.transferred += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            return os.fstat(fh.fileno()).st_size


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def link_refused(path: Path) -> str:
    try:
        target = f" (to {os.readlink(path)[:200]!r})"
    except OSError:
        target = ""
    return (
        f"{path.name} is a symbolic link{target}; refused: clara never reads or writes through links "
        "in the output folder (remove it)"
    )


def refuse_non_file(path: Path, st: os.stat_result, written: bool = False) -> None:
    """``FinalError`` unless ``st`` (from ``lstat``/``fstat`` of ``path``) is a plain file: not a link, a
    directory, a FIFO...; and, when clara is to write to it (``written``), without other hard links."""
    if stat.S_ISLNK(st.st_mode):
        raise FinalError(link_refused(path))
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise FinalError(f"{path.name} is {kind}; refused (remove or rename it)")
    if written and st.st_nlink > 1:
        raise FinalError(
            f"{path.name} has {st.st_nlink - 1} other hard link(s); refused: writing to it would change "
            "a file outside the download (remove it)"
        )
