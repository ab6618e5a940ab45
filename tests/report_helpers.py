"""Realistic inputs for the report tests, computed for real from the three real light curves.

``build_run`` makes a FITS folder (the three real files, a transit-injected copy of each, and one damaged
file), then runs ``score`` and ``sim`` through the real CLI wrapper (so main.log gets real run headers,
timings and exit codes) with stand-in runners that compute what those commands compute: clara-4000
features, the published CLARA P3/P5/P9 anomaly scores, WRSS per CLARA_SPEC §5 and cosine-similarity labels
against the published reference (§6). It also writes an injection–recovery CSV (one row per injection)
whose ``recovered`` flag is a transit-SNR test against each real light curve's own scatter.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import cli
from clara_benchmark.extract import extract_batch, list_lightcurves

P3 = "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"
P5 = "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl"
P9 = "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl"
PCA = "pca_model_s2_toi_simbad_labelled.pkl"
REFERENCE = "reduced_features_s2_toi_simbad_labelled.csv"
INJECTED_PERIODS = (2.3, 3.7, 5.1)  # days, one per real light curve
GROUPS = {
    "planet_like": {"Pl", "Pl?", "BD*", "s*b"},
    "binary_star": {"SB*", "**", "EB*", "LM*"},
    "stellar": {"*", "PM*", "Er*"},
    "outlier": {"outlier", "err"},
}
_FEATURES: dict[str, object] = {}  # file name -> (tic, clara-4000 vector), shared by score and sim


def label_group(label: str) -> str:
    for group, labels in GROUPS.items():
        if label in labels:
            return group
    return "unclassified"


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


def _features(paths):
    missing = [p for p in paths if os.path.basename(p) not in _FEATURES]
    batch = extract_batch(missing)
    for name, tic, vec in zip(batch.filenames, batch.tic_ids, batch.features):
        _FEATURES[name] = (tic, vec)
    return batch.failures


def score_runner(config, ctx) -> int:
    """What ``score`` computes, for the test: published-model scores, failures and WRSS, as spec §7 CSVs."""
    from clara_benchmark.modelio import load_model
    from clara_benchmark.urf_scoring import anomaly_score

    paths = [str(p) for p in list_lightcurves(config.input_dirs)]
    failures = _features(paths)
    names = sorted(os.path.basename(p) for p in paths if os.path.basename(p) in _FEATURES)
    X = np.vstack([_FEATURES[n][1] for n in names])
    tics = [_FEATURES[n][0] for n in names]
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = {}
    for model in ("p3", "p5", "p9"):
        if not getattr(config, f"use_{model}"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, _ = load_model(getattr(config, f"{model}model_path"))
        frame = pd.DataFrame({"tic": tics, "filename": names, "anomaly_score": anomaly_score(est, X)})
        frame.to_csv(out / f"anomaly_scores_{model}_{ctx.timestamp}.csv", index=False)
        frames[model] = frame
    pd.DataFrame(
        {"filename": [os.path.basename(p) for p, _ in failures], "reason": [r for _, r in failures]}
    ).to_csv(out / f"failures_{ctx.timestamp}.csv", index=False)
    if config.calculate_wrss_p3p9:
        p3 = frames["p3"][frames["p3"].anomaly_score > 0]
        p9 = frames["p9"][frames["p9"].anomaly_score > 0]
        w = p3.merge(p9, on="filename", suffixes=("_p3", "_p9"))
        w["score_weighted_root_sum"] = 0.8 * np.sqrt(w.anomaly_score_p3) + 0.2 * np.sqrt(w.anomaly_score_p9)
        s = w.score_weighted_root_sum
        w["score_weighted_root_sumnorm"] = (s - s.min()) / (s.max() - s.min())
        w = w[
            ["tic_p3", "filename", "anomaly_score_p3", "tic_p9", "anomaly_score_p9"]
            + ["score_weighted_root_sum", "score_weighted_root_sumnorm"]
        ]
        w.to_csv(out / f"wrss_p3p9_{ctx.timestamp}.csv", index=False)
    ctx.log.main(f"scored {len(names)} light curves, {len(failures)} failed")
    return 0


def sim_runner(config, ctx) -> int:
    """What ``sim`` computes, for the test: PCA + cosine similarity to the published reference, joined by
    file name."""
    from clara_benchmark.modelio import load_model

    candidates = pd.read_csv(config.input_df_path)
    candidates = candidates[candidates.score_weighted_root_sumnorm >= config.gt_wrss_threshold]
    _features([str(Path(config.fits_dir) / n) for n in candidates.filename])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pca, _ = load_model(config.simbad_labelled_pca_model_path)
    ref = pd.read_csv(config.simbad_labelled_pca_features_path)
    R = ref[[str(i) for i in range(50)]].to_numpy(float)
    Z = pca.transform(np.vstack([_FEATURES[n][1] for n in candidates.filename]))
    sim = (Z / np.linalg.norm(Z, axis=1, keepdims=True)) @ (R / np.linalg.norm(R, axis=1, keepdims=True)).T
    best = sim.argmax(axis=1)
    score = sim[np.arange(len(best)), best]
    labels = np.where(score < config.min_similarity_threshold, "outlier", ref.label.to_numpy()[best])
    out = candidates.copy()
    out["matched_label"] = labels
    out["matched_filename"] = ref.filename.to_numpy()[best]
    out["label_group"] = [label_group(label) for label in labels]
    out["similarity_score"] = score
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    out.to_csv(Path(config.output_dir) / f"cosine_similarity_scores_{ctx.timestamp}.csv", index=False)
    ctx.log.main(f"labelled {len(out)} candidates")
    return 0


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
    """Score and label the light curves through the real CLI wrapper; returns the paths involved."""
    import pytest

    fits_dir = make_fits_dir(tess_dir, root / "fits")
    logs = root / "logs"
    score_cfg = {
        "input_dirs": [str(fits_dir)],
        "output_dir": str(root / "scores"),
        "use_p3": True,
        "use_p5": True,
        "use_p9": True,
        "calculate_wrss_p3p9": True,
        "p3model_path": str(published_dir / P3),
        "p5model_path": str(published_dir / P5),
        "p9model_path": str(published_dir / P9),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(
            cli.COMMANDS,
            "score",
            dataclasses.replace(cli.COMMANDS["score"], runner="report_helpers:score_runner"),
        )
        mp.setitem(
            cli.COMMANDS, "sim", dataclasses.replace(cli.COMMANDS["sim"], runner="report_helpers:sim_runner")
        )
        common = ["--log_dir", str(logs), "--quiet", "--monitor_interval", "60"]
        args = ["score", *common, "--meta_message", 'report test <score & "quotes">']
        for k, v in score_cfg.items():
            args += [f"--{k}", *(v if isinstance(v, list) else [str(v)])]
        assert cli.main(args) == 0
        wrss = sorted((root / "scores").glob("wrss_p3p9_*.csv"))[-1]
        args = [
            "sim",
            *common,
            "--fits_dir",
            str(fits_dir),
            "--input_df_path",
            str(wrss),
            "--output_dir",
            str(root / "sim"),
            "--gt_wrss_threshold",
            "0",
            "--save_label_groups",
            "all",
            "--simbad_labelled_pca_model_path",
            str(published_dir / PCA),
            "--simbad_labelled_pca_features_path",
            str(published_dir / REFERENCE),
        ]
        assert cli.main(args) == 0
    (root / "evaluate").mkdir()
    injection_recovery(fits_dir, root / "evaluate" / "injection_recovery_20250101_000000.csv")
    return {
        "fits": fits_dir,
        "scores": root / "scores",
        "sim": root / "sim",
        "evaluate": root / "evaluate",
        "logs": logs,
        "wrss": wrss,
    }
