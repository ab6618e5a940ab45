"""A small HTTP/1.1 file server on 127.0.0.1 that can misbehave on purpose, for tests, benchmarks and demos.

It serves a directory with keep-alive, Range requests and MAST-style URLs
(``/api/v0.1/Download/file/?uri=mast:TESS/product/<name>`` serves ``<root>/<name>``), adds an optional
latency to every request (a distant archive) and an optional bandwidth cap shared by every connection
(``bandwidth`` bytes per second: the link to that archive), and injects faults per file name:

===========  ===============================================================================
``drop``     sends the headers and half the body, then resets the connection
``short``    announces the full Content-Length, sends all but the last 1000 bytes, closes
``stall``    sends half the body, then goes silent for ``slow_seconds`` (past a read timeout)
``slow``     waits ``slow_seconds`` before answering at all
``corrupt``  sends the full length with one byte flipped in the middle
``norange``  ignores Range and sends the whole file with 200
``redirect`` answers 302 to the same file under ``/redirected/``
``trickle``  sends ``trickle_bytes`` every ``trickle_seconds`` (4 KiB every 0.5 s: alive, never done)
``500`` ...  answers with that HTTP status (``429`` adds ``Retry-After: <retry_after>``)
===========  ===============================================================================

``add_faults(name, "500", "drop")`` makes the next two requests for ``name`` fail that way, in order;
``always=True`` makes them permanent. Every request is recorded (``requests``: name, Range, status, fault,
arrival and response times) for assertions. ``relabelled_copy`` makes many distinct, valid stars out of
a few real files, for archives to serve. Run it standalone for a demo:

    python -m clara_benchmark.tess_spoc_download.localserver DIR [--port N] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import posixpath
import re
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

FAULTS = ("drop", "short", "stall", "slow", "corrupt", "norange", "redirect", "trickle")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (for test assertions)."""

    name: str
    range: str | None
    status: int
    fault: str | None
    time: float = 0.0  # time.monotonic() when the response started
    arrived: float = 0.0  # time.monotonic() when the request arrived (before the latency)


