"""Vetting metrics of a BLS candidate and the flags they raise. Pure functions of arrays.

Every depth here is measured like the BLS depth (``bls.box_statistics``): mean out-of-transit flux minus mean
in-box flux, with the red-noise-aware uncertainty ``sigma_duration / sqrt(n_eff)``.

Flags and their rules (``FLAG_RULES`` has the same sentences for the vetting page):

* ``odd-even mismatch``: the depths of the odd and even transits differ by more than ``ODD_EVEN_SIGMA``
  (3) combined sigma (each depth's uncertainty plus ``ODD_EVEN_SYSTEMATIC`` = 1 % of it): an eclipsing
  binary found at its half period, or unequal eclipses.
* ``secondary eclipse``: a dip at phase 0.5 (same duration) deeper than ``SECONDARY_SIGMA`` (3) sigma: an
  eclipsing binary, or a hot giant planet's occultation.
* ``centroid shift``: the flux-weighted centroid (``MOM_CENTR1/2``) moves in transit by more than
  ``CENTROID_SIGMA`` (3) sigma relative to the out-of-transit centroid around each transit: the dip may
  come from a neighbouring star (the implied offset of the source is the shift divided by the depth).
* ``single transit``: fewer than ``MIN_TRANSITS`` (2) transits observed with at least half of their
  cadences, or one transit carries the signal: its own SNR is at least ``SINGLE_EVENT_RATIO`` (0.9) of the
  combined SNR (two equal transits give 0.71; one transit and one flat epoch 1.41). The period is then not
  constrained by this light curve.
* ``known TOI``: the star is in the TOI catalogue (``toi.cross_match``; added by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clara_benchmark.vetting.bls import BLSResult, cadence_days, in_transit, sigma_over_duration
from clara_benchmark.vetting.detrend import Detrended, point_scatter

ODD_EVEN_SIGMA = 3.0
#: relative systematic error added to each of the odd and even depths: a box average of a limb-darkened
#: transit moves by ~1 % with how ingress and egress are sampled (measured on the synthetic planets: at SNR
#: ~2000, odd and even depths differ by 0.3 % with no physical cause)
ODD_EVEN_SYSTEMATIC = 0.01
SECONDARY_SIGMA = 3.0
CENTROID_SIGMA = 3.0
MIN_TRANSITS = 2
#: a candidate whose strongest transit alone has this fraction of the combined SNR is a single event
SINGLE_EVENT_RATIO = 0.9

FLAG_ODD_EVEN = "odd-even mismatch"
FLAG_SECONDARY = "secondary eclipse"
FLAG_CENTROID = "centroid shift"
FLAG_SINGLE = "single transit"
FLAG_TOI = "known TOI"
FLAG_RULES = {
    FLAG_ODD_EVEN: (
        f"odd and even transit depths differ by more than {ODD_EVEN_SIGMA:g} sigma "
        f"(with {100 * ODD_EVEN_SYSTEMATIC:g}% of each depth added as a systematic error)"
    ),
    FLAG_SECONDARY: f"a dip at phase 0.5 (same duration) deeper than {SECONDARY_SIGMA:g} sigma",
    FLAG_CENTROID: (
        f"the MOM_CENTR1/2 centroid moves in transit by more than {CENTROID_SIGMA:g} sigma "
        "relative to its out-of-transit position around each transit"
    ),
    FLAG_SINGLE: (
        f"fewer than {MIN_TRANSITS} transits observed (at least half of their cadences present), or one "
        f"transit's own SNR is at least {SINGLE_EVENT_RATIO:g} of the combined SNR"
    ),
    FLAG_TOI: "the TIC id is in the TOI catalogue",
}


@dataclass
class Vetting:
    """The metrics of one candidate and the flags they raise (NaN where a metric cannot be measured)."""

    odd_depth_ppm: float
    odd_err_ppm: float
    even_depth_ppm: float
    even_err_ppm: float
    odd_even_sigma: float
    secondary_depth_ppm: float
    secondary_err_ppm: float
    secondary_sigma: float
    centroid_shift_pixels: tuple[float, float]  # (column, row), in transit minus out of transit
    centroid_shift_sigma: float
    centroid_offset_pixels: float  # |shift| / depth: how far the source of the dip would be
    box_vs_sine: float  # log-likelihood of the box minus that of a sinusoid at the period (> 0: box)
    flags: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        return {
            "odd_even_sigma": self.odd_even_sigma,
            "secondary_depth_ppm": self.secondary_depth_ppm,
            "centroid_shift_sigma": self.centroid_shift_sigma,
            "flags": ";".join(self.flags),
        }


def _depth(time, flux, in_box, out, duration) -> tuple[float, float]:
    """Mean out minus mean in (ppm) and its red-noise-aware uncertainty (ppm); NaN without in-box data."""
    n_in = int(in_box.sum())
    if n_in < 3 or out.sum() < 10:
        return float("nan"), float("nan")
    depth = float(np.mean(flux[out]) - np.mean(flux[in_box]))
    sigma_d = sigma_over_duration(time, flux, out, duration)
    n_eff = n_in / (duration / cadence_days(time))
    return depth * 1e6, float(sigma_d / np.sqrt(n_eff)) * 1e6


def epochs(time: np.ndarray, period: float, t0: float) -> np.ndarray:
    """Transit number of each cadence (the nearest epoch to t0 + k x period)."""
    return np.round((time - t0) / period).astype(np.int64)


def odd_even(
    time, flux, period: float, t0: float, duration: float
) -> tuple[float, float, float, float, float]:
    """(odd depth, its error, even depth, its error, difference in sigma); depths in ppm."""
    intr = in_transit(time, period, t0, duration)
    out = ~in_transit(time, period, t0, 2.0 * duration)
    odd = (epochs(time, period, t0) % 2).astype(bool)
    d_odd, e_odd = _depth(time, flux, intr & odd, out, duration)
    d_even, e_even = _depth(time, flux, intr & ~odd, out, duration)
    sys_odd, sys_even = ODD_EVEN_SYSTEMATIC * abs(d_odd), ODD_EVEN_SYSTEMATIC * abs(d_even)
    combined = np.sqrt(e_odd**2 + e_even**2 + sys_odd**2 + sys_even**2)
    sigma = abs(d_odd - d_even) / combined if combined > 0 else float("nan")
    return d_odd, e_odd, d_even, e_even, float(sigma)


def secondary(time, flux, period: float, t0: float, duration: float) -> tuple[float, float, float]:
    """(depth at phase 0.5 in ppm, its error, depth / error), with the primary's duration."""
    t_sec = t0 + 0.5 * period
    in_sec = in_transit(time, period, t_sec, duration)
    out = ~in_transit(time, period, t_sec, 2.0 * duration) & ~in_transit(time, period, t0, 2.0 * duration)
    depth, err = _depth(time, flux, in_sec, out, duration)
    return depth, err, float(depth / err) if err > 0 else float("nan")


