"""How long ``report`` takes on sector-sized outputs (no thumbnails: their cost is one box least squares search
and vetting, one vetting figure and one thumbnail per candidate, measured separately below on the real light
curves).

    PYTHONPATH=. python bench/bench_report.py [--rows 20000] [--shared ../shared]

Writes synthetic score CSVs shaped like one sector (``--rows`` light curves, ~5% with score > 0), a WRSS
table and a similarity table, then times ``build_report``; and times one candidate's vetting on each real file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import ReportConfig
from clara_benchmark.folds import vet_lightcurve
from clara_benchmark.report.command import build_report
from clara_benchmark.report.plots import Ephemeris, candidate_figure, relative_flux


def write_inputs(root: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    names = [f"tess2018206045859-s0001-{i:016d}-0120-s_lc.fits" for i in range(rows)]
    scores = root / "scores"
    scores.mkdir()
    stamp = "20250101_000000"
    frames = {}
    for model in ("p3", "p5", "p9"):
        s = np.where(rng.random(rows) < 0.05, rng.beta(1.2, 6, rows), 0.0)
        frames[model] = pd.DataFrame({"tic": range(rows), "filename": names, "anomaly_score": s})
        frames[model].to_csv(scores / f"anomaly_scores_{model}_{stamp}.csv", index=False)
    both = (frames["p3"].anomaly_score > 0) & (frames["p9"].anomaly_score > 0)
    w = pd.DataFrame(
        {
            "tic_p3": frames["p3"].tic[both],
            "filename": frames["p3"].filename[both],
            "anomaly_score_p3": frames["p3"].anomaly_score[both],
            "tic_p9": frames["p9"].tic[both],
            "anomaly_score_p9": frames["p9"].anomaly_score[both],
        }
    )
    w["score_weighted_root_sum"] = 0.8 * np.sqrt(w.anomaly_score_p3) + 0.2 * np.sqrt(w.anomaly_score_p9)
    s = w.score_weighted_root_sum
    w["score_weighted_root_sumnorm"] = (s - s.min()) / (s.max() - s.min()) if len(w) > 1 else 0.0
    w.to_csv(scores / f"wrss_p3p9_{stamp}.csv", index=False)
    sim = root / "sim"
    sim.mkdir()
    labels = rng.choice(["Pl", "EB*", "*", "outlier", "V*"], len(w))
    groups = {
        "Pl": "planet_like",
        "EB*": "binary_star",
        "*": "stellar",
        "outlier": "outlier",
        "V*": "unclassified",
    }
    w.assign(
        matched_label=labels,
        matched_filename="ref.fits",
        label_group=[groups[x] for x in labels],
        similarity_score=rng.random(len(w)),
    ).to_csv(sim / f"cosine_similarity_scores_{stamp}.csv", index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    default_shared = os.environ.get("CLARA_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--shared", type=Path, default=Path(default_shared))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root, args.rows)
        cfg = ReportConfig(score_dir=root / "scores", sim_dir=root / "sim", output_dir=root / "report")
        start = time.perf_counter()
        result = build_report(cfg)
        took = time.perf_counter() - start
        size = result.index.stat().st_size
        print(
            f"report on {args.rows:,} light curves x 3 models, {len(pd.read_csv(next((root / 'scores').glob('wrss*'))))} "
            f"WRSS rows (no thumbnails): {took:.2f} s, index.html {size / 1024:.0f} KiB"
        )
    from clara_benchmark.lightcurve import read_lightcurve

    files = sorted((args.shared / "data" / "tess").glob("*.fits"))
    if not files:
        print(f"no real light curves under {args.shared}/data/tess: thumbnails not timed (use --shared)")
    for path in files:
        lc = read_lightcurve(path, centroids=True)
        t0 = time.perf_counter()
        vetted = vet_lightcurve(lc)
        t1 = time.perf_counter()
        vetted.figure(lc)
        t2 = time.perf_counter()
        time_, rel = relative_flux(lc.time, lc.flux)
        candidate_figure(time_, rel, Ephemeris.of(vetted.row()), "bench")
        t3 = time.perf_counter()
        print(
            f"candidate {path.name[:40]:40s}: search + vetting {t1 - t0:.3f} s, vetting figure {t2 - t1:.3f} s, "
            f"thumbnail {t3 - t2:.3f} s"
        )


if __name__ == "__main__":
    main()
