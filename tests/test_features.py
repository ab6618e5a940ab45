"""clara-4000 features: the fast Lomb–Scargle against astropy, and CLARA's exact z-score arithmetic.

The reference for CLARA's algorithm (tests/clara_reference.py) is recomputed independently from its
public code: astropy ``Table.read``, the finite mask, numpy mean/std on the big-endian float32 column,
astropy ``LombScargle(t, z).power``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.timeseries import LombScargle
from clara_reference import clara_features as clara_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from clara_benchmark.features import (
    FREQUENCIES,
    MIN_POINTS,
    N_FEATURES,
    N_FLUX,
    FeatureError,
    clara4000,
    lomb_scargle_power,
    lomb_scargle_power_reference,
)
from clara_benchmark.lightcurve import read_lightcurve
from conftest import REAL_LIGHTCURVES

TOL = 1e-9


@pytest.mark.parametrize("name", sorted(REAL_LIGHTCURVES))
def test_real_files_equal_clara_algorithm(tess_dir, name):
    lc = read_lightcurve(tess_dir / name)
    ours = clara4000(lc.time, lc.pdcsap_flux)
    ref = clara_reference(tess_dir / name)
    assert ours.shape == (N_FEATURES,) and ours.dtype == np.float64
    # the flux part bit for bit (float32 z-scores), the periodogram within the contract
    assert np.array_equal(ours[:N_FLUX], ref[:N_FLUX])
    assert np.max(np.abs(ours[N_FLUX:] - ref[N_FLUX:])) <= TOL
    assert np.allclose(ours[N_FLUX:], ref[N_FLUX:], rtol=1e-8, atol=0)


def test_float64_zscore_would_not_be_clara(tess_dir):
    """Why the z-score runs in float32: widened arithmetic gives different float32 features."""
    name = sorted(REAL_LIGHTCURVES)[0]
    lc = read_lightcurve(tess_dir / name)
    keep = np.isfinite(lc.time) & np.isfinite(lc.pdcsap_flux)
    f64 = lc.pdcsap_flux[keep].astype(np.float64)
    z64 = ((f64 - f64.mean()) / f64.std())[:N_FLUX].astype(np.float32)
    ours = clara4000(lc.time, lc.pdcsap_flux)[:N_FLUX].astype(np.float32)
    assert np.mean(z64 != ours) > 0.5


def _write_spoc_like(path, time, flux):
    cols = [
        fits.Column(name="TIME", format="D", array=time),
        fits.Column(name="PDCSAP_FLUX", format="E", array=flux),
    ]
    primary = fits.PrimaryHDU()
    primary.header["TICID"] = 1234
    primary.header["SECTOR"] = 1
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")]).writeto(path)


def test_byte_order_of_the_sums_is_clara_s(tmp_path):
    """numpy sums a byte-swapped float32 array in buffered chunks: the mean differs from the native one.

    Pick a series where the two differ, write it as FITS, and check that clara follows CLARA's (astropy,
    big-endian) arithmetic rather than the native-order one.
    """
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(9000, 19000))
        flux = rng.normal(3700.0, 11.0, n).astype(np.float32)
        if np.mean(flux) != np.mean(flux.astype(">f4")):
            break
    else:
        pytest.skip("this numpy sums native and byte-swapped float32 alike")
    time = 1325.3 + np.arange(n) * (2.0 / 1440)
    path = tmp_path / "swap.fits"
    _write_spoc_like(path, time, flux)
    lc = read_lightcurve(path)
    assert lc.pdcsap_flux.dtype == np.float32 and lc.pdcsap_flux.dtype.isnative
    ours = clara4000(lc.time, lc.pdcsap_flux)
    assert np.array_equal(ours[:N_FLUX], clara_reference(path)[:N_FLUX])
    native = ((flux - np.mean(flux)) / np.std(flux))[:N_FLUX]
    assert not np.array_equal(ours[:N_FLUX], native)


@st.composite
def uneven_series(draw):
    """Random uneven time grids with gaps, short series, offsets like BTJD, any flux scale."""
    n = draw(st.integers(MIN_POINTS, 400))
    span = draw(st.floats(2.0, 30.0))
    start = draw(st.floats(0.0, 3000.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, span, n))
    if draw(st.booleans()):  # a data-downlink gap: shift the second half
        t[n // 2 :] += draw(st.floats(0.5, 5.0))
    if draw(st.booleans()):  # nearly regular cadence with jitter, like TESS
        t = np.linspace(0.0, span, n) + rng.normal(0.0, span / n / 20, n)
    amp = draw(st.floats(0.0, 5.0))
    freq = draw(st.floats(1 / 27, 6.0))
    y = amp * np.sin(2 * np.pi * freq * t) + rng.normal(0.0, 1.0, n)
    return start + t, y * draw(st.sampled_from([1e-3, 1.0, 1e4])) + draw(st.floats(-1e4, 1e4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uneven_series())
def test_fast_lomb_scargle_equals_astropy_property(series):
    t, y = series
    fast = lomb_scargle_power(t, y)
    slow = lomb_scargle_power_reference(t, y)
    assert np.all(np.isfinite(fast))
    assert np.max(np.abs(fast - slow)) <= TOL


@settings(max_examples=40, deadline=None)
@given(uneven_series())
def test_clara4000_matches_definition_property(series):
    t, y = series
    flux = y.astype(np.float32)
    try:
        vec = clara4000(t, flux)
    except FeatureError:
        big = flux.astype(">f4")
        assert np.std(big) == 0 or not np.isfinite(np.std(big))  # only a constant (float32) flux fails here
        return
    z = (flux.astype(">f4") - np.mean(flux.astype(">f4"))) / np.std(flux.astype(">f4"))
    k = min(N_FLUX, len(z))
    assert np.array_equal(vec[:k], z[:k]) and not np.any(vec[k:N_FLUX])
    assert np.max(np.abs(vec[N_FLUX:] - LombScargle(t, z).power(FREQUENCIES))) <= TOL


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(
        np.float64, st.integers(0, 60), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)
    ),
    hnp.arrays(
        np.float32, st.integers(0, 60), elements=st.floats(allow_nan=True, allow_infinity=True, width=32)
    ),
)
def test_any_input_gives_finite_features_or_feature_error(time, flux):
    n = min(len(time), len(flux))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            vec = clara4000(time[:n], flux[:n])
        except FeatureError as exc:
            assert str(exc)
            return
    assert vec.shape == (N_FEATURES,) and np.all(np.isfinite(vec))


@pytest.mark.parametrize(
    ("time", "flux", "message"),
    [
        (np.arange(5.0), np.ones(5, np.float32), "only 5 finite samples"),
        (np.arange(100.0), np.full(100, 7.0, np.float32), "constant flux"),
        (np.arange(100.0), np.full(100, np.nan, np.float32), "no finite"),
        (np.full(100, np.nan), np.arange(100, dtype=np.float32), "no finite"),
        (np.full(50, 1400.0), np.arange(50, dtype=np.float32), "share one TIME"),
    ],
)
def test_unusable_light_curves_raise_clear_errors(time, flux, message):
    with pytest.raises(FeatureError, match=message):
        clara4000(time, flux)


def test_nans_are_skipped_not_zero_filled():
    t = np.linspace(0, 20, 4000)
    flux = (1000 + np.sin(t)).astype(np.float32)
    flux[10:20] = np.nan
    t2 = t.copy()
    t2[30] = np.nan
    vec = clara4000(t2, flux)
    keep = np.isfinite(t2) & np.isfinite(flux)
    assert keep.sum() == 4000 - 11
    big = flux[keep].astype(">f4")
    assert np.array_equal(vec[:N_FLUX], ((big - np.mean(big)) / np.std(big))[:N_FLUX])


def test_long_spans_sum_directly_and_stay_exact(monkeypatch):
    """Spans no light curve has would make the NUFFT grid huge: the direct sums take over, same result."""
    import clara_benchmark.features as features

    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 1e5, 200))
    y = rng.normal(size=200)
    original = features._direct_sums
    calls = []

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(features, "_direct_sums", counting)
    got = lomb_scargle_power(t, y)
    assert calls, "the direct sums were not used for a 1e5-day span"
    assert np.max(np.abs(got - lomb_scargle_power_reference(t, y))) <= TOL


def test_overflowing_flux_is_named_as_such():
    import warnings

    from clara_benchmark.features import clara4000

    t = np.linspace(0, 27, 500)
    flux = np.full(500, 3.0e38, dtype=np.float32)
    flux[::2] = -3.0e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning leaks to the console
        with pytest.raises(FeatureError, match="overflow"):
            clara4000(t, flux)
