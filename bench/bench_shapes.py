"""Shapes (issue 14): CLARA's method against clara, per star, same files, same run; DTW; clustering at scale.

    python bench/bench_shapes.py features [--files N] [--numpy]   bin_means, advanced_10 per real light curve
    python bench/bench_shapes.py dtw [--stars 1000] [--baseline-rows 50]
    python bench/bench_shapes.py cluster [--stars 20000]   PCA-50 + HDBSCAN of clara-4000-like vectors
    python bench/bench_shapes.py command [--copies 4] [--workers 1 2]   the features command end to end

``features``: the shared real files (../shared/data/tess_real) that have a PDCSAP_FLUX column.
(a) CLARA's method, rebuilt from astropy/scipy calls as CLARA's code makes them (lightkurve stands aside:
    its ``.value`` gives the same arrays): bin_means = ``Table.read``, z-score, ``LombScargle.autopower``,
    fold, ``binned_statistic``, the 2-panel matplotlib figure its helper always draws (then closes), z-score;
    advanced_10 = ``extract_features_from_fits``: ``Table.read``, an unused ``autopower``, the fold helper
    again (second read, second autopower, figure), the shape features, ``count_ls_peaks``, BLS
    ``autopower(0.1)``. Timed only on the files where CLARA's code returns a vector.
(b) clara: ``read_lightcurve`` (fitsio) + ``folding.fold_lightcurve`` + ``bin_means_vector``; and
    ``advanced10`` sharing that fold (BLS by ``bls.bls_peak``: numba when installed, else numpy).
Per star: CPU seconds (``time.process_time``; the figure to trust on a shared machine), the least of 3
runs for bin_means (one run for advanced_10), and the largest difference between the two methods' numbers.

``dtw``: 1,000 z-scored 100-bin vectors (folded synthetic planets, binaries, rotators). clara's blocked
matrix (all cores, and one thread) against CLARA's loop of ``distance_fast`` over ``--baseline-rows``
rows (its per-pair time × n² gives its full-matrix time); peak RSS of each in its own process.

``cluster``: 20,000 rows of 4,000 float32 values shaped like clara-4000 vectors (3,000 z-scored flux
samples + 1,000 Lomb–Scargle powers of simulated stars of several classes, each row its own noise),
as float64 (the ``features`` command's matrices), then ``featuresets.reduce_features`` (PCA to 50 components)
and ``clustering.cluster`` (scikit-learn HDBSCAN, CLARA's defaults) with the metadata metrics; time of each step and peak RSS, in a fresh process.

``command``: the ``features`` command end to end (candidate CSV, file lookup below fits_dir, the pipeline's
worker processes, every output file) on ``--copies`` copies of each shared real file with PDCSAP_FLUX,
bin_means (then again with use_dtw: the O(n²) DTW matrix on top) and advanced_10 (one copy of each file),
for each ``--workers``; against CLARA's method on the same files in this process. Per star: wall seconds
(the machine's other load included) and CPU seconds (this process and its reaped workers, the command's
imports and start-up included) for clara, CPU seconds for CLARA.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLARA_SHARED", ROOT.parent / "shared"))
TESS_REAL = SHARED / "data" / "tess_real"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_fresh_process(fn, *args):
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ------------------------------------------------------------------------------------------- CLARA


def _clara_read(path):
    import numpy as np
    from astropy.table import Table

    table = Table.read(path, hdu=1)
    return table, np.asarray(table["TIME"], dtype=float), np.asarray(table["PDCSAP_FLUX"], dtype=float)


def clara_phase_fold(path, bins=100, min_period=0.2, max_period=20.0, thresh=0.05):
    """CLARA's ``clara2_phase_fold.phase_fold`` (defaults), figure included, no file written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from astropy.timeseries import LombScargle
    from scipy.stats import binned_statistic

    _, t, f = _clara_read(path)
    m = np.isfinite(t) & np.isfinite(f)
    t, f = t[m], f[m]
    if len(t) < 100:
        return None
    f = (f - np.nanmean(f)) / np.nanstd(f)
    freq, power = LombScargle(t, f).autopower(
        minimum_frequency=1 / max_period, maximum_frequency=1 / min_period, samples_per_peak=10
    )
    period = 1 / freq[np.argmax(power)]
    if np.max(power) < thresh:
        return None
    phase = ((t % period) / period) % 1.0
    order = np.argsort(phase)
    phase, folded = phase[order], f[order]
    means, edges, _ = binned_statistic(phase, folded, bins=bins, statistic="mean")
    centers = (edges[:-1] + edges[1:]) / 2
    fig, axs = plt.subplots(2, 1, figsize=(10, 5))
    axs[1].plot(f[:8000], lw=1)
    axs[0].plot(phase, folded, ".", alpha=0.2)
    axs[0].plot(centers, means, "r-", lw=2)
    axs[0].set_title(f"Period = {period:.4f} d | LS Power = {np.max(power):.4f}")
    plt.tight_layout()
    plt.close()
    return centers, means


