"""Light-curve read time: fitsio (clara's reader) against astropy.io.fits, on the real files.

    python bench/bench_read.py [DIR]     (DIR defaults to ../shared/data/tess)

Both read the five columns clara uses plus the primary header, native-endian, in the same process.
"""

from __future__ import annotations

import time

import numpy as np
from astropy.io import fits
from benchdata import real_files  # noqa: E402

from clara_benchmark.lightcurve import COLUMNS, read_lightcurve


def read_astropy(path):
    with fits.open(path, memmap=False) as h:
        data, header = h[1].data, h[0].header
        cols = {c: np.array(data[c], dtype=data[c].dtype.newbyteorder("=")) for c in COLUMNS}
        return cols, header["TICID"]


def timed(fn, files, seconds=3.0):
    for f in files:
        fn(f)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for f in files:
            fn(f)
            n += 1
    return (time.perf_counter() - start) / n


def main() -> None:
    root, files = real_files()
    base = timed(read_astropy, files)
    ours = timed(read_lightcurve, files)
    print(f"{len(files)} files from {root}")
    print(f"astropy.io.fits : {base * 1e3:7.2f} ms/file  {1 / base:8.1f} files/s")
    print(f"fitsio (clara)  : {ours * 1e3:7.2f} ms/file  {1 / ours:8.1f} files/s")
    print(f"ratio           : {base / ours:7.2f}x")


if __name__ == "__main__":
    main()
