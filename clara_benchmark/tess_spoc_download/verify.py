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
from dataclasses import dataclass

import numpy as np

from clara_benchmark.fitsfile import (
    GZIP_MAGIC,
    FitsOpenError,
    check_lightcurve_table,
    fits_of_descriptor,
    open_regular_file,
    precheck,
)
from clara_benchmark.lightcurve import FILENAME_TIC, REQUIRED

CARD = 80
NEGATIVE_ZERO = 0xFFFFFFFF


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


def ones_complement_sum(data: bytes | memoryview) -> int:
    """32-bit ones'-complement sum of big-endian words (``len(data)`` a multiple of 4), end-around carry."""
    words = np.frombuffer(data, dtype=">u4")
    total = int(words.sum(dtype=np.uint64))  # exact below 2**32 words, i.e. any file under 16 GiB
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _card_value(header: bytes, keyword: str) -> str | None:
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
        text = _card_value(primary_header, keyword)
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


def check_structure(raw: bytes, offsets: list[dict]) -> None:
    """The HDUs must tile the whole file, and number NEXTEND + 1 when the primary header says NEXTEND.

    cfitsio silently drops a trailing HDU whose header was cut off, so a file truncated near its end would
    otherwise still open: this is what catches it when no Content-Length is at hand (an existing file).
    """
    position = 0
    for i, off in enumerate(offsets):
        if off["header_start"] != position or off["data_end"] < off["data_start"]:
            raise VerifyError(f"HDU {i} does not follow the previous one (damaged FITS structure)")
        position = off["data_end"]
    if position > len(raw):
        raise VerifyError(
            f"truncated FITS file: HDU {len(offsets) - 1} ends at byte {position}, file has {len(raw)}"
        )
    if position < len(raw):
        raise VerifyError(
            f"truncated or damaged FITS file: {len(raw) - position} bytes after the last complete HDU"
        )
    nextend = _card_value(raw[: offsets[0]["data_start"]], "NEXTEND") if offsets else None
    if nextend is not None and nextend.isdigit() and int(nextend) != len(offsets) - 1:
        raise VerifyError(f"truncated FITS file: NEXTEND = {nextend} but {len(offsets) - 1} extensions found")


def check_checksums(raw: bytes, offsets: list[dict]) -> int:
    """Verify the CHECKSUM and DATASUM cards of every HDU that has them; return how many HDUs had one."""
    view = memoryview(raw)
    checked = 0
    for i, off in enumerate(offsets):
        start, data_start, end = off["header_start"], off["data_start"], off["data_end"]
        header = raw[start:data_start]
        checksum = _card_value(header, "CHECKSUM")
        datasum = _card_value(header, "DATASUM")
        if checksum is None and datasum is None:
            continue
        if checksum is not None and ones_complement_sum(view[start:end]) != NEGATIVE_ZERO:
            raise VerifyError(f"HDU {i} fails its FITS CHECKSUM (the file is corrupted)")
        if datasum is not None:
            try:
                expected = int(datasum)
            except ValueError:
                raise VerifyError(f"HDU {i} has an unreadable DATASUM {datasum!r}") from None
            if ones_complement_sum(view[data_start:end]) != expected:
                raise VerifyError(f"HDU {i} fails its FITS DATASUM (the data are corrupted)")
        checked += 1
    return checked


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
    try:
        fd = open_regular_file(path, follow_symlinks=follow_symlinks)
    except FitsOpenError as exc:
        raise VerifyError(exc.reason) from None
    try:
        st = os.fstat(fd)
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read()
        if expected_size is not None and len(raw) != expected_size:
            raise VerifyError(f"size {len(raw)} bytes, server announced {expected_size}")
        offsets = open_as_lightcurve(fd, path, raw)
    finally:
        os.close(fd)
    check_structure(raw, offsets)
    hdus = check_checksums(raw, offsets)
    check_identity(raw[: offsets[0]["data_start"]], filename or os.path.basename(path))
    return Verified(
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        hdus_checksummed=hdus,
        identity=(st.st_dev, st.st_ino),
    )
