"""A simulated TESS sector written as SPOC 2-minute light-curve FITS files: the offline stand-in for MAST.

``write_sector(out_dir, n_stars, sector, seed)`` writes one ``tess<date>-s<sector>-<tic16>-<id>-s_lc.fits``
per star with the HDUs, 20 columns (formats, units, display formats) and header keys of the real files, so
every clara command reads them exactly like downloaded data, plus a ground-truth CSV (TIC id, file name,
class, injected parameters). lightkurve reads them as SPOC light curves too (its detector wants TELESCOP
TESS and "lightcurve" in CREATOR); what marks them as simulated is SPOC's own ``SIMDATA = T`` card in every
HDU, ORIGIN ``clara (simulated)`` and CREATOR ``clara.synthetic SimulatedLightCurve``.

What is simulated, and from what:
  - spacecraft-wide (the same cadences for every star of the sector): 2-min cadences over ~27.4 d, the
    ~1-day mid-sector downlink gap (rows present with NaN TIME, QUALITY 8), momentum dumps every ~2.5–3 d
    (QUALITY 32|128 and neighbours, NaN flux), flagged cadences at orbit starts, manual excludes
    (QUALITY 128, NaN flux), scattered light at orbit ends on some cameras (QUALITY 2048, flux kept);
  - per star: Tmag-dependent shot/background/read noise calibrated on the real files, red noise, residual
    orbit-start ramps and dump steps in PDCSAP (larger in SAP), impulsive outliers (QUALITY 512);
  - classes (literature-level mix, CLARA_SPEC §10): quiet, rotation (spots), pulsator (δ Scuti / γ Dor),
    eclipsing binary, transiting planet (batman, SNR >= 7 so they are TOI-like), flaring M dwarf.

Deterministic for a seed: the sector plan is drawn from ``seed``, each star from ``(seed, index)``, so the
files do not depend on the number of worker processes; the checksum cards are dated by the file's DATE, not
the wall clock. Files go through ``utils.io.atomic_open`` (temporary file beside the target, fsync, rename),
so a listing never shows half a file.

The files are written with astropy.io.fits, chosen over fitsio by ``bench/bench_sector.py`` (same simulated
full-length stars, 19,327 cadences, all three HDUs with their header cards and CHECKSUM/DATASUM; best of
3 interleaved rounds over 40 stars, 2 shared cores at load average 2.0-2.5, two runs): fitsio ``write`` +
``write_checksum`` 26.1-28.5 ms per file, astropy ``from_columns`` + ``writeto(checksum=True)`` 21.2-23.7 ms
(fitsio 1.20-1.23x astropy's time; its column-by-column table writer is most of it). fitsio would also
need fixing up: cfitsio dates the checksum comments with the wall clock whenever DATASUM changes, and its
primary HDU has BITPIX 16 plus two COMMENT cards. Per process the HDUs are built once and refilled
(``_template``/``_fill``): 17.1-20.7 ms per file, 20.3-21.8 ms with atomic_open's fsync. A 1,000-star
full-length sector takes 11.9-13.1 s with 2 workers (22.9-23.6 s with 1).
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import math
import os
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from clara_benchmark.synthetic import stars as st
from clara_benchmark.utils.io import atomic_open, atomic_write_text

CLASSES = ("quiet", "rotation", "pulsator", "eclipsing_binary", "planet", "flare")
#: fractions of a 2-minute sector (CLARA_SPEC §10); "quiet" takes what the others leave
DEFAULT_CLASS_FRACTIONS = {
    "rotation": 0.22,
    "pulsator": 0.04,
    "eclipsing_binary": 0.015,
    "planet": 0.005,
    "flare": 0.04,
}
TIMEDEL_2MIN = 2.0 / 1440.0
SECTOR_DAYS = 27.4
BTJD_SECTOR1_START = 1325.2937  # TSTART of sector 1 in BTJD (real file)
SECTOR_STEP_DAYS = 27.8  # mean sector-to-sector step, so TSTART of sectors 2 and 5 fall near the real ones
CADENCENO_SECTOR1 = 70444
JD_BTJD_ZERO = _dt.datetime(2014, 12, 8, 12, 0, 0)  # JD 2457000.0 (TDB - UTC neglected)

# flag bits (TESS Science Data Products Description Document)
Q_ATTITUDE_TWEAK, Q_COARSE_POINT, Q_EARTH_POINT, Q_ARGABRIGHTENING = 1, 4, 8, 16
Q_DESAT, Q_MANUAL_EXCLUDE, Q_IMPULSIVE_OUTLIER, Q_STRAY_LIGHT = 32, 128, 512, 2048
#: flags whose cadences SPOC leaves with a NaN PDCSAP_FLUX (impulsive outliers and stray light keep theirs)
NAN_FLAGS = Q_COARSE_POINT | Q_EARTH_POINT | Q_ARGABRIGHTENING | Q_DESAT | Q_MANUAL_EXCLUDE

#: the 20 columns of a SPOC light curve, in file order: (name, TFORM, TUNIT, TDISP, TTYPE comment)
COLUMNS = (
    ("TIME", "D", "BJD - 2457000, days", "D14.7", "column title: data time stamps"),
    ("TIMECORR", "E", "d", "E14.7", "column title: barycentric correction"),
    ("CADENCENO", "J", None, "I10", "column title: unique cadence number"),
    ("SAP_FLUX", "E", "e-/s", "E14.7", "column title: aperture photometry flux"),
    ("SAP_FLUX_ERR", "E", "e-/s", "E14.7", "column title: aperture phot. flux error"),
    ("SAP_BKG", "E", "e-/s", "E14.7", "column title: aperture phot. background flux"),
    ("SAP_BKG_ERR", "E", "e-/s", "E14.7", "column title: ap. phot. background flux error"),
    ("PDCSAP_FLUX", "E", "e-/s", "E14.7", "column title: aperture phot. PDC flux"),
    ("PDCSAP_FLUX_ERR", "E", "e-/s", "E14.7", "column title: ap. phot. PDC flux error"),
    ("QUALITY", "J", None, "B16.16", "column title: aperture photometry quality flag"),
    ("PSF_CENTR1", "D", "pixel", "F10.5", "column title: PSF-fitted column centroid"),
    ("PSF_CENTR1_ERR", "E", "pixel", "E14.7", "column title: PSF-fitted column error"),
    ("PSF_CENTR2", "D", "pixel", "F10.5", "column title: PSF-fitted row centroid"),
    ("PSF_CENTR2_ERR", "E", "pixel", "E14.7", "column title: PSF-fitted row error"),
    ("MOM_CENTR1", "D", "pixel", "F10.5", "column title: moment-derived column centroid"),
    ("MOM_CENTR1_ERR", "E", "pixel", "E14.7", "column title: moment-derived column error"),
    ("MOM_CENTR2", "D", "pixel", "F10.5", "column title: moment-derived row centroid"),
    ("MOM_CENTR2_ERR", "E", "pixel", "E14.7", "column title: moment-derived row error"),
    ("POS_CORR1", "E", "pixels", "E14.7", "column title: column position correction"),
    ("POS_CORR2", "E", "pixels", "E14.7", "column title: row position correction"),
)

TRUTH_COLUMNS = (
    "tic_id",
    "filename",
    "class",
    "sector",
    "camera",
    "ccd",
    "tmag",
    "teff",
    "radius",
    "cdpp1_0_ppm",
    "cadence_noise_ppm",
    "subtype",
    "period_days",
    "t0_btjd",
    "depth_ppm",
    "duration_hours",
    "rp_rs",
    "a_rs",
    "impact",
    "snr",
    "n_transits",
    "secondary_depth_ppm",
    "amplitude_ppm",
    "frequency_per_day",
    "n_modes",
    "n_flares",
    "max_flare_amplitude_ppm",
)


# ------------------------------------------------------------------------------------------------ the plan


@dataclass
class SectorTimeline:
    """What the spacecraft did during the sector: shared by every star (same cadences flagged)."""

    sector: int
    seed: int
    tstart: float  # BTJD of the start of the first cadence
    timedel: float  # days per cadence
    cadence0: int
    time: np.ndarray  # mid-cadence BTJD (no barycentric correction), no NaNs: the ideal grid
    in_gap: np.ndarray  # bool: cadences of the downlink gap (rows with NaN TIME)
    quality: np.ndarray  # int32 spacecraft flags
    orbit_starts: list[int]  # index of the first cadence of each orbit
    orbit_ends: list[int]  # index after the last cadence of each orbit (the gap starts at the first)
    dumps: list[int]  # index of each momentum dump
    stray_light_days: dict[int, float] = field(default_factory=dict)  # camera -> days flagged at orbit ends

    @property
    def n_cadences(self) -> int:
        return self.time.size

    @property
    def tstop(self) -> float:
        return self.tstart + self.n_cadences * self.timedel

    @property
    def cadence_minutes(self) -> float:
        return self.timedel * 1440.0


def sector_tstart(sector: int) -> float:
    return BTJD_SECTOR1_START + (sector - 1) * SECTOR_STEP_DAYS


def plan_timeline(sector: int, seed: int, n_cadences: int | None = None) -> SectorTimeline:
    """The sector's cadences and spacecraft events. ``n_cadences`` below the real ~19.7k keeps the ~27.4-day
    span with a longer cadence (for fast tests); the default is 2-minute cadence."""
    rng = np.random.default_rng([seed, sector, 0x5EC])
    span = SECTOR_DAYS * rng.uniform(0.96, 1.02)
    if n_cadences is None:
        n_cadences = int(round(span / TIMEDEL_2MIN))
        timedel = TIMEDEL_2MIN
    else:
        if n_cadences < 50:
            raise ValueError(f"n_cadences must be >= 50, got {n_cadences}")
        timedel = max(TIMEDEL_2MIN, span / n_cadences)
    n = int(n_cadences)
    tstart = sector_tstart(sector) + rng.uniform(-0.2, 0.2)
    time = tstart + (np.arange(n) + 0.5) * timedel
    per_day = 1.0 / timedel
    quality = np.zeros(n, dtype=np.int32)

    gap_start = int(round(n * rng.uniform(0.46, 0.49)))
    gap_len = max(1, int(round(rng.uniform(1.0, 1.45) * per_day)))
    gap_stop = min(n - 1, gap_start + gap_len)
    in_gap = np.zeros(n, dtype=bool)
    in_gap[gap_start:gap_stop] = True
    quality[gap_start:gap_stop] = Q_EARTH_POINT
    quality[gap_start] |= Q_MANUAL_EXCLUDE
    quality[gap_stop - 1] |= Q_MANUAL_EXCLUDE
    orbit_starts = [0, gap_stop]
    orbit_ends = [gap_start, n]

    # settling after each orbit start: a few cadences of coarse pointing, excluded
    for s in orbit_starts:
        k = max(1, int(round(rng.uniform(0.007, 0.014) * per_day)))
        quality[s : s + k] |= Q_MANUAL_EXCLUDE | np.int32(rng.choice([0, Q_ARGABRIGHTENING, Q_EARTH_POINT]))

    # momentum dumps: every few days within each orbit, ~10 two-minute cadences flagged around each
    interval = rng.uniform(2.5, 3.1)
    dumps: list[int] = []
    for s, e in zip(orbit_starts, orbit_ends):
        t = time[s] + interval * rng.uniform(0.5, 1.0)
        while t < time[e - 1] - 0.2:
            dumps.append(int(np.searchsorted(time, t)))
            t += interval
    half_width = max(1, int(round(rng.uniform(3.5, 6.5) * TIMEDEL_2MIN / timedel)))
    for d in dumps:
        lo, hi = max(0, d - half_width), min(n, d + half_width + 1)
        extra = rng.choice(
            [0, Q_COARSE_POINT, Q_ARGABRIGHTENING, Q_COARSE_POINT | Q_ARGABRIGHTENING], hi - lo
        )
        quality[lo:hi] |= (Q_DESAT | Q_MANUAL_EXCLUDE | extra).astype(np.int32)

    # scattered cadences excluded by hand (sector 1: ~1,000 of them), bringing the flagged total to the
    # real 1.3k-2k
    rate = 10 ** rng.uniform(-2.0, -1.35)
    manual = (rng.random(n) < rate) & ~in_gap
    quality[manual] |= Q_MANUAL_EXCLUDE
    if rng.random() < 0.3:  # an Argabrightening event
        quality[int(rng.integers(0, n))] |= Q_ARGABRIGHTENING

    stray = {cam: (float(rng.uniform(0.1, 0.6)) if rng.random() < 0.5 else 0.0) for cam in (1, 2, 3, 4)}
    return SectorTimeline(
        sector=sector,
        seed=seed,
        tstart=float(tstart),
        timedel=float(timedel),
        cadence0=CADENCENO_SECTOR1 + int(round((tstart - BTJD_SECTOR1_START) / TIMEDEL_2MIN)),
        time=time,
        in_gap=in_gap,
        quality=quality,
        orbit_starts=orbit_starts,
        orbit_ends=orbit_ends,
        dumps=dumps,
        stray_light_days=stray,
    )


def class_counts(n_stars: int, fractions: dict | None = None) -> dict[str, int]:
    """Whole numbers of stars per class (largest remainders), so 1,000 stars at 0.5 % give exactly 5 planets."""
    fr = dict(DEFAULT_CLASS_FRACTIONS)
    for name, value in (fractions or {}).items():
        if name not in CLASSES:
            raise ValueError(f"unknown star class {name!r} (valid: {', '.join(CLASSES)})")
        if not 0 <= value <= 1:
            raise ValueError(f"class fraction of {name!r} must be within [0, 1], got {value}")
        fr[name] = float(value)
    others = sum(v for k, v in fr.items() if k != "quiet")
    if "quiet" not in (fractions or {}):
        if others > 1 + 1e-9:
            raise ValueError(f"class fractions add up to {others:g} > 1")
        fr["quiet"] = 1.0 - others
    total = sum(fr.values())
    if total <= 0:
        raise ValueError("class fractions are all zero")
    exact = {k: n_stars * fr.get(k, 0.0) / total for k in CLASSES}
    counts = {k: int(math.floor(v)) for k, v in exact.items()}
    left = n_stars - sum(counts.values())
    for k in sorted(CLASSES, key=lambda c: (-(exact[c] - counts[c]), CLASSES.index(c)))[:left]:
        counts[k] += 1
    return counts


def plan_stars(n_stars: int, sector: int, seed: int, fractions: dict | None = None) -> list[dict]:
    """TIC ids, classes and pointing of every star (the per-star details are drawn later from its own seed)."""
    if n_stars < 1:
        raise ValueError(f"n_stars must be >= 1, got {n_stars}")
    rng = np.random.default_rng([seed, sector, 0x57A2])
    counts = class_counts(n_stars, fractions)
    classes = np.array([c for c in CLASSES for _ in range(counts[c])])
    rng.shuffle(classes)
    tics: set[int] = set()
    while len(tics) < n_stars:
        tics.update(int(t) for t in rng.integers(1_000_000, 480_000_000, n_stars - len(tics)))
    tic_ids = rng.permutation(sorted(tics))
    return [
        {
            "index": i,
            "tic_id": int(tic_ids[i]),
            "class": str(classes[i]),
            "camera": int(rng.integers(1, 5)),
            "ccd": int(rng.integers(1, 5)),
        }
        for i in range(n_stars)
    ]


# ------------------------------------------------------------------------------------------- one star


def _draw_tmag(rng) -> float:
    """2-min targets span Tmag ~6-13, more of them faint: density ∝ exp(0.25 Tmag) (median ~10.9)."""
    k, lo, hi = 0.25, 6.0, 13.0
    u = rng.random()
    return float(np.log(np.exp(k * lo) + u * (np.exp(k * hi) - np.exp(k * lo))) / k)


def _draw_teff(rng, cls: str, subtype: str | None) -> float:
    if cls == "flare":
        return float(rng.uniform(2900, 3800))
    if cls == "rotation":
        return float(rng.uniform(3300, 6200))
    if cls == "planet":
        return float(rng.uniform(3300, 6500))
    if cls == "pulsator":
        return float(rng.uniform(6600, 8500) if subtype == "delta_scuti" else rng.uniform(6800, 7600))
    if cls == "eclipsing_binary":
        return float(rng.uniform(4500, 9000))
    r = rng.random()
    if r < 0.15:
        return float(rng.uniform(3000, 4000))
    if r < 0.85:
        return float(rng.uniform(4500, 6500))
    return float(rng.uniform(6500, 10000))


def _star_basics(rng, cls: str) -> dict:
    subtype = None
    if cls == "pulsator":
        subtype = "delta_scuti" if rng.random() < 0.7 else "gamma_dor"
    teff = _draw_teff(rng, cls, subtype)
    radius = float((teff / 5772.0) ** 1.8 * np.exp(rng.normal(0, 0.1)))
    mass = float(radius ** (1 / 0.8))
    tmag = _draw_tmag(rng)
    if cls == "flare":  # M dwarfs with 2-min cadence are nearby and faint-ish
        tmag = float(rng.uniform(8.5, 13.0))
    n_pix = int(np.clip(round(10 + 3.0 * (11.0 - tmag) + rng.normal(0, 1.5)), 4, 60))
    bkg_per_pix = float(10 ** rng.uniform(np.log10(50), np.log10(200)))
    return {
        "subtype": subtype,
        "teff": teff,
        "radius": radius,
        "mass": mass,
        "logg": float(4.438 + np.log10(mass / radius**2)),
        "mh": float(rng.normal(0.0, 0.2)),
        "tmag": tmag,
        "n_pix": n_pix,
        "background": n_pix * bkg_per_pix,
        "flfrcsap": float(rng.uniform(0.8, 0.95)),
        "crowdsap": float(rng.uniform(0.9, 1.0)),
    }


def _n_transits(t0: float, period: float, time: np.ndarray, visible: np.ndarray) -> int:
    """Transit mid-times that fall on observed (not gap) cadences."""
    k = np.arange(math.ceil((time[0] - t0) / period), math.floor((time[-1] - t0) / period) + 1)
    mids = t0 + k * period
    idx = np.clip(np.searchsorted(time, mids), 0, time.size - 1)
    return int(np.count_nonzero(visible[idx]))


def _planet(rng, t, basics, sigma_1h, visible) -> tuple[np.ndarray, dict]:
    """A TOI-like planet: detectable (SNR >= 7.1) on this star, at least two transits in the sector."""
    span = t[-1] - t[0]
    best = None
    for _attempt in range(60):
        period = float(10 ** rng.uniform(np.log10(0.6), np.log10(min(15.0, span / 2.0))))
        rp_earth = float(10 ** rng.uniform(np.log10(1.5), np.log10(16.0)))
        rp_rs = min(0.3, rp_earth * st.R_EARTH_IN_R_SUN / basics["radius"])
        a_rs = st.a_over_rstar(period, basics["mass"], basics["radius"])
        if a_rs < 2.0:
            continue
        impact = float(rng.uniform(0.0, 0.85))
        t0 = float(t[0] + rng.uniform(0.0, period))
        dur = st.transit_duration_days(period, rp_rs, a_rs, impact)
        depth = rp_rs**2
        n_tr = _n_transits(t0, period, t, visible)
        snr = depth / sigma_1h * math.sqrt(max(n_tr, 0) * dur * 24.0)
        cand = (period, rp_rs, a_rs, impact, t0, dur, n_tr, snr)
        if n_tr >= 2 and snr >= 7.1:
            best = cand
            break
        if n_tr >= 2 and (best is None or snr > best[-1]):
            best = cand
    if best is None:
        raise RuntimeError("could not place a transiting planet")  # pragma: no cover - span >= 2 periods
    period, rp_rs, a_rs, impact, t0, dur, n_tr, snr = best
    if snr < 7.1:  # a bigger planet makes it detectable (rare: tiny stars aside, 60 draws suffice)
        rp_rs = min(0.3, rp_rs * math.sqrt(7.1 / snr) * 1.05)
        dur = st.transit_duration_days(period, rp_rs, a_rs, impact)
        snr = rp_rs**2 / sigma_1h * math.sqrt(n_tr * dur * 24.0)
    model = st.planet_transit(t, period, t0, rp_rs, a_rs, impact, basics["teff"])
    centre = st.planet_transit(np.array([t0]), period, t0, rp_rs, a_rs, impact, basics["teff"])
    depth_ppm = float((1.0 - centre[0]) * 1e6)
    snr = depth_ppm * 1e-6 / sigma_1h * math.sqrt(n_tr * dur * 24.0)
    return model, {
        "period_days": period,
        "t0_btjd": t0,
        "depth_ppm": depth_ppm,
        "duration_hours": dur * 24.0,
        "rp_rs": rp_rs,
        "a_rs": a_rs,
        "impact": impact,
        "snr": snr,
        "n_transits": n_tr,
    }


def _eclipsing_binary(rng, t, basics, visible) -> tuple[np.ndarray, dict]:
    span = t[-1] - t[0]
    period = float(10 ** rng.uniform(np.log10(0.4), np.log10(min(12.0, span / 2.0))))
    q = float(rng.uniform(0.3, 1.0))
    a_rs = max(2.2, st.a_over_rstar(period, basics["mass"] * (1 + q), basics["radius"]))
    rp_rs = float(rng.uniform(0.15, 0.8))
    impact = float(rng.uniform(0.0, 0.8))
    t0 = float(t[0] + rng.uniform(0.0, period))
    ratio = float(rng.uniform(0.02, 0.9))
    ellipsoidal = float(1.5 * q / a_rs**3)
    model = st.eclipsing_binary(t, period, t0, rp_rs, a_rs, impact, ratio, ellipsoidal, basics["teff"])
    tc = np.array([t0, t0 + 0.5 * period])
    at = st.eclipsing_binary(tc, period, t0, rp_rs, a_rs, impact, ratio, 0.0, basics["teff"])
    return model, {
        "period_days": period,
        "t0_btjd": t0,
        "depth_ppm": float((1.0 - at[0]) * 1e6),
        "secondary_depth_ppm": float((1.0 - at[1]) * 1e6),
        "duration_hours": st.transit_duration_days(period, rp_rs, a_rs, impact) * 24.0,
        "rp_rs": rp_rs,
        "a_rs": a_rs,
        "impact": impact,
        "n_transits": _n_transits(t0, period, t, visible),
        "amplitude_ppm": ellipsoidal * 1e6,
    }


def _rotation(rng, t, strong: bool = True) -> tuple[np.ndarray, dict]:
    period = float(10 ** rng.uniform(np.log10(0.3), np.log10(25.0)))
    lo, hi = (2e-4, 2e-2) if strong else (1e-4, 3e-3)
    amplitude = float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
    phases = tuple(float(x) for x in rng.uniform(0, 2 * np.pi, 3))
    model = st.spot_modulation(
        t, period, amplitude, phases, float(rng.uniform(0, 0.5)), float(rng.uniform(10, 60))
    )
    return model, {"period_days": period, "amplitude_ppm": amplitude * 1e6}


def _pulsator(rng, t, subtype: str) -> tuple[np.ndarray, dict]:
    if subtype == "delta_scuti":
        n = int(rng.integers(3, 11))
        freqs = rng.uniform(5.0, 45.0, n)
        amps = 10 ** rng.uniform(np.log10(1e-4), np.log10(3e-3), n)
        amps[0] = 10 ** rng.uniform(np.log10(1e-3), np.log10(1.5e-2))
    else:
        n = int(rng.integers(2, 6))
        freqs = rng.uniform(0.3, 3.0, n)
        amps = 10 ** rng.uniform(np.log10(2e-4), np.log10(3e-3), n)
    phases = rng.uniform(0, 2 * np.pi, n)
    model = st.pulsation(t, freqs, amps, phases)
    main = int(np.argmax(amps))
    return model, {
        "frequency_per_day": float(freqs[main]),
        "amplitude_ppm": float(amps[main] * 1e6),
        "n_modes": n,
    }


def _flare_star(rng, t) -> tuple[np.ndarray, dict]:
    span = t[-1] - t[0]
    rate = float(10 ** rng.uniform(np.log10(0.2), np.log10(4.0)))
    n = int(rng.poisson(rate * span))
    peaks = np.sort(rng.uniform(t[0], t[-1], n))
    amps = np.minimum(2e-3 / rng.random(n) ** 1.0, 1.5)  # power law dN/dA ∝ A^-2 above 0.2 %
    fwhm = 10 ** rng.uniform(np.log10(3.0), np.log10(40.0), n) / 1440.0
    model = st.flares(t, peaks, amps, fwhm)
    info = {"n_flares": n, "max_flare_amplitude_ppm": float(amps.max() * 1e6) if n else 0.0}
    if rng.random() < 0.6:  # most active M dwarfs are spotted fast rotators
        rot, rinfo = _rotation(rng, t, strong=False)
        model = model * rot
        info.update(rinfo)
    return model, info


# ------------------------------------------------------------------------------------- FITS assembling


def _btjd_to_datetime(btjd: float) -> _dt.datetime:
    return JD_BTJD_ZERO + _dt.timedelta(days=float(btjd))


def _iso(btjd: float) -> str:
    return _btjd_to_datetime(btjd).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def lightcurve_filename(sector: int, tic_id: int, tstart: float) -> str:
    """SPOC's name: ``tess<YYYYDDDHHMMSS>-s<4-digit sector>-<16-digit TIC>-<4-digit id>-s_lc.fits``."""
    stamp = _btjd_to_datetime(tstart).strftime("%Y%j%H%M%S")
    return f"tess{stamp}-s{sector:04d}-{tic_id:016d}-{119 + sector:04d}-s_lc.fits"


