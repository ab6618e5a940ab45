"""Scoring throughput per core, P3 + P5 + P9 together: CLARA's method against clara, same run, same files.

    python bench/bench_score.py [--copies 120] [--baseline-files 3] [--batch-size 64] [--workers 0]

Files: copies of the three real light curves (../shared/data/tess) under distinct names in a temporary
directory, read once beforehand so they sit in the page cache.

(a) CLARA's method, as its ``score`` ran: one pass per model; per file and model, load the model pickle,
    read the file with astropy ``Table.read``, z-score, astropy ``LombScargle(...).power`` (its O(N·M)
    "cython" method), one ``predict_proba`` on one row. Timed on ``--baseline-files`` of the copies.
(b) clara: ``score``'s worker path: models loaded once (initializer), batches of ``--batch-size`` files,
    features once per file (fitsio + NUFFT Lomb–Scargle), one ``predict_proba`` per model per batch.
    Timed on all copies.

Each method runs in its own fresh single-worker process (one core), which reports its wall time, CPU time
and peak RSS. CPU time per light curve is the figure to trust on a busy machine. ``--workers N`` also
runs the whole ``score`` command with N worker processes (end-to-end, includes CSV writing).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from benchdata import MODELS, SHARED

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core per worker
    os.environ.setdefault(_var, "1")


def _usage() -> tuple[float, float]:
    """(CPU seconds of this process, peak RSS in MB)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def clara_method(files: list[str], model_paths: dict[str, str]) -> dict:
    """CLARA's per-file scoring, one pass per model (runs in a fresh worker process)."""
    import numpy as np
    from astropy.table import Table
    from astropy.timeseries import LombScargle

    from clara_benchmark.modelio import load_model

    warnings.simplefilter("ignore")
    freqs = np.logspace(np.log10(1 / 27), np.log10(1 / (4 / 24)), 1000)
    cpu0, _ = _usage()
    wall0 = time.perf_counter()
    scores = {}
    for name, model_path in model_paths.items():
        for path in files:
            model, _ = load_model(model_path)  # CLARA: joblib.load per file (same sha256-checked pickle)
            table = Table.read(path, hdu=1)
            t = np.asarray(table["TIME"].filled(np.nan))
            f = np.asarray(table["PDCSAP_FLUX"].filled(np.nan))
            keep = np.isfinite(t) & np.isfinite(f)
            t, f = t[keep], f[keep]
            z = (f - np.mean(f)) / np.std(f)
            fv = np.pad(z[:3000], (0, max(0, 3000 - len(z))))
            row = np.concatenate([fv, LombScargle(t, z).power(freqs)]).reshape(1, -1)
            scores[(name, os.path.basename(path))] = float(1 - model.predict_proba(row)[0, 1])
    wall = time.perf_counter() - wall0
    cpu1, rss = _usage()
    return {"n": len(files), "wall": wall, "cpu": cpu1 - cpu0, "rss_mb": rss, "scores": scores}


def clara_fast(files: list[str], model_paths: dict[str, str], batch_size: int) -> dict:
    """clara's worker path: init once, then batches through the pipeline's worker function, as ``score``'s
    workers run them (runs in a fresh worker process)."""
    from clara_benchmark.pipeline import apply_batch, batched
    from clara_benchmark.urf_scoring import worker
    from clara_benchmark.urf_scoring.score import features_of

    cpu0, _ = _usage()
    wall0 = time.perf_counter()
    worker.init_worker([worker.ModelSpec(n, p) for n, p in model_paths.items()])
    init_wall = time.perf_counter() - wall0
    init_cpu = _usage()[0] - cpu0
    scores = {}
    n_done = 0
    for chunk in batched(files, batch_size):
        batch = apply_batch((features_of, chunk, worker.score_rows, None))  # what a score worker runs
        n_done += len(batch.paths)
        for name, values in batch.values["scores"].items():
            for fname, value in zip(batch.filenames, values):
                scores[(name, fname)] = float(value)
    wall = time.perf_counter() - wall0
    cpu1, rss = _usage()
    return {
        "n": n_done,
        "wall": wall,
        "cpu": cpu1 - cpu0,
        "rss_mb": rss,
        "init_wall": init_wall,
        "init_cpu": init_cpu,
        "scores": scores,
    }