def box_vs_sine(time, flux, period: float, t0: float, duration: float, sigma: float) -> float:
    """Log-likelihood of the box model minus that of the best sinusoid (+ constant) at ``period``."""
    intr = in_transit(time, period, t0, duration)
    if intr.sum() < 3 or (~intr).sum() < 3:
        return float("nan")
    box = np.where(intr, np.mean(flux[intr]), np.mean(flux[~intr]))
    phase = 2.0 * np.pi * (time - t0) / period
    design = np.column_stack([np.ones_like(time), np.cos(phase), np.sin(phase)])
    coef, *_ = np.linalg.lstsq(design, flux, rcond=None)
    chi2_box = np.sum((flux - box) ** 2) / sigma**2
    chi2_sine = np.sum((flux - design @ coef) ** 2) / sigma**2
    return float(0.5 * (chi2_sine - chi2_box))


def centroid_shift(
    time: np.ndarray,
    column: np.ndarray,
    row: np.ndarray,
    period: float,
    t0: float,
    duration: float,
) -> tuple[tuple[float, float], float]:
    """In-transit minus out-of-transit centroid ((column, row) pixels) and its significance (sigma).

    Each transit is compared with the centroid just around it (between 1 and 3 durations from its centre),
    so the slow pointing drift cancels; the epochs' shifts are averaged. The uncertainty is the larger of
    the white-noise error (successive-difference scatter) and, with three or more transits, the scatter of
    the transits' shifts over the root of their number. Returns ((nan, nan), nan) without usable centroids.
    """
    t = np.asarray(time, float)
    c = np.column_stack([np.asarray(column, float), np.asarray(row, float)])
    ok = np.isfinite(t) & np.isfinite(c).all(axis=1)
    t, c = t[ok], c[ok]
    nan = ((float("nan"), float("nan")), float("nan"))
    if t.size < 20:
        return nan
    k = epochs(t, period, t0)
    dt = np.abs(t - (t0 + k * period))
    intr = dt < 0.5 * duration
    local = (dt > duration) & (dt < 3.0 * duration)
    shifts = []
    for epoch in np.unique(k[intr]):
        here = k == epoch
        if (here & intr).sum() >= 3 and (here & local).sum() >= 3:
            shifts.append(c[here & intr].mean(axis=0) - c[here & local].mean(axis=0))
    if not shifts:
        return nan
    shifts = np.array(shifts)
    shift = shifts.mean(axis=0)
    # white noise of one in-transit mean (successive differences: blind to the drift), with the local
    # baseline over four durations: variance (1 + 1/4) sigma^2; and, with 3+ transits, the scatter of the
    # transits' shifts (red noise), whichever is larger
    per_duration = max(duration / cadence_days(t), 1.0)
    white = np.array([point_scatter(c[:, j]) for j in range(2)]) / np.sqrt(per_duration)
    err = white * np.sqrt(1.25) / np.sqrt(len(shifts))
    if len(shifts) >= 3:
        err = np.fmax(err, shifts.std(axis=0, ddof=1) / np.sqrt(len(shifts)))
    if not np.all(err > 0):
        return (float(shift[0]), float(shift[1])), float("nan")
    sigma = float(np.sqrt(np.sum((shift / err) ** 2)))
    return (float(shift[0]), float(shift[1])), sigma


