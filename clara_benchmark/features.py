"""The clara-4000 feature vector (CLARA_SPEC §3): 3000 z-scored flux samples + 1000 Lomb–Scargle powers.

Pure functions of arrays: no files, no logging. ``FeatureError`` says why a light curve cannot be used.
"""

from __future__ import annotations

import numpy as np

FEATURE_SPEC_VERSION = "clara-4000/1"
N_FLUX = 3000
N_FREQ = 1000
N_FEATURES = N_FLUX + N_FREQ
#: cycles/day: periods from 27 d down to 4 h
FREQUENCIES = np.logspace(np.log10(1 / 27), np.log10(6), N_FREQ)
MIN_POINTS = 10


class FeatureError(ValueError):
    """A light curve whose features cannot be computed (too short, constant, all-NaN)."""


def clean_and_standardise(time: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep rows where both time and flux are finite, then z-score the flux (population std)."""
    time = np.asarray(time, dtype=np.float64)
    flux = np.asarray(flux)
    keep = np.isfinite(time) & np.isfinite(flux)
    n = int(keep.sum())
    if n == 0:
        raise FeatureError("no finite TIME/PDCSAP_FLUX samples")
    if n < MIN_POINTS:
        raise FeatureError(f"only {n} finite samples (need at least {MIN_POINTS})")
    t, f = time[keep], flux[keep]
    std = np.std(f)
    if not np.isfinite(std) or std == 0:
        raise FeatureError("constant flux (standard deviation is zero)")
    z = (f - np.mean(f)) / std
    return t, np.asarray(z, dtype=np.float64)


def lomb_scargle_power_reference(
    time: np.ndarray, y: np.ndarray, frequencies: np.ndarray = FREQUENCIES
) -> np.ndarray:
    """astropy's ``LombScargle(t, y).power(freqs)``: the definition the fast path must match (O(N·M))."""
    from astropy.timeseries import LombScargle

    return np.asarray(LombScargle(time, y).power(frequencies), dtype=np.float64)


def lomb_scargle_power(time: np.ndarray, y: np.ndarray, frequencies: np.ndarray = FREQUENCIES) -> np.ndarray:
    """Floating-mean, standard-normalised Lomb–Scargle power."""
    return lomb_scargle_power_reference(time, y, frequencies)


def clara4000(time: np.ndarray, pdcsap_flux: np.ndarray) -> np.ndarray:
    """The clara-4000 vector of one light curve (float64, length 4000)."""
    t, z = clean_and_standardise(time, pdcsap_flux)
    out = np.zeros(N_FEATURES, dtype=np.float64)
    k = min(N_FLUX, len(z))
    out[:k] = z[:k]
    power = lomb_scargle_power(t, z, FREQUENCIES)
    if not np.all(np.isfinite(power)):
        raise FeatureError("periodogram is not finite")
    out[N_FLUX:] = power
    return out
