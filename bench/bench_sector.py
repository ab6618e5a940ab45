"""Simulated-sector throughput: clara's direct FITS serialiser against astropy's writer, and a whole sector.

    PYTHONPATH=. python bench/bench_sector.py [--stars 1000] [--workers 2] [--out DIR]

Part 1 simulates K stars once, then writes the same HDUs with ``fitsbytes`` (clara) and with
``astropy.io.fits`` (``BinTableHDU.from_columns`` + ``writeto(checksum=True)``, the baseline), in this
process. Part 2 times ``write_sector`` for N full-length (2-minute, ~19.7k-cadence) stars with 1 and W
worker processes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def astropy_inputs(parts: list):
    """Columns and headers for astropy, taken from clara's bytes (prepared outside the timed part)."""
    from astropy.io import fits

    from clara_benchmark.synthetic.sector import COLUMNS

    parsed = fits.HDUList.fromstring(b"".join(bytes(p) for p in parts))
    records = parsed[1].data
    columns = [(n, f, u, d, np.array(records[n])) for n, f, u, d, _ in COLUMNS]
    skip = ("TTYPE", "TFORM", "TUNIT", "TDISP", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS")
    table_cards = [c for c in parsed[1].header.cards if not c.keyword.startswith(skip)]
    return parsed[0].header.copy(), columns, table_cards, np.array(parsed[2].data), parsed[2].header.copy()


def astropy_write(path: Path, inputs) -> None:
    """The same file through astropy: table from columns, headers card by card, checksums by astropy."""
    from astropy.io import fits

    primary, columns, table_cards, image, image_header = inputs
    cols = [fits.Column(name=n, format=f, unit=u, disp=d, array=a) for n, f, u, d, a in columns]
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(header=primary),
            fits.BinTableHDU.from_columns(cols, header=fits.Header(table_cards)),
            fits.ImageHDU(image, header=image_header),
        ]
    )
    hdul.writeto(path, overwrite=True, checksum=True)


def main() -> None:
    from clara_benchmark.synthetic import fitsbytes as fb
    from clara_benchmark.synthetic.sector import (
        _simulate,
        fits_parts,
        plan_stars,
        plan_timeline,
        write_sector,
    )

    ap = argparse.ArgumentParser()
    ap.add_argument("--stars", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=40, help="stars for the writer comparison")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    base = Path(args.out or tempfile.mkdtemp(prefix="clara-bench-sector-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        timeline = plan_timeline(1, 42)
        plan = plan_stars(args.sample, 1, 42)
        t0 = time.perf_counter()
        simulated = [(star, *_simulate(timeline, star, 42)) for star in plan]
        t_sim = (time.perf_counter() - t0) / len(plan)
        (base / "w").mkdir(exist_ok=True)
        t0 = time.perf_counter()
        made = []
        for i, (star, columns, values, _) in enumerate(simulated):
            parts = fits_parts(timeline, star, columns, values)
            fb.write_atomic(base / "w" / f"clara_{i}.fits", parts)
            made.append(parts)
        t_clara = (time.perf_counter() - t0) / len(plan)
        inputs = [astropy_inputs(parts) for parts in made]
        t0 = time.perf_counter()
        for i, prepared in enumerate(inputs):
            astropy_write(base / "w" / f"astropy_{i}.fits", prepared)
        t_astropy = (time.perf_counter() - t0) / len(plan)
        print(f"{timeline.n_cadences} cadences per light curve, {len(plan)} stars")
        print(f"simulate (signals, noise, flags, header values):   {t_sim * 1e3:7.2f} ms/star")
        print(f"FITS out, clara fitsbytes (cards, checksums, file): {t_clara * 1e3:7.2f} ms/star")
        print(
            f"FITS out, astropy from_columns + writeto(checksum): {t_astropy * 1e3:7.2f} ms/star (baseline)"
        )
        print(f"writer speed-up vs astropy: {t_astropy / t_clara:.1f}x")

        for workers in sorted({1, args.workers}):
            out = base / f"sector_w{workers}"
            result = write_sector(out, n_stars=args.stars, sector=1, seed=42, max_workers=workers)
            size = sum(p.stat().st_size for p in out.glob("*.fits")) / 1e9
            print(
                f"write_sector {args.stars} stars, {workers} worker(s): {result.seconds:6.1f} s "
                f"({result.seconds / args.stars * 1e3:.1f} ms/star, {args.stars / result.seconds:.0f} stars/s, "
                f"{size:.2f} GB)"
            )
            shutil.rmtree(out)
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