def _signal(
    rng, cls: str, t: np.ndarray, b: dict, sigma_1h: float, visible: np.ndarray
) -> tuple[np.ndarray, dict]:
    """The star's astrophysical relative flux for its class, and its truth values."""
    if cls == "planet":
        return _planet(rng, t, b, sigma_1h, visible)
    if cls == "eclipsing_binary":
        return _eclipsing_binary(rng, t, b, visible)
    if cls == "rotation":
        return _rotation(rng, t)
    if cls == "pulsator":
        return _pulsator(rng, t, b["subtype"])
    if cls == "flare":
        return _flare_star(rng, t)
    return np.ones(len(t)), {}


def _systematics(rng, timeline: SectorTimeline, sigma_1h: float) -> tuple[np.ndarray, np.ndarray]:
    """Residual systematics left by PDC (small) and the raw ones in SAP (larger)."""
    t, n = timeline.time, timeline.n_cadences
    pdc_sys = np.zeros(n)
    sap_sys = np.zeros(n)
    for s in timeline.orbit_starts:
        dt_orbit = np.clip(t[s:] - t[s], 0, None)
        pdc_sys[s:] += rng.normal(0, 1.0) * max(sigma_1h, 1e-4) * np.exp(-dt_orbit / rng.uniform(0.1, 0.6))
        sap_sys[s:] += (
            rng.choice([-1, 1]) * rng.uniform(5e-4, 5e-3) * np.exp(-dt_orbit / rng.uniform(0.3, 1.5))
        )
        sap_sys[s:] += rng.uniform(-2e-3, 2e-3) * dt_orbit / 13.0
    for d in timeline.dumps:
        pdc_sys[d:] += rng.normal(0, 0.2) * sigma_1h
        sap_sys[d:] += rng.normal(0, 3e-4)
    return pdc_sys, sap_sys