def clara_bin_means(path):
    import numpy as np

    r = clara_phase_fold(path)
    if r is None:
        return None
    v = np.array(r[1])
    return (v - np.mean(v)) / np.std(v)


def clara_advanced10(path):
    """CLARA's ``clara2_features.extract_features_from_fits`` (its steps, in its order)."""
    import numpy as np
    from astropy.timeseries import BoxLeastSquares, LombScargle

    from clara_benchmark.advanced10 import fold_shape_features

    table, _, _ = _clara_read(path)
    time_ = np.array(table["TIME"]).copy()
    flux = np.array(table["PDCSAP_FLUX"]).copy()
    mask = np.isfinite(time_) & np.isfinite(flux)
    time_, flux = time_[mask], flux[mask]
    flux = (flux - np.median(flux)) / np.std(flux)
    LombScargle(time_, flux).autopower(minimum_frequency=1 / 20, maximum_frequency=5)  # unused by CLARA
    fold = clara_phase_fold(path)
    if fold is None:
        return None
    values = fold_shape_features(*fold)  # the six formulas, as CLARA writes them
    full = np.array(table["PDCSAP_FLUX"]).copy()
    full = (full - np.median(full)) / np.std(full)
    t8, f8 = time_[:8000], full[:8000]
    if len(t8) != len(f8):
        return None  # CLARA: broadcast error -> None
    keep = np.isfinite(t8) & np.isfinite(f8)
    t8, f8 = t8[keep], f8[keep]
    count = 0  # every real file: the column's NaN median makes every value NaN, so 0
    if len(t8) >= 100:
        from scipy.signal import find_peaks

        f8 = (f8 - np.median(f8)) / np.std(f8)
        _, power = LombScargle(t8, f8).autopower(minimum_frequency=1 / 20, maximum_frequency=5)
        count = len(find_peaks(power, prominence=0.05)[0])
    values.append(count)
    bls_flux = table["PDCSAP_FLUX"].value[mask]
    bls_flux = (bls_flux - np.median(bls_flux)) / np.std(bls_flux)
    result = BoxLeastSquares(time_, bls_flux).autopower(0.1)
    best = np.argmax(result.power)
    scatter = np.std(bls_flux)
    values += [result.depth[best], result.depth[best] / scatter, result.duration[best]]
    return np.asarray(values, dtype=float)


# ------------------------------------------------------------------------------------------- clara


def clara_fold_and_bins(path):
    from clara_benchmark.exceptions import FeatureError
    from clara_benchmark.folding import bin_means_vector, fold_lightcurve
    from clara_benchmark.lightcurve import read_lightcurve

    lc = read_lightcurve(path)
    fold = fold_lightcurve(lc.time, lc.pdcsap_flux)
    try:
        return lc, fold, bin_means_vector(None, None, fold=fold)
    except FeatureError:  # skipped star, or an empty phase bin (CLARA: all-NaN row)
        return lc, fold, None


USE_NUMBA = None  # --numpy: the BLS boundary sums without numba


def clara_adv(lc, fold):
    from clara_benchmark.advanced10 import advanced10

    return advanced10(lc.time, lc.pdcsap_flux, fold=fold, check_finite=False, use_numba=USE_NUMBA).values


def _timed(fn, *args):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - c0, time.perf_counter() - w0


def _best_of(repeats, fn, *args):
    """(result, least CPU seconds of ``repeats`` runs): the run least disturbed by other processes."""
    best = None
    for _ in range(repeats):
        out, cpu, _ = _timed(fn, *args)
        best = cpu if best is None else min(best, cpu)
    return out, best


