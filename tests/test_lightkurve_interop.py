"""lightkurve in and out: scoring a ``lightkurve.LightCurve`` (or a collection) equals scoring its file,
``to_lightkurve`` round trips, and simulated sectors are SPOC light curves to lightkurve."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clara_benchmark as clara
from clara_benchmark.lightcurve import LightCurve, read_lightcurve
from conftest import REAL_LIGHTCURVES, SHARED

lk = pytest.importorskip("lightkurve")
warnings.filterwarnings("ignore", module="lightkurve")

PUBLISHED = SHARED / "data" / "clara_published"
TESS = SHARED / "data" / "tess"
REAL = SHARED / "data" / "tess_real"
MODELS = {
    "p3": "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl",
    "p9": "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl",
}
FILES = [TESS / n for n in sorted(REAL_LIGHTCURVES)] + [
    REAL / "lightkurve-ext" / "tess2022085151738-s0050-0000000441801208-0222-s_lc.fits",
    REAL / "lightkurve-ext" / "hlsp_tess-spoc_tess_phot_0000001925740387-s0027_tess_v1_lc.fits",
]


@pytest.fixture(scope="module")
def models():
    return clara.load_models(**{k: PUBLISHED / v for k, v in MODELS.items()})


@pytest.fixture(scope="module")
def file_scores(models):
    return clara.score(FILES, models).scores.set_index("filename")


def _same(a, b):
    a, b = a.set_index("filename"), b.set_index("filename") if "filename" in b else b
    for model in MODELS:
        assert a[model].tolist() == b.loc[a.index, model].tolist(), model
    assert a["product"].tolist() == b.loc[a.index, "product"].tolist()


def test_a_lightkurve_light_curve_scores_like_its_file(models, file_scores):
    for path in FILES:
        lc = lk.read(path, quality_bitmask="none")
        scores, failures = clara.score(lc, models)
        assert failures.empty and scores["filename"].tolist() == [path.name]
        _same(scores, file_scores)


def test_a_collection_scores_like_its_files(models, file_scores):
    collection = lk.LightCurveCollection([lk.read(p, quality_bitmask="none") for p in FILES])
    scores, failures = clara.score(collection, models)
    assert failures.empty and sorted(scores["filename"]) == sorted(p.name for p in FILES)
    _same(scores, file_scores)


def test_lightkurves_default_mask_scores_like_claras_default_mask(models):
    path = FILES[0]
    theirs = clara.score(lk.read(path), models).scores  # lightkurve masks "default" unless told otherwise
    ours = clara.score(path, models, read_options={"quality_bitmask": "default"}).scores
    assert theirs["p3"].tolist() == ours["p3"].tolist()
    plain = clara.score(path, models).scores
    assert theirs["p3"].tolist() != plain["p3"].tolist()  # and that is not CLARA's score


def test_sap_flux_light_curves_follow_the_flux_column_option(models):
    path = FILES[1]
    sap_lc = lk.read(path, quality_bitmask="none", flux_column="sap_flux")
    as_sap = clara.score(sap_lc, models, read_options={"flux_column": "sap_flux"}).scores
    file_sap = clara.score(path, models, read_options={"flux_column": "sap_flux"}).scores
    assert as_sap["p3"].tolist() == file_sap["p3"].tolist()
    # by default clara takes PDCSAP, which the lightkurve object carries as a column
    default = clara.score(sap_lc, models).scores
    assert default["p3"].tolist() == clara.score(path, models).scores["p3"].tolist()


def test_to_lightkurve_round_trip():
    for path in FILES[:1] + FILES[-1:]:
        lc = read_lightcurve(path)
        out = lc.to_lightkurve()
        assert isinstance(out, lk.LightCurve) and out.meta["TICID"] == lc.tic_id
        assert out.time.format == "btjd" and out.meta["FLUX_ORIGIN"] == "pdcsap_flux"
        finite = np.isfinite(lc.time)  # an astropy Time holds no NaN: those cadences are left out
        assert 0 < (~finite).sum() < 0.1 * len(lc)
        np.testing.assert_array_equal(out.time.value, lc.time[finite])
        back = LightCurve.from_lightkurve(out)
        for name in ("time", "flux", "flux_err", "quality", "sap_flux"):
            np.testing.assert_array_equal(getattr(back, name), getattr(lc, name)[finite], err_msg=name)
        assert back.flux.dtype == lc.flux.dtype == np.float32
        assert (back.tic_id, back.sector, back.filename) == (lc.tic_id, lc.sector, lc.filename)
        assert (back.product, back.cadence_s, back.flux_column) == (lc.product, lc.cadence_s, lc.flux_column)
        a = clara.clara4000_many(lc).features
        b = clara.clara4000_many(back).features
        np.testing.assert_array_equal(a, b)


def test_from_lightkurve_detects_the_product_from_meta():
    qlp = lk.read(REAL / "lightkurve-ext" / "hlsp_qlp_tess_ffi_s0024-0000000188589164_tess_v01_llc.fits")
    lc = LightCurve.from_lightkurve(qlp)
    assert (lc.product, lc.flux_column, lc.tic_id) == ("qlp", "sap_flux", 188589164)
    arrays = LightCurve.from_lightkurve(lk.LightCurve(time=np.arange(100.0), flux=np.ones(100)))
    assert arrays.product is None and arrays.info.product == "unknown"


def test_simulated_sectors_are_spoc_light_curves_to_lightkurve(tmp_path):
    from astropy.io import fits
    from lightkurve.io.detect import detect_filetype

    from clara_benchmark.synthetic.sector import write_sector

    sector = write_sector(tmp_path, n_stars=1, sector=3, seed=2, max_workers=1)
    path = sorted(tmp_path.glob("*.fits"))[0]
    with fits.open(path) as hdul:
        assert detect_filetype(hdul) == "TessLightCurve"
        assert hdul[0].header["SIMDATA"] is True and "simulated" in hdul[0].header["ORIGIN"]
    lc = lk.read(path, quality_bitmask="none")
    assert type(lc).__name__ == "TessLightCurve" and lc.meta["AUTHOR"] == "SPOC"
    assert lc.meta["FLUX_ORIGIN"] == "pdcsap_flux"
    ours = read_lightcurve(path)
    assert ours.product == "spoc-2min" and ours.header["SIMDATA"] is True
    finite = np.isfinite(ours.time)
    np.testing.assert_array_equal(lc.time.value, ours.time[finite])
    np.testing.assert_array_equal(np.asarray(lc.flux.value), ours.flux[finite])
    assert len(sector.truth) == 1
