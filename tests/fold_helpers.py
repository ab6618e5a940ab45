"""Inputs for the fold tests: simulated SPOC light curves with a planet or an eclipsing binary put in, a TOI
table in ExoFOP's layout, candidate tables in CLARA's convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from clara_benchmark.synthetic import stars
from clara_benchmark.synthetic.sector import lightcurve_filename, plan_stars, plan_timeline, simulate_star

SECTOR, SEED = 1, 7
PLANET = dict(period=3.9, rp_rs=0.08, a_rs=10.0, impact=0.3)  # ~6.4 ppt, 3 h
BINARY = dict(period=2.7, rp_rs=0.3, a_rs=6.0, impact=0.2, secondary_ratio=0.35)  # unequal eclipses
#: the header of ExoFOP's TOI CSV (download_toi.php?output=csv), the columns clara reads among others
TOI_HEADER = (
    "TIC ID,TOI,Previous CTOI,Master,SG1A,Epoch (BJD),Period (days),Duration (hours),Depth (ppm),"
    "Planet Radius (R_Earth),TFOPWG Disposition,Comments"
)


def quiet_stars(n: int) -> list[dict]:
    plan = plan_stars(200, SECTOR, SEED)
    return [s for s in plan if s["class"] == "quiet"][:n]


def write_star(out: Path, star: dict, kind: str, centroid_shift_px: float = 0.0) -> tuple[str, dict]:
    """A quiet simulated star with a planet or a binary multiplied into its PDCSAP flux (and, with
    ``centroid_shift_px``, its MOM_CENTR1 moved by that much in eclipse); returns (file name, truth)."""
    timeline = plan_timeline(SECTOR, SEED)
    hdul, _ = simulate_star(timeline, star, SEED)
    t = timeline.time
    t0 = float(t[0] + 0.7)
    teff = 5700.0
    if kind == "planet":
        p = PLANET
        model = stars.planet_transit(t, p["period"], t0, p["rp_rs"], p["a_rs"], p["impact"], teff)
    else:
        p = BINARY
        model = stars.eclipsing_binary(
            t, p["period"], t0, p["rp_rs"], p["a_rs"], p["impact"], p["secondary_ratio"], 0.0, teff
        )
    data = hdul[1].data.copy()  # the simulated HDU list is read-only
    data["PDCSAP_FLUX"] = data["PDCSAP_FLUX"] * model
    if centroid_shift_px:
        dip = (1.0 - model) / (1.0 - model).max()  # the source moves with the depth of the dip
        data["MOM_CENTR1"] = data["MOM_CENTR1"] + centroid_shift_px * dip
    hdul = fits.HDUList([hdul[0].copy(), fits.BinTableHDU(data, header=hdul[1].header), *hdul[2:]])
    name = lightcurve_filename(SECTOR, star["tic_id"], timeline.tstart)
    hdul.writeto(out / name, checksum=True)
    return name, {"tic_id": star["tic_id"], "period_days": p["period"], "t0": t0}


def toi_csv(path: Path, rows: list[tuple]) -> Path:
    """An ExoFOP-layout TOI table: rows of (TIC, TOI, period days, disposition)."""
    lines = [TOI_HEADER]
    for tic, toi, period, disposition in rows:
        lines.append(f'{tic},{toi},,1,,2458325.123,{period},2.5,6000,11.2,{disposition},"a comment, quoted"')
    path.write_text("\n".join(lines) + "\n")
    return path


def candidates_csv(path: Path, names: list[str], column: str = "filename", **extra) -> Path:
    frame = pd.DataFrame({column: names, "label_group": ["planet_like"] * len(names), **extra})
    frame.to_csv(path, index=False)
    return path


def read_periods(out: Path) -> pd.DataFrame:
    from clara_benchmark import products

    (path,) = sorted(out.glob("fold_periods_*.csv"))
    return products.read_fold_periods(path)


def read_failures(out: Path) -> pd.DataFrame:
    (path,) = sorted(out.glob("fold_failures_*.csv"))
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def in_eclipse(t: np.ndarray, period: float, t0: float, half_width: float) -> np.ndarray:
    return np.abs(np.mod(t - t0 + 0.5 * period, period) - 0.5 * period) < half_width
