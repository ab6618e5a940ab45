"""CLARA's Lomb–Scargle period (its fold helper), and the ``auto`` rule that picks it or the BLS period.

Pure functions of arrays. ``lomb_scargle`` is what CLARA's ``phase_fold`` does before folding (see
``shared/spec/CLARA_LATER.md``): TIME and PDCSAP_FLUX, finite rows only (no QUALITY mask), the flux
z-scored in float64, astropy ``LombScargle(t, z).autopower(minimum_frequency=1/max_period,
maximum_frequency=1/min_period, samples_per_peak=10)``, best period at the highest power.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clara_benchmark.exceptions import FeatureError
from clara_benchmark.vetting.bls import SNR_THRESHOLD, BLSResult

MIN_POWER_THRESHOLD = 0.05  # CLARA's fold: min_power_threshold
MIN_ROWS = 100  # CLARA's fold helper skips files with fewer finite rows


@dataclass
class LSResult:
    """The highest Lomb–Scargle peak between the period limits, and the periodogram (for the plot)."""

    period_days: float
    power: float
    frequency: np.ndarray = field(repr=False)  # cycles per day
    periodogram: np.ndarray = field(repr=False)
    method: str = "ls"


def lomb_scargle(
    time: np.ndarray,
    flux: np.ndarray,
    min_period_days: float = 0.5,
    max_period_days: float = 20.0,
    samples_per_peak: int = 10,
) -> LSResult:
    """CLARA's fold period: the Lomb–Scargle peak of the z-scored, finite flux (see the module docstring).

    Raises ``FeatureError`` when fewer than ``MIN_ROWS`` rows are finite or the flux is constant.
    """
    from astropy.timeseries import LombScargle

    t = np.asarray(time, dtype=float)
    f = np.asarray(flux, dtype=float)
    keep = np.isfinite(t) & np.isfinite(f)
    if keep.sum() < MIN_ROWS:
        raise FeatureError(f"only {int(keep.sum())} finite rows (CLARA's fold needs {MIN_ROWS})")
    t, f = t[keep], f[keep]
    std = np.std(f)
    if not std > 0:
        raise FeatureError("constant flux (standard deviation is zero)")
    z = (f - np.mean(f)) / std
    frequency, power = LombScargle(t, z).autopower(
        minimum_frequency=1.0 / max_period_days,
        maximum_frequency=1.0 / min_period_days,
        samples_per_peak=samples_per_peak,
    )
    i = int(np.argmax(power))
    return LSResult(float(1.0 / frequency[i]), float(power[i]), np.asarray(frequency), np.asarray(power))


@dataclass(frozen=True)
class Choice:
    """Which period ``auto`` keeps and why (the reason is one sentence for the vetting page)."""

    method: str  # "bls" or "ls"
    period_days: float
    reason: str


AUTO_RULE = (
    f"BLS when its signal is a detection (SNR >= {SNR_THRESHOLD}) that a box fits better than a sinusoid; "
    f"otherwise Lomb-Scargle when its peak power reaches CLARA's min_power_threshold ({MIN_POWER_THRESHOLD}); "
    "otherwise BLS (the stronger of two weak signals is not knowable: the box search is the one made for "
    "transits and eclipses)"
)


def choose_period(
    bls: BLSResult,
    ls: LSResult,
    box_vs_sine: float | None = None,
    snr_threshold: float = SNR_THRESHOLD,
    min_power: float = MIN_POWER_THRESHOLD,
) -> Choice:
    """The ``auto`` rule (``AUTO_RULE``): pick the BLS or the Lomb–Scargle period.

    Parameters
    ----------
    bls, ls : BLSResult, LSResult
    box_vs_sine : float, optional
        Log-likelihood of the box model minus that of a sinusoid at the BLS period (``metrics.box_vs_sine``);
        negative means the dip is better described as a sinusoid (a rotator or pulsator the detrending left).
        ``None``: not tested (the box is assumed to win).
    """
    box_wins = box_vs_sine is None or box_vs_sine > 0
    if np.isfinite(bls.snr) and bls.snr >= snr_threshold and box_wins:
        return Choice("bls", bls.period_days, f"BLS SNR {bls.snr:.1f} >= {snr_threshold:g}, box-shaped dip")
    if ls.power >= min_power:
        why = (
            "sinusoid fits better than a box"
            if not box_wins
            else f"BLS SNR {bls.snr:.1f} < {snr_threshold:g}"
        )
        return Choice("ls", ls.period_days, f"{why}; LS power {ls.power:.3f} >= {min_power:g}")
    return Choice("bls", bls.period_days, f"both weak (BLS SNR {bls.snr:.1f}, LS power {ls.power:.3f}): BLS")