def _check_fault(fault: str) -> str:
    if fault in FAULTS or (fault.isdigit() and 400 <= int(fault) <= 599):
        return fault
    raise ValueError(f"unknown fault {fault!r}: use one of {FAULTS} or an HTTP status 400-599")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # idle keep-alive connections close after this

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        self.server.track(self.connection, False)

    # ------------------------------------------------------------------------------------------ helpers

    def _resolve(self) -> tuple[str, Path | None]:
        parts = urlsplit(self.path)
        uri = parse_qs(parts.query).get("uri")
        rel = uri[0].rsplit("/", 1)[-1] if uri else unquote(parts.path)
        rel = posixpath.normpath("/" + rel).lstrip("/")
        if rel.startswith("redirected/"):
            rel = rel[len("redirected/") :]
        path = (self.server.root / rel).resolve()
        if self.server.root not in path.parents or not path.is_file():
            return posixpath.basename(rel), None
        return path.name, path

    def _record(self, name: str, status: int, fault: str | None) -> None:
        self.server.record(
            Request(name, self.headers.get("Range"), status, fault, time.monotonic(), self._arrived)
        )

    def _status(self, code: int, name: str, fault: str | None, headers: dict | None = None) -> None:
        body = f"{code} {self.responses.get(code, ('',))[0]}\n".encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(name, code, fault)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, as a crashed proxy would."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        for f in (self.wfile, self.rfile):
            with contextlib.suppress(OSError, ValueError):
                f.close()
        with contextlib.suppress(OSError):
            self.connection.close()

    # ------------------------------------------------------------------------------------------ GET

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        srv = self.server
        self._arrived = time.monotonic()
        if srv.latency > 0:
            time.sleep(srv.latency)
        name, path = self._resolve()
        fault = srv.next_fault(name)
        if fault == "slow":
            time.sleep(srv.slow_seconds)
            fault = None  # then answer normally (the client has usually given up by now)
        if fault and fault.isdigit():
            extra = {"Retry-After": str(srv.retry_after)} if fault == "429" else None
            return self._status(int(fault), name, fault, extra)
        if path is None:
            return self._status(404, name, None)
        if fault == "redirect":
            return self._status(302, name, fault, {"Location": f"/redirected/{name}"})

        size = path.stat().st_size
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        partial = False
        if rng and fault != "norange":
            m = _RANGE.match(rng.strip())
            if not m:
                return self._status(416, name, fault, {"Content-Range": f"bytes */{size}"})
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size or start > end:
                return self._status(416, name, fault, {"Content-Range": f"bytes */{size}"})
            partial = True
        length = end - start + 1
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/fits")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "none" if fault == "norange" else "bytes")
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self._record(name, 206 if partial else 200, fault)
        if self.command == "HEAD":
            return
        with open(path, "rb") as fh:
            if fault == "trickle":
                return self._trickle(fh, start, length)
            if fault in ("drop", "stall", "short", "corrupt"):
                fh.seek(start)
                body = fh.read(length)
                if fault == "drop":
                    self.wfile.write(body[: length // 2])
                    return self._reset()
                if fault == "stall":
                    self.wfile.write(body[: length // 2])
                    time.sleep(srv.slow_seconds)
                    self.close_connection = True
                    return
                if fault == "short":
                    self.wfile.write(body[: max(0, length - 1000)])
                    self.close_connection = True
                    return
                flipped = bytearray(body)
                flipped[length // 2] ^= 0x01
                self.wfile.write(bytes(flipped))
                return
            if srv.link is None:
                self.connection.sendfile(fh, start, length)
                return
            sent = 0
            while sent < length:  # the link's pace: a slot per chunk, shared with every other connection
                n = min(_LINK_CHUNK, length - sent)
                srv.link.take(n)
                sent += self.connection.sendfile(fh, start + sent, n)

    def _trickle(self, fh, start: int, length: int) -> None:
        """Send the body a few bytes at a time: never silent long enough for a read timeout."""
        fh.seek(start)
        sent = 0
        with contextlib.suppress(OSError):  # the client gave up and closed the connection
            while sent < length:
                piece = fh.read(min(self.server.trickle_bytes, length - sent))
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                time.sleep(self.server.trickle_seconds)
        self.close_connection = True


_LINK_CHUNK = 256 << 10  # bytes sent per slot of the bandwidth cap


class _Link:
    """A bandwidth cap shared by every connection: each chunk gets the next free slot on one line of
    ``rate`` bytes per second (no burst beyond one chunk)."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self._lock = threading.Lock()
        self._free_at = 0.0  # time.monotonic() when the line is free again

    def take(self, nbytes: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at)
            self._free_at = start + nbytes / self.rate
        if start > now:
            time.sleep(start - now)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        addr,
        root: Path,
        latency: float,
        slow_seconds: float,
        retry_after: int,
        bandwidth: float | None = None,
    ):
        super().__init__(addr, _Handler)
        self.root = Path(root).resolve()
        self.latency = latency
        self.link = _Link(bandwidth) if bandwidth else None
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.trickle_bytes = 4096
        self.trickle_seconds = 0.5
        self.lock = threading.Lock()
        self.faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.always: dict[str, str] = {}
        self.requests: list[Request] = []
        self.connections: set[socket.socket] = set()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-fault is expected here, not worth a traceback

    def next_fault(self, name: str) -> str | None:
        with self.lock:
            queue = self.faults.get(name)
            if queue:
                return queue.popleft()
            return self.always.get(name)

    def record(self, req: Request) -> None:
        with self.lock:
            self.requests.append(req)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self.lock:
            (self.connections.add if alive else self.connections.discard)(conn)


def relabelled_copy(src: str | os.PathLike, dst: str | os.PathLike, tic_id: int, sector: int) -> Path:
    """Copy the SPOC light curve ``src`` to ``dst`` as star ``tic_id`` of ``sector``.

    The primary header's TICID and SECTOR cards are rewritten in place (same size) and its CHECKSUM is
    recomputed, so the copy is as valid as the original and agrees with a SPOC name built from
    ``tic_id`` and ``sector`` (which ``download`` checks). The primary HDU must have no data, as SPOC's
    has not.
    """
    from clara_benchmark.fitsfile import encode_checksum

    raw = bytearray(Path(src).read_bytes())
    cards: dict[bytes, int] = {}
    end = None
    for at in range(0, len(raw), 80):
        keyword = bytes(raw[at : at + 8])
        cards.setdefault(keyword, at)
        if keyword == b"END     ":
            end = -(-(at + 80) // 2880) * 2880
            break
    if end is None or raw[cards[b"NAXIS   "] + 10 : cards[b"NAXIS   "] + 30].strip() != b"0":
        raise ValueError(f"{src}: not a SPOC light curve (primary HDU has data or no END card)")
    for keyword, value in ((b"TICID   ", tic_id), (b"SECTOR  ", sector)):
        at = cards[keyword]
        raw[at + 10 : at + 30] = f"{value:>20}".encode("ascii")
    if b"CHECKSUM" in cards:
        at = cards[b"CHECKSUM"] + 11  # the value inside CHECKSUM= '...'
        raw[at : at + 16] = b"0" * 16
        raw[at : at + 16] = encode_checksum(bytes(raw[:end])).encode("ascii")
    Path(dst).write_bytes(bytes(raw))
    return Path(dst)


class LocalServer:
    """``with LocalServer(root, latency=0.05) as srv: srv.url(name)`` — serves ``root`` on 127.0.0.1.

    ``bandwidth`` (bytes per second, None: no cap) caps the bodies of all connections together.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        latency: float = 0.0,
        port: int = 0,
        slow_seconds: float = 2.0,
        retry_after: int = 1,
        bandwidth: float | None = None,
    ):
        self._server = _Server(("127.0.0.1", port), Path(root), latency, slow_seconds, retry_after, bandwidth)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, name: str = "") -> str:
        return self.base_url + name

    def mast_url(self, name: str) -> str:
        """A URL shaped like the ones in MAST's scripts, served from this server."""
        return f"{self.base_url}api/v0.1/Download/file/?uri=mast:TESS/product/{name}"

    def set_trickle(self, nbytes: int, seconds: float) -> None:
        """What the ``trickle`` fault sends: ``nbytes`` every ``seconds``."""
        self._server.trickle_bytes, self._server.trickle_seconds = nbytes, seconds

    @property
    def bandwidth(self) -> float | None:
        """The cap in bytes per second shared by all connections (None: none); settable while serving."""
        return None if self._server.link is None else self._server.link.rate

    @bandwidth.setter
    def bandwidth(self, rate: float | None) -> None:
        self._server.link = _Link(rate) if rate else None

    @property
    def latency(self) -> float:
        return self._server.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._server.latency = seconds

    def add_faults(self, name: str, *faults: str, always: bool = False) -> None:
        with self._server.lock:
            if always:
                (fault,) = faults
                self._server.always[name] = _check_fault(fault)
            else:
                self._server.faults[name].extend(_check_fault(f) for f in faults)

    def clear_faults(self) -> None:
        with self._server.lock:
            self._server.faults.clear()
            self._server.always.clear()

    @property
    def requests(self) -> list[Request]:
        with self._server.lock:
            return list(self._server.requests)

    def requests_for(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.name == name]

    def start(self) -> LocalServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="localserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        with self._server.lock:
            conns = list(self._server.connections)
        for conn in conns:  # wake handlers blocked on idle keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def spawn(root, latency: float = 0.0, bandwidth: float | None = None, env: dict | None = None):
    """Start the server as its own process (as the benchmarks do); returns ``(process, base URL)``.

    The caller stops it with ``process.terminate()``. Raises ``RuntimeError`` when it does not start.
    """
    import subprocess

    argv = [sys.executable, "-m", "clara_benchmark.tess_spoc_download.localserver", str(root)]
    argv += ["--latency", str(latency)] + (["--bandwidth", str(bandwidth)] if bandwidth else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if " at " not in line:
        proc.kill()
        raise RuntimeError(f"the local server did not start: {line!r}")
    return proc, line.rsplit(" at ", 1)[1].strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve a directory on 127.0.0.1 (keep-alive, Range, faults).")
    p.add_argument("root", type=Path, help="directory to serve")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--slow_seconds", type=float, default=2.0, help="delay of the slow/stall faults")
    p.add_argument(
        "--bandwidth", type=float, default=None, help="bytes per second for all connections together"
    )
    p.add_argument(
        "--fault", action="append", default=[], metavar="NAME=F1,F2", help="one-shot faults for a file"
    )
    args = p.parse_args(argv)
    if not args.root.is_dir():
        print(f"localserver: error: {args.root} is not a directory", file=sys.stderr)
        return 2
    srv = LocalServer(
        args.root,
        latency=args.latency,
        port=args.port,
        slow_seconds=args.slow_seconds,
        bandwidth=args.bandwidth,
    )
    for spec in args.fault:
        name, _, faults = spec.partition("=")
        try:
            srv.add_faults(name, *faults.split(","))
        except ValueError as exc:
            print(f"localserver: error: {exc}", file=sys.stderr)
            return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    srv.start()
    print(f"serving {args.root} at {srv.base_url}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
