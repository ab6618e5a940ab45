"""Realistic inputs for the report tests, made by the real ``score`` and ``sim`` from the real light curves.

``build_run`` makes a FITS folder (the three real files, a transit-injected copy of each, and one damaged
file), then runs the real ``score`` (CLARA's published P3/P5/P9 models, WRSS) and the real ``sim`` (CLARA's
published PCA and reference CSV) through ``cli.main``, so the report reads exactly the files those commands
write and main.log holds real run headers, timings and exit codes. Between the two runs one candidate's file
is moved away (and put back afterwards), so ``sim`` has a failure to report. It also writes an injection–recovery CSV
(one row per injection) whose ``recovered`` flag is a transit-SNR test against each light curve's own
scatter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import cli

P3 = "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"
P5 = "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl"
P9 = "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl"
PCA = "pca_model_s2_toi_simbad_labelled.pkl"
REFERENCE = "reduced_features_s2_toi_simbad_labelled.csv"
INJECTED_PERIODS = (2.3, 3.7, 5.1)  # days, one per real light curve
COMMON = ["--quiet", "--monitor_interval", "60"]


def box_transit(time: np.ndarray, period: float, duration_days: float, phase0: float = 0.3) -> np.ndarray:
    t0 = time[np.isfinite(time)][0]
    return np.mod(time - t0 + phase0, period) < duration_days


def make_fits_dir(tess_dir: Path, out: Path) -> Path:
    """Copies of the real files, one transit-injected copy of each (1% deep, 3 h), and a damaged file."""
    from astropy.io import fits

    out.mkdir(parents=True, exist_ok=True)
    for i, (src, period) in enumerate(zip(sorted(Path(tess_dir).glob("*.fits")), INJECTED_PERIODS)):
        shutil.copy(src, out / src.name)
        dst = out / f"injected_p{period}d_{src.name}"
        shutil.copy(src, dst)
        with fits.open(dst, mode="update") as hdul:
            time = hdul[1].data["TIME"]
            flux = hdul[1].data["PDCSAP_FLUX"]
            dip = box_transit(time, period, 3 / 24)
            flux[dip] = flux[dip] - 0.01 * np.nanmedian(flux)
            hdul[1].data["PDCSAP_FLUX"] = flux
            hdul[0].header["TICID"] = 900000000 + i
    (out / "tess2018206045859-s0001-0000000000000042-0120-s_lc.fits").write_bytes(b"")  # damaged download
    return out


def _args(command: str, log_dir: Path, options: dict) -> list[str]:
    args = [command, "--log_dir", str(log_dir), *COMMON]
    for k, v in options.items():
        args += [f"--{k}", *(map(str, v) if isinstance(v, list) else [str(v)])]
    return args


def run_score(fits_dir: Path, out: Path, log_dir: Path, published_dir: Path, **extra) -> Path:
    """The real ``score`` with CLARA's published models (in this process: one worker); returns ``out``."""
    options = {
        "input_dirs": [fits_dir],
        "output_dir": out,
        "use_p3": True,
        "use_p5": True,
        "use_p9": True,
        "calculate_wrss_p3p9": True,
        "p3model_path": published_dir / P3,
        "p5model_path": published_dir / P5,
        "p9model_path": published_dir / P9,
        "max_workers": 1,
        **extra,
    }
    assert cli.main(_args("score", log_dir, options)) == 0
    return out


def run_sim(fits_dir: Path, wrss: Path, out: Path, log_dir: Path, published_dir: Path, **extra) -> Path:
    """The real ``sim`` of every WRSS row against CLARA's published reference; returns ``out``."""
    options = {
        "fits_dir": fits_dir,
        "input_df_path": wrss,
        "output_dir": out,
        "gt_wrss_threshold": 0,
        "save_label_groups": "all",
        "simbad_labelled_pca_model_path": published_dir / PCA,
        "simbad_labelled_pca_features_path": published_dir / REFERENCE,
        "max_workers": 1,
        **extra,
    }
    assert cli.main(_args("sim", log_dir, options)) == 0
    return out


def injection_recovery(fits_dir: Path, out_csv: Path) -> pd.DataFrame:
    """One row per injection: a box transit counts as recovered when its SNR (depth·√n_in / σ) ≥ 7.1, σ
    being the light curve's own point-to-point scatter."""
    from clara_benchmark.lightcurve import read_lightcurve

    rows = []
    for path in sorted(Path(fits_dir).glob("hlsp*.fits")) + sorted(Path(fits_dir).glob("tic*.fits")):
        lc = read_lightcurve(path)
        keep = np.isfinite(lc.time) & np.isfinite(lc.pdcsap_flux)
        t, f = lc.time[keep], lc.pdcsap_flux[keep] / np.nanmedian(lc.pdcsap_flux[keep])
        sigma = 1.4826 * np.median(np.abs(np.diff(f))) / np.sqrt(2)
        for depth_ppm in (100, 300, 1000, 3000):
            for period in (1.0, 3.0, 9.0):
                for hours in (1.0, 3.0):
                    n_in = int(box_transit(t, period, hours / 24).sum())
                    snr = depth_ppm * 1e-6 * np.sqrt(n_in) / sigma
                    rows.append(
                        dict(
                            tic_id=lc.tic_id,
                            depth_ppm=depth_ppm,
                            period_days=period,
                            duration_hours=hours,
                            snr=snr,
                            recovered=bool(snr >= 7.1),
                        )
                    )
    frame = pd.DataFrame(rows)
    frame.to_csv(out_csv, index=False)
    return frame


def build_run(root: Path, tess_dir: Path, published_dir: Path) -> dict:
    """Score and label the light curves with the real commands; returns the paths involved.

    ``moved`` is the candidate (a real, not injected, light curve) whose file was away while ``sim`` ran:
    ``sim`` lists it in its failures file; it is back in ``fits`` for the report's thumbnails.
    """
    fits_dir = make_fits_dir(tess_dir, root / "fits")
    logs = root / "logs"
    scores = root / "scores"
    options = {"meta_message": 'report test <score & "quotes">'}
    run_score(fits_dir, scores, logs, published_dir, **options)
    wrss = sorted(scores.glob("wrss_p3p9_*.csv"))[-1]
    candidates = sorted(pd.read_csv(wrss)["filename"])
    moved = next(f for f in candidates if not f.startswith("injected_"))
    (root / "fits_moved").mkdir()
    shutil.move(fits_dir / moved, root / "fits_moved" / moved)
    run_sim(fits_dir, wrss, root / "sim", logs, published_dir)
    shutil.move(root / "fits_moved" / moved, fits_dir / moved)  # back, for the thumbnails
    (root / "evaluate").mkdir()
    injection_recovery(fits_dir, root / "evaluate" / "injection_recovery_20250101_000000.csv")
    return {
        "fits": fits_dir,
        "scores": scores,
        "sim": root / "sim",
        "evaluate": root / "evaluate",
        "logs": logs,
        "wrss": wrss,
        "moved": moved,
    }
