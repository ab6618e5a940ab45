"""Transit search (vetting.detrend, vetting.bls): known planets in real files, synthetic transits, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from clara_benchmark.exceptions import FeatureError
from clara_benchmark.lightcurve import read_lightcurve
from clara_benchmark.synthetic.transits import box_transit
from clara_benchmark.vetting.bls import SearchGrid, find_transit, in_transit, observed_epochs, search
from clara_benchmark.vetting.detrend import detrend, prepare
from conftest import SHARED

REAL = SHARED / "data" / "tess_real"


def _real(folder: str, tic: int):
    (path,) = sorted((REAL / folder).glob(f"*{tic:016d}*_lc.fits"))
    return read_lightcurve(path)


@pytest.mark.parametrize(
    "folder, tic, period, depth_range",
    [
        ("stsci-notebooks", 25155310, 3.2888, (4000, 9000)),  # WASP-126 b
        ("stsci-notebooks", 231663901, 1.43037, (12000, 25000)),  # WASP-46 b
    ],
)
def test_known_planets_are_found_in_real_files(folder, tic, period, depth_range):
    lc = _real(folder, tic)
    d, r = find_transit(lc.time, lc.pdcsap_flux, lc.quality)
    assert r.period_days == pytest.approx(period, rel=0.01)
    assert depth_range[0] < r.depth_ppm < depth_range[1]
    assert r.snr > 20 and r.n_transits >= 5
    # every reported transit time is an observed epoch of the found ephemeris
    k = (r.transit_times - r.t0_btjd) / r.period_days
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert len(r.periods) == len(r.periodogram) == len(r.periodogram_sde)


def test_young_star_rotation_is_detrended_and_ds_tuc_found():
    lc = _real("notch-locor", 410214986)  # DS Tuc A: 2-3 % spot modulation, a 0.3 % transit every 8.14 d
    d, r = find_transit(lc.time, lc.pdcsap_flux, lc.quality)
    assert r.period_days == pytest.approx(8.1387, rel=0.01)
    assert np.std(d.raw) > 0.01 and np.std(d.search_flux) < 0.002  # the rotation is gone, not the transit
    assert 2000 < r.depth_ppm < 5000


def _synthetic(period=3.3, depth=0.004, duration=0.12, t0=1326.1, noise=1e-3, seed=1, rotation=0.0):
    t = np.arange(1325.0, 1352.0, 2 / 1440)
    t = t[(t < 1338.5) | (t > 1339.6)]  # the mid-sector gap
    rng = np.random.default_rng(seed)
    star = 1 + rotation * np.sin(2 * np.pi * t / 2.9)
    f = 1e4 * star * box_transit(t, period, duration, depth, t0) * (1 + rng.normal(0, noise, t.size))
    return t, f


def test_synthetic_box_transit_recovered_with_its_ephemeris_and_depth():
    t, f = _synthetic()
    d, r = find_transit(t, f)
    assert r.period_days == pytest.approx(3.3, rel=1e-3)
    phase = (r.t0_btjd - 1326.1) / 3.3
    assert abs(phase - round(phase)) * 3.3 < 0.01  # t0 within 15 minutes
    assert r.duration_hours == pytest.approx(0.12 * 24, rel=0.25)
    assert r.depth_ppm == pytest.approx(4000, rel=0.1)
    # epochs 1326.1 + 3.3 k, k = 0..7; k = 4 (1339.3) falls in the gap 1338.5-1339.6
    assert r.n_transits == 7
    mids, _ = observed_epochs(t, 3.3, 1326.1, 0.12)
    np.testing.assert_allclose(mids, 1326.1 + 3.3 * np.array([0, 1, 2, 3, 5, 6, 7]), atol=1e-9)


def test_detrending_keeps_the_transit_on_a_spotted_star():
    t, f = _synthetic(rotation=0.02, noise=5e-4)
    d = detrend(t, f)
    intr = in_transit(d.time, 3.3, 1326.1, 0.12)
    core = in_transit(d.time, 3.3, 1326.1, 0.06)
    depth = np.median(d.flux[~intr]) - np.median(d.flux[core])
    assert depth == pytest.approx(0.004, rel=0.1)
    assert np.std(d.flux[~intr]) < 1.5e-3  # 2 % modulation removed down to about the noise
    np.testing.assert_allclose(d.raw * np.median(f), f, rtol=1e-12)  # untouched flux kept


def test_inputs_are_not_modified_and_bad_cadences_dropped():
    t, f = _synthetic()
    q = np.zeros(t.size, dtype=np.int32)
    q[::50] = 32  # desaturation cadences
    f[7] = np.nan
    t0, f0 = t.copy(), f.copy()
    d = detrend(t, f, q)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(f, f0)
    assert np.all(q[d.index] == 0) and 7 not in d.index


def test_too_little_data_and_bad_grids_are_refused():
    with pytest.raises(FeatureError, match="usable cadences"):
        prepare(np.arange(50.0), np.ones(50))
    with pytest.raises(FeatureError, match="median flux"):
        prepare(np.arange(200.0), -np.ones(200))
    with pytest.raises(ValueError, match="min_period_days"):
        SearchGrid(min_period_days=5, max_period_days=1)
    t = np.arange(0, 0.3, 2 / 1440)
    with pytest.raises(FeatureError, match="spans"):
        search(detrend(t, 1 + 1e-3 * np.random.default_rng(0).normal(size=t.size)))


def test_two_transits_around_the_gap_give_the_longer_period_and_its_alias():
    # transits at 1332.0 and 1345.5: the 6.75-day epoch between them (1338.75) falls in the gap
    t, f = _synthetic(period=13.5, depth=0.004, duration=0.15, t0=1332.0)
    d, r = find_transit(t, f)
    assert r.period_days == pytest.approx(13.5, rel=0.01)
    assert r.n_transits == 2
    assert all(a < r.period_days for a in r.aliases)
    np.testing.assert_allclose(np.sort(r.transit_times), [1332.0, 1345.5], atol=0.03)


def test_alias_rule_doubles_a_period_whose_odd_epochs_are_unobserved():
    from clara_benchmark.vetting.bls import unobserved_alias

    t = np.arange(1327.0, 1352.0, 2 / 1440)
    t = t[(t < 1338.5) | (t > 1339.6)]
    # 6.75 d from 1332.0: epochs 1325.25 (before the data), 1332.0, 1338.75 (gap), 1345.5, 1352.25 (after)
    period, t0, aliases = unobserved_alias(t, 6.75, 1332.0, 0.15, 20.0)
    assert (period, t0, aliases) == (13.5, pytest.approx(1332.0), (6.75,))
    # 3.3 d: odd epochs observed, nothing changes; 13.5 d: doubling would pass max_period
    assert unobserved_alias(t, 3.3, 1327.1, 0.12, 20.0) == (3.3, 1327.1, ())
    assert unobserved_alias(t, 13.5, 1332.0, 0.15, 20.0) == (13.5, 1332.0, ())
