"""CLARA's fold helper and bin_means: equal to CLARA's recorded values on every shared real file."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.timeseries import LombScargle
from shapes_helpers import TESS_REAL, as_float, expected_features

import clara_benchmark.folding as folding
from clara_benchmark.exceptions import ClaraError, FeatureError, LightCurveError
from clara_benchmark.folding import bin_means_vector, fold_lightcurve, zscore_bin_means
from clara_benchmark.lightcurve import read_lightcurve

EXPECTED = expected_features()


def _read(key):
    return read_lightcurve(TESS_REAL / key)


def test_bin_means_equal_clara_on_every_real_file():
    compared = skipped = unreadable = empty = 0
    for key, want in EXPECTED.items():
        try:
            lc = _read(key)
        except LightCurveError:
            # no PDCSAP_FLUX column (QLP, lightkurve-written): CLARA's helper crashes on these too
            assert want["bin_means"] is None
            unreadable += 1
            continue
        fold = fold_lightcurve(lc.time, lc.pdcsap_flux)
        if want["bin_means"] is None:
            assert not fold.ok and "min_power_threshold 0.05" in fold.reason, key
            assert fold.power < 0.05 and "power < 0.05" in want["fold_note"], key
            skipped += 1
            continue
        expected = as_float(want["bin_means"])
        if np.all(np.isnan(expected)):  # CLARA writes an all-NaN row when a phase bin is empty
            with pytest.raises(FeatureError, match="phase bins are empty"):
                bin_means_vector(None, None, fold=fold)
            empty += 1
            continue
        got = bin_means_vector(None, None, fold=fold)
        assert np.max(np.abs(got - expected)) <= 1e-9, key
        compared += 1
    assert (compared, skipped, unreadable, empty) == (16, 12, 3, 1)


@pytest.mark.parametrize(
    "key",
    [
        "notch-locor/tess2018206045859-s0001-0000000410214986-0120-s_lc.fits",
        "stsci-notebooks/tess2018206045859-s0001-0000000038846515-0120-s_lc.fits",
        "lightkurve-ext/hlsp_tess-spoc_tess_phot_0000001925740387-s0013_tess_v1_lc.fits",
    ],
)
def test_period_and_power_are_astropy_autopower(key):
    lc = _read(key)
    t, f = folding.clean_fold_input(lc.time, lc.pdcsap_flux)
    z = (f - np.nanmean(f)) / np.nanstd(f)
    freq, power = LombScargle(t, z).autopower(
        minimum_frequency=1 / 20, maximum_frequency=5, samples_per_peak=10
    )
    fold = fold_lightcurve(lc.time, lc.pdcsap_flux)
    assert fold.period_days == 1 / freq[np.argmax(power)]
    assert fold.power == pytest.approx(power.max(), abs=1e-12)
    assert not fold.used_astropy


def test_near_tie_defers_to_astropy(monkeypatch):
    lc = _read("notch-locor/tess2019085135100-s0010-0000000093000166-0140-s_lc.fits")
    fast = fold_lightcurve(lc.time, lc.pdcsap_flux)
    monkeypatch.setattr(folding, "TIE_TOLERANCE", 10.0)  # every star is a "near tie" now
    slow = fold_lightcurve(lc.time, lc.pdcsap_flux)
    assert slow.used_astropy and not fast.used_astropy
    assert slow.period_days == fast.period_days
    np.testing.assert_array_equal(slow.bin_means, fast.bin_means)


def _sine(n=4000, period=3.1, noise=0.0, seed=0):
    t = np.arange(n) * (10 / 1440)
    rng = np.random.default_rng(seed)
    return t, 1000 + np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


def test_sinusoid_folds_at_its_period_and_keeps_points_on_request():
    t, f = _sine()
    r = fold_lightcurve(t, f, keep_points=True, bins=50)
    assert r.ok and abs(r.period_days - 3.1) < 0.02 and len(r.bin_means) == 50  # grid step ~0.035 d here
    assert len(r.phase) == len(t) and np.all(np.diff(r.phase) >= 0)
    assert fold_lightcurve(t, f).phase is None


def test_threshold_and_phase_shift():
    t, f = _sine(noise=3.0)
    r = fold_lightcurve(t, f)
    high = fold_lightcurve(t, f, min_power_threshold=r.power + 0.01)
    assert not high.ok and f"< min_power_threshold {r.power + 0.01:g}" in high.reason
    assert high.period_days == r.period_days and high.bin_means is None
    shifted = fold_lightcurve(t, f, phase_shift=0.25)
    assert shifted.period_days == r.period_days
    assert not np.allclose(shifted.bin_means, r.bin_means)


@pytest.mark.parametrize(
    ("time", "flux", "reason"),
    [
        (np.arange(99.0), np.arange(99.0), "only 99 finite TIME/PDCSAP_FLUX rows (need 100)"),
        (np.arange(200.0), np.r_[np.full(150, np.nan), np.ones(50)], "only 50 finite"),
        (np.arange(200.0), np.full(200, 5.0), "constant flux"),
        (np.zeros(200), np.arange(200.0), "share one TIME"),
    ],
)
def test_skip_reasons(time, flux, reason):
    r = fold_lightcurve(time, flux)
    assert not r.ok and reason in r.reason
    with pytest.raises(FeatureError, match=reason.split(" (")[0]):
        bin_means_vector(time, flux)


def test_bad_arguments():
    with pytest.raises(FeatureError, match="1-D arrays of one length"):
        fold_lightcurve(np.arange(10.0), np.arange(9.0))
    with pytest.raises(ValueError, match="min_period < max_period"):
        fold_lightcurve(np.arange(200.0), np.arange(200.0), min_period=5, max_period=1)
    with pytest.raises(ValueError, match="desired_length"):
        zscore_bin_means(np.arange(5.0), desired_length=0)


def test_zscore_pads_and_truncates_as_clara():
    v = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    padded = np.pad(v, (0, 3))
    np.testing.assert_array_equal(zscore_bin_means(v, 8), (padded - padded.mean()) / padded.std())
    np.testing.assert_array_equal(zscore_bin_means(v, 3), (v[:3] - v[:3].mean()) / v[:3].std())
    with pytest.raises(FeatureError, match="constant"):
        zscore_bin_means(np.ones(4))
    assert issubclass(FeatureError, ClaraError)


def test_mean_std_are_claras_nanmean_nanstd_on_finite_rows():
    # folding.py uses np.mean/np.std where CLARA calls nanmean/nanstd: same bits on finite data
    rng = np.random.default_rng(2)
    for n in (100, 1001, 4096, 18000, 20076):
        f = (3700 + 40 * rng.normal(size=n)).astype(np.float32).astype(float)
        assert np.mean(f) == np.nanmean(f) and np.std(f) == np.nanstd(f)


def test_fold_plot_png():
    t, f = _sine()
    png = folding.fold_plot_png(fold_lightcurve(t, f, keep_points=True), tic_id=123)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="keep_points=True"):
        folding.fold_plot_png(fold_lightcurve(t, f))
