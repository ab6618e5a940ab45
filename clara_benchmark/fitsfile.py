"""Opening a FITS file so that its name is only a name, and the one structural check of a light-curve file.

cfitsio (behind fitsio) reads a file *name* as a small language: ``a(b.py)`` copies ``a`` to ``b.py``,
``x[1]`` is an extension or a row filter, ``!x`` overwrites, ``|cmd``, ``mem://``, ``ftp://`` and ``-`` are
special, and a missing ``x`` may be answered with ``x.gz``. A download script or a CSV chooses the names
clara opens, so no name may ever reach cfitsio. ``open_fits`` opens the file itself (``os.open``: no
interpretation at all), checks that it is a regular file, and hands cfitsio the descriptor's own path
(``/proc/self/fd/N``, or ``/dev/fd/N``), whose characters are digits and slashes only. The descriptor also
pins the file: what cfitsio reads is the file that was checked, even if the name is swapped meanwhile.

``check_lightcurve_table`` is the structure every light-curve reader and the download verification
require (HDU 1 a non-empty binary table with the wanted columns); both call it, so a damaged file gets
the same words from ``score`` as from ``download``.

Compressed files (``.fits.gz``, recognised by their first bytes, not their name) are never inflated by
cfitsio, which would decompress the whole stream into memory: a 1 MB gzip "bomb" can inflate to 1 GB.
``open_fits_bytes`` decompresses them itself, in 1 MiB steps, into an anonymous file (``memfd`` on
Linux, an unlinked temporary file elsewhere), stops with ``FitsOpenError`` as soon as the output would
pass ``MAX_INFLATED_BYTES``, and hands cfitsio that file's descriptor. A gzip file inside the gzip, a
truncated or corrupt stream and trailing bytes that are not another gzip member are refused by name.
Cost, ``bench/bench_gzip.py`` on the three real files gzip-compressed (2 MB each), 2 cores shared with
other jobs (load average 7-17), four runs: reading the ``.fits`` 9-21 ms per file, the ``.fits.gz`` 21-32
ms (inflating alone 11-19 ms), cfitsio inflating it itself as before (unbounded, checksums unverified)
40-58 ms; a 64 MiB bomb is refused after 0.33-0.48 s. So the guard costs nothing against what it
replaces: reading a ``.gz`` is ~2.5x reading the ``.fits``, and faster than cfitsio's own inflation.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

BLOCK = 2880
GZIP_MAGIC = b"\x1f\x8b"
#: the most bytes a compressed file may inflate to: 5x a 20-second SPOC light curve (~12 MB), the largest
#: light-curve product, and little enough for a worker's memory (Linux keeps the inflated file in RAM)
MAX_INFLATED_BYTES = 64 * 2**20
#: bytes read from the compressed file, and inflated, per step
_INFLATE_STEP = 2**20
CARD = 80
NEGATIVE_ZERO = 0xFFFFFFFF
#: where this platform shows a process's open descriptors as paths; None: nowhere (then only plain names)
FD_DIR = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)
#: names cfitsio reads literally, for platforms without FD_DIR
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_./\\-]+$")


class FitsOpenError(OSError):
    """The path cannot be opened as a FITS file; ``reason`` is one sentence for a failures row."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


#: what a file that is not a regular file is, for messages, by its st_mode
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_regular_reason(mode: int, wanted: str = "FITS file") -> str:
    """Why a file of st_mode ``mode`` is refused, for a message ("is a FIFO (named pipe), not a regular file");
    a directory "is a directory, not a <wanted>"."""
    if stat.S_ISDIR(mode):
        return f"is a directory, not a {wanted}"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), None)
    return f"is {kind}, not a regular file" if kind else "is not a regular file"


class NotRegularFile(OSError):
    """``open_regular`` found something other than a regular file there; ``mode`` is its st_mode."""

    def __init__(self, mode: int):
        super().__init__(not_regular_reason(mode))
        self.mode = mode