def in_fresh_process(fn, *args):
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def make_copies(directory: Path, count: int) -> list[str]:
    sources = sorted((SHARED / "data" / "tess").glob("*.fits"))
    if not sources:
        sys.exit(f"no real light curves in {SHARED / 'data' / 'tess'} (set CLARA_SHARED)")
    paths = []
    for i in range(count):
        dst = directory / f"copy{i:04d}_{sources[i % len(sources)].name}"
        shutil.copyfile(sources[i % len(sources)], dst)
        dst.read_bytes()  # into the page cache
        paths.append(str(dst))
    return paths


def end_to_end(
    files_dir: Path, out_dir: Path, model_paths: dict[str, str], workers: int, batch: int
) -> float:
    from clara_benchmark.commands.score import run
    from clara_benchmark.config import ScoreConfig, build_config
    from clara_benchmark.utils.context import RunContext
    from clara_benchmark.utils.logs import RunLog

    raw = {
        "input_dirs": [str(files_dir)],
        "output_dir": str(out_dir),
        "max_workers": workers,
        "batch_size": batch,
        "calculate_wrss_p3p9": True,
        **{f"use_{n}": True for n in model_paths},
        **{f"{n}model_path": p for n, p in model_paths.items()},
    }
    config = build_config(ScoreConfig, raw, "bench")
    log = RunLog("score", out_dir / "logs", None, console=False)
    start = time.perf_counter()
    try:
        run(config, RunContext(command="score", log=log, log_dir=out_dir / "logs", quiet=True))
    finally:
        log.close()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=120, help="light curves scored by clara (default 120)")
    ap.add_argument("--baseline-files", type=int, default=3, help="light curves scored by CLARA's method")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=0, help="also run the score command with N workers")
    args = ap.parse_args()
    model_paths = {n: str(SHARED / "data" / "clara_published" / f) for n, f in MODELS.items()}

    with tempfile.TemporaryDirectory(prefix="clara_bench_score_") as tmp:
        files_dir = Path(tmp) / "fits"
        files_dir.mkdir()
        files = make_copies(files_dir, args.copies)
        base = in_fresh_process(clara_method, files[: args.baseline_files], model_paths)
        fast = in_fresh_process(clara_fast, files, model_paths, args.batch_size)

        same = [fast["scores"][k] == v for k, v in base["scores"].items()]
        print(f"{args.copies} copies of the 3 real light curves (page cache); models P3+P5+P9; one core each")
        print(f"scores of the {base['n']} baseline files identical in both methods: {all(same)}")
        print(
            f"{'method':<28}{'LC':>5}{'wall s':>9}{'CPU s':>9}{'LC/s wall':>11}{'LC/s CPU':>10}"
            f"{'CPU ms/LC':>11}{'peak RSS MB':>13}"
        )
        steady = {
            **fast,
            "wall": fast["wall"] - fast["init_wall"],
            "cpu": fast["cpu"] - fast["init_cpu"],
        }
        rows = (
            ("(a) CLARA method", base),
            ("(b) clara, incl. model load", fast),
            ("(b) clara, steady state", steady),
        )
        for label, r in rows:
            print(
                f"{label:<28}{r['n']:>5}{r['wall']:>9.2f}{r['cpu']:>9.2f}{r['n'] / r['wall']:>11.2f}"
                f"{r['n'] / r['cpu']:>10.2f}{1e3 * r['cpu'] / r['n']:>11.1f}{r['rss_mb']:>13.0f}"
            )
        print(
            f"(b) loads the three models once per worker: {fast['init_wall']:.2f} s wall, "
            f"{fast['init_cpu']:.2f} s CPU (imports included); steady state excludes it"
        )
        for label, r in rows[1:]:
            wall_ratio = (r["n"] / r["wall"]) / (base["n"] / base["wall"])
            cpu_ratio = (r["n"] / r["cpu"]) / (base["n"] / base["cpu"])
            print(f"speed-up per core, {label[4:]}: {wall_ratio:.0f}x (wall), {cpu_ratio:.0f}x (CPU time)")

        if args.workers:
            secs = end_to_end(files_dir, Path(tmp) / "out", model_paths, args.workers, args.batch_size)
            print(
                f"score command, {args.workers} workers, {len(files)} LC end to end: {secs:.2f} s, "
                f"{len(files) / secs:.1f} LC/s"
            )


if __name__ == "__main__":
    main()
