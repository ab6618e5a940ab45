"""Vetting metrics and flags (vetting.metrics), the auto rule (vetting.periodicity), on synthetic stars."""

from __future__ import annotations

import numpy as np
import pytest

from clara_benchmark.synthetic import stars
from clara_benchmark.synthetic.transits import box_transit
from clara_benchmark.vetting.bls import BLSResult, find_transit, in_transit
from clara_benchmark.vetting.metrics import (
    FLAG_CENTROID,
    FLAG_ODD_EVEN,
    FLAG_RULES,
    FLAG_SECONDARY,
    FLAG_SINGLE,
    FLAG_TOI,
    box_vs_sine,
    vet,
)
from clara_benchmark.vetting.periodicity import LSResult, choose_period, lomb_scargle

T = np.arange(1325.0, 1352.0, 2 / 1440)
T = T[(T < 1338.5) | (T > 1339.6)]


def _noisy(model, noise=8e-4, seed=3):
    rng = np.random.default_rng(seed)
    return 2e4 * model * (1 + rng.normal(0, noise, T.size))


def test_eclipsing_binary_with_unequal_eclipses_is_flagged():
    model = stars.eclipsing_binary(T, 2.7, 1326.0, 0.3, 6.0, 0.2, 0.35, 0.0, 5800)
    d, r = find_transit(T, _noisy(model))
    v = vet(d, r)
    assert {FLAG_ODD_EVEN, FLAG_SECONDARY} & set(v.flags)
    if r.period_days == pytest.approx(2.7, rel=0.01):  # found at its period: the secondary shows
        assert v.secondary_sigma > 10
    else:  # found at half its period: odd and even eclipses differ
        assert r.period_days == pytest.approx(1.35, rel=0.01) and v.odd_even_sigma > 10


def test_clean_planet_is_not_flagged():
    model = stars.planet_transit(T, 3.9, 1326.4, 0.08, 10.0, 0.3, 5700)
    d, r = find_transit(T, _noisy(model))
    v = vet(d, r)
    assert r.period_days == pytest.approx(3.9, rel=0.01)
    assert v.flags == [], (v.odd_even_sigma, v.secondary_sigma)
    assert abs(v.odd_even_sigma) < 3 and abs(v.secondary_sigma) < 3
    assert v.odd_depth_ppm == pytest.approx(v.even_depth_ppm, rel=0.05)


def test_single_transit_is_flagged():
    model = box_transit(T, 100.0, 0.2, 0.01, 1331.0)  # one transit in the sector
    d, r = find_transit(T, _noisy(model))
    v = vet(d, r)
    assert FLAG_SINGLE in v.flags
    assert r.n_transits == 1 or r.single_event_ratio >= 0.9
    strongest = r.transit_times[int(np.nanargmax(r.epoch_snr))]
    assert abs(strongest - 1331.0) < 0.05


def _centroids(shift_pixels, seed=5):
    rng = np.random.default_rng(seed)
    drift = 0.01 * (T - T[0]) / 27  # slow pointing drift, which the local baseline must cancel
    col = 500 + drift + rng.normal(0, 2e-3, T.size)
    row = 800 - drift + rng.normal(0, 2e-3, T.size)
    col = col + shift_pixels * in_transit(T, 3.9, 1326.4, 0.1)
    return col, row


def test_centroid_shift_in_transit_is_flagged_and_quiet_centroid_is_not():
    model = box_transit(T, 3.9, 0.1, 0.005, 1326.4)
    d, r = find_transit(T, _noisy(model))
    quiet = vet(d, r, *_centroids(0.0))
    moved = vet(d, r, *_centroids(1e-3))  # 1 millipixel in transit, 5 ppt deep: a source 0.2 px away
    assert FLAG_CENTROID not in quiet.flags and quiet.centroid_shift_sigma < 3
    assert FLAG_CENTROID in moved.flags and moved.centroid_shift_sigma > 5
    assert moved.centroid_shift_pixels[0] == pytest.approx(1e-3, rel=0.3)
    assert moved.centroid_offset_pixels == pytest.approx(1e-3 / 0.005, rel=0.3)
    assert np.isnan(vet(d, r).centroid_shift_sigma)  # no centroids given


def test_known_toi_flag_and_every_flag_has_a_rule():
    model = box_transit(T, 3.9, 0.1, 0.005, 1326.4)
    d, r = find_transit(T, _noisy(model))
    assert FLAG_TOI in vet(d, r, known_toi=True).flags
    assert set(FLAG_RULES) == {FLAG_ODD_EVEN, FLAG_SECONDARY, FLAG_CENTROID, FLAG_SINGLE, FLAG_TOI}


def test_box_versus_sine():
    sine = 1 + 0.003 * np.sin(2 * np.pi * T / 2.0)
    box = box_transit(T, 2.0, 0.1, 0.003, 1326.0)
    assert box_vs_sine(T, sine, 2.0, 1326.5, 0.3, 1e-4) < 0  # a sinusoid is better described by a sine
    assert box_vs_sine(T, box, 2.0, 1326.0, 0.1, 1e-4) > 0


def _bls(snr, period=3.0):
    z = np.zeros(3)
    return BLSResult(period, 0.0, 2.0, 1000.0, 1000.0 / snr, snr, 10.0, 50.0, 5, z, z, z, z)


def _ls(power, period=7.0):
    return LSResult(period, power, np.ones(3), np.ones(3))


def test_auto_rule():
    assert choose_period(_bls(12), _ls(0.6)).method == "bls"
    assert choose_period(_bls(12), _ls(0.6), box_vs_sine=-5.0).method == "ls"  # a sinusoid, not a dip
    assert choose_period(_bls(4), _ls(0.2)).method == "ls"
    weak = choose_period(_bls(4), _ls(0.01))
    assert weak.method == "bls" and weak.period_days == 3.0 and "weak" in weak.reason


def test_lomb_scargle_finds_a_rotation_period():
    f = 1 + 0.01 * np.sin(2 * np.pi * T / 4.2)
    r = lomb_scargle(T, f)
    assert r.period_days == pytest.approx(4.2, rel=0.01) and r.power > 0.9