def open_regular(path: str | os.PathLike, follow_symlinks: bool = True) -> int:
    """A read-only, blocking descriptor of the regular file at ``path``: clara's one way to open a file it
    will read whole (FITS files, configs), so that nothing named ``*.fits`` or given as ``--config`` can
    block or read forever.

    The file is opened non-blocking (a FIFO would wait for a writer) and checked on the descriptor before
    anything is read (so what is read is what was checked): a FIFO, a device such as ``/dev/zero``, a
    socket or a directory is ``NotRegularFile``. With ``follow_symlinks`` False a symbolic link (the last
    component) is refused (``OSError`` ELOOP). Other errors are ``os.open``'s (``FileNotFoundError``, ...;
    ``ValueError`` for a NUL in the name).
    """
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, name, 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(st.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular_file(path: str | os.PathLike, follow_symlinks: bool = True) -> int:
    """``open_regular`` with every refusal a ``FitsOpenError`` whose reason fits a failures row.

    Never blocks: a FIFO is opened non-blocking and refused. With ``follow_symlinks`` False a symbolic
    link (the last component) is refused instead of followed.
    """
    try:
        return open_regular(path, follow_symlinks)
    except NotRegularFile as exc:
        raise FitsOpenError(not_regular_reason(exc.mode)) from None
    except FileNotFoundError:
        reason = "file does not exist"
        with contextlib.suppress(OSError):
            if os.path.islink(path):
                reason = "broken symbolic link (its target does not exist)"
        raise FitsOpenError(reason) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            text = "is a symbolic link (refused)" if not follow_symlinks else "symbolic link loop"
            raise FitsOpenError(text) from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise FitsOpenError("is not a regular file") from None
        raise FitsOpenError(f"cannot open file: {exc.strerror}") from None


def precheck(head: bytes, size: int) -> None:
    """Cheap checks on the first bytes and the size, before any FITS library sees the file."""
    if size == 0:
        raise FitsOpenError("empty file (0 bytes)")
    if head.startswith(GZIP_MAGIC):
        return  # compressed: open_fits_bytes inflates it first (bounded), download refuses it
    if not head.startswith(b"SIMPLE  =") or head[29:30] != b"T":
        raise FitsOpenError("not a FITS file (no SIMPLE = T card at the start)")
    if size % BLOCK:
        raise FitsOpenError(
            f"truncated FITS file ({size} bytes is not a whole number of {BLOCK}-byte blocks)"
        )


def descriptor_path(fd: int, path: str | os.PathLike) -> str:
    """The name to give cfitsio for an open descriptor: ``/proc/self/fd/N`` where the platform has it."""
    if FD_DIR is not None:
        return f"{FD_DIR}/{fd}"
    text = os.fspath(path)
    if not _PLAIN_NAME.match(text):
        raise FitsOpenError(
            "the file name has characters the FITS library would interpret; rename the file "
            "(letters, digits, '_', '-', '.' only)"
        )
    return text


def _anonymous_file() -> int:
    """A read-write descriptor of a new file without a name (memory on Linux, an unlinked temp file else)."""
    if hasattr(os, "memfd_create"):
        with contextlib.suppress(OSError):
            return os.memfd_create("clara-inflated", getattr(os, "MFD_CLOEXEC", 0))
    handle = tempfile.TemporaryFile()  # unlinked on POSIX: no name anyone could reach
    fd = os.dup(handle.fileno())
    handle.close()
    return fd


def _inflate_into(src: int, out: int, limit: int) -> int:
    """Decompress the gzip member(s) of descriptor ``src`` into ``out``; return the inflated size.

    At most ~2 MiB of compressed input and 1 MiB of output are in memory at any time.
    """
    total, offset, data, at_end = 0, 0, b"", False
    inflater = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    while True:
        if len(data) < _INFLATE_STEP and not at_end:
            more = os.pread(src, _INFLATE_STEP, offset)
            offset += len(more)
            at_end = not more
            data += more
        if not data:
            break
        if inflater.eof:  # a member ended: another one follows (concatenated .gz), or the file is done
            if len(data) < 2 and not at_end:
                continue  # too few bytes to tell yet
            if not data.startswith(GZIP_MAGIC):
                if data.strip(b"\0"):
                    raise FitsOpenError("damaged gzip file (bytes after the end of the compressed data)")
                break  # zero padding after the last member, as gzip itself accepts
            inflater = zlib.decompressobj(wbits=31)
        try:
            piece = inflater.decompress(data, min(_INFLATE_STEP, limit + 1 - total))
        except zlib.error as exc:
            raise FitsOpenError(f"damaged gzip file ({exc})") from None
        total += len(piece)
        if total > limit:
            raise FitsOpenError(
                f"compressed file inflates to more than {limit / 2**20:g} MiB (refused: no light curve is "
                "that large; a damaged or malicious .gz)"
            )
        view = memoryview(piece)
        while view:
            view = view[os.write(out, view) :]
        left = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        if at_end and not piece and not inflater.eof and left == data:
            break  # no progress on the last bytes: the stream is cut short (reported below)
        data = left
    if not inflater.eof:
        raise FitsOpenError("truncated gzip file (the compressed data end early)")
    return total


def inflate_gzip(fd: int, limit: int | None = None) -> int:
    """A descriptor of an anonymous file holding the decompressed bytes of the gzip file at ``fd``.

    Never holds more than 1 MiB of output in memory and never writes more than ``limit`` bytes:
    ``FitsOpenError`` as soon as the stream would inflate beyond it, or when it is damaged or truncated.
    """
    out = _anonymous_file()
    try:
        _inflate_into(fd, out, MAX_INFLATED_BYTES if limit is None else limit)
    except BaseException:
        os.close(out)
        raise
    return out


@contextlib.contextmanager
def open_fits_bytes(
    path: str | os.PathLike, follow_symlinks: bool = True, max_inflated: int | None = None
) -> Iterator[tuple[int, int]]:
    """``(descriptor, size)`` of the FITS bytes of the regular file at ``path``, after ``precheck``.

    For a gzip-compressed file the descriptor is an anonymous file holding its decompression (bounded
    by ``max_inflated``, default ``MAX_INFLATED_BYTES``: see the module docstring); otherwise the file
    itself. Raises ``FitsOpenError``.
    """
    fd = open_regular_file(path, follow_symlinks=follow_symlinks)
    opened = [fd]
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 80, 0) if size else b""
        if head.startswith(GZIP_MAGIC):
            if FD_DIR is None:
                raise FitsOpenError("compressed (.gz) file: decompress it first on this platform")
            fd = inflate_gzip(fd, max_inflated)
            opened.append(fd)
            size = os.fstat(fd).st_size
            head = os.pread(fd, 80, 0) if size else b""
            if size == 0:
                raise FitsOpenError("compressed file holds nothing (0 bytes once decompressed)")
            if head.startswith(GZIP_MAGIC):
                raise FitsOpenError("a gzip file inside a gzip file (refused: decompress it first)")
        precheck(head, size)
        yield fd, size
    finally:
        for f in opened:
            os.close(f)


