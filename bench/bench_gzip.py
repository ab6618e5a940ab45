"""What reading ``.fits.gz`` costs, and what the gzip-bomb guard costs on top.

    python bench/bench_gzip.py [DIR]     (DIR defaults to ../shared/data/tess)

In one process, interleaved, on the real files and their gzip-compressed copies (level 6, as gzip does):

* plain      ``read_lightcurve`` of the ``.fits`` file (the baseline);
* gz         ``read_lightcurve`` of the ``.fits.gz`` file: clara inflates it into an anonymous file
             (bounded, 1 MiB steps) and hands cfitsio that descriptor, checksums verified after inflating;
* cfitsio    cfitsio inflating the ``.gz`` itself (the reader before the guard: no bound, whole stream in
             memory, checksums not verified);
* inflate    the bounded inflation alone (``fitsfile.open_fits_bytes``);
* bomb       a 1 MiB-of-zeros-per-step stream refused at the cap (time to refusal at 64 MiB).

Prints per-file times and ratios against ``plain``.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import time
import zlib
from pathlib import Path

from benchdata import real_files  # noqa: E402

from clara_benchmark import fitsfile
from clara_benchmark.lightcurve import read_lightcurve


def timed(fn, items, rounds=5):
    """Best of ``rounds`` of the mean time per item."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best


def cfitsio_own(path):
    import fitsio

    fd = os.open(path, os.O_RDONLY)
    try:
        with fitsio.FITS(f"/proc/self/fd/{fd}") as f:
            f[1].read(columns=["TIME", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_FLUX", "QUALITY"])
            f[0].read_header()
    finally:
        os.close(fd)


def inflate_only(path):
    with fitsfile.open_fits_bytes(path):
        pass


def main() -> None:
    root, files = real_files()
    with tempfile.TemporaryDirectory() as tmp:
        gz = []
        for f in files:
            target = Path(tmp) / (f.name + ".gz")
            target.write_bytes(gzip.compress(f.read_bytes(), 6))
            gz.append(target)
        deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = Path(tmp) / "bomb.fits.gz"
        bomb.write_bytes(b"".join(deflater.compress(b"\0" * 2**20) for _ in range(80)) + deflater.flush())
        results = {}
        for _ in range(2):  # interleaved twice; best of each
            for label, fn, items in (
                ("plain", read_lightcurve, files),
                ("gz", read_lightcurve, gz),
                ("cfitsio", cfitsio_own, gz),
                ("inflate", inflate_only, gz),
            ):
                results[label] = min(results.get(label, float("inf")), timed(fn, items))

        def refuse(_):
            try:
                inflate_only(bomb)
            except fitsfile.FitsOpenError:
                pass

        results["bomb"] = timed(refuse, [0], rounds=3)
    size = sum(f.stat().st_size for f in files) / len(files)
    print(f"{len(files)} files from {root}, {size / 1e6:.2f} MB each; bomb {bomb.name} refused at 64 MiB")
    for label, t in results.items():
        print(f"{label:8s}: {t * 1e3:8.2f} ms/file   {t / results['plain']:6.2f}x plain")


if __name__ == "__main__":
    main()
