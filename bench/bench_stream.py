"""Stream mode against download-then-score: one simulated sector, one local archive, same run.

    CLARA_SHARED=../shared python bench/bench_stream.py [--stars 2000] [--latency 0.05] [--bandwidth 200e6]
        [--workers 2] [--threads 16] [--batch-size 64] [--repeat 1] [--workdir DIR] [--archive DIR]

A simulated sector of ``--stars`` full-length SPOC light curves (``synthetic.sector.write_sector``, ~2 MB
each; ``--archive`` reuses one written before) is served by the local server (``localserver``, in its own
process) with ``--latency`` seconds before each answer and ``--bandwidth`` bytes/s shared by all
connections, behind a MAST-style ``tesscurl_sector_1_lc.sh``. CLARA's published P3/P5/P9 models score
(``../shared/data/clara_published``), WRSS on.

(a) ``clara download`` (``--threads`` threads) into an empty folder, then ``clara score`` on that folder
    (``--workers`` processes): the way CLARA (and clara before stream mode) does a sector.
(b) ``clara score`` in stream mode on the same script (``--workers`` processes sharing ``--threads``
    download threads), once per ``--keep`` value (default ``none`` and ``candidates``: what stream mode
    itself leaves on disk, and what the models ask to keep; the second depends on how many stars score
    above 0 in any model, not on stream mode).

Every run is the real command line (a subprocess, as a user runs it). Measured per run: wall time; CPU
time of the command's whole process tree (``RUSAGE_CHILDREN``), per light curve, and the server's CPU
apart; disk used by the run's folders (sampled every 0.25 s: peak, and at the end); peak memory (sum of
the RSS of the command's processes, sampled every 0.1 s). The archive itself (the stand-in for MAST) is
not counted. Goals (issue 16): (b) wall within 10% of the download alone; (b) final disk under 5% of (a)'s.
The outputs of (a) and (b) are compared (score CSVs byte for byte, the manifest byte for byte).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from benchdata import MODELS, ROOT, SHARED

sys.path.insert(0, str(ROOT))


def make_archive(archive: Path, stars: int) -> list[str]:
    from clara_benchmark.synthetic.sector import write_sector

    existing = sorted(p.name for p in archive.glob("*.fits")) if archive.is_dir() else []
    if len(existing) >= stars:
        return existing[:stars]
    started = time.perf_counter()
    sim = write_sector(archive, n_stars=stars, sector=1, seed=16, max_workers=2)
    print(f"simulated {stars} stars in {time.perf_counter() - started:.0f} s into {archive}", flush=True)
    return sorted(sim.truth["filename"])


def start_server(root: Path, latency: float, bandwidth: float | None = None):
    from clara_benchmark.tess_spoc_download.localserver import spawn

    return spawn(root, latency, bandwidth, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def folder_bytes(root: Path) -> int:
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:
                pass
    return total


class Sampler(threading.Thread):
    """Peak disk of ``folders`` and peak RSS of the process tree of ``pid`` while a command runs."""

    def __init__(self, pid: int, folders: list[Path]):
        super().__init__(daemon=True)
        self.pid, self.folders = pid, folders
        self.peak_disk = self.peak_rss = 0
        self.done = threading.Event()

    def tree_rss(self) -> int:
        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        tick = 0
        while not self.done.is_set():
            self.peak_rss = max(self.peak_rss, self.tree_rss())
            if tick % 3 == 0:
                self.peak_disk = max(self.peak_disk, sum(folder_bytes(f) for f in self.folders))
            tick += 1
            self.done.wait(0.08)


def run_command(
    name: str, command: str, work: Path, config: dict, folders: list[Path], server: psutil.Process
) -> dict:
    """One CLI run as a subprocess, measured."""
    cfg = work / f"{name}.json"
    cfg.write_text(json.dumps(config))
    argv = [sys.executable, "-m", "clara_benchmark.cli", command, "--config", str(cfg)]
    argv += ["--log_dir", str(work / "logs"), "--quiet", "--monitor_interval", "60"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=work)
    sampler = Sampler(proc.pid, folders)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.exit(f"{name}: exit code {code}; see {work / 'logs'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    final = sum(folder_bytes(f) for f in folders)
    return {
        "wall": wall,
        "cpu": cpu,
        "server_cpu": sum(server.cpu_times()[:2]) - server_before,
        "peak_disk": max(sampler.peak_disk, final),
        "final_disk": final,
        "peak_rss": sampler.peak_rss,
    }


def configs(work: Path, base: str, args, names: list[str]) -> tuple[dict, dict, dict]:
    """(download config, score config, stream config: ``keep_fits`` and folders set per run)."""
    catalogues = work / "catalogues"
    catalogues.mkdir(exist_ok=True)
    url = f"{base}api/v0.1/Download/file/?uri=mast:TESS/product/"
    (catalogues / "tesscurl_sector_1_lc.sh").write_text(
        "#!/bin/sh\n" + "".join(f"curl -C - -L -o {n} {url}{n}\n" for n in names)
    )
    models = {f"{k}model_path": str(SHARED / "data" / "clara_published" / v) for k, v in MODELS.items()}
    scoring = {"use_p3": True, "use_p5": True, "use_p9": True, "calculate_wrss_p3p9": True, **models}
    scoring.update(max_workers=args.workers, batch_size=args.batch_size)
    download = {
        "1": {
            "sector_number": 1,
            "catalogues_folder": str(catalogues),
            "out_dir_tess": str(work / "a_fits"),
            "max_downloads": len(names),
            "log_file": str(work / "logs" / "download_tess_lc.log"),
            "num_threads": args.threads,
        }
    }
    score = {"input_dirs": [str(work / "a_fits" / "1")], "output_dir": str(work / "a_scores"), **scoring}
    stream = {
        "sector_number": 1,
        "catalogues_folder": str(catalogues),
        "num_threads": args.threads,
        **scoring,
    }
    return download, score, stream


def compare(work: Path, keep: str) -> str:
    a, b = work / "a_scores", work / f"b_{keep}_scores"
    same = []
    for model in ("p3", "p5", "p9"):
        (pa,), (pb,) = a.glob(f"anomaly_scores_{model}_*.csv"), b.glob(f"anomaly_scores_{model}_*.csv")
        same.append(pa.read_bytes() == pb.read_bytes())
    manifest = "manifest_sector_1.csv"
    same.append(
        (work / "a_fits" / "1" / manifest).read_bytes()
        == (work / f"b_{keep}_fits" / "1" / manifest).read_bytes()
    )
    return "identical" if all(same) else f"DIFFERENT ({same})"


def one_round(work: Path, base: str, args, names: list[str], server: psutil.Process) -> dict:
    for folder in work.iterdir():
        if folder.name != "archive" and folder.is_dir():
            shutil.rmtree(folder)
    download, score, stream = configs(work, base, args, names)
    a_folders = [work / "a_fits", work / "a_scores"]
    out = {"download": run_command("download", "download", work, download, a_folders, server)}
    out["score"] = run_command("score", "score", work, score, a_folders, server)
    out["stream"] = {}
    for keep in args.keep:
        fits_dir, scores = work / f"b_{keep}_fits", work / f"b_{keep}_scores"
        cfg = {**stream, "keep_fits": keep, "out_dir_tess": str(fits_dir), "output_dir": str(scores)}
        measured = run_command(f"stream_{keep}", "score", work, cfg, [fits_dir, scores], server)
        measured["kept"] = len(list((fits_dir / "1").glob("*.fits")))
        measured["outputs"] = compare(work, keep)
        out["stream"][keep] = measured
    return out


def report(rounds: list[dict], args, n: int, total_mb: float, load: str) -> None:
    mb = 1e6
    print(f"load average (1/5/15 min) before: {load}; after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{n} stars, {total_mb:.0f} MB, {args.latency * 1000:.0f} ms latency, {args.bandwidth / mb:.0f} MB/s "
        f"cap; {args.workers} workers, {args.threads} download threads, batch {args.batch_size}"
    )
    header = f"{'run':<28} {'wall s':>7} {'CPU ms/LC':>9} {'server ms/LC':>12} {'peak disk MB':>12} "
    print(header + f"{'final disk MB':>13} {'peak RSS MB':>11}")
    for i, r in enumerate(rounds):
        a = {k: r["download"][k] + r["score"][k] for k in ("wall", "cpu", "server_cpu")}
        a["peak_disk"] = max(r["download"]["peak_disk"], r["score"]["peak_disk"])
        a["final_disk"] = r["score"]["final_disk"]
        a["peak_rss"] = max(r["download"]["peak_rss"], r["score"]["peak_rss"])
        rows = [("(a) download", r["download"]), ("(a) then score", r["score"]), ("(a) download + score", a)]
        rows += [(f"(b) stream, keep_fits {k}", m) for k, m in r["stream"].items()]
        for label, m in rows:
            print(
                f"{label:<28} {m['wall']:>7.1f} {m['cpu'] / n * 1000:>9.1f} {m['server_cpu'] / n * 1000:>12.2f} "
                f"{m['peak_disk'] / mb:>12.0f} {m['final_disk'] / mb:>13.1f} {m['peak_rss'] / mb:>11.0f}"
            )
        for keep, b in r["stream"].items():
            print(
                f"round {i + 1}, keep_fits {keep}: (b) wall / (a) download wall = "
                f"{b['wall'] / r['download']['wall']:.3f} (goal <= 1.10); (b) wall / (a) total = "
                f"{b['wall'] / a['wall']:.3f}; (b) final disk / (a) final disk = "
                f"{b['final_disk'] / a['final_disk']:.4f} (goal < 0.05); {b['kept']} of {n} FITS kept; "
                f"outputs vs (a): {b['outputs']}"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stars", type=int, default=2000)
    p.add_argument("--latency", type=float, default=0.05, help="seconds the server waits per request")
    p.add_argument("--bandwidth", type=float, default=200e6, help="bytes/s for all connections together")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=16, help="download threads (the whole run, both modes)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--keep", nargs="+", default=["none", "candidates"], choices=["none", "candidates", "all"])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()), help="where runs write")
    p.add_argument("--archive", type=Path, default=None, help="reuse (or keep) the simulated archive here")
    args = p.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench_stream_", dir=args.workdir) as tmp:
        work = Path(tmp)
        archive = args.archive or work / "archive"
        names = make_archive(archive, args.stars)
        total_mb = sum((archive / n).stat().st_size for n in names) / 1e6
        server, base = start_server(archive, args.latency, args.bandwidth)
        try:
            rounds = [
                one_round(work, base, args, names, psutil.Process(server.pid)) for _ in range(args.repeat)
            ]
        finally:
            server.terminate()
            server.wait(timeout=10)
    report(rounds, args, len(names), total_mb, load)


if __name__ == "__main__":
    main()