@contextlib.contextmanager
def open_fits(path: str | os.PathLike, follow_symlinks: bool = True) -> Iterator:
    """``fitsio.FITS`` of the regular file at ``path``, opened so that no character of the name is
    interpreted (a ``.gz`` file is decompressed first, bounded: see the module docstring). Raises
    ``FitsOpenError`` (with a one-sentence ``reason``) for anything that is not a regular FITS file;
    errors of the FITS library itself propagate."""
    with open_fits_bytes(path, follow_symlinks=follow_symlinks) as (fd, _size):
        with fits_of_descriptor(fd, path) as fits:
            yield fits


def fits_of_descriptor(fd: int, path: str | os.PathLike):
    """``fitsio.FITS`` reading the open descriptor ``fd`` (``path`` only for platforms without FD_DIR)."""
    import fitsio

    return fitsio.FITS(descriptor_path(fd, path))


def check_lightcurve_table(fits, required: Iterable[str]) -> object:
    """HDU 1 of an open FITS file, checked: a non-empty binary table with the ``required`` columns.

    Returns the table HDU; raises ``FitsOpenError`` naming the first defect (and, for a missing column,
    the columns the table does have).
    """
    if len(fits) < 2:
        raise FitsOpenError("no light-curve table (HDU 1 is missing: image-only FITS?)")
    table = fits[1]
    if table.get_exttype() != "BINARY_TBL":
        raise FitsOpenError(f"HDU 1 is {table.get_exttype()}, not a binary light-curve table")
    names = [str(c).upper() for c in table.get_colnames()]
    missing = [c for c in required if c.upper() not in names]
    if missing:
        have = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
        raise FitsOpenError(f"HDU 1 has no column {', '.join(missing)} (it has: {have or 'none'})")
    if table.get_nrows() == 0:
        raise FitsOpenError("light-curve table is empty (0 rows)")
    return table


def damaged_reason(exc: BaseException) -> str:
    """One sentence for an error of the FITS library on a file that passed ``precheck``."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    cause = (
        "truncated or damaged FITS file"
        if "end of file" in lowered or "eof" in lowered
        else "damaged FITS file"
    )
    return f"{cause} ({text[:200]})"


def ones_complement_sum(data: bytes | memoryview) -> int:
    """32-bit ones'-complement sum of big-endian words (``len(data)`` a multiple of 4), end-around carry."""
    words = np.frombuffer(data, dtype=">u4")
    total = int(words.sum(dtype=np.uint64))  # exact below 2**32 words, i.e. any file under 16 GiB
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def card_value(header: bytes, keyword: str) -> str | None:
    """The string value of ``keyword`` in a raw FITS header, or None when the card is absent."""
    key = keyword.ljust(8).encode("ascii")
    for i in range(0, len(header), CARD):
        card = header[i : i + CARD]
        if card[:8] == key and card[8:10] == b"= ":
            text = card[10:].decode("ascii", errors="replace").strip()
            if text.startswith("'"):  # a string value (a quote inside a comment is not one)
                return text.split("'")[1].strip()
            return text.split("/")[0].strip()
        if card[:8] == b"END     ":
            break
    return None