def _flags_and_background(rng, timeline: SectorTimeline, star: dict, rel: np.ndarray, sigma: float):
    """QUALITY (with impulsive outliers added to ``rel``) and the relative background (stray light)."""
    n, visible, cad_days = timeline.n_cadences, ~timeline.in_gap, timeline.timedel
    quality = timeline.quality.copy()
    outliers = rng.integers(0, n, int(rng.poisson(1.5)))
    outliers = outliers[visible[outliers] & (quality[outliers] == 0)]
    rel[outliers] += rng.choice([-1, 1], outliers.size) * rng.uniform(5, 20, outliers.size) * sigma
    quality[outliers] |= Q_IMPULSIVE_OUTLIER
    stray_days = timeline.stray_light_days.get(star["camera"], 0.0)
    bkg_rel = np.ones(n)
    if stray_days > 0:
        for e in timeline.orbit_ends:
            k = int(round(stray_days / cad_days))
            lo = max(0, e - k)
            quality[lo:e] |= Q_STRAY_LIGHT
            bkg_rel[lo:e] += rng.uniform(0.2, 2.0) * np.linspace(0, 1, e - lo) ** 2
    return quality, bkg_rel


def _pointing(rng, timeline: SectorTimeline, b: dict) -> dict:
    """Flux-weighted centroids: the spacecraft drifts between momentum dumps and resets at each dump."""
    n = timeline.n_cadences
    col0, row0 = float(rng.uniform(50, 2040)), float(rng.uniform(50, 2040))
    drift = np.zeros(n)
    edges = [0, *timeline.dumps, n]
    for lo, hi in zip(edges[:-1], edges[1:]):
        drift[lo:hi] = np.linspace(0, rng.uniform(0.005, 0.03), hi - lo)
    jitter = 0.004 * rng.standard_normal((2, n))
    return {
        "col0": col0,
        "row0": row0,
        "drift": drift,
        "mom1": col0 + drift + jitter[0],
        "mom2": row0 - 0.7 * drift + jitter[1],
        "mom_err": np.full(n, 7e-4 * 10 ** (0.2 * (b["tmag"] - 10.0))),
    }


