"""CLARA's synthetic transit light curves (CLARA_SPEC §4): the "fake" class of the URF training sets.

Each curve is a flat star with one periodic transit, half of them a box and half a Mandel–Agol transit
(``batman``), plus Gaussian white noise. Draws follow CLARA's order on a legacy ``RandomState`` seeded once
per set (model, period, duration, depth, t0, then the noise of that curve), so a set with CLARA's
parameters and seed 42 is the set CLARA trained on. Pure functions: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

MODELS = ("box", "mandel-agol")
PERIOD_DAYS = (1.0, 15.0)
DURATION_HOURS = (1.0, 10.0)
DEPTH = (0.0005, 0.02)
#: CLARA's fixed batman geometry: a = 15 R*, i = 89°, circular orbit, quadratic limb darkening
A_RS = 15.0
INC_DEG = 89.0
LIMB_DARKENING = (0.1, 0.3)


@dataclass(frozen=True)
class SyntheticSetSpec:
    """One synthetic training set: how many curves, how long, how often sampled, how noisy, which seed."""

    n_curves: int = 300
    length_days: float = 25.25
    cadence_minutes: float = 2.0
    noise_ppm: float = 225.0
    seed: int = 42

    def __post_init__(self):
        if self.n_curves < 1:
            raise ValueError(f"n_curves must be >= 1, got {self.n_curves}")
        if self.length_days <= 0 or self.cadence_minutes <= 0:
            raise ValueError("length_days and cadence_minutes must be positive")
        if self.noise_ppm < 0:
            raise ValueError(f"noise_ppm must be >= 0, got {self.noise_ppm}")

    @property
    def tag(self) -> str:
        """CLARA's name for the set, e.g. ``n300_d23.75_c2_n50ppm`` (as in its model file names)."""
        return f"n{self.n_curves}_d{self.length_days:g}_c{self.cadence_minutes:g}_n{self.noise_ppm:g}ppm"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SyntheticSet:
    """Curves on one shared time grid: ``flux[i]`` is curve i; ``params`` has one row of draws per curve."""

    spec: SyntheticSetSpec
    time: np.ndarray  # days from 0, float64
    flux: np.ndarray  # (n_curves, len(time)) float64, normalised to 1 out of transit
    params: pd.DataFrame


def time_grid(length_days: float, cadence_minutes: float) -> np.ndarray:
    """CLARA's grid: ``arange(0, length, cadence)`` in days (the end point excluded)."""
    return np.arange(0.0, length_days, cadence_minutes / (60.0 * 24.0))


def box_transit(time: np.ndarray, period: float, duration: float, depth: float, t0: float) -> np.ndarray:
    """Flux 1 outside and ``1 - depth`` inside a box of full ``duration`` (days) centred on t0 + k·period."""
    phase = np.abs(np.mod(time - t0 + 0.5 * period, period) - 0.5 * period)
    flux = np.ones_like(time, dtype=np.float64)
    flux[phase < duration / 2.0] -= depth
    return flux


def mandel_agol_transit(
    time: np.ndarray,
    period: float,
    rp: float,
    t0: float,
    a_rs: float = A_RS,
    inc_deg: float = INC_DEG,
    u: tuple[float, float] = LIMB_DARKENING,
    ecc: float = 0.0,
    w_deg: float = 90.0,
) -> np.ndarray:
    """Limb-darkened transit (Mandel & Agol 2002, computed by ``batman``) for radius ratio ``rp``."""
    import batman

    params = batman.TransitParams()
    params.t0 = float(t0)
    params.per = float(period)
    params.rp = float(rp)
    params.a = float(a_rs)
    params.inc = float(inc_deg)
    params.ecc = float(ecc)
    params.w = float(w_deg)
    params.u = [float(c) for c in u]
    params.limb_dark = "quadratic"
    model = batman.TransitModel(params, np.asarray(time, dtype=np.float64))
    return np.asarray(model.light_curve(params), dtype=np.float64)


def draw_transit(rng: np.random.RandomState) -> dict:
    """One curve's parameters, drawn in CLARA's order (the duration is drawn for Mandel–Agol curves too)."""
    model = str(rng.choice(list(MODELS)))
    period = rng.uniform(*PERIOD_DAYS)
    duration_days = rng.uniform(*DURATION_HOURS) / 24.0
    depth = rng.uniform(*DEPTH)
    t0 = rng.uniform(0.0, period)
    return {
        "model": model,
        "period_days": period,
        "duration_hours": duration_days * 24.0,
        "depth": depth,
        "t0_days": t0,
    }


def transit_flux(time: np.ndarray, draw: dict) -> np.ndarray:
    """The noiseless curve for one set of drawn parameters."""
    if draw["model"] == "box":
        return box_transit(
            time, draw["period_days"], draw["duration_hours"] / 24.0, draw["depth"], draw["t0_days"]
        )
    return mandel_agol_transit(time, draw["period_days"], np.sqrt(draw["depth"]), draw["t0_days"])


def generate_transit_set(spec: SyntheticSetSpec) -> SyntheticSet:
    """All curves of a set: transit (box or Mandel–Agol, 50/50) + white noise of ``spec.noise_ppm``."""
    rng = np.random.RandomState(spec.seed)
    time = time_grid(spec.length_days, spec.cadence_minutes)
    flux = np.empty((spec.n_curves, time.size), dtype=np.float64)
    sigma = spec.noise_ppm * 1e-6
    rows = []
    for i in range(spec.n_curves):
        draw = draw_transit(rng)
        clean = transit_flux(time, draw)
        flux[i] = clean + rng.normal(0.0, sigma, size=time.size)
        rows.append({"index": i, **draw, "noise_ppm": spec.noise_ppm})
    return SyntheticSet(spec=spec, time=time, flux=flux, params=pd.DataFrame(rows))


def injected_transit(
    time: np.ndarray,
    depth: float,
    period_days: float,
    duration_hours: float,
    t0: float,
    shape: str = "batman",
    u: tuple[float, float] = LIMB_DARKENING,
) -> np.ndarray:
    """A transit to multiply into a light curve, with exactly ``depth`` at mid-transit and a first-to-fourth
    contact duration of ``duration_hours`` (central transit, circular orbit, a/R* solved from the duration).

    ``shape`` "box" is CLARA's box; "batman" is limb-darkened, its dip rescaled so the centre is ``depth``.
    """
    duration = duration_hours / 24.0
    if not 0 < duration < period_days / 2:
        raise ValueError(f"duration {duration_hours} h must be positive and below half the period")
    if not 0 < depth < 1:
        raise ValueError(f"depth must be within (0, 1), got {depth}")
    if shape == "box":
        return box_transit(time, period_days, duration, depth, t0)
    if shape != "batman":
        raise ValueError(f"unknown transit shape {shape!r} (batman or box)")
    k = float(np.sqrt(depth))
    a_rs = (1.0 + k) / np.sin(np.pi * duration / period_days)
    model = mandel_agol_transit(time, period_days, k, t0, a_rs=a_rs, inc_deg=90.0, u=u)
    centre = mandel_agol_transit(np.array([t0]), period_days, k, t0, a_rs=a_rs, inc_deg=90.0, u=u)[0]
    return 1.0 - (1.0 - model) * (depth / (1.0 - centre))