def _diff(a, b):
    import numpy as np

    if b is not None and np.isnan(b).all():
        b = None  # CLARA's all-NaN row for an empty phase bin; clara fails that star
    if a is None or b is None:
        return "both none" if a is None and b is None else "MISMATCH"
    ok = ~np.isnan(b)
    rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)
    return f"max rel {rel.max():.1e}"


def _warm_up(path):
    """Imports, finufft planning and the numba kernel's compilation (once per process) out of the timings."""
    lc, fold, _ = clara_fold_and_bins(path)
    if fold.ok:
        clara_adv(lc, fold)
    clara_phase_fold(path)


def _real_files_with_pdcsap() -> list[Path]:
    """The shared real files that clara reads (those with a PDCSAP_FLUX column), in name order."""
    from clara_benchmark.lightcurve import read_lightcurve

    files = []
    for path in sorted(TESS_REAL.glob("*/*.fits")):
        try:
            read_lightcurve(path)
        except ValueError:
            continue
        files.append(path)
    return files


def bench_features(args) -> None:
    warnings.simplefilter("ignore")
    files = _real_files_with_pdcsap()
    files = files[: args.files] if args.files else files
    _warm_up(TESS_REAL / "notch-locor" / "tess2018206045859-s0001-0000000410214986-0120-s_lc.fits")
    rows = []
    print(
        f"{'file':44s} {'bin_means CLARA/clara cpu s':>28s} {'ratio':>6s}  {'advanced_10 CLARA/clara cpu s':>30s} {'ratio':>6s}"
    )
    for path in files:
        ref_bins, cb_cpu = _best_of(3, clara_bin_means, path)
        (lc, fold, bins), kb_cpu = _best_of(3, clara_fold_and_bins, path)
        row = {"file": path.name, "clara_bins": cb_cpu, "ours_bins": kb_cpu, "bins": _diff(bins, ref_bins)}
        line = f"{path.name[-44:]:44s} {cb_cpu:13.3f} / {kb_cpu:8.4f} {cb_cpu / kb_cpu:7.1f}x"
        if bins is not None:
            ref_adv, ca_cpu, _ = _timed(clara_advanced10, path)
            if ref_adv is not None:
                adv, ka_cpu, _ = _timed(clara_adv, lc, fold)
                row.update(clara_adv=ca_cpu, ours_adv=ka_cpu, adv=_diff(adv, ref_adv))
                line += f"  {ca_cpu:14.2f} / {ka_cpu + kb_cpu:8.3f} {ca_cpu / (ka_cpu + kb_cpu):7.1f}x  {row['adv']}"
        rows.append(row)
        print(line + f"  bins {row['bins']}", flush=True)
    _summary(rows)


def _summary(rows) -> None:
    import numpy as np

    b = np.array([[r["clara_bins"], r["ours_bins"]] for r in rows])
    a = np.array([[r["clara_adv"], r["ours_adv"] + r["ours_bins"]] for r in rows if "clara_adv" in r])
    print(
        f"\nbin_means: {len(b)} files, CLARA {b[:, 0].mean():.3f} s/star, clara {b[:, 1].mean() * 1e3:.1f} ms/star,"
        f" ratio of means {b[:, 0].mean() / b[:, 1].mean():.1f}x (median per star {np.median(b[:, 0] / b[:, 1]):.1f}x)"
    )
    if len(a):
        print(
            f"advanced_10: {len(a)} files, CLARA {a[:, 0].mean():.2f} s/star, clara {a[:, 1].mean():.3f} s/star"
            f" (fold included), ratio of means {a[:, 0].mean() / a[:, 1].mean():.1f}x"
            f" (median per star {np.median(a[:, 0] / a[:, 1]):.1f}x)"
        )


# ------------------------------------------------------------------------------------------- DTW