def _with_nans(a, mask) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).copy()
    a[mask] = np.nan
    return a


def _columns(rng, timeline: SectorTimeline, fluxes: dict, quality: np.ndarray, pointing: dict) -> dict:
    """The LIGHTCURVE table's columns, with SPOC's NaNs where a cadence has no data."""
    n, t, gap = timeline.n_cadences, timeline.time, timeline.in_gap
    nan_flux = (quality & NAN_FLAGS) != 0
    barycentric = float(rng.uniform(0.0, 0.006))
    timecorr = barycentric + 1e-5 * (t - t[0]) / 27.0
    time_col = t + timecorr
    time_col[gap] = np.nan
    timecorr[gap] = 0.0
    nan_sap = gap | ((quality & (Q_DESAT | Q_EARTH_POINT)) != 0)
    drift = pointing["drift"]
    return {
        "TIME": time_col,
        "TIMECORR": timecorr,
        "CADENCENO": timeline.cadence0 + np.arange(n, dtype=np.int64),
        "SAP_FLUX": _with_nans(fluxes["sap"], nan_sap),
        "SAP_FLUX_ERR": _with_nans(fluxes["sap_err"], nan_sap),
        "SAP_BKG": _with_nans(fluxes["bkg"], nan_sap),
        "SAP_BKG_ERR": _with_nans(fluxes["bkg_err"], nan_sap),
        "PDCSAP_FLUX": _with_nans(fluxes["pdc"], nan_flux),
        "PDCSAP_FLUX_ERR": _with_nans(fluxes["pdc_err"], nan_flux),
        "QUALITY": quality,
        "PSF_CENTR1": np.full(n, np.nan),
        "PSF_CENTR1_ERR": np.full(n, np.nan),
        "PSF_CENTR2": np.full(n, np.nan),
        "PSF_CENTR2_ERR": np.full(n, np.nan),
        "MOM_CENTR1": _with_nans(pointing["mom1"], nan_sap),
        "MOM_CENTR1_ERR": _with_nans(pointing["mom_err"], nan_sap),
        "MOM_CENTR2": _with_nans(pointing["mom2"], nan_sap),
        "MOM_CENTR2_ERR": _with_nans(pointing["mom_err"], nan_sap),
        "POS_CORR1": _with_nans(drift + 0.002 * rng.standard_normal(n), nan_flux),
        "POS_CORR2": _with_nans(-0.7 * drift + 0.002 * rng.standard_normal(n), nan_flux),
    }


