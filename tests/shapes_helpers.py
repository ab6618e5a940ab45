"""Shared by the folding/advanced-10/clustering tests: CLARA's recorded features on the real files, and a
small synthetic set of planets, eclipsing binaries and rotators whose right clustering is known."""

from __future__ import annotations

import json

import numpy as np

from clara_benchmark.folding import fold_at_period, zscore_bin_means
from clara_benchmark.synthetic import stars as st
from conftest import SHARED

TESS_REAL = SHARED / "data" / "tess_real"


def expected_features() -> dict:
    """``folder/filename`` → CLARA's ``bin_means``, ``advanced_10`` and ``fold_note`` (None = nothing)."""
    with open(TESS_REAL / "clara_expected_features.json") as fh:
        return json.load(fh)


def as_float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def synthetic_shapes(seed: int, n_per_class: int = 12, days: float = 27.0, cadence_minutes: float = 10.0):
    """(time, [flux...], labels, periods, epochs): planets (0), eclipsing binaries (1), spotted rotators (2).

    Relative flux × 1000 with white noise of 3e-4; every period in 1–8 d. Eclipsing binaries have a
    secondary eclipse (30–90 % of the primary's depth) and weak ellipsoidal variation.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, days, cadence_minutes / 1440.0)
    fluxes, labels, periods, epochs = [], [], [], []
    for cls in range(3):
        for _ in range(n_per_class):
            period = rng.uniform(1.0, 8.0)
            t0 = rng.uniform(0.0, period)
            if cls == 0:
                a_rs = st.a_over_rstar(period, 1.0, 1.0)
                model = st.planet_transit(
                    t, period, t0, rng.uniform(0.06, 0.12), a_rs, rng.uniform(0, 0.5), 5800
                )
            elif cls == 1:
                a_rs = max(2.5, st.a_over_rstar(period, 1.8, 1.0))
                model = st.eclipsing_binary(
                    t,
                    period,
                    t0,
                    rng.uniform(0.3, 0.7),
                    a_rs,
                    rng.uniform(0, 0.5),
                    rng.uniform(0.3, 0.9),
                    1e-3,
                    5800,
                )
            else:
                phases = tuple(rng.uniform(0, 2 * np.pi, 3))
                model = st.spot_modulation(
                    t, period, rng.uniform(3e-3, 1e-2), phases, rng.uniform(0, 0.5), rng.uniform(10, 60)
                )
            fluxes.append(1000.0 * (model + rng.normal(0.0, 3e-4, len(t))))
            labels.append(cls)
            periods.append(period)
            epochs.append(t0)
    return t, fluxes, np.array(labels), np.array(periods), np.array(epochs)


def dip_depths(seed):
    """Folded (at the known period, dip at phase 0.5) z-scored bin means of the synthetic set, reduced to
    [primary dip depth, deepest dip > 0.2 in phase away from it] — planets: one dip; binaries: two."""
    t, fluxes, labels, periods, epochs = synthetic_shapes(seed)
    rows, vectors = [], []
    for flux, period, t0 in zip(fluxes, periods, epochs):
        z = (flux - flux.mean()) / flux.std()
        _, _, _, means = fold_at_period(t, z, period, 100, ((t0 % period) / period - 0.5) % 1.0)
        v = zscore_bin_means(means)
        i = int(np.argmin(v))
        far = np.abs(((np.arange(100) - i + 50) % 100) - 50) > 20
        rows.append([v.min() - np.median(v), v[far].min() - np.median(v)])
        vectors.append(v)
    return np.array(rows), np.array(vectors), labels