def dtw_vectors(n: int, bins: int = 100, seed: int = 0):
    """``n`` z-scored folded curves: box dips, two-dip binaries and sinusoids with noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    phase = (np.arange(bins) + 0.5) / bins
    out = np.empty((n, bins))
    for i in range(n):
        kind = i % 3
        v = rng.normal(0, 0.05, bins)
        if kind == 0:
            v[np.abs(phase - 0.5) < rng.uniform(0.01, 0.05)] -= 1
        elif kind == 1:
            v[np.abs(phase - 0.5) < rng.uniform(0.03, 0.08)] -= 1
            v[np.minimum(phase, 1 - phase) < rng.uniform(0.03, 0.08)] -= rng.uniform(0.2, 0.8)
        else:
            v += np.sin(2 * np.pi * (phase + rng.uniform()))
        out[i] = (v - v.mean()) / v.std()
    return out


def _dtw_ours(n: int, threads):
    from clara_benchmark.dtw import dtw_distance_matrix

    x = dtw_vectors(n)
    w0 = time.perf_counter()
    d = dtw_distance_matrix(x, n_threads=threads)
    return {"wall": time.perf_counter() - w0, "rss_mb": _rss_mb(), "checksum": float(d.sum())}


def _dtw_clara(n: int, rows: int):
    from dtaidistance import dtw

    x = dtw_vectors(n)
    w0 = time.perf_counter()
    for i in range(rows):
        for j in range(n):
            dtw.distance_fast(x[i], x[j])
    per_pair = (time.perf_counter() - w0) / (rows * n)
    return {"per_pair": per_pair, "rss_mb": _rss_mb()}


def bench_dtw(args) -> None:
    n = args.stars
    clara = _in_fresh_process(_dtw_clara, n, args.baseline_rows)
    full = clara["per_pair"] * n * n
    print(
        f"CLARA's loop: {clara['per_pair'] * 1e6:.1f} µs per distance_fast call, {n}x{n} matrix ≈ {full:.1f} s "
        f"(measured on {args.baseline_rows} rows), peak RSS {clara['rss_mb']:.0f} MB"
    )
    for threads in (1, None):
        ours = _in_fresh_process(_dtw_ours, n, threads)
        label = "1 thread" if threads == 1 else f"{os.cpu_count()} threads"
        print(
            f"clara dtw_distance_matrix ({label}): {ours['wall']:.2f} s wall, ratio {full / ours['wall']:.1f}x, "
            f"peak RSS {ours['rss_mb']:.0f} MB"
        )


# ------------------------------------------------------------------------------------------- clustering


def clara4000_like(n: int, seed: int = 0, templates: int = 300):
    """``n`` float32 rows shaped like clara-4000 vectors of simulated stars (see the module docstring)."""
    import numpy as np

    from clara_benchmark.features import clara4000

    rng = np.random.default_rng(seed)
    t = np.arange(0, 27.0, 2 / 1440)[:18000]
    base = np.empty((templates, 4000), dtype=np.float32)
    for k in range(templates):
        period = rng.uniform(0.3, 12)
        kind = k % 3
        f = 1 + rng.normal(0, 1e-3, len(t))
        if kind == 0:
            f -= rng.uniform(1e-3, 2e-2) * (((t % period) / period) < rng.uniform(0.01, 0.05))
        elif kind == 1:
            f += rng.uniform(1e-3, 3e-2) * np.sin(2 * np.pi * t / period + rng.uniform(0, 6))
        base[k] = clara4000(t, f.astype(np.float32))
    rows = base[rng.integers(0, templates, n)]
    rows[:, :3000] += rng.normal(0, 0.3, (n, 3000)).astype(np.float32)
    rows[:, 3000:] *= rng.uniform(0.8, 1.2, (n, 1)).astype(np.float32)
    return rows


def _cluster_run(n: int):
    import numpy as np

    from clara_benchmark.clustering import cluster
    from clara_benchmark.featuresets import reduce_features

    steps = {}
    w0 = time.perf_counter()
    x = clara4000_like(n).astype(np.float64)  # the features command's matrices are float64
    steps["simulate"] = time.perf_counter() - w0
    w0 = time.perf_counter()
    reduced, _ = reduce_features(x, 50)  # the command's reduce_features (seeded PCA)
    steps["pca50"] = time.perf_counter() - w0
    w0 = time.perf_counter()
    result = cluster(reduced, "hdbscan")
    steps["hdbscan+metrics"] = time.perf_counter() - w0
    m = result.metrics
    return {
        "steps": steps,
        "fit_s": result.seconds,
        "rss_mb": _rss_mb(),
        "n_clusters": m.n_clusters,
        "n_noise": m.n_noise,
        "silhouette": m.silhouette,
    }


def bench_cluster(args) -> None:
    out = _in_fresh_process(_cluster_run, args.stars)
    print(json.dumps(out, indent=1))


# ------------------------------------------------------------------------------------------- command


def _command_inputs(root: Path, copies: int):
    """``copies`` renamed copies of each shared real file that has PDCSAP_FLUX, and the candidate CSV."""
    import shutil

    import pandas as pd

    fits = root / "fits"
    fits.mkdir(parents=True)
    unique = _real_files_with_pdcsap()
    names = []
    for k in range(copies):
        for path in unique:
            name = f"c{k}_{path.name}" if k else path.name
            if name not in names:
                shutil.copy(path, fits / name)
                names.append(name)
    pd.DataFrame({"filename": names}).to_csv(root / "candidates.csv", index=False)
    return unique, names


def _cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (the local executor's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run_command(root: Path, tag: str, **keys) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``features`` run in this process (workers' CPU included)."""
    from clara_benchmark import cli

    config = root / f"{tag}.json"
    config.write_text(
        json.dumps(
            {
                "fits_dir": str(root / "fits"),
                "input_df_path": str(root / "candidates.csv"),
                "output_dir": str(root / f"out_{tag}"),
                **keys,
            }
        )
    )
    w0, c0 = time.perf_counter(), _cpu_s()
    code = cli.main(["features", "--config", str(config), "--log_dir", str(root / "logs"), "--quiet"])
    assert code == 0, code
    return time.perf_counter() - w0, _cpu_s() - c0