def _simulate(timeline: SectorTimeline, star: dict, seed: int) -> tuple[dict, dict, dict]:
    """(columns, header values, truth row) of one star. The random draws come in a fixed order (the
    helpers are called in it), so a star depends only on (seed, sector, its index)."""
    rng = np.random.default_rng([seed, timeline.sector, star["index"]])
    cls = star["class"]
    b = _star_basics(rng, cls)
    n, t, cad_days, visible = timeline.n_cadences, timeline.time, timeline.timedel, ~timeline.in_gap

    sigma = st.cadence_noise(b["tmag"], b["background"], b["n_pix"], timeline.cadence_minutes)
    red_sigma = float(10 ** rng.uniform(np.log10(10e-6), np.log10(60e-6)))
    noise = rng.normal(0.0, sigma, n) + st.red_noise(
        n, cad_days, red_sigma, float(rng.uniform(0.05, 0.3)), rng
    )
    cdpp = {h: st.cdpp_ppm(noise[visible], cad_days, h) for h in (0.5, 1.0, 2.0)}
    sigma_1h = cdpp[1.0] * 1e-6
    model, info = _signal(rng, cls, t, b, sigma_1h, visible)
    pdc_sys, sap_sys = _systematics(rng, timeline, sigma_1h)
    rel = model + noise + pdc_sys
    flux0 = st.star_flux_e_per_s(b["tmag"]) * float(np.exp(rng.normal(0, 0.02)))
    quality, bkg_rel = _flags_and_background(rng, timeline, star, rel, sigma)

    pdc_err = flux0 * sigma * (1.0 + 0.02 * rng.standard_normal(n))
    sap_scale = b["flfrcsap"] / b["crowdsap"]
    bkg = b["background"] * bkg_rel * (1.0 + 0.01 * rng.standard_normal(n))
    exposure = timeline.cadence_minutes * 60.0 * st.DEADC
    fluxes = {
        "pdc": flux0 * rel,
        "pdc_err": pdc_err,
        "sap": flux0 * sap_scale * (model + noise + sap_sys),
        "sap_err": pdc_err * sap_scale,
        "bkg": bkg,
        "bkg_err": 1.5 * np.sqrt(np.abs(bkg) * exposure) / exposure,
    }
    pointing = _pointing(rng, timeline, b)
    columns = _columns(rng, timeline, fluxes, quality, pointing)
    south = ((timeline.sector - 1) // 13) % 2 == 0
    dec = float(rng.uniform(-88, -8) if south else rng.uniform(8, 88))
    values = {
        **b,
        "ra": float(rng.uniform(0, 360)),
        "dec": dec,
        "col0": pointing["col0"],
        "row0": pointing["row0"],
        "cdpp": cdpp,
        "pdcvar": float(np.nanstd(model) / max(sigma, 1e-9)),
    }
    truth = {
        "tic_id": star["tic_id"],
        "class": cls,
        "sector": timeline.sector,
        "camera": star["camera"],
        "ccd": star["ccd"],
        "tmag": b["tmag"],
        "teff": b["teff"],
        "radius": b["radius"],
        "cdpp1_0_ppm": cdpp[1.0],
        "cadence_noise_ppm": sigma * 1e6,
        "subtype": b["subtype"] or "",
        **info,
    }
    return columns, values, truth


def _cards_primary(tl: SectorTimeline, star: dict, v: dict) -> list[tuple]:
    created = _btjd_to_datetime(tl.tstop + 10.0).strftime("%Y-%m-%d")
    return [
        ("NEXTEND", 2, "number of standard extensions"),
        ("EXTNAME", "PRIMARY", "name of extension"),
        ("EXTVER", 1, "extension version number (not format version)"),
        ("SIMDATA", True, "file is based on simulated data"),
        ("ORIGIN", "clara (simulated)", "institution responsible for creating this file"),
        ("DATE", created, "file creation date."),
        ("TSTART", tl.tstart, "observation start time in TJD"),
        ("TSTOP", tl.tstop, "observation stop time in TJD"),
        ("DATE-OBS", _iso(tl.tstart), "TSTART as UTC calendar date"),
        ("DATE-END", _iso(tl.tstop), "TSTOP as UTC calendar date"),
        ("CREATOR", "clara.synthetic SimulatedLightCurve", "pipeline job and program use"),
        ("PROCVER", "clara-sim-1", "SW version"),
        ("FILEVER", "1.0", "file format version"),
        ("TIMVERSN", "OGIP/93-003", "OGIP memo number for file format"),
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("DATA_REL", tl.sector, "data release version number"),
        ("OBJECT", f"TIC {star['tic_id']}", "string version of target id"),
        ("TICID", star["tic_id"], "unique tess target identifier"),
        ("SECTOR", tl.sector, "Observing sector"),
        ("CAMERA", star["camera"], "Camera number"),
        ("CCD", star["ccd"], "CCD chip number"),
        ("PXTABLE", 128, "pixel table id"),
        ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
        ("RA_OBJ", v["ra"], "[deg] right ascension"),
        ("DEC_OBJ", v["dec"], "[deg] declination"),
        ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
        ("PMRA", None, "[mas/yr] RA proper motion"),
        ("PMDEC", None, "[mas/yr] Dec proper motion"),
        ("PMTOTAL", None, "[mas/yr] total proper motion"),
        ("TESSMAG", round(v["tmag"], 6), "[mag] TESS magnitude"),
        ("TEFF", round(v["teff"], 3), "[K] Effective temperature"),
        ("LOGG", round(v["logg"], 6), "[cm/s2] log10 surface gravity"),
        ("MH", round(v["mh"], 6), "[log10([M/H])] metallicity"),
        ("RADIUS", round(v["radius"], 6), "[solar radii] stellar radius"),
        ("TICVER", 7, "TICVER"),
        ("CRMITEN", True, "spacecraft cosmic ray mitigation enabled"),
        ("CRBLKSZ", 10, "[exposures] s/c cosmic ray mitigation block siz"),
        ("CRSPOC", False, "SPOC cosmic ray cleaning enabled"),
    ]


def _cards_common(star: dict, v: dict, extname: str) -> list[tuple]:
    return [
        ("INHERIT", True, "inherit the primary header"),
        ("EXTNAME", extname, "name of extension"),
        ("EXTVER", 1, "extension version number (not format version)"),
        ("SIMDATA", True, "file is based on simulated data"),
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("OBJECT", f"TIC {star['tic_id']}", "string version of target id"),
        ("TICID", star["tic_id"], "unique tess target identifier"),
        ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
        ("RA_OBJ", v["ra"], "[deg] right ascension"),
        ("DEC_OBJ", v["dec"], "[deg] declination"),
        ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
    ]


def _cards_lightcurve(tl: SectorTimeline, star: dict, v: dict) -> list[tuple]:
    telapse = tl.tstop - tl.tstart
    live = telapse * st.DEADC
    cdpp = v["cdpp"]
    return [
        *_cards_common(star, v, "LIGHTCURVE"),
        ("EXPOSURE", live, "[d] time on source"),
        ("TIMEREF", "SOLARSYSTEM", "barycentric correction applied to times"),
        ("TASSIGN", "SPACECRAFT", "where time is assigned"),
        ("TIMESYS", "TDB", "time system is Barycentric Dynamical Time (TDB)"),
        ("BJDREFI", 2457000, "integer part of BTJD reference date"),
        ("BJDREFF", 0.0, "fraction of the day in BTJD reference date"),
        ("TIMEUNIT", "d", "time unit for TIME, TSTART and TSTOP"),
        ("TELAPSE", telapse, "[d] TSTOP - TSTART"),
        ("LIVETIME", live, "[d] TELAPSE multiplied by DEADC"),
        ("TSTART", tl.tstart, "observation start time in BTJD"),
        ("TSTOP", tl.tstop, "observation stop time in BTJD"),
        ("DATE-OBS", _iso(tl.tstart), "TSTART as UTC calendar date"),
        ("DATE-END", _iso(tl.tstop), "TSTOP as UTC calendar date"),
        ("DEADC", st.DEADC, "deadtime correction"),
        ("TIMEPIXR", 0.5, "bin time beginning=0 middle=0.5 end=1"),
        ("TIERRELA", 1.16e-05, "[d] relative time error"),
        ("INT_TIME", 1.98, "[s] photon accumulation time per frame"),
        ("READTIME", 0.02, "[s] readout time per frame"),
        ("FRAMETIM", 2.0, "[s] frame time (INT_TIME + READTIME)"),
        ("NUM_FRM", int(round(tl.timedel * 86400 / 2.0)), "number of frames per time stamp"),
        ("TIMEDEL", tl.timedel, "[d] time resolution of data"),
        ("BACKAPP", True, "background is subtracted"),
        ("DEADAPP", True, "deadtime applied"),
        ("VIGNAPP", True, "vignetting or collimator correction applied"),
        ("GAINA", 5.22, "[electrons/count] CCD output A gain"),
        ("GAINB", 5.18, "[electrons/count] CCD output B gain"),
        ("GAINC", 5.16, "[electrons/count] CCD output C gain"),
        ("GAIND", 5.20, "[electrons/count] CCD output D gain"),
        ("READNOIA", 10.1, "[electrons] read noise CCD output A"),
        ("READNOIB", 7.5, "[electrons] read noise CCD output B"),
        ("READNOIC", 7.4, "[electrons] read noise CCD output C"),
        ("READNOID", 9.7, "[electrons] read noise CCD output D"),
        ("NREADOUT", int(round(st.READS_PER_2MIN * tl.cadence_minutes / 2.0)), "number of read per cadence"),
        ("FXDOFF", 209700, "compression fixed offset"),
        ("CDPP0_5", round(cdpp[0.5], 6), "RMS CDPP on 0.5-hr time scales"),
        ("CDPP1_0", round(cdpp[1.0], 6), "RMS CDPP on 1.0-hr time scales"),
        ("CDPP2_0", round(cdpp[2.0], 6), "RMS CDPP on 2.0-hr time scales"),
        ("CROWDSAP", round(v["crowdsap"], 6), "Ratio of target flux to total flux in op. ap."),
        ("FLFRCSAP", round(v["flfrcsap"], 6), "Frac. of target flux w/in the op. aperture"),
        ("NSPSDDET", 0, "Number of SPSDs detected"),
        ("NSPSDCOR", 0, "Number of SPSDs corrected"),
        ("PDCVAR", round(v["pdcvar"], 6), "Target variability"),
        ("PDCMETHD", "msMAP", "PDC algorithm used for target"),
    ]


def _cards_aperture(star: dict, v: dict) -> list[tuple]:
    scale = 0.00575
    return [
        *_cards_common(star, v, "APERTURE"),
        ("WCSAXES", 2, "number of WCS axes"),
        ("CTYPE1", "RA---TAN", "right ascension coordinate type"),
        ("CTYPE2", "DEC--TAN", "declination coordinate type"),
        ("CRPIX1", 6.0, "[pixel] reference pixel along image axis 1"),
        ("CRPIX2", 6.0, "[pixel] reference pixel along image axis 2"),
        ("CRVAL1", v["ra"], "[deg] right ascension at reference pixel"),
        ("CRVAL2", v["dec"], "[deg] declination at reference pixel"),
        ("CUNIT1", "deg", "physical unit in column dimension"),
        ("CUNIT2", "deg", "physical unit in row dimension"),
        ("CDELT1", -scale, "[deg] pixel scale in RA dimension"),
        ("CDELT2", scale, "[deg] pixel scale in Dec dimension"),
        ("PC1_1", 1.0, "linear transformation element cos(th)"),
        ("PC1_2", 0.0, "linear transformation element -sin(th)"),
        ("PC2_1", 0.0, "linear transformation element sin(th)"),
        ("PC2_2", 1.0, "linear transformation element cos(th)"),
        ("WCSNAMEP", "PHYSICAL", "name of world coordinate system alternate P"),
        ("WCSAXESP", 2, "number of WCS physical axes"),
        ("CTYPE1P", "RAWX", "physical WCS axis 1 type CCD col"),
        ("CUNIT1P", "PIXEL", "physical WCS axis 1 unit"),
        ("CRPIX1P", 1, "reference CCD column"),
        ("CRVAL1P", int(v["col0"]) - 5, "value at reference CCD column"),
        ("CDELT1P", 1.0, "physical WCS axis 1 step"),
        ("CTYPE2P", "RAWY", "physical WCS axis 2 type CCD row"),
        ("CUNIT2P", "PIXEL", "physical WCS axis 2 units"),
        ("CRPIX2P", 1, "reference CCD row"),
        ("CRVAL2P", int(v["row0"]) - 5, "value at reference CCD row"),
        ("CDELT2P", 1.0, "physical WCS axis 2 step"),
        ("NPIXSAP", v["n_pix"], "Number of pixels in optimal aperture"),
        ("NPIXMISS", 0, "Number of op. aperture pixels not collected"),
    ]


def _aperture_image(n_pix: int) -> np.ndarray:
    """11x11 bit mask like SPOC's: 1 collected, 2 optimal aperture, 8 centroid, 64 background-free; the
    ``n_pix`` pixels closest to the centre form the optimal aperture."""
    yy, xx = np.mgrid[:11, :11]
    r2 = (yy - 5) ** 2 + (xx - 5) ** 2 + 1e-3 * (yy * 11 + xx)
    image = np.full((11, 11), 65, dtype=np.int32)
    image[r2 > 16] = 69  # 4: used for background
    order = np.argsort(r2, axis=None)[: min(n_pix, 121)]
    image.flat[order] = 75
    return image


_TFORM_WORDS = {"D": "64-bit floating point", "E": "32-bit floating point", "J": "signed 32-bit integer"}
#: SPOC's comments on the structural keywords astropy writes with its own wording
_STRUCTURE_COMMENTS = {
    "SIMPLE": "conforms to FITS standards",
    "XTENSION": "marks the beginning of a new HDU",
    "BITPIX": "array data type",
    "NAXIS": "number of array dimensions",
    "NAXIS1": "length of first array dimension",
    "NAXIS2": "length of second array dimension",
    "EXTEND": "file contains extensions",
    "PCOUNT": "group parameter count (not used)",
    "GCOUNT": "group count (not used)",
    "TFIELDS": "number of table fields",
}


def _spoc_comments(header: fits.Header) -> None:
    for key, comment in _STRUCTURE_COMMENTS.items():
        if key in header:
            header.comments[key] = comment


def _header_items(triples: list[tuple]) -> list:
    """(key, value, comment) triples for ``Header.update``; a None value becomes an undefined card laid out
    as SPOC writes it (blank value field up to column 30), e.g. PMRA of a star without a proper motion."""
    return [
        fits.Card.fromstring(f"{key:<8}={'':22}/ {comment}") if value is None else (key, value, comment)
        for key, value, comment in triples
    ]


@functools.lru_cache(maxsize=2)
def _template(n_rows: int) -> tuple[fits.HDUList, tuple[int, ...]]:
    """This process's PRIMARY + LIGHTCURVE + APERTURE HDUs for ``n_rows`` cadences, and how many structural
    cards (SIMPLE/XTENSION ... TDISP20) open each header.

    Every file of a sector has the same layout, so the table is built through ``from_columns`` (column
    objects, keyword population) once; ``_fill`` then overwrites the data and replaces the star's cards,
    13-19 % less time per file than building the HDUs afresh (``bench/bench_sector.py``).
    """
    columns = [fits.Column(name=n, format=f, unit=u, disp=d) for n, f, u, d, _ in COLUMNS]
    table = fits.BinTableHDU.from_columns(columns, nrows=n_rows)
    for i, (_, tform, unit, _, comment) in enumerate(COLUMNS, start=1):
        table.header.comments[f"TTYPE{i}"] = comment
        table.header.comments[f"TFORM{i}"] = f"column format: {_TFORM_WORDS[tform]}"
        if unit is not None:
            table.header.comments[f"TUNIT{i}"] = "column units"
        table.header.comments[f"TDISP{i}"] = "column display format"
    hdul = fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(np.zeros((11, 11), dtype=np.int32))])
    for hdu in hdul:
        _spoc_comments(hdu.header)
    return hdul, tuple(len(hdu.header) for hdu in hdul)