def encode_checksum(hdu: bytes | memoryview) -> str:
    """The 16-character CHECKSUM value for an HDU whose CHECKSUM card currently holds ``'0000000000000000'``.

    The inverse of the check in ``check_checksums``: the FITS convention's ASCII encoding of the ones'
    complement of the HDU's sum, so that the HDU then sums to -0. Used to relabel test and benchmark
    copies of real light curves (``localserver.relabelled_copy``); verification never writes anything.
    """
    value = ~ones_complement_sum(hdu) & 0xFFFFFFFF
    excluded = set(range(0x3A, 0x41)) | set(range(0x5B, 0x61))  # punctuation between digits and letters
    out = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        changed = True
        while changed:  # move pairs off excluded characters, keeping each pair's sum
            changed = False
            for j in (0, 2):
                if ch[j] in excluded or ch[j + 1] in excluded:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            out[4 * j + i] = ch[j]
    return bytes(out[-1:] + out[:-1]).decode("ascii")  # rotated right by one byte


def check_structure(raw: bytes, offsets: list[dict], check_nextend: bool = True) -> None:
    """The HDUs must tile the whole file, and number NEXTEND + 1 when the primary header says NEXTEND.

    cfitsio silently drops a trailing HDU whose header was cut off, so a file truncated near its end would
    otherwise still open: this is what catches it when no Content-Length is at hand (an existing file).
    ``check_nextend`` False skips the NEXTEND count (for writers known to get it wrong).
    """
    position = 0
    for i, off in enumerate(offsets):
        if off["header_start"] != position or off["data_end"] < off["data_start"]:
            raise FitsOpenError(f"HDU {i} does not follow the previous one (damaged FITS structure)")
        position = off["data_end"]
    if position > len(raw):
        raise FitsOpenError(
            f"truncated FITS file: HDU {len(offsets) - 1} ends at byte {position}, file has {len(raw)}"
        )
    if position < len(raw):
        raise FitsOpenError(
            f"truncated or damaged FITS file: {len(raw) - position} bytes after the last complete HDU"
        )
    nextend = card_value(raw[: offsets[0]["data_start"]], "NEXTEND") if offsets else None
    if check_nextend and nextend is not None and nextend.isdigit() and int(nextend) != len(offsets) - 1:
        raise FitsOpenError(
            f"truncated FITS file: NEXTEND = {nextend} but {len(offsets) - 1} extensions found"
        )


def check_checksums(raw: bytes, offsets: list[dict]) -> int:
    """Verify the CHECKSUM and DATASUM cards of every HDU that has them; return how many HDUs had one."""
    view = memoryview(raw)
    checked = 0
    for i, off in enumerate(offsets):
        start, data_start, end = off["header_start"], off["data_start"], off["data_end"]
        header = raw[start:data_start]
        checksum = card_value(header, "CHECKSUM")
        datasum = card_value(header, "DATASUM")
        if checksum is None and datasum is None:
            continue
        data_sum = ones_complement_sum(view[data_start:end])  # once: the HDU's sum is header's + data's
        if checksum is not None:
            hdu_sum = ones_complement_sum(view[start:data_start]) + data_sum
            while hdu_sum >> 32:
                hdu_sum = (hdu_sum & 0xFFFFFFFF) + (hdu_sum >> 32)
            if hdu_sum != NEGATIVE_ZERO:
                raise FitsOpenError(f"HDU {i} fails its FITS CHECKSUM (the file is corrupted)")
        if datasum is not None:
            try:
                expected = int(datasum)
            except ValueError:
                raise FitsOpenError(f"HDU {i} has an unreadable DATASUM {datasum!r}") from None
            if data_sum != expected:
                raise FitsOpenError(f"HDU {i} fails its FITS DATASUM (the data are corrupted)")
        checked += 1
    return checked


def is_fits_name(path: str | os.PathLike) -> bool:
    """Does the name end like a FITS file clara reads (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``)?"""
    name = Path(path).name.lower()
    return name.endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz"))
