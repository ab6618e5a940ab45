"""CLARA's synthetic transit generator: draws, ranges, noise, and transits a BLS search can find again."""

import numpy as np
import pytest
from astropy.timeseries import BoxLeastSquares

from clara_benchmark.synthetic.transits import (
    SyntheticSetSpec,
    box_transit,
    generate_transit_set,
    injected_transit,
    time_grid,
)


def test_tag_matches_clara_model_names():
    # CLARA's published files: urf4_model_variant_n300_d23.75_c2_n50ppm.pkl, ..._n300_d24.5_c2_n225ppm.pkl
    assert SyntheticSetSpec(300, 23.75, 2.0, 50.0).tag == "n300_d23.75_c2_n50ppm"
    assert SyntheticSetSpec(300, 24.5, 2, 225).tag == "n300_d24.5_c2_n225ppm"


def test_grid_is_clara_arange():
    t = time_grid(23.75, 2.0)
    assert t[0] == 0 and t.size == 17100  # 23.75 d / 2 min, end excluded
    np.testing.assert_allclose(np.diff(t), 2 / 1440)


def test_draws_follow_clara_order_on_a_legacy_stream():
    """np.random.seed(42) then, per curve: choice(model), U(1,15), U(1,10)/24, U(5e-4,2e-2), U(0,P), noise."""
    spec = SyntheticSetSpec(n_curves=3, length_days=2.0, cadence_minutes=30.0, noise_ppm=100.0, seed=42)
    s = generate_transit_set(spec)
    rs = np.random.RandomState(42)
    n = s.time.size
    for i in range(3):
        model = rs.choice(["box", "mandel-agol"])
        period, dur, depth = rs.uniform(1, 15), rs.uniform(1, 10) / 24, rs.uniform(0.0005, 0.02)
        t0 = rs.uniform(0, period)
        noise = rs.normal(0, 100e-6, size=n)
        row = s.params.iloc[i]
        assert row["model"] == model
        assert row["period_days"] == period and row["depth"] == depth and row["t0_days"] == t0
        assert row["duration_hours"] == pytest.approx(dur * 24)
        if model == "box":
            np.testing.assert_allclose(
                s.flux[i] - noise, box_transit(s.time, period, dur, depth, t0), atol=1e-15
            )


def test_ranges_mix_and_noise():
    spec = SyntheticSetSpec(n_curves=300, length_days=3.0, cadence_minutes=10.0, noise_ppm=225.0)
    s = generate_transit_set(spec)
    p = s.params
    assert s.flux.shape == (300, time_grid(3.0, 10.0).size)
    assert p["period_days"].between(1, 15).all() and p["duration_hours"].between(1, 10).all()
    assert p["depth"].between(0.0005, 0.02).all() and (p["t0_days"] < p["period_days"]).all()
    assert 120 <= (p["model"] == "box").sum() <= 180  # 50/50 (binomial sd 8.7)
    # white noise: out-of-transit scatter of box curves equals noise_ppm
    box = p.index[p["model"] == "box"]
    out = []
    for i in box:
        r = p.loc[i]
        clean = box_transit(s.time, r.period_days, r.duration_hours / 24, r.depth, r.t0_days)
        out.append(s.flux[i][clean == 1] - 1)
    assert np.std(np.concatenate(out)) == pytest.approx(225e-6, rel=0.02)


def test_same_seed_same_set_other_seed_other_set():
    a = generate_transit_set(SyntheticSetSpec(5, 2.0, 30.0, 50.0, seed=42))
    b = generate_transit_set(SyntheticSetSpec(5, 2.0, 30.0, 50.0, seed=42))
    c = generate_transit_set(SyntheticSetSpec(5, 2.0, 30.0, 50.0, seed=43))
    np.testing.assert_array_equal(a.flux, b.flux)
    assert not np.allclose(a.flux, c.flux)


def test_bls_recovers_period_and_depth():
    """Box and Mandel–Agol curves with >= 3 transits: BLS finds the drawn period (1 %) and depth (35 %)."""
    s = generate_transit_set(SyntheticSetSpec(40, 20.0, 10.0, 100.0, seed=42))
    p = s.params
    picked = []
    for model in ("box", "mandel-agol"):
        picked += list(p.index[(p["model"] == model) & (p["period_days"] < 6) & (p["depth"] > 0.002)][:2])
    assert len(picked) == 4
    periods = np.exp(np.linspace(np.log(0.9), np.log(7.0), 4000))
    for i in picked:
        row = p.loc[i]
        res = BoxLeastSquares(s.time, s.flux[i]).power(
            periods, [0.04, 0.08, 0.15, 0.25, 0.35], objective="snr"
        )
        k = int(np.argmax(res.power))
        assert res.period[k] == pytest.approx(row["period_days"], rel=0.01), row.to_dict()
        assert res.depth[k] == pytest.approx(row["depth"], rel=0.35), row.to_dict()


@pytest.mark.parametrize("shape", ["box", "batman"])
def test_injected_transit_has_the_asked_depth_and_duration(shape):
    t = np.arange(0.0, 10.0, 1 / 1440)  # 1-minute grid
    model = injected_transit(t, 0.004, 3.0, 4.0, 1.5, shape=shape)
    assert model.min() == pytest.approx(1 - 0.004, rel=1e-4)
    first = (t > 0.5) & (t < 2.5)
    in_transit = t[first][model[first] < 1 - 1e-9]
    assert in_transit.max() - in_transit.min() == pytest.approx(4.0 / 24, abs=3 / 1440)
    assert np.all(model <= 1 + 1e-12)


def test_injected_transit_rejects_impossible_shapes():
    t = np.linspace(0, 5, 100)
    with pytest.raises(ValueError, match="half the period"):
        injected_transit(t, 0.01, 1.0, 13.0, 0.5)
    with pytest.raises(ValueError, match="depth"):
        injected_transit(t, 1.5, 3.0, 2.0, 0.5)
