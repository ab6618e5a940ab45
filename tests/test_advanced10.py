"""CLARA's ten advanced features: equal to CLARA's recorded vectors; CLARA's failures are failure reasons.
The fast BLS peak equals astropy's on astropy's grid, by both the numpy and the compiled path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.timeseries import BoxLeastSquares, LombScargle
from scipy.signal import find_peaks
from shapes_helpers import TESS_REAL, as_float, expected_features

import clara_benchmark.bls as bls_module
from clara_benchmark.advanced10 import (
    FEATURE_NAMES,
    advanced10,
    advanced10_features,
    bls_input,
    fold_shape_features,
    transit_count,
)
from clara_benchmark.bls import approximate_objective, bls_peak
from clara_benchmark.exceptions import FeatureError, LightCurveError
from clara_benchmark.folding import fold_lightcurve
from clara_benchmark.lightcurve import read_lightcurve

EXPECTED = expected_features()
WITH_VECTOR = [k for k, v in EXPECTED.items() if v["advanced_10"] is not None]
WITHOUT_VECTOR = [k for k, v in EXPECTED.items() if v["advanced_10"] is None]


def test_the_real_files_cover_both_cases():
    assert len(WITH_VECTOR) == 14 and len(WITHOUT_VECTOR) == 18


@pytest.mark.parametrize("key", WITH_VECTOR)
def test_equal_to_clara_where_clara_gives_a_vector(key):
    lc = read_lightcurve(TESS_REAL / key)
    want = as_float(EXPECTED[key]["advanced_10"])
    fold = fold_lightcurve(lc.time, lc.pdcsap_flux)  # shared with bin_means
    result = advanced10(lc.time, lc.pdcsap_flux, fold=fold, check_finite=False)
    assert result.fold is fold and list(result.as_dict()) == list(FEATURE_NAMES)
    got = result.values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.all(np.abs(got[ok] - want[ok]) <= 1e-6 * np.abs(want[ok]) + 1e-300), key
    if np.isnan(want).any():  # CLARA's command drops this star; clara names the features
        with pytest.raises(
            FeatureError, match="non-finite transit_depth, baseline_std, asymmetry, sharpness"
        ):
            advanced10_features(lc.time, lc.pdcsap_flux)


@pytest.mark.parametrize("key", WITHOUT_VECTOR)
def test_a_failure_reason_where_clara_gives_none(key):
    try:
        lc = read_lightcurve(TESS_REAL / key)
    except LightCurveError as exc:
        assert "no column PDCSAP_FLUX" in exc.reason
        return
    with pytest.raises(FeatureError) as info:
        advanced10_features(lc.time, lc.pdcsap_flux)
    message = str(info.value)
    if EXPECTED[key]["bin_means"] is None:
        assert message.startswith("phase fold failed: Lomb–Scargle peak power")
    else:  # TESS-SPOC FFI files: fewer than 8000 finite rows, so CLARA's transit count cannot pair them
        assert "lengths differ" in message


def _real_bls_input(key):
    with warnings.catch_warnings():  # astropy's unit warnings; numpy's "partition ignores the mask"
        warnings.simplefilter("ignore")
        table = Table.read(TESS_REAL / key, hdu=1)
        t = np.array(table["TIME"])
        f = np.array(table["PDCSAP_FLUX"])
        keep = np.isfinite(t) & np.isfinite(f)
        col = table["PDCSAP_FLUX"].value[keep]  # astropy's masked column, as CLARA uses it
        z = (col - np.median(col)) / np.std(col)
        return t, f, keep, np.asarray(z), float(np.std(z))


def test_bls_input_is_astropys_masked_arithmetic():
    key = "stsci-notebooks/tess2018206045859-s0001-0000000149603524-0120-s_lc.fits"
    t, f, keep, z_clara, scatter_clara = _real_bls_input(key)
    lc = read_lightcurve(TESS_REAL / key)
    z, scatter = bls_input(lc.pdcsap_flux, keep)
    np.testing.assert_array_equal(z, z_clara)
    assert scatter == scatter_clara


def test_bls_input_without_nans_is_astropys_plain_column(tmp_path):
    rng = np.random.default_rng(3)
    flux = (1000 + rng.normal(size=500)).astype(">f4")
    path = tmp_path / "plain.fits"
    fits.BinTableHDU.from_columns(
        [fits.Column("TIME", "D", array=np.arange(500) / 720.0), fits.Column("PDCSAP_FLUX", "E", array=flux)]
    ).writeto(path)
    table = Table.read(path, hdu=1)
    assert not hasattr(table["PDCSAP_FLUX"], "mask")  # no NaN: a plain column, float32 arithmetic
    col = table["PDCSAP_FLUX"].value
    z_clara = (col - np.median(col)) / np.std(col)
    z, scatter = bls_input(flux.astype(np.float32), np.ones(500, dtype=bool))
    np.testing.assert_array_equal(z, z_clara.astype(np.float64))
    assert scatter == float(np.std(z_clara))


def test_transit_count_pairs_rows_as_clara():
    rng = np.random.default_rng(1)
    t = np.arange(3000) / 720.0
    flux = (1 + 0.01 * np.sin(2 * np.pi * t / 1.3) + 1e-3 * rng.normal(size=3000)).astype(np.float32)
    # NaN-free column: the real Lomb-Scargle peak count
    z = (flux.astype(">f4") - np.median(flux)) / np.std(flux.astype(">f4"))
    z = (z - np.median(z)) / np.std(z)
    _, power = LombScargle(t, z).autopower(minimum_frequency=1 / 20, maximum_frequency=5)
    want = len(find_peaks(power, prominence=0.05)[0])
    assert transit_count(t, flux) == want and want > 0
    with_nan = flux.copy()
    with_nan[10] = np.nan
    assert transit_count(t[:50], with_nan[:50]) == 0  # fewer than 100 finite rows
    with pytest.raises(FeatureError, match="pairs 2999 finite TIME rows with 3000 PDCSAP_FLUX rows"):
        transit_count(np.delete(t, 10), with_nan)
    many = np.arange(9000) / 720.0
    column = np.ones(9000, dtype=np.float32)
    column[5] = np.nan
    assert transit_count(np.delete(many, 5), column) == 0  # NaN median: every value NaN, CLARA counts 0


def test_fold_shape_features_edge_cases():
    centers = (np.arange(100) + 0.5) / 100
    flat_with_dip = np.zeros(100)
    flat_with_dip[1] = -5.0  # minimum within 3 bins of the edge: sharpness 0
    values = fold_shape_features(centers, flat_with_dip)
    assert values[0] == -5.0 and values[1] == 0 and values[4] == 0


@pytest.fixture(scope="module")
def real_bls():
    key = "notch-locor/tess2019140104343-s0012-0000000383390264-0144-s_lc.fits"
    t, _, keep, z, _ = _real_bls_input(key)
    t = t[keep]
    periods = BoxLeastSquares(t, z).autoperiod(0.1)[::150]
    return t, z, periods


@pytest.mark.parametrize("use_numba", [False, True])
def test_bls_peak_equals_astropy_on_a_grid(real_bls, use_numba):
    t, z, periods = real_bls
    want = BoxLeastSquares(t, z).power(periods, 0.1, objective="likelihood", oversample=10)
    i = int(np.argmax(want.power))
    got = bls_peak(t, z, 0.1, periods=periods, use_numba=use_numba)
    assert (got.index, got.period_days, got.depth, got.power) == (i, periods[i], want.depth[i], want.power[i])
    assert got.duration_days == want.duration[i] and got.n_periods == len(periods)


def test_numpy_and_compiled_objectives_agree_with_astropy(real_bls):
    t, z, periods = real_bls
    x = t - t.min()
    order = np.argsort(x, kind="stable")
    args = (x[order], (z - np.median(z))[order], periods, 0.1, 10)
    a, amb_a = approximate_objective(*args, use_numba=False)
    b, amb_b = approximate_objective(*args, use_numba=True)
    astropy_power = BoxLeastSquares(t, z).power(periods, 0.1, objective="likelihood").power
    scale = astropy_power.max()
    assert np.max(np.abs(a - astropy_power)) < 1e-12 * scale
    assert np.max(np.abs(b - astropy_power)) < 1e-12 * scale
    np.testing.assert_array_equal(amb_a, amb_b)


def test_samples_on_bin_boundaries_are_flagged_and_still_exact():
    # every sample sits exactly on a multiple of the bin width: boundaries coincide with samples
    t = np.arange(4000) * 0.01
    rng = np.random.default_rng(5)
    y = rng.normal(size=4000)
    y[(t % 2.5) < 0.1] -= 2.0
    periods = np.array([0.5, 1.0, 2.5, 2.5000001, 3.3])
    x = t - t.min()
    _, ambiguous = approximate_objective(x, y - np.median(y), periods, 0.1, 10, use_numba=False)
    assert ambiguous[:3].all()
    want = BoxLeastSquares(t, y).power(periods, 0.1, objective="likelihood")
    for use_numba in (False, True):
        got = bls_peak(t, y, 0.1, periods=periods, use_numba=use_numba)
        i = int(np.argmax(want.power))
        assert (got.index, got.depth) == (i, want.depth[i])


def test_bls_errors():
    with pytest.raises(ValueError, match="at least two samples"):
        bls_peak(np.array([1.0]), np.array([1.0]), 0.1, periods=np.array([1.0]))
    with pytest.raises(ValueError, match="longer than the duration"):
        bls_peak(np.arange(10.0), np.zeros(10), 0.1, periods=np.array([0.05]))
    with pytest.raises(FeatureError, match="1-D arrays"):
        advanced10(np.arange(5.0), np.arange(4.0))
    with pytest.raises(FeatureError, match="only 3 finite"):
        advanced10(np.arange(3.0), np.arange(3.0))
    assert bls_module.AMBIGUITY_DAYS < 1e-9
