"""Is a downloaded file a complete, intact light curve? Checked before it gets its final name.

Checks, cheapest first: the byte count (against the server's Content-Length), the file opens as a light
curve (FITS, HDU 1 a non-empty binary table with TIME and PDCSAP_FLUX, the columns ``lightcurve.REQUIRED``
names), the HDUs tile the file exactly (and match NEXTEND), the FITS checksums of every HDU that
carries a CHECKSUM card, and -- for a SPOC-style name -- that the file is the star and sector its name
says (``check_identity``). All of it reads the file once; the sha256 for the manifest comes from the same
bytes.

Why our own checksum code: SPOC files carry CHECKSUM without DATASUM. astropy 8 then assumes a data sum of
0 and reports "Checksum verification failed" for every HDU with data, even on intact files; fitsio's
``verify_checksum()`` raises "data checksum failed" because DATASUM is missing. The FITS checksum
convention (Seaman, Pence & Rots) defines CHECKSUM so that the 32-bit ones'-complement sum of the whole HDU
(header + padded data) is -0 (0xFFFFFFFF); that needs no DATASUM, and it is what we test. cfitsio agrees
(its low-level status reports the HDU sum as correct on the real files and wrong after a flipped byte;
``tests/test_download_verify.py`` checks ours against it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from clara_benchmark.fitsfile import (
    GZIP_MAGIC,
    FitsOpenError,
    card_value,
    check_checksums,
    check_lightcurve_table,
    check_structure,
    fits_of_descriptor,
    open_regular_file,
    precheck,
)
from clara_benchmark.lightcurve import FILENAME_TIC, REQUIRED


class VerifyError(ValueError):
    """The file is not a complete, intact light curve; ``reason`` says why (for the manifest)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class IdentityError(VerifyError):
    """An intact light curve, but not of the star or sector its file name says (not worth a retry)."""


@dataclass(frozen=True)
class Verified:
    size: int
    sha256: str
    hdus_checksummed: int  # HDUs with a CHECKSUM and/or DATASUM card, all verified
    identity: tuple[int, int] = (0, 0)  # (st_dev, st_ino) of the file whose bytes were verified


@contextmanager
def open_for_verify(
    path: str | os.PathLike, follow_symlinks: bool = True
) -> Iterator[tuple[int, os.stat_result]]:
    """``with open_for_verify(path) as (fd, st):`` the descriptor and status of a file to check, closed after.

    Parameters
    ----------
    path : str or os.PathLike
        The file, opened with ``fitsfile.open_regular_file`` (regular files only).
    follow_symlinks : bool
        False refuses a symbolic link instead of reading what it points to.

    Yields
    ------
    tuple of (int, os.stat_result)
        The open descriptor and its ``os.fstat``.

    Raises
    ------
    VerifyError
        When ``path`` cannot be opened as a regular file (the reason says why).
    """
    try:
        fd = open_regular_file(path, follow_symlinks=follow_symlinks)
    except FitsOpenError as exc:
        raise VerifyError(exc.reason) from None
    try:
        yield fd, os.fstat(fd)
    finally:
        os.close(fd)


def read_descriptor(fd: int, limit: int = -1) -> bytes:
    """The bytes of the open file ``fd`` from its offset (at most ``limit``; -1: all); ``fd`` stays open."""
    with os.fdopen(os.dup(fd), "rb") as fh:
        return fh.read(limit)


def check_announced_size(raw: bytes, expected_size: int | None) -> None:
    """``VerifyError`` unless ``raw`` is as long as the server's Content-Length (None: not announced)."""
    if expected_size is not None and len(raw) != expected_size:
        raise VerifyError(f"size {len(raw)} bytes, server announced {expected_size}")


def check_identity(primary_header: bytes, filename: str) -> None:
    """A SPOC-style ``filename`` (``tess<date>-s<sector>-<16-digit TIC>-<id>-<x>_lc.fits``) must name the
    star and sector the primary header's TICID and SECTOR cards say; otherwise a valid light curve of
    another star served under this name would be accepted as this star's.

    Names of any other form carry no identity and are not checked (a user's ``tic55525572_lc.fits`` or
    a script's ``a.fits`` passes whatever its header says).
    """
    m = FILENAME_TIC.match(filename)
    if not m:
        return
    for keyword, label, expected in (
        ("TICID", "TIC", int(m.group(2))),
        ("SECTOR", "sector", int(m.group(1))),
    ):
        text = card_value(primary_header, keyword)
        if text is None:
            raise IdentityError(f"primary header has no {keyword}; the file name says {label} {expected}")
        try:
            value = int(text)
        except ValueError:
            raise IdentityError(
                f"primary header {keyword} = {text[:40]!r} is not an integer; the file name says {label} "
                f"{expected}"
            ) from None
        if value != expected:
            raise IdentityError(
                f"primary header {keyword} = {value} but the file name says {label} {expected} "
                "(a different star's or sector's light curve under this name)"
            )


def open_as_lightcurve(fd: int, path: str | os.PathLike, raw: bytes) -> list[dict]:
    """Open the file behind the descriptor ``fd`` as a light curve (``fitsfile.check_lightcurve_table``:
    HDU 1 a non-empty binary table with the columns ``read_lightcurve`` needs) and return every HDU's
    byte offsets. cfitsio gets the descriptor's path, never the name (``fitsfile.open_fits``).

    Reading the columns themselves would add nothing once the bytes are known intact, and cost more than
    the rest of the verification together.
    """
    try:
        precheck(raw[:80], len(raw))
        if raw.startswith(GZIP_MAGIC):
            raise FitsOpenError("a compressed (gzip) file, not the FITS file the server should send")
        with fits_of_descriptor(fd, path) as fits:
            offsets = [hdu.get_offsets() for hdu in fits]
            check_lightcurve_table(fits, REQUIRED)
    except FitsOpenError as exc:
        raise VerifyError(exc.reason) from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise VerifyError(f"truncated or damaged FITS file ({' '.join(str(exc).split())[:200]})") from None
    return offsets


def verify_lightcurve_file(
    path: str | os.PathLike,
    expected_size: int | None = None,
    *,
    filename: str | None = None,
    follow_symlinks: bool = True,
) -> Verified:
    """Raise ``VerifyError`` unless ``path`` is a complete light curve with intact checksums.

    ``filename`` is the name the file is (or will be) known by, for ``check_identity``: a download is
    verified as ``<name>.part`` before it is renamed, so the caller passes ``<name>``; by default the
    name of ``path``. With ``follow_symlinks`` False a symbolic link is refused instead of read.

    The file is opened once; its bytes, the FITS library's view and the sha256 all come from that one
    descriptor, and ``Verified.identity`` says which file (device, inode) that was.
    """
    with open_for_verify(path, follow_symlinks) as (fd, st):
        raw = read_descriptor(fd)
        check_announced_size(raw, expected_size)
        offsets = open_as_lightcurve(fd, path, raw)
    try:
        check_structure(raw, offsets)
        hdus = check_checksums(raw, offsets)
    except FitsOpenError as exc:
        raise VerifyError(exc.reason) from None
    check_identity(raw[: offsets[0]["data_start"]], filename or os.path.basename(path))
    return Verified(
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        hdus_checksummed=hdus,
        identity=(st.st_dev, st.st_ino),
    )
