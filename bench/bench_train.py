"""Where the time of ``train`` goes, measured stage by stage at CLARA's sizes.

    PYTHONPATH=. python bench/bench_train.py [--real 1416] [--real-cadences 1000] [--feature-sample 20]

1. synthetic set generation at CLARA's P3 spec (300 curves, 23.75 d, 2 min, 50 ppm);
2. clara-4000 features of full-length curves (a sample of synthetic P3 curves): the per-curve cost of the
   Lomb–Scargle in ``features.py`` at the time of the run, against the same sample through astropy directly
   (the baseline);
3. forest fits with the P3, P5 and P9 hyperparameters on ``--real`` real vectors + 300 synthetic vectors
   (real vectors from a simulated sector with ``--real-cadences`` cadences so the stage stays short; the fit
   cost depends on the number of vectors, not on the length of the curves they came from).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from clara_benchmark.config import CLARA_VARIANTS, VariantConfig
    from clara_benchmark.executors import LocalExecutor
    from clara_benchmark.extract import features_of, stack_rows
    from clara_benchmark.features import clara4000, clean_and_standardise, lomb_scargle_power_reference
    from clara_benchmark.synthetic.sector import write_sector
    from clara_benchmark.synthetic.transits import SyntheticSetSpec, generate_transit_set
    from clara_benchmark.training.train import fit_forest, synthetic_matrix

    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=int, default=1416)
    ap.add_argument("--real-cadences", type=int, default=1000)
    ap.add_argument("--feature-sample", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    p3 = generate_transit_set(SyntheticSetSpec(300, 23.75, 2.0, 50.0))
    print(f"1. synthetic P3 set (300 x {p3.time.size} samples): {time.perf_counter() - t0:.2f} s")

    sample = p3.flux[: args.feature_sample]
    t0 = time.perf_counter()
    for f in sample:
        clara4000(p3.time, f)
    t_feat = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    for f in sample:
        t, z = clean_and_standardise(p3.time, f)
        lomb_scargle_power_reference(t, z)
    t_ref = (time.perf_counter() - t0) / len(sample)
    print(
        f"2. clara-4000 of a {p3.time.size}-sample curve: {t_feat * 1e3:.1f} ms (astropy baseline "
        f"{t_ref * 1e3:.1f} ms, ratio {t_ref / t_feat:.2f}x); 1,716 curves -> {1716 * t_feat:.0f} s on one core"
    )

    tmp = Path(tempfile.mkdtemp(prefix="clara-bench-train-"))
    try:
        t0 = time.perf_counter()
        write_sector(tmp / "real", n_stars=args.real, sector=1, seed=42, n_cadences=args.real_cadences)
        paths = sorted((tmp / "real").glob("*.fits"))
        executor = LocalExecutor(args.workers)
        from clara_benchmark.pipeline import apply_batch

        tasks = [(features_of, [str(p) for p in paths[i::8]], stack_rows, None) for i in range(8)]
        real = np.vstack([b.values for b in executor.imap(apply_batch, tasks)])
        print(
            f"   ({len(real)} real vectors from {args.real_cadences}-cadence curves in {time.perf_counter() - t0:.1f} s)"
        )
        for name, raw in CLARA_VARIANTS.items():
            variant = VariantConfig(**raw)
            spec = variant.synthetic_spec()
            short = SyntheticSetSpec(spec.n_curves, spec.length_days, 30.0, spec.noise_ppm, spec.seed)
            _, syn = synthetic_matrix(short, executor)
            t0 = time.perf_counter()
            forest = fit_forest(real, syn, variant.forest_params(), n_jobs=args.workers)
            fit = time.perf_counter() - t0
            print(
                f"3. {name} fit: {fit:.2f} s ({variant.n_estimators} trees, {len(real)} + {len(syn)} vectors, "
                f"max_features {variant.max_features}, {args.workers} jobs; "
                f"mean depth {np.mean([e.get_depth() for e in forest.estimators_]):.1f})"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
