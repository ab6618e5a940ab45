"""Detrending before a transit search: a robust local quadratic with a notch, on a time window that respects gaps.

Pure functions of arrays (no files, no logging). ``prepare`` keeps the usable cadences and normalises the flux;
``detrend`` divides out a smooth trend (stellar rotation, residual systematics) so that a box least squares
search sees flat data with the transits intact. The untouched flux stays in ``Detrended.raw`` (relative) and
the caller's arrays are never changed, so CLARA-compatible Lomb–Scargle folding can use the original flux.

The trend (``method="notch"``, the default)
-------------------------------------------
1. The relative flux is binned on a regular grid of ``bin_minutes`` (30; median per bin; empty bins, i.e.
   gaps, carry no weight). Everything below runs on these ~1,300 bins per sector, not on the 18k cadences.
2. Around each bin, two models are fitted to the bins within ``window_days / 2``: a quadratic in time, and
   the quadratic plus a *notch*, a box of width ``hole_days`` centred on the bin (the idea of the notch
   filter of Rizzuto et al. 2017, AJ 154, 224, with a fixed notch width). When the notch is a dip that
   improves chi-square by more than 9 (``min_delta_chi2``), the trend at the bin is the quadratic part of
   that model, so a transit up to ``hole_days`` long is not absorbed; otherwise it is the plain quadratic,
   which has the least noise. Either way the curvature of a spotted star is followed (DS Tuc A: 2-3 % at a
   2.85-day rotation), which a running median or biweight *location* cannot do.
3. Both fits are robust: Tukey's biweight with a fixed scale, ``BIWEIGHT_C`` (5) x twice the noise of one
   bin, 2 reweightings, so eclipses, flares and jumps lose their weight but a quadratic that misfits a fast
   rotator a little keeps its outer bins. The notch is only tried with at least ``MIN_SIDE_BINS`` bins on
   each side of it (not at the edge of a gap).
4. The trend is interpolated linearly from the bin centres to every cadence.
5. ``mask`` leaves cadences out of the fit (their bins are empty): ``bls.find_transit`` detrends a second
   time with the first search's transits masked, so that no transit pulls the trend (several transits in
   one window at short periods, a transit on a steep slope).

Defaults: the window is 3x the longest duration searched (Hippke et al. 2019, AJ 158, 143, recommend about
3 x T14 for time-window filters) and the notch that longest duration (6 h: window 0.75 d, notch 0.25 d).
``method="median"`` is the time-window running median of the bin medians, for comparison: on DS Tuc A its
residuals of the rotation are larger than the 0.3 % transit, and the search found 13.05 d (0.5-day window)
or 2.88 d (0.75-day window) instead of 8.14 d, which the notch finds (measured while developing this module).

Cost: ~15-30 ms per 2-minute sector with one BLAS thread (numpy, vectorised over the bins). Run it with one
BLAS thread per process (``threadpoolctl.threadpool_limits(1)``): its small matrix products are 2-3x slower
with OpenBLAS threads on a busy machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from clara_benchmark.exceptions import FeatureError

#: QUALITY bits whose cadences are dropped: the same as lightkurve's "default" bitmask (attitude tweak,
#: safe mode, coarse point, earth point, argabrightening, desaturation, manual exclude, impulsive outlier,
#: bad calibration), so clara and lightkurve search the same cadences
DEFAULT_BITMASK = 1 | 2 | 4 | 8 | 16 | 32 | 128 | 512 | 16384
MIN_POINTS = 100  # CLARA's fold helper skips light curves with fewer finite rows
MIN_SIDE_BINS = 3
BIWEIGHT_C = 5.0
BIWEIGHT_ITERATIONS = 2
#: a detrended point this many robust sigma above the trend is dropped before the search (flares, outliers)
UPPER_CLIP_SIGMA = 4.0
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Detrended:
    """A light curve ready for a transit search: finite, usable cadences only, sorted by time.

    ``flux`` is the detrended relative flux (1 = out of transit), ``trend`` what was divided out, ``raw``
    the untouched relative flux (PDCSAP / its median), ``keep`` which cadences the search uses (upward
    outliers dropped), ``scatter`` the robust per-cadence sigma of ``flux``; ``index`` maps each kept row
    back to the caller's arrays (for centroids, for instance).
    """

    time: np.ndarray
    flux: np.ndarray
    trend: np.ndarray
    raw: np.ndarray
    keep: np.ndarray
    index: np.ndarray
    scatter: float
    window_days: float
    hole_days: float
    method: str

    @property
    def search_time(self) -> np.ndarray:
        return self.time[self.keep]

    @property
    def search_flux(self) -> np.ndarray:
        return self.flux[self.keep]


def robust_sigma(x: np.ndarray) -> float:
    """1.4826 x the median absolute deviation from the median (the sigma of Gaussian data)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(x - np.median(x))))


