"""Download throughput on loopback: the real ``download`` command on 1/4/16 threads vs a sequential loop.

    CLARA_SHARED=../shared python bench/bench_download.py [--files 200] [--latency 0.05] [--threads 1 4 16]

A local server (``localserver``, in its own process so it does not share our GIL) serves ``--files`` copies
of the real ~2 MB light curves under SPOC names (each relabelled as the star its name says, since
``download`` checks the header's TICID and SECTOR against the name) and waits ``--latency`` seconds before answering each
request, like a distant archive. The baseline is what CLARA did: one ``urllib.request.urlopen`` at a time,
written straight to the final name, no verification. clara's runs go through ``cli.main`` with a config
file, exactly as a user runs them, and verify every file (length, FITS structure, checksums, sha256).
Each configuration downloads into an empty directory, ``--repeat`` times interleaved with the others; the
table gives the median (and best) time, files/s, MB/s and the ratio to the baseline's median measured in
the same process, and the CPU time this process spent per file (server excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from clara_benchmark import cli  # noqa: E402
from clara_benchmark.tess_spoc_download.localserver import relabelled_copy  # noqa: E402


def make_archive(root: Path, tess_dir: Path, n: int) -> list[str]:
    reals = sorted(tess_dir.glob("*.fits"))
    if not reals:
        sys.exit(f"no .fits files in {tess_dir}")
    names = []
    for i in range(n):
        name = f"tess2018206045859-s0001-{1_000_000 + i:016d}-0120-s_lc.fits"
        relabelled_copy(reals[i % len(reals)], root / name, 1_000_000 + i, 1)
        names.append(name)
    return names


def start_server(root: Path, latency: float, bandwidth: float | None = None):
    from clara_benchmark.tess_spoc_download.localserver import spawn

    return spawn(root, latency, bandwidth, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def sequential(urls: list[tuple[str, str]], out: Path) -> tuple[float, float]:
    out.mkdir(parents=True)
    start, cpu = time.perf_counter(), time.process_time()
    for name, url in urls:
        with urllib.request.urlopen(url, timeout=60) as resp, open(out / name, "wb") as fh:
            shutil.copyfileobj(resp, fh, 1 << 20)
    return time.perf_counter() - start, time.process_time() - cpu


def clara(work: Path, script_dir: Path, out: Path, threads: int) -> tuple[float, float]:
    cfg = work / f"download_{threads}.json"
    block = {
        "sector_number": 1,
        "catalogues_folder": str(script_dir),
        "out_dir_tess": str(out),
        "max_downloads": 100000,
        "log_file": str(work / "logs" / f"download_{threads}.log"),
        "num_threads": threads,
    }
    cfg.write_text(json.dumps({"1": block}))
    argv = [
        "download",
        "--config",
        str(cfg),
        "--log_dir",
        str(work / "logs"),
        "--quiet",
        "--monitor_interval",
        "60",
    ]
    start, cpu = time.perf_counter(), time.process_time()
    code = cli.main(argv)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code != 0:
        sys.exit(f"download with {threads} threads exited {code}; see {work / 'logs'}")
    return seconds, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--latency", type=float, default=0.05, help="seconds the server waits per request")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; the median is reported")
    shm = Path("/dev/shm")
    p.add_argument(
        "--workdir",
        type=Path,
        default=shm if shm.is_dir() and os.access(shm, os.W_OK) else None,
        help="where the archive copy and the downloads go (default: /dev/shm, so the disk does not blur "
        "the network figures; give a disk path to include it)",
    )
    shared = Path(os.environ.get("CLARA_SHARED", ROOT.parent / "shared"))
    p.add_argument("--tess", type=Path, default=shared / "data" / "tess", help="the real light curves")
    args = p.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    with tempfile.TemporaryDirectory(prefix="bench_download_", dir=args.workdir) as tmp:
        work = Path(tmp)
        archive = work / "archive"
        archive.mkdir()
        names = make_archive(archive, args.tess, args.files)
        total_mb = sum((archive / n).stat().st_size for n in names) / 1e6
        server, base = start_server(archive, args.latency)
        try:
            urls = [(n, f"{base}api/v0.1/Download/file/?uri=mast:TESS/product/{n}") for n in names]
            scripts = work / "catalogues"
            scripts.mkdir()
            (scripts / "tesscurl_sector_1_lc.sh").write_text(
                "#!/bin/sh\n" + "".join(f"curl -C - -L -o {n} {u}\n" for n, u in urls)
            )
            print(
                f"{args.files} files, {total_mb:.0f} MB ({total_mb / args.files:.2f} MB each), "
                f"{args.latency * 1000:.0f} ms latency per request, loopback, files in {work}"
            )
            runs: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
            server_proc = psutil.Process(server.pid)

            def measured(fn, *a) -> tuple[float, float, float]:
                before = sum(server_proc.cpu_times()[:2])
                seconds, cpu = fn(*a)
                return seconds, cpu, sum(server_proc.cpu_times()[:2]) - before

            for _ in range(args.repeat):  # interleaved, so a busy moment hits every configuration alike
                out = work / "out_seq"
                runs.setdefault(("sequential urllib (baseline)", 1), []).append(
                    measured(sequential, urls, out)
                )
                shutil.rmtree(out)
                for threads in args.threads:
                    out = work / f"out_{threads}"
                    runs.setdefault(("clara download (verified)", threads), []).append(
                        measured(clara, work, scripts, out, threads)
                    )
                    got = len(list((out / "1").glob("*.fits")))
                    if got != args.files:
                        sys.exit(f"{threads} threads: {got} of {args.files} files on disk")
                    shutil.rmtree(out)
        finally:
            server.terminate()
            server.wait(timeout=10)

    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1/5/15 min) before: {load}; after: {load_after}; {os.cpu_count()} CPUs")
    print(
        f"median (best) of {args.repeat} interleaved runs; CPU ms per file: this process (all threads) "
        "and the server process"
    )
    print(
        f"{'run':<30} {'threads':>7} {'seconds':>13} {'files/s':>8} {'MB/s':>7} {'vs baseline':>11} "
        f"{'CPU client':>10} {'server':>6}"
    )
    base_s = statistics.median(r[0] for r in runs[("sequential urllib (baseline)", 1)])
    for (label, threads), results in runs.items():
        seconds = statistics.median(r[0] for r in results)
        best = min(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results) / args.files * 1000
        server_cpu = statistics.median(r[2] for r in results) / args.files * 1000
        print(
            f"{label:<30} {threads:>7} {seconds:>6.2f} ({best:>4.2f}) {args.files / seconds:>8.1f} "
            f"{total_mb / seconds:>7.1f} {base_s / seconds:>10.1f}x {cpu:>10.1f} {server_cpu:>6.1f}"
        )


if __name__ == "__main__":
    main()