def _line(what: str, n: int, wall: float, cpu: float, clara_cpu: float) -> str:
    return (
        f"clara features {what}: {n} stars in {wall:.1f} s wall, {cpu:.1f} s CPU; per star "
        f"{wall / n * 1e3:.1f} ms wall, {cpu / n * 1e3:.1f} ms CPU; CLARA CPU / clara CPU {clara_cpu / (cpu / n):.1f}x"
    )


def bench_command(args) -> None:
    import tempfile

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        unique, names = _command_inputs(root, args.copies)
        _warm_up(TESS_REAL / "notch-locor" / "tess2018206045859-s0001-0000000410214986-0120-s_lc.fits")
        clara_bins = sum(_timed(clara_bin_means, p)[1] for p in unique) / len(unique)
        clara_adv = sum(_timed(clara_advanced10, p)[1] for p in unique) / len(unique)
        print(
            f"CLARA (this process, CPU per star over the same {len(unique)} files): bin_means {clara_bins:.3f} s, "
            f"advanced_10 {clara_adv:.2f} s (CLARA's command runs bin_means in one process)"
        )
        first = f"SELECT filename FROM input_df LIMIT {len(unique)}"
        for workers in args.workers:
            label = f"{workers} worker(s)"
            wall, cpu = _run_command(root, f"bm{workers}", features="bin_means", max_workers=workers)
            print(_line(f"bin_means, {label}", len(names), wall, cpu, clara_bins), flush=True)
            wall_d, cpu_d = _run_command(
                root, f"dtw{workers}", features="bin_means", use_dtw=True, max_workers=workers
            )
            print(
                f"  + use_dtw: {wall_d - wall:+.1f} s wall, {cpu_d - cpu:+.1f} s CPU for the "
                f"{len(names)}x{len(names)} DTW matrix",
                flush=True,
            )
            wall, cpu = _run_command(
                root,
                f"adv{workers}",
                features="advanced_10_feature_set",
                input_df_sql=first,
                max_workers=workers,
            )
            print(_line(f"advanced_10, {label}", len(unique), wall, cpu, clara_adv), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("features")
    f.add_argument("--files", type=int, default=0)
    f.add_argument(
        "--numpy", action="store_true", help="BLS boundary sums by numpy even when numba is installed"
    )
    d = sub.add_parser("dtw")
    d.add_argument("--stars", type=int, default=1000)
    d.add_argument("--baseline-rows", type=int, default=50)
    c = sub.add_parser("cluster")
    c.add_argument("--stars", type=int, default=20000)
    m = sub.add_parser("command")
    m.add_argument("--copies", type=int, default=4)
    m.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if getattr(args, "numpy", False):
        global USE_NUMBA
        USE_NUMBA = False
    {"features": bench_features, "dtw": bench_dtw, "cluster": bench_cluster, "command": bench_command}[
        args.what
    ](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