def point_scatter(flux: np.ndarray) -> float:
    """Per-cadence white-noise sigma from successive differences (insensitive to slow trends and transits)."""
    d = np.diff(np.asarray(flux, dtype=np.float64))
    return robust_sigma(d) / np.sqrt(2.0)


def prepare(
    time: np.ndarray,
    flux: np.ndarray,
    quality: np.ndarray | None = None,
    bitmask: int = DEFAULT_BITMASK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The usable cadences: finite time and flux, no ``bitmask`` QUALITY bit, sorted by time.

    Returns ``(time, relative_flux, index)`` with the flux divided by its median and ``index`` the rows
    kept. Raises ``FeatureError`` with the reason when fewer than ``MIN_POINTS`` rows remain or the median
    flux is not positive.

    Examples
    --------
    >>> t, f, i = prepare(np.arange(200.0), np.full(200, 5.0), np.r_[np.zeros(199, int), 128])
    >>> len(t), float(f[0]), int(i[-1])
    (199, 1.0, 198)
    """
    time = np.asarray(time, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    if time.shape != flux.shape or time.ndim != 1:
        raise FeatureError(
            f"time and flux must be 1-D arrays of one length, got {time.shape} and {flux.shape}"
        )
    good = np.isfinite(time) & np.isfinite(flux)
    if quality is not None:
        quality = np.asarray(quality)
        if quality.shape != time.shape:
            raise FeatureError(f"quality has shape {quality.shape}, time {time.shape}")
        good &= (quality.astype(np.int64) & int(bitmask)) == 0
    index = np.flatnonzero(good)
    if index.size < MIN_POINTS:
        raise FeatureError(f"only {index.size} usable cadences (need at least {MIN_POINTS})")
    index = index[np.argsort(time[index], kind="stable")]
    t, f = time[index], flux[index]
    median = float(np.median(f))
    if not median > 0:
        raise FeatureError(f"median flux is {median:g} (need a positive flux to normalise)")
    if t[-1] - t[0] <= 0:
        raise FeatureError("all usable cadences share one TIME")
    return t, f / median, index


def bin_regular(
    time: np.ndarray, flux: np.ndarray, width: float, start: float | None = None, statistic: str = "median"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin sorted ``time``/``flux`` on a regular grid of ``width`` days from ``start`` (default: first time).

    Returns ``(centres, value, count)`` for every bin of the grid, empty bins included (value NaN, count 0),
    so that bin ``k`` is always ``start + (k + 0.5) * width``: the grid keeps the gaps.
    """
    start = float(time[0]) if start is None else float(start)
    idx = np.floor((time - start) / width).astype(np.int64)
    n_bins = int(idx[-1]) + 1
    count = np.bincount(idx, minlength=n_bins)
    centres = start + (np.arange(n_bins) + 0.5) * width
    value = np.full(n_bins, np.nan)
    filled = count > 0
    if statistic == "mean":
        value[filled] = np.bincount(idx, weights=flux, minlength=n_bins)[filled] / count[filled]
        return centres, value, count
    low, span = float(np.min(flux)), float(np.ptp(flux))
    key = idx + (0.5 * (flux - low) / span if span > 0 else 0.0)  # bin first, flux within a bin
    sorted_flux = flux[np.argsort(key, kind="stable")]
    first = np.concatenate([[0], np.cumsum(count)[:-1]])[filled]
    n = count[filled]
    value[filled] = 0.5 * (sorted_flux[first + (n - 1) // 2] + sorted_flux[first + n // 2])
    return centres, value, count


def _weighted_lstsq(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row of the (n, k) windows ``y`` with weights ``w``: least-squares coefficients of the (m, k)
    ``design`` rows, shape (n, m); NaN for rows with too few weighted points."""
    m = len(design)
    products = (design[:, None, :] * design[None, :, :]).reshape(m * m, -1)
    gram = (w @ products.T).reshape(len(w), m, m)
    rhs = (w * y) @ design.T
    enough = (w > 0).sum(axis=1) > m
    coef = np.full((len(y), m), np.nan)
    if enough.any():
        ridge = 1e-9 * np.eye(m) * gram[enough, :1, :1]
        with np.errstate(all="ignore"):
            coef[enough] = np.linalg.solve(gram[enough] + ridge, rhs[enough][..., None])[..., 0]
    return coef


def _windows(values: np.ndarray, counts: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_bins, 2 half + 1) views of the values (0 where empty), weights (the counts) and filled masks."""
    pad = np.full(half, np.nan)
    y = sliding_window_view(np.concatenate([pad, values, pad]), 2 * half + 1)
    c = sliding_window_view(np.concatenate([np.zeros(half), counts, np.zeros(half)]), 2 * half + 1)
    valid = np.isfinite(y)
    return np.where(valid, y, 0.0), np.where(valid, c, 0).astype(np.float64), valid


def _robust_fit(y, base, design, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Biweight-reweighted least squares of every window row; returns (coefficients, final weights).

    The biweight scale is fixed (``scale``, about twice the noise of one bin), not each row's residual
    scatter: a quadratic that misfits a fast rotator a little must keep its outer bins; only eclipses,
    flares and jumps (beyond ``BIWEIGHT_C`` x ``scale``) lose their weight."""
    w = base
    coef = _weighted_lstsq(design, y, w)
    for _ in range(BIWEIGHT_ITERATIONS):
        u = (y - np.nan_to_num(coef) @ design) / (BIWEIGHT_C * scale)
        w = np.where(np.abs(u) < 1.0, base * (1.0 - u * u) ** 2, 0.0)
        coef = _weighted_lstsq(design, y, w)
    return coef, w


def trend_notch(
    time: np.ndarray,
    flux: np.ndarray,
    window_days: float,
    hole_days: float,
    bin_minutes: float = 30.0,
    min_delta_chi2: float = 9.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """The smooth trend of sorted ``time``/``flux`` at every cadence (see the module docstring).

    ``mask`` (True = leave out) keeps cadences, e.g. known transits, out of the fit; the trend is then
    interpolated across them."""
    width = bin_minutes / 1440.0
    centres, values, counts = _masked_bins(time, flux, width, mask)
    half = max(2, int(round(0.5 * window_days / width)))
    hole = int(round(0.5 * hole_days / width))
    if hole >= half - MIN_SIDE_BINS:
        raise ValueError(f"hole_days {hole_days} leaves too little of window_days {window_days} to fit")
    offsets = np.arange(-half, half + 1)
    x = offsets / half
    notch = (np.abs(offsets) <= hole).astype(np.float64)
    quadratic = np.stack([np.ones_like(x), x, x * x])
    with_notch = np.vstack([quadratic, notch])
    y, base, valid = _windows(values, counts, half)
    sigma_point = point_scatter(flux)
    var_bin = sigma_point**2 / np.fmax(base, 1.0)  # per-bin variance, for the chi-square of each model
    scale = 2.0 * sigma_point / np.sqrt(max(float(np.median(counts[counts > 0])), 1.0))
    q_coef, q_w = _robust_fit(y, base, quadratic, scale)
    n_coef, _ = _robust_fit(y, base, with_notch, scale)
    chi2_q = np.sum(np.where(q_w > 0, (y - np.nan_to_num(q_coef) @ quadratic) ** 2 / var_bin, 0.0), axis=1)
    chi2_n = np.sum(np.where(q_w > 0, (y - np.nan_to_num(n_coef) @ with_notch) ** 2 / var_bin, 0.0), axis=1)
    left = (valid & (offsets < -hole)).sum(axis=1)
    right = (valid & (offsets > hole)).sum(axis=1)
    sides = (left >= MIN_SIDE_BINS) & (right >= MIN_SIDE_BINS)
    dip = sides & (n_coef[:, 3] < 0) & (chi2_q - chi2_n > min_delta_chi2) & np.isfinite(n_coef[:, 0])
    trend = np.where(dip, n_coef[:, 0], q_coef[:, 0])
    ok = np.isfinite(trend) & (counts > 0)
    if not ok.any():
        return np.full_like(flux, np.median(flux))
    return np.interp(time, centres[ok], trend[ok])


def _masked_bins(time, flux, width, mask):
    """Median bins of the cadences not in ``mask``, on the grid of all cadences (bins left empty: NaN)."""
    if mask is None or not np.any(mask):
        return bin_regular(time, flux, width)
    use = ~np.asarray(mask, dtype=bool)
    if use.sum() < 2:
        raise FeatureError("the mask leaves fewer than two cadences to fit a trend")
    centres, values, counts = bin_regular(time[use], flux[use], width, start=float(time[0]))
    n_all = int(np.floor((time[-1] - time[0]) / width)) + 1
    if len(centres) < n_all:  # masked cadences at the end: extend the grid with empty bins
        extra = n_all - len(centres)
        centres = np.concatenate([centres, centres[-1] + width * np.arange(1, extra + 1)])
        values = np.concatenate([values, np.full(extra, np.nan)])
        counts = np.concatenate([counts, np.zeros(extra, dtype=counts.dtype)])
    return centres, values, counts


def trend_median(
    time: np.ndarray,
    flux: np.ndarray,
    window_days: float,
    bin_minutes: float = 30.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Time-window running median (median of the bin medians within ``window_days``) at every cadence."""
    width = bin_minutes / 1440.0
    centres, values, counts = _masked_bins(time, flux, width, mask)
    half = max(1, int(round(0.5 * window_days / width)))
    pad = np.full(half, np.nan)
    windows = sliding_window_view(np.concatenate([pad, values, pad]), 2 * half + 1)
    with np.errstate(all="ignore"):
        filled = np.isfinite(windows).any(axis=1)
        trend = np.full(len(values), np.nan)
        trend[filled] = np.nanmedian(windows[filled], axis=1)
    ok = np.isfinite(trend) & (counts > 0)
    return np.interp(time, centres[ok], trend[ok])


def detrend(
    time: np.ndarray,
    flux: np.ndarray,
    quality: np.ndarray | None = None,
    max_duration_hours: float = 6.0,
    window_days: float | None = None,
    hole_days: float | None = None,
    method: str = "notch",
    bitmask: int = DEFAULT_BITMASK,
    bin_minutes: float = 30.0,
    mask: np.ndarray | None = None,
) -> Detrended:
    """Usable cadences of a light curve divided by a smooth trend, ready for ``bls.search``.

    Parameters
    ----------
    time, flux : array_like
        BTJD days and flux (e.g. ``LightCurve.time``, ``LightCurve.pdcsap_flux``); never modified.
    quality : array_like, optional
        SPOC QUALITY flags; cadences with a ``bitmask`` bit are dropped.
    max_duration_hours : float
        Longest transit duration that will be searched; sets the defaults of the window (3x) and hole (1x).
    window_days, hole_days : float, optional
        Override the filter window and the central hole (``method="notch"``).
    method : {"notch", "median"}
        Robust local quadratic with a hole (default), or a time-window running median.
    mask : array_like of bool, optional
        Cadences (rows of ``time``) left out of the trend fit, e.g. the transits of a candidate found by a
        first search (``search_masked``); the trend is interpolated across them.

    Returns
    -------
    Detrended
        See its docstring. ``FeatureError`` if fewer than ``MIN_POINTS`` cadences are usable.

    Examples
    --------
    >>> t = np.arange(0, 10, 2 / 1440)
    >>> f = 1000 * (1 + 0.01 * np.sin(2 * np.pi * t / 3))
    >>> d = detrend(t, f)
    >>> bool(np.std(d.flux) < 1e-4)
    True
    """
    t, rel, index = prepare(time, flux, quality, bitmask)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != np.shape(time):
            raise ValueError(f"mask has shape {mask.shape}, time {np.shape(time)}")
        mask = mask[index]
    max_duration = max_duration_hours / 24.0
    window = 3.0 * max_duration if window_days is None else float(window_days)
    hole = max_duration if hole_days is None else float(hole_days)
    if method == "notch":
        trend = trend_notch(t, rel, window, hole, bin_minutes, mask=mask)
    elif method == "median":
        trend = trend_median(t, rel, window, bin_minutes, mask=mask)
    else:
        raise ValueError(f"unknown detrending method {method!r} (notch or median)")
    bad = ~(np.isfinite(trend) & (trend > 0))
    trend[bad] = np.median(rel)
    detrended = rel / trend
    scatter = point_scatter(detrended)
    clip = UPPER_CLIP_SIGMA * max(scatter, robust_sigma(detrended))
    keep = np.isfinite(detrended) & (detrended - np.median(detrended) < clip)
    return Detrended(t, detrended, trend, rel, keep, index, scatter, window, hole, method)