def _fill(timeline: SectorTimeline, star: dict, columns: dict, values: dict) -> fits.HDUList:
    """The three HDUs of one star's file, checksummed: the process's template, valid until the next call.

    The previous star's cards are dropped and this star's appended as new cards (not updated in place,
    where astropy keeps a card's old text when the new value compares equal, e.g. 0.0 and -0.0), so the bytes
    do not depend on which stars a worker wrote before.
    """
    hdul, n_fixed = _template(timeline.n_cadences)
    primary, table, aperture = hdul
    for name, *_ in COLUMNS:
        table.data[name][:] = columns[name]
    aperture.data[:] = _aperture_image(values["n_pix"])
    cards = (
        _cards_primary(timeline, star, values),
        _cards_lightcurve(timeline, star, values),
        _cards_aperture(star, values),
    )
    # the checksum cards carry a date: the one the file claims to be made on, not the wall clock, so a seed
    # gives the same bytes on any day
    when = _btjd_to_datetime(timeline.tstop + 10.0).strftime("%Y-%m-%dT%H:%M:%SZ")
    for hdu, fixed, triples in zip(hdul, n_fixed, cards):
        del hdu.header[fixed:]
        hdu.header.extend(_header_items(triples))
        hdu.add_datasum(when=f"data unit checksum updated {when}")
        hdu.add_checksum(when=f"HDU checksum updated {when}", override_datasum=True)
    return hdul


