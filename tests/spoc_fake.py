"""Small SPOC-like light-curve FITS files for the sim/reference tests (written with astropy, read by clara's
fitsio reader): the same HDU layout, column names and header keys as SPOC, but ~2000 cadences so that
features are quick. Each kind of star has its own shape, so that different stars have different vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from clara_benchmark.lightcurve import tic_from_filename

KINDS = ("transit", "eclipse", "rotation", "pulsation", "flare", "quiet")


def spoc_name(tic_id: int, sector: int = 1) -> str:
    return f"tess2018206045859-s{sector:04d}-{tic_id:016d}-0120-s_lc.fits"


def light_curve(kind: str, seed: int, n: int = 2000, days: float = 27.4) -> tuple[np.ndarray, np.ndarray]:
    """(time [BTJD], pdcsap_flux [e-/s]) of a star of ``kind``; ``seed`` varies its parameters and noise."""
    rng = np.random.default_rng(seed)
    time = 1325.3 + np.linspace(0.0, days, n)
    flux = np.ones(n)
    if kind == "transit":
        period, depth, width = rng.uniform(2, 6), rng.uniform(0.005, 0.02), rng.uniform(0.08, 0.2)
        phase = (time - time[0] + rng.uniform(0, period)) % period
        flux -= depth * (phase < width)
    elif kind == "eclipse":
        period = rng.uniform(1.5, 5)
        phase = ((time - time[0]) % period) / period
        flux -= 0.3 * np.exp(-0.5 * (phase / 0.02) ** 2) + 0.1 * np.exp(-0.5 * ((phase - 0.5) / 0.02) ** 2)
    elif kind == "rotation":
        period = rng.uniform(3, 10)
        flux += 0.02 * np.sin(2 * np.pi * time / period + rng.uniform(0, 6))
    elif kind == "pulsation":
        for _ in range(3):
            flux += 0.005 * np.sin(2 * np.pi * rng.uniform(2, 5.5) * time + rng.uniform(0, 6))
    elif kind == "flare":
        for t0 in rng.uniform(time[0], time[-1], 6):
            after = time >= t0
            flux[after] += 0.05 * np.exp(-(time[after] - t0) / 0.05)
    elif kind != "quiet":
        raise ValueError(kind)
    flux += rng.normal(0, 1e-3, n)
    return time, 5000.0 * flux


def write_spoc_fits(path: Path, tic_id: int, time: np.ndarray, flux: np.ndarray, sector: int = 1) -> Path:
    """Write a light curve with SPOC's structure: primary header (TICID, SECTOR, ...), LIGHTCURVE table,
    aperture image."""
    n = len(time)
    primary = fits.PrimaryHDU()
    for k, v in dict(TELESCOP="TESS", TICID=tic_id, SECTOR=sector, CAMERA=1, CCD=1, TESSMAG=10.0).items():
        primary.header[k] = v
    primary.header["OBJECT"] = f"TIC {tic_id}"
    cols = [
        fits.Column("TIME", "D", unit="BJD - 2457000, days", array=time),
        fits.Column("PDCSAP_FLUX", "E", unit="e-/s", array=flux.astype(np.float32)),
        fits.Column("PDCSAP_FLUX_ERR", "E", unit="e-/s", array=np.full(n, 5.0, np.float32)),
        fits.Column("SAP_FLUX", "E", unit="e-/s", array=flux.astype(np.float32)),
        fits.Column("QUALITY", "J", array=np.zeros(n, np.int32)),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    aperture = fits.ImageHDU(np.ones((11, 11), np.int32), name="APERTURE")
    path = Path(path)
    fits.HDUList([primary, table, aperture]).writeto(path, overwrite=True)
    return path


def write_star(directory: Path, tic_id: int, kind: str, seed: int | None = None, sector: int = 1) -> Path:
    time, flux = light_curve(kind, tic_id if seed is None else seed)
    return write_spoc_fits(Path(directory) / spoc_name(tic_id, sector), tic_id, time, flux, sector)


#: the SIMBAD-style label each kind of fake star gets in the tests' reference sets
LABEL_OF_KIND = {
    "transit": "Pl",
    "eclipse": "EB*",
    "rotation": "PM*",
    "pulsation": "*",
    "flare": "Er*",
    "quiet": "err",
}


def write_labelled_set(directory: Path, per_kind: int = 2, first_tic: int = 1001) -> dict[str, str]:
    """Write ``per_kind`` stars of every kind; return ``{filename: label}``."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    labels = {}
    tic = first_tic
    for kind in KINDS:
        for _ in range(per_kind):
            labels[write_star(directory, tic, kind).name] = LABEL_OF_KIND[kind]
            tic += 1
    return labels


def wrss_rows(filenames, norms=None) -> pd.DataFrame:
    """A WRSS table (CLARA_SPEC §7 columns) for ``filenames``; ``norms`` default to 1."""
    filenames = list(filenames)
    norms = [1.0] * len(filenames) if norms is None else list(norms)
    tics = [tic_from_filename(f) or 0 for f in filenames]
    return pd.DataFrame(
        {
            "tic_p3": tics,
            "filename": filenames,
            "anomaly_score_p3": 0.2,
            "tic_p9": tics,
            "anomaly_score_p9": 0.1,
            "score_weighted_root_sum": 0.4,
            "score_weighted_root_sumnorm": norms,
        }
    )
