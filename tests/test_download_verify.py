"""Verification of downloaded light curves, with cfitsio and astropy as independent checksum oracles."""

from __future__ import annotations

import hashlib
import random
import shutil
import warnings
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from clara_benchmark.fitsfile import FitsOpenError, check_checksums, ones_complement_sum
from clara_benchmark.tess_spoc_download.localserver import relabelled_copy
from clara_benchmark.tess_spoc_download.verify import IdentityError, VerifyError, verify_lightcurve_file
from conftest import REAL_LIGHTCURVES


def cfitsio_hdu_status(path) -> list[int]:
    """cfitsio's own verdict per HDU (1 correct, 0 no CHECKSUM card, -1 wrong), via fitsio's C layer."""
    with fitsio.FITS(str(path)) as f:
        return [f._FITS.verify_checksum(i + 1)["hduok"] for i in range(len(f))]


def checksums(path, raw: bytes | None = None) -> int:
    raw = Path(path).read_bytes() if raw is None else raw
    with fitsio.FITS(str(path)) as f:
        offsets = [h.get_offsets() for h in f]
    return check_checksums(raw, offsets)


def write_lightcurve(path, n=500, columns=("TIME", "PDCSAP_FLUX"), checksum=True, tic=12345):
    primary = fits.PrimaryHDU()
    if tic is not None:
        primary.header["TICID"] = tic
    primary.header["SECTOR"] = 1
    rng = np.random.default_rng(0)
    cols = [fits.Column(name=c, format="D", array=rng.normal(size=n)) for c in columns]
    table = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    fits.HDUList([primary, table]).writeto(path, checksum=checksum)
    return path


@pytest.mark.parametrize("name", sorted(REAL_LIGHTCURVES))
def test_real_files_pass_and_agree_with_cfitsio(tess_dir, name):
    path = tess_dir / name
    assert cfitsio_hdu_status(path) == [1, 1, 1]  # intact, as get_fixtures.sh checked by sha256
    v = verify_lightcurve_file(path, expected_size=path.stat().st_size)
    assert v.hdus_checksummed == 3
    assert v.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_astropy_misreads_checksum_without_datasum(tess_dir):
    """Why verify.py has its own sum: astropy flags intact SPOC files (CHECKSUM, no DATASUM) as failed."""
    path = tess_dir / "tic55525572_lc.fits"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True) as h:
            assert "DATASUM" not in h[1].header and "CHECKSUM" in h[1].header
    flagged = [str(w.message) for w in caught if "Checksum verification failed" in str(w.message)]
    if not flagged:
        pytest.skip("this astropy version verifies CHECKSUM without DATASUM correctly")
    assert checksums(path) == 3


def test_flipped_bytes_agree_with_cfitsio(real_copies):
    """Flip one bit anywhere after the primary header; ours and cfitsio must agree it is corrupted."""
    src = real_copies / "tic55525572_lc.fits"
    raw = src.read_bytes()
    rng = random.Random(7)
    for trial in range(12):
        pos = rng.randrange(5760, len(raw))  # keep the primary header readable
        data = bytearray(raw)
        data[pos] ^= 1 << rng.randrange(8)
        bad = real_copies / f"bad{trial}.fits"
        bad.write_bytes(bytes(data))
        status = cfitsio_hdu_status(bad)
        assert -1 in status, (pos, status)
        with pytest.raises(FitsOpenError):
            checksums(bad)


def test_verify_rejects_damage(real_copies, tmp_path):
    src = real_copies / "tic55525572_lc.fits"
    raw = src.read_bytes()
    cases = {
        "truncated": raw[: len(raw) - 2880],  # whole blocks, FITS layer must notice
        "last_header_cut": raw[: len(raw) - 5760],  # cfitsio alone silently drops this HDU
        "last_hdu_gone": raw[: len(raw) - 8640],  # only NEXTEND tells
        "cut": raw[:123457],
        "html": b"<html><body>503 Service Unavailable</body></html>",
        "empty": b"",
        "zeros": bytes(len(raw)),
    }
    for label, data in cases.items():
        p = tmp_path / f"{label}.fits"
        p.write_bytes(data)
        with pytest.raises(VerifyError) as info:
            verify_lightcurve_file(p)
        assert info.value.reason, label
        if label.startswith("last_"):
            assert "truncated" in info.value.reason
    with pytest.raises(VerifyError, match="server announced"):
        verify_lightcurve_file(src, expected_size=len(raw) + 1)


def test_verify_needs_time_and_pdcsap_flux(tmp_path):
    ok = write_lightcurve(tmp_path / "ok.fits", columns=("TIME", "PDCSAP_FLUX", "SAP_FLUX"))
    assert verify_lightcurve_file(ok).hdus_checksummed == 2
    no_flux = write_lightcurve(tmp_path / "noflux.fits", columns=("TIME", "SAP_FLUX"))
    with pytest.raises(VerifyError, match="PDCSAP_FLUX"):
        verify_lightcurve_file(no_flux)
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(image)
    with pytest.raises(VerifyError, match="HDU 1"):
        verify_lightcurve_file(image)


def test_checksum_and_datasum_written_by_astropy(tmp_path):
    """astropy writes CHECKSUM + DATASUM and verifies them itself: an independent implementation agrees."""
    path = write_lightcurve(tmp_path / "lc.fits")
    with fits.open(path, checksum=True) as h:
        assert h[1].verify_checksum() == 1 and h[1].verify_datasum() == 1
    assert checksums(path) == 2
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x04  # inside HDU 1's data
    with pytest.raises(FitsOpenError, match="HDU 1 fails its FITS CHECKSUM"):
        checksums(path, bytes(raw))