def _write_fits(path: Path, hdul: fits.HDUList) -> None:
    """Temporary file beside ``path`` renamed over it (``atomic_open``): a listing never shows half a file.

    The file is built in memory and written in one call: astropy writing into a file object turns a full
    disk into an AttributeError (its free-space check expects a file name); this way it is an OutputError.
    """
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    with atomic_open(path, "wb") as fh:
        fh.write(buffer.getbuffer())


def simulate_star(timeline: SectorTimeline, star: dict, seed: int) -> tuple[fits.HDUList, dict]:
    """(FITS file, truth row) of one planned star; nothing is written. The HDU list is an independent
    in-memory copy of the exact bytes ``write_stars`` puts on disk (checksums included)."""
    columns, values, truth = _simulate(timeline, star, seed)
    buffer = io.BytesIO()
    _fill(timeline, star, columns, values).writeto(buffer)
    return fits.HDUList.fromstring(buffer.getvalue()), truth


def write_stars(task: tuple) -> list[dict]:
    """Worker task: simulate and write a batch of stars; returns their truth rows."""
    out_dir, timeline, stars, seed = task
    rows = []
    for star in stars:
        columns, values, truth = _simulate(timeline, star, seed)
        name = lightcurve_filename(timeline.sector, star["tic_id"], timeline.tstart)
        _write_fits(Path(out_dir) / name, _fill(timeline, star, columns, values))
        rows.append({**truth, "filename": name})
    return rows


