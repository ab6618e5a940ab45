"""What a simulated star looks like: noise from its brightness, and the variability of each class.

Pure functions of arrays (time in days, relative flux around 1). ``sector.py`` decides who gets what and
writes the FITS files. The numbers are literature-level, meant for realism rather than population studies;
the noise model is calibrated on the three real SPOC files in ``shared/data/tess`` (see ``NOISE_EXCESS``).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from clara_benchmark.synthetic.transits import mandel_agol_transit

#: TESS zero point: a Tmag = 10 star gives ~15,000 e-/s in its aperture (the real files: 18,207 e-/s at
#: Tmag 9.82, 3,717 at 11.50, 2,759 at 11.86, all within 3 % of this)
ZERO_POINT_E_PER_S = 15000.0
DEADC = 0.792  # live fraction of a 2-min cadence (frame readout and on-board cosmic-ray mitigation)
READ_NOISE_E = 9.0  # per pixel per read
READS_PER_2MIN = 48
#: measured scatter / (shot + background + read noise) on the real files: 1.13, 1.19, 1.17
NOISE_EXCESS = 1.16
G_NEWTON = 6.674e-11
M_SUN = 1.989e30
R_SUN = 6.957e8
R_EARTH_IN_R_SUN = 1.0 / 109.1


def star_flux_e_per_s(tmag: float) -> float:
    """Mean PDCSAP flux (e-/s) of a star of TESS magnitude ``tmag``."""
    return ZERO_POINT_E_PER_S * 10.0 ** (-0.4 * (tmag - 10.0))


def cadence_noise(tmag: float, background_e_per_s: float, n_pix: int, cadence_minutes: float = 2.0) -> float:
    """Relative 1-sigma scatter of one cadence: shot noise of star + background, read noise, calibrated excess."""
    flux = star_flux_e_per_s(tmag)
    exposure = cadence_minutes * 60.0 * DEADC
    reads = READS_PER_2MIN * cadence_minutes / 2.0
    variance = (flux + background_e_per_s) * exposure + n_pix * reads * READ_NOISE_E**2
    return float(NOISE_EXCESS * np.sqrt(variance) / (flux * exposure))


def red_noise(
    n: int, cadence_days: float, sigma: float, tau_days: float, rng: np.random.Generator
) -> np.ndarray:
    """Stationary AR(1) noise of standard deviation ``sigma`` and correlation time ``tau_days`` (granulation,
    pointing jitter)."""
    if sigma <= 0 or n == 0:
        return np.zeros(n)
    phi = float(np.exp(-cadence_days / tau_days))
    drive = rng.normal(0.0, sigma * np.sqrt(1.0 - phi**2), n)
    drive[0] = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -phi], drive)


def cdpp_ppm(noise: np.ndarray, cadence_days: float, hours: float) -> float:
    """Combined differential photometric precision: scatter of the running mean over ``hours`` (ppm)."""
    x = noise[np.isfinite(noise)]
    k = max(1, int(round(hours / 24.0 / cadence_days)))
    if x.size <= k:
        return float(np.std(x) * 1e6 / np.sqrt(k))
    c = np.cumsum(np.concatenate([[0.0], x]))
    means = (c[k:] - c[:-k]) / k
    return float(np.std(means) * 1e6)


# ----------------------------------------------------------------------------------------------- classes


def spot_modulation(
    time: np.ndarray,
    period: float,
    amplitude: float,
    phases: tuple[float, float, float],
    harmonic: float,
    evolution_days: float,
) -> np.ndarray:
    """Rotational modulation by evolving spots: a fundamental + first harmonic whose amplitude drifts."""
    w = 2.0 * np.pi / period
    envelope = 1.0 + 0.3 * np.sin(2.0 * np.pi * time / evolution_days + phases[2])
    shape = np.sin(w * time + phases[0]) + harmonic * np.sin(2.0 * w * time + phases[1])
    return 1.0 + amplitude * envelope * shape / (1.0 + harmonic)


def pulsation(
    time: np.ndarray, frequencies: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """Coherent pulsation modes (δ Scuti p modes, γ Dor g modes): a sum of sinusoids, frequencies in 1/day."""
    out = np.ones_like(time)
    for f, a, p in zip(frequencies, amplitudes, phases):
        out += a * np.sin(2.0 * np.pi * f * time + p)
    return out


def a_over_rstar(period_days: float, mass_msun: float, radius_rsun: float) -> float:
    """Kepler's third law: orbital semi-major axis in units of the stellar radius."""
    p = period_days * 86400.0
    a = (G_NEWTON * mass_msun * M_SUN * p**2 / (4.0 * np.pi**2)) ** (1.0 / 3.0)
    return float(a / (radius_rsun * R_SUN))