def test_datasum_alone_is_checked(tmp_path):
    """An HDU with DATASUM but no CHECKSUM: the data sum is still verified (cfitsio as the oracle)."""
    path = write_lightcurve(tmp_path / "lc.fits")
    raw = bytearray(path.read_bytes())
    for _ in range(2):  # blank out both CHECKSUM cards, keeping the header size
        at = raw.index(b"CHECKSUM= ")
        raw[at : at + 80] = b"COMMENT checksum card removed by the test".ljust(80)
    path.write_bytes(bytes(raw))
    with fitsio.FITS(str(path)) as f:
        assert f._FITS.verify_checksum(2)["dataok"] == 1
    assert checksums(path, bytes(raw)) == 2
    raw[-100] ^= 0x04
    path.write_bytes(bytes(raw))
    with fitsio.FITS(str(path)) as f:
        assert f._FITS.verify_checksum(2)["dataok"] == -1
    with pytest.raises(FitsOpenError, match="HDU 1 fails its FITS DATASUM"):
        checksums(path, bytes(raw))


def test_ones_complement_sum_end_around_carry():
    words = np.array([0xFFFFFFFF, 0x00000002], dtype=">u4").tobytes()
    assert ones_complement_sum(words) == 0x00000002  # 0x1_0000_0001 folds to 2
    assert ones_complement_sum(b"\x00" * 8) == 0


SPOC_55525572 = "tess2018349182459-s0005-0000000055525572-0125-s_lc.fits"  # its own TIC and sector


def test_spoc_name_must_match_the_header_tic_and_sector(real_copies, tmp_path):
    """A valid light curve of another star (or sector) under this star's SPOC name is refused, naming
    both values; under its own name, or under a name that is not SPOC-style, it passes."""
    src = real_copies / "tic55525572_lc.fits"  # header: TICID 55525572, SECTOR 5
    own = tmp_path / SPOC_55525572
    shutil.copy(src, own)
    assert verify_lightcurve_file(own).hdus_checksummed == 3
    other_star = tmp_path / "tess2018349182459-s0005-0000000278660115-0125-s_lc.fits"
    other_sector = tmp_path / "tess2018349182459-s0006-0000000055525572-0125-s_lc.fits"
    for dst, words in [
        (other_star, ("TICID = 55525572", "TIC 278660115")),
        (other_sector, ("SECTOR = 5", "sector 6")),
    ]:
        shutil.copy(src, dst)
        with pytest.raises(IdentityError) as info:
            verify_lightcurve_file(dst)
        assert all(w in info.value.reason for w in words), info.value.reason
    # the name checked is the one given (a download is verified as <name>.part before its rename)
    part = tmp_path / (other_star.name + ".part")
    shutil.copy(src, part)
    with pytest.raises(IdentityError, match="TIC 278660115"):
        verify_lightcurve_file(part, filename=other_star.name)
    verify_lightcurve_file(part, filename=SPOC_55525572)
    for plain in ["a.fits", "star[1].fits", "tess-s0001-123_lc.fits"]:  # no SPOC identity to check
        shutil.copy(src, tmp_path / plain)
        verify_lightcurve_file(tmp_path / plain)


def test_spoc_name_with_no_or_unreadable_tic_in_the_header(tmp_path):
    name = "tess2018206045859-s0001-0000000000012345-0120-s_lc.fits"
    assert verify_lightcurve_file(write_lightcurve(tmp_path / name, tic=12345)).size > 0
    no_tic = tmp_path / "no_tic" / name
    no_tic.parent.mkdir()
    write_lightcurve(no_tic, tic=None)
    with pytest.raises(IdentityError, match="no TICID; the file name says TIC 12345"):
        verify_lightcurve_file(no_tic)
    text_tic = tmp_path / "text_tic" / name
    text_tic.parent.mkdir()
    write_lightcurve(text_tic, tic="12345a")
    with pytest.raises(IdentityError, match="not an integer"):
        verify_lightcurve_file(text_tic)


def test_relabelled_copy_is_valid_and_agrees_with_cfitsio(real_copies, tmp_path):
    """relabelled_copy (tests' and benchmarks' archives) writes a CHECKSUM that cfitsio accepts."""
    for src in sorted(real_copies.iterdir()):
        dst = tmp_path / "tess2018206045859-s0003-0000000000004242-0120-s_lc.fits"
        relabelled_copy(src, dst, 4242, 3)
        assert cfitsio_hdu_status(dst) == [1, 1, 1]
        assert verify_lightcurve_file(dst).hdus_checksummed == 3
        with fitsio.FITS(str(dst)) as f:
            header = f[0].read_header()
            assert (header["TICID"], header["SECTOR"]) == (4242, 3)
            assert np.array_equal(
                f[1]["PDCSAP_FLUX"][:], fitsio.read(str(src), ext=1)["PDCSAP_FLUX"], equal_nan=True
            )


def test_symbolic_link_refused_when_asked(real_copies, tmp_path):
    link = tmp_path / "link.fits"
    link.symlink_to(real_copies / "tic55525572_lc.fits")
    assert verify_lightcurve_file(link).size > 0
    with pytest.raises(VerifyError, match="symbolic link"):
        verify_lightcurve_file(link, follow_symlinks=False)