# ------------------------------------------------------------------------------------------- the sector


@dataclass
class SimulatedSector:
    out_dir: Path
    truth_path: Path
    truth: pd.DataFrame
    timeline: SectorTimeline
    seconds: float


def write_sector(
    out_dir: str | os.PathLike,
    n_stars: int = 1000,
    sector: int = 1,
    seed: int = 42,
    n_cadences: int | None = None,
    class_fractions: dict | None = None,
    max_workers: int | None = None,
    batch_size: int = 25,
    truth_path: str | os.PathLike | None = None,
    progress: Callable | None = None,
) -> SimulatedSector:
    """Write a simulated sector of ``n_stars`` SPOC light curves into ``out_dir`` plus the truth CSV
    (default ``<out_dir>/truth_s<sector>.csv``); returns the truth table and where it went.

    ``class_fractions`` overrides the default mix, e.g. ``{"planet": 0.02}`` (quiet takes the rest);
    ``n_cadences`` shortens the files for fast tests; ``progress`` wraps the batch iterator (e.g. tqdm).
    """
    from clara_benchmark.executors import LocalExecutor, batched

    started = _time.perf_counter()
    if sector < 1:
        raise ValueError(f"sector must be >= 1, got {sector}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timeline = plan_timeline(sector, seed, n_cadences)
    plan = plan_stars(n_stars, sector, seed, class_fractions)
    workers = max_workers or min(2, os.cpu_count() or 1)
    tasks = ((str(out), timeline, chunk, seed) for chunk in batched(plan, batch_size))
    results = LocalExecutor(workers).imap(write_stars, tasks)
    if progress is not None:
        results = progress(results, total=math.ceil(n_stars / batch_size))
    rows = [row for batch in results for row in batch]
    truth = pd.DataFrame(rows)
    for col in TRUTH_COLUMNS:
        if col not in truth.columns:
            truth[col] = np.nan
    truth = truth[list(TRUTH_COLUMNS)].sort_values("filename").reset_index(drop=True)
    tpath = Path(truth_path) if truth_path is not None else out / f"truth_s{sector:04d}.csv"
    atomic_write_text(tpath, truth.to_csv(index=False, float_format="%.10g"))
    return SimulatedSector(out, tpath, truth, timeline, _time.perf_counter() - started)