def transit_duration_days(period: float, rp_rs: float, a_rs: float, impact: float) -> float:
    """Total (first to fourth contact) duration of a circular-orbit transit (Seager & Mallén-Ornelas 2003)."""
    inc = np.arccos(impact / a_rs)
    arg = np.sqrt(max((1.0 + rp_rs) ** 2 - impact**2, 0.0)) / (a_rs * np.sin(inc))
    return float(period / np.pi * np.arcsin(min(arg, 1.0)))


def limb_darkening(teff: float) -> tuple[float, float]:
    """Rough quadratic TESS-band coefficients: cooler stars are more limb-darkened."""
    if teff < 4000:
        return (0.35, 0.25)
    if teff < 5500:
        return (0.45, 0.20)
    if teff < 6500:
        return (0.35, 0.25)
    return (0.25, 0.30)


def planet_transit(
    time: np.ndarray, period: float, t0: float, rp_rs: float, a_rs: float, impact: float, teff: float
) -> np.ndarray:
    """A transiting planet on a circular orbit (batman, limb-darkened)."""
    inc = float(np.degrees(np.arccos(impact / a_rs)))
    return mandel_agol_transit(time, period, rp_rs, t0, a_rs=a_rs, inc_deg=inc, u=limb_darkening(teff))


def eclipsing_binary(
    time: np.ndarray,
    period: float,
    t0: float,
    rp_rs: float,
    a_rs: float,
    impact: float,
    secondary_ratio: float,
    ellipsoidal: float,
    teff: float,
) -> np.ndarray:
    """Detached/semi-detached binary: primary eclipse, a shallower secondary at phase 0.5, ellipsoidal
    variation at half the period."""
    primary = planet_transit(time, period, t0, rp_rs, a_rs, impact, teff)
    secondary = planet_transit(time, period, t0 + 0.5 * period, rp_rs, a_rs, impact, teff)
    ellip = -ellipsoidal * np.cos(4.0 * np.pi * (time - t0) / period)
    return primary - secondary_ratio * (1.0 - secondary) + ellip


def flare_profile(x: np.ndarray) -> np.ndarray:
    """Davenport et al. (2014) empirical white-light flare template; ``x`` = time from peak / FWHM."""
    out = np.zeros_like(x)
    rise = (x > -1.0) & (x <= 0.0)
    xr = x[rise]
    out[rise] = 1.0 + 1.941 * xr - 0.175 * xr**2 - 2.246 * xr**3 - 1.125 * xr**4
    decay = x > 0.0
    xd = x[decay]
    out[decay] = 0.6890 * np.exp(-1.600 * xd) + 0.3030 * np.exp(-0.2783 * xd)
    return out


def flares(time: np.ndarray, peaks: np.ndarray, amplitudes: np.ndarray, fwhm_days: np.ndarray) -> np.ndarray:
    """Sum of flares (relative flux added on top of 1) on a sorted time grid; each is evaluated only near
    its peak (the template is below 1e-5 of the peak 40 FWHM after it)."""
    out = np.ones_like(time)
    for tp, amp, fw in zip(peaks, amplitudes, fwhm_days):
        lo, hi = np.searchsorted(time, [tp - fw, tp + 40.0 * fw])
        if hi > lo:
            out[lo:hi] += amp * flare_profile((time[lo:hi] - tp) / fw)
    return out
