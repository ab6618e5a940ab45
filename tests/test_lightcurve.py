import shutil

import numpy as np
import pytest
from astropy.io import fits

from clara_benchmark.lightcurve import LightCurveError, read_lightcurve, tic_from_filename
from conftest import REAL_LIGHTCURVES


@pytest.mark.parametrize("name", sorted(REAL_LIGHTCURVES))
def test_real_lightcurves_read(tess_dir, name):
    cadences, tic, sector = REAL_LIGHTCURVES[name]
    lc = read_lightcurve(tess_dir / name, table_header=True)
    assert len(lc) == cadences
    assert (lc.tic_id, lc.sector) == (tic, sector)
    assert lc.camera in (1, 2, 3, 4) and lc.ccd in (1, 2, 3, 4)
    for arr in (lc.time, lc.pdcsap_flux, lc.pdcsap_flux_err, lc.sap_flux, lc.quality):
        assert arr.dtype.isnative and arr.shape == (cadences,)
    assert lc.time.dtype == np.float64 and lc.quality.dtype == np.int32
    # same values as astropy reads, byte order aside
    with fits.open(tess_dir / name) as h:
        np.testing.assert_array_equal(lc.pdcsap_flux, h[1].data["PDCSAP_FLUX"])
        np.testing.assert_array_equal(lc.time, h[1].data["TIME"])
        np.testing.assert_array_equal(lc.quality, h[1].data["QUALITY"])
        assert lc.header["CDPP1_0"] == pytest.approx(h[1].header["CDPP1_0"])
        assert lc.header["TESSMAG"] == pytest.approx(h[0].header["TESSMAG"])
    assert np.isfinite(lc.pdcsap_flux).sum() > 0.8 * cadences
    assert (lc.quality != 0).sum() > 0


def test_tic_from_filename():
    assert tic_from_filename("tess2018206045859-s0001-0000000278660115-0120-s_lc.fits") == 278660115
    assert tic_from_filename("some/dir/tess2018206045859-s0001-0000000278660115-0120-s_lc.fits") == 278660115
    assert tic_from_filename("tic55525572_lc.fits") is None


@pytest.fixture
def real_file(tess_dir):
    return tess_dir / "tic55525572_lc.fits"


def _damaged(tmp_path, real_file, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("zero.fits", lambda b: b"", "empty file"),
        ("cut_header.fits", lambda b: b[:1000], "truncated"),
        ("cut_table.fits", lambda b: b[: len(b) // 2 + 17], "truncated"),
        ("cut_table_on_block.fits", lambda b: b[: (len(b) // 2 // 2880) * 2880], "truncated"),
        ("garbage.fits", lambda b: bytes(range(256)) * 40, "not a FITS file"),
        ("text.fits", lambda b: b"hello, I am not a light curve\n" * 200, "not a FITS file"),
    ],
)
def test_damaged_files_give_clear_errors(tmp_path, real_file, name, make, expected):
    path = _damaged(tmp_path, real_file, name, make(real_file.read_bytes()))
    with pytest.raises(LightCurveError) as err:
        read_lightcurve(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(LightCurveError, match="does not exist"):
        read_lightcurve(tmp_path / "nope.fits")


def test_image_only_fits(tmp_path):
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((10, 10), dtype=np.float32)).writeto(path)
    with pytest.raises(LightCurveError, match="HDU 1 is missing"):
        read_lightcurve(path)


def test_image_in_hdu1(tmp_path):
    path = tmp_path / "image2.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)))]).writeto(path)
    with pytest.raises(LightCurveError, match="not a binary light-curve table"):
        read_lightcurve(path)


def test_missing_column(tmp_path, real_file):
    with fits.open(real_file) as h:
        cols = [c for c in h[1].columns if c.name != "PDCSAP_FLUX"]
        table = fits.BinTableHDU.from_columns(cols, header=h[1].header)
        fits.HDUList([fits.PrimaryHDU(header=h[0].header), table]).writeto(tmp_path / "nocol.fits")
    with pytest.raises(LightCurveError, match="no column PDCSAP_FLUX"):
        read_lightcurve(tmp_path / "nocol.fits")


def test_empty_table(tmp_path, real_file):
    with fits.open(real_file) as h:
        cols = [fits.Column(name=c.name, format=c.format, unit=c.unit) for c in h[1].columns]
        table = fits.BinTableHDU.from_columns(cols, nrows=0)
        fits.HDUList([fits.PrimaryHDU(header=h[0].header), table]).writeto(tmp_path / "empty.fits")
    with pytest.raises(LightCurveError, match="empty"):
        read_lightcurve(tmp_path / "empty.fits")


def test_copy_reads_the_same(tmp_path, real_file):
    shutil.copy(real_file, tmp_path / "copy.fits")
    a, b = read_lightcurve(real_file), read_lightcurve(tmp_path / "copy.fits")
    np.testing.assert_array_equal(a.pdcsap_flux, b.pdcsap_flux)
