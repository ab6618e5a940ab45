"""Dask overhead: the same feature extraction through LocalExecutor(2) and a 2-worker Dask LocalCluster.

    PYTHONPATH=. python bench/bench_dask.py [--files 160] [--real-files 400] [--batch-sizes 4,16,64]
                                            [--real-batch-sizes 64,256] [--repeats 3] [DIR]
                                            (DIR defaults to ../shared/data/tess)

Workload: ``extract.iter_feature_batches`` (read FITS + clara-4000 features) over N links to the real light
curves (symlinks: same bytes, served from the page cache like copies would be). Two feature paths:

- ``stand-in``: ``features.lomb_scargle_power`` swapped (in every worker, by the executor's initializer) for
  an FFT amplitude spectrum costing ~1 ms: a task as cheap as the fast score path or cheaper, so this is the
  worst case for per-task overhead;
- ``clara-4000``: the real features (fast exact Lomb–Scargle, ~6 ms per light curve), what ``score`` runs.

For each batch size, alternating runs (best of ``repeats``) of LocalExecutor(2) (a fresh process pool per run,
as a command uses) and DaskExecutor on an already running 2-worker LocalCluster; then one pair with
DaskExecutor starting and closing its own cluster (``"executor": "dask"`` with no scheduler address).
Overheads are Dask / local - 1, both in wall time (throughput) and in CPU seconds of the whole process tree
(client, scheduler, workers): on a machine shared with other jobs the CPU figure is the steadier one. The
serial in-process rate (LocalExecutor(1)) is the per-core rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from clara_benchmark.dask_executor import local_cluster
from clara_benchmark.executors import DaskExecutor, LocalExecutor
from clara_benchmark.extract import features_of, stack_rows
from clara_benchmark.inputs import find_lightcurves
from clara_benchmark.pipeline import apply_batch


def fft_power(time_days, y, frequencies):
    """Stand-in periodogram (~1 ms): FFT amplitude of the samples, interpolated onto ``frequencies``."""
    spectrum = np.abs(np.fft.rfft(y, n=1 << 15)) ** 2
    grid = np.fft.rfftfreq(1 << 15, d=2.0 / 1440.0)  # 2-minute cadence, cycles per day
    return np.interp(frequencies, grid, spectrum / spectrum.max())


def use_stand_in():
    """Initializer: swap the periodogram in this process (remembering the branch's own)."""
    import clara_benchmark.features as features

    features.__dict__.setdefault("_bench_branch_power", features.lomb_scargle_power)
    features.lomb_scargle_power = fft_power


def use_branch_code():
    """Initializer: this branch's periodogram (undoing the stand-in in a reused process)."""
    import clara_benchmark.features as features

    features.lomb_scargle_power = features.__dict__.get("_bench_branch_power", features.lomb_scargle_power)


def make_links(src: Path, dst: Path, n: int) -> list[Path]:
    files = sorted(src.glob("*.fits"))
    if not files:
        sys.exit(f"no FITS files in {src}")
    for i in range(n):
        f = files[i % len(files)]
        os.symlink(f.resolve(), dst / f"{i:06d}_{f.name}")
    return find_lightcurves([dst]).files


def cpu_seconds() -> float:
    """CPU time of this process (client, in-process scheduler) and of its live and reaped children."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += c.user + c.system
    return total


def extraction_task(paths) -> tuple:
    """One clara-4000 extraction task, as the pipeline gives a worker: (fn, items, batch_fn, load)."""
    return (features_of, [str(p) for p in paths], stack_rows, None)


def extract_batch(paths):
    """clara-4000 of ``paths`` in this process (the worker's code path), as a ``pipeline.Batch``."""
    return apply_batch(extraction_task(paths))


def run(executor, paths, batch_size, initializer) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) to extract ``paths``."""
    cpu, start = cpu_seconds(), time.perf_counter()
    tasks = (extraction_task(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size))
    n = sum(len(b.paths) for b in executor.imap(apply_batch, tasks, initializer))
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if n != len(paths):
        sys.exit(f"only {n} of {len(paths)} light curves extracted")
    return wall, cpu


def interleaved(executors, paths, batch_size, initializer, repeats) -> list[tuple[float, float]]:
    """Best (wall, CPU) per executor over ``repeats`` rounds, alternating executors so that load from
    other processes on the machine hits them alike."""
    best = [(float("inf"), float("inf"))] * len(executors)
    for _ in range(repeats):
        for k, ex in enumerate(executors):
            wall, cpu = run(ex, paths, batch_size, initializer)
            best[k] = (min(best[k][0], wall), min(best[k][1], cpu))
    return best


def compare(label, paths, batch_sizes, initializer, repeats, address) -> None:
    n = len(paths)
    few = paths[: max(6, n // 8)]
    ((wall1, cpu1),) = interleaved([LocalExecutor(1)], few, 64, initializer, 1)
    print(
        f"\n[{label}] {n} light curves; serial, in process: {len(few) / wall1:.1f} LC/s "
        f"({len(few) / cpu1:.1f} LC per CPU-second)"
    )
    print(
        f"{'batch':>6} {'local(2) LC/s':>14} {'dask(2) LC/s':>13} {'wall overhead':>14} "
        f"{'local CPU ms/LC':>16} {'dask CPU ms/LC':>15} {'CPU overhead':>13}"
    )
    for bs in batch_sizes:
        (lw, lc), (dw, dc) = interleaved(
            [LocalExecutor(2), DaskExecutor(address)], paths, bs, initializer, repeats
        )
        print(
            f"{bs:>6} {n / lw:>14.1f} {n / dw:>13.1f} {100 * (dw / lw - 1):>+13.1f}% "
            f"{1e3 * lc / n:>16.2f} {1e3 * dc / n:>15.2f} {100 * (dc / lc - 1):>+12.1f}%"
        )
    bs = batch_sizes[-1]
    (lw, lc), (ow, oc) = interleaved(
        [LocalExecutor(2), DaskExecutor(None, n_workers=2)], paths, bs, initializer, 1
    )
    print(
        f"own LocalCluster (start + close included), batch {bs}: {n / ow:.1f} LC/s vs local(2) {n / lw:.1f} LC/s "
        f"(wall {100 * (ow / lw - 1):+.1f}%, CPU {100 * (oc / lc - 1):+.1f}%)"
    )


def rusage_of_extraction(paths) -> tuple[float, float, int]:
    """(user s, system s, minor page faults) of this process per pass of ``extract_batch(paths)``."""
    import resource

    extract_batch(paths)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(3):
        extract_batch(paths)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (
        (r1.ru_utime - r0.ru_utime) / 3,
        (r1.ru_stime - r0.ru_stime) / 3,
        (r1.ru_minflt - r0.ru_minflt) // 3,
    )


def malloc_effect(paths) -> None:
    """In-worker cost of Dask's default MALLOC_TRIM_THRESHOLD_=65536 against clara's ``local_cluster``."""
    from distributed import Client, LocalCluster

    print(
        f"\n[worker allocator] extract_batch of {len(paths)} light curves (stand-in) inside one Dask worker"
    )
    makers = (
        (
            "dask default (65536)",
            lambda: LocalCluster(1, 1, host="127.0.0.1", dashboard_address="127.0.0.1:0"),
        ),
        ("clara local_cluster", lambda: local_cluster(1)),
    )
    for label, make in makers:
        cluster = make()
        try:
            with Client(cluster, set_as_default=False) as client:
                client.run(use_stand_in)
                user, system, faults = client.submit(rusage_of_extraction, paths, pure=False).result()
        finally:
            cluster.close()
        print(f"{label:>22}: user {user:.3f} s  system {system:.3f} s  minor faults {faults}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=Path(__file__).resolve().parents[2] / "shared/data/tess")
    ap.add_argument("--files", type=int, default=160, help="light curves for the stand-in workload")
    ap.add_argument(
        "--real-files", type=int, default=400, help="light curves for the real-feature workload (0: skip)"
    )
    ap.add_argument("--batch-sizes", default="4,16,64")
    ap.add_argument("--real-batch-sizes", default="64,256")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        many = Path(tmp) / "many"
        many.mkdir()
        paths = make_links(Path(args.dir), many, max(args.files, args.real_files))
        started = time.perf_counter()
        cluster = local_cluster(2)  # what DaskExecutor starts when no scheduler_address is given
        print(f"LocalCluster(2 workers) start: {time.perf_counter() - started:.2f} s; cpus: {os.cpu_count()}")
        try:
            sizes = [int(b) for b in args.batch_sizes.split(",")]
            compare(
                "stand-in", paths[: args.files], sizes, use_stand_in, args.repeats, cluster.scheduler_address
            )
            malloc_effect([str(p) for p in paths[:64]])
            if args.real_files:
                sizes = [int(b) for b in args.real_batch_sizes.split(",")]
                real = paths[: args.real_files]
                compare("clara-4000", real, sizes, use_branch_code, args.repeats, cluster.scheduler_address)
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