def flags_for(v: Vetting, n_transits: int, single_event_ratio: float = float("nan")) -> list[str]:
    """The flags whose rule (``FLAG_RULES``) the metrics meet, in a fixed order."""
    out = []
    if np.isfinite(v.odd_even_sigma) and v.odd_even_sigma > ODD_EVEN_SIGMA:
        out.append(FLAG_ODD_EVEN)
    if np.isfinite(v.secondary_sigma) and v.secondary_sigma > SECONDARY_SIGMA:
        out.append(FLAG_SECONDARY)
    if np.isfinite(v.centroid_shift_sigma) and v.centroid_shift_sigma > CENTROID_SIGMA:
        out.append(FLAG_CENTROID)
    if n_transits < MIN_TRANSITS or (
        np.isfinite(single_event_ratio) and single_event_ratio >= SINGLE_EVENT_RATIO
    ):
        out.append(FLAG_SINGLE)
    return out


def vet(
    detrended: Detrended,
    bls: BLSResult,
    centroid_column: np.ndarray | None = None,
    centroid_row: np.ndarray | None = None,
    known_toi: bool = False,
) -> Vetting:
    """All metrics and flags of a BLS candidate.

    Parameters
    ----------
    detrended, bls : Detrended, BLSResult
        The searched light curve and the search's result.
    centroid_column, centroid_row : array_like, optional
        ``MOM_CENTR1`` and ``MOM_CENTR2`` of the *same rows as the arrays given to* ``detrend`` (they are
        aligned through ``detrended.index``). Without them the centroid metrics are NaN.
    known_toi : bool
        Add the ``known TOI`` flag (from ``toi.cross_match``).
    """
    t, f = detrended.search_time, detrended.search_flux
    period, t0, duration = bls.period_days, bls.t0_btjd, bls.duration_hours / 24.0
    d_odd, e_odd, d_even, e_even, oe_sigma = odd_even(t, f, period, t0, duration)
    sec_depth, sec_err, sec_sigma = secondary(t, f, period, t0, duration)
    shift, c_sigma, offset = (float("nan"), float("nan")), float("nan"), float("nan")
    if centroid_column is not None and centroid_row is not None:
        rows = detrended.index[detrended.keep]
        col = np.asarray(centroid_column, float)[rows]
        row = np.asarray(centroid_row, float)[rows]
        shift, c_sigma = centroid_shift(t, col, row, period, t0, duration)
        if bls.depth_ppm > 0:
            offset = float(np.hypot(*shift) / (bls.depth_ppm * 1e-6))
    v = Vetting(
        odd_depth_ppm=d_odd,
        odd_err_ppm=e_odd,
        even_depth_ppm=d_even,
        even_err_ppm=e_even,
        odd_even_sigma=oe_sigma,
        secondary_depth_ppm=sec_depth,
        secondary_err_ppm=sec_err,
        secondary_sigma=sec_sigma,
        centroid_shift_pixels=shift,
        centroid_shift_sigma=c_sigma,
        centroid_offset_pixels=offset,
        box_vs_sine=box_vs_sine(t, f, period, t0, duration, detrended.scatter),
    )
    v.flags = flags_for(v, bls.n_transits, bls.single_event_ratio)
    if known_toi:
        v.flags.append(FLAG_TOI)
    return v
