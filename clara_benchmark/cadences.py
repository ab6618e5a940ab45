"""Which cadences a light curve keeps: quality bit masks, and 20-second cadences binned to 2 minutes.

Pure functions of arrays (the reader and ``ReadOptions`` in lightcurve.py apply them).

Quality masks
-------------
A cadence is dropped when ``QUALITY & bitmask != 0``, as lightkurve does (it removes the rows; so does
clara, which gives the same features as setting their flux to NaN: clara-4000 uses finite rows only).
``"none"`` (0) is CLARA's behaviour: its reader applied no mask. The named masks are lightkurve's, bit for
bit (tests compare them with ``lightkurve.utils.TessQualityFlags.OPTIONS`` and ``KeplerQualityFlags``):

========== =============================== =====================================
name       TESS (QUALITY)                  Kepler/K2 (SAP_QUALITY)
========== =============================== =====================================
"none"     0                               0
"default"  17087 (bits 1,2,3,4,5,6,8,10,15) 1130799
"hard"     24319 (default | 7,11,12,13)     1664431
"hardest"  65535 (every TESS bit)           2096639
========== =============================== =====================================

For QLP light curves "hard" and "hardest" also drop QLP's low-precision cadences (bit 13, value 4096, in
sectors 1-55; bit 31, value 2**30, from sector 56), as lightkurve's QLP reader does. An integer is used
as it is, on any product.

20-second → 2-minute binning
----------------------------
``bin_cadences(time, flux, flux_err, quality, cadenceno)``: six consecutive 20-s cadences make one 2-min
bin, counted by cadence number from the first cadence with a finite TIME: bin ``(CADENCENO - first) // 6``
(without a CADENCENO column, the cadence number is ``round((TIME - first TIME) / median step)``). Counting
cadences instead of cutting a fixed 120-s grid keeps the bins six cadences wide over a whole sector: TESS
times are barycentric, so cadences drift against any fixed grid by seconds per day. Per bin: TIME is the
mean of its cadences' finite TIMEs; flux is the mean of its finite fluxes when at least
``MIN_FINITE_PER_BIN`` (3 of 6) are finite, else NaN; flux_err is ``sqrt(sum err^2) / n`` over the same
cadences; QUALITY is the bitwise OR of all its cadences' flags. Cadences with a non-finite TIME count for
the numbering but give nothing; a bin with no finite TIME gives no row (data gaps stay gaps). The binned
flux keeps its stored precision (float32 for SPOC): the mean is taken in float64 and rounded once, so the
features' float32 path (features.py) sees data like a 2-minute file's.
"""

from __future__ import annotations

import numpy as np

#: lightkurve's TessQualityFlags bitmasks
TESS_QUALITY_MASKS = {
    "none": 0,
    "default": 1 | 2 | 4 | 8 | 16 | 32 | 128 | 512 | 16384,
    "hard": 1 | 2 | 4 | 8 | 16 | 32 | 128 | 512 | 16384 | 64 | 1024 | 2048 | 4096,
    "hardest": 65535,
}
#: lightkurve's KeplerQualityFlags bitmasks (Kepler and K2 SAP_QUALITY)
KEPLER_QUALITY_MASKS = {"none": 0, "default": 1130799, "hard": 1664431, "hardest": 2096639}
QUALITY_MASK_NAMES = tuple(TESS_QUALITY_MASKS)
#: QLP's "low precision" flag, added to "hard"/"hardest" for QLP light curves (sector < 56, sector >= 56)
QLP_LOW_PRECISION = (2**12, 2**30)
MAX_BITMASK = 2**31 - 1
#: a 2-minute bin needs at least this many finite 20-second fluxes (of 6)
MIN_FINITE_PER_BIN = 3
#: cadences within this many seconds of 20 s are "20-second" data
TWENTY_SECOND_TOLERANCE_S = 1.0


def parse_bitmask(value) -> str | int:
    """A quality bitmask option as given by a user: a mask name, or an integer (also as decimal text).

    Returns the name (lower case) or the integer; raises ``ValueError`` with the accepted values.

    Examples
    --------
    >>> parse_bitmask("Default"), parse_bitmask(175), parse_bitmask("175")
    ('default', 175, 175)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TESS_QUALITY_MASKS:
            return text
        if text.isdigit():
            value = int(text)
        else:
            raise ValueError(
                f"quality_bitmask must be one of {list(QUALITY_MASK_NAMES)} or an integer bit mask, got {value!r}"
            )
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"quality_bitmask must be a mask name or an integer, got {value!r}")
    if not 0 <= int(value) <= MAX_BITMASK:
        raise ValueError(f"quality_bitmask must be between 0 and {MAX_BITMASK}, got {value}")
    return int(value)


def bitmask_value(bitmask: str | int, product: str | None = None, sector: int | None = None) -> int:
    """The integer mask for a mask option and a product (Kepler/K2 flags differ from TESS's)."""
    bitmask = parse_bitmask(bitmask)
    if isinstance(bitmask, int):
        return bitmask
    if product in ("kepler", "k2"):
        return KEPLER_QUALITY_MASKS[bitmask]
    value = TESS_QUALITY_MASKS[bitmask]
    if product == "qlp" and bitmask in ("hard", "hardest"):
        value |= QLP_LOW_PRECISION[1] if (sector or 0) >= 56 else QLP_LOW_PRECISION[0]
    return value


def quality_keep(quality: np.ndarray, bitmask: int) -> np.ndarray:
    """Boolean array: True for the cadences a mask keeps (``quality & bitmask == 0``)."""
    return (np.asarray(quality).astype(np.int64) & int(bitmask)) == 0


def is_twenty_second(cadence_s: float) -> bool:
    """Is this the cadence of SPOC's 20-second light curves?"""
    return bool(np.isfinite(cadence_s) and abs(cadence_s - 20.0) <= TWENTY_SECOND_TOLERANCE_S)


def bin_cadences(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None,
    quality: np.ndarray,
    cadenceno: np.ndarray | None = None,
    per_bin: int = 6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Bin every ``per_bin`` consecutive cadences into one (see the module docstring).

    Parameters
    ----------
    time : array
        Days (BTJD), increasing over its finite values.
    flux, flux_err, quality : arrays
        One value per cadence; ``flux_err`` may be None.
    cadenceno : array, optional
        The CADENCENO column; without it cadence numbers come from the times and their median step.
    per_bin : int
        Cadences per bin (6: 20 s → 120 s).

    Returns
    -------
    (time, flux, flux_err, quality) of the bins; flux and flux_err keep their dtype, quality is int32.

    Examples
    --------
    >>> t = 1000.0 + np.arange(12) * 20 / 86400
    >>> bt, bf, _, bq = bin_cadences(t, np.arange(12, dtype=np.float32), None, np.zeros(12, int))
    >>> bf.tolist(), np.round((bt - 1000.0) * 86400, 3).tolist()
    ([2.5, 8.5], [50.0, 170.0])
    """
    time = np.asarray(time, dtype=np.float64)
    flux = np.asarray(flux)
    out_dtype = flux.dtype if flux.dtype.kind == "f" else np.dtype(np.float64)
    ok_time = np.isfinite(time)
    if not ok_time.any():
        err = None if flux_err is None else np.asarray(flux_err)[:0]
        return np.empty(0), flux[:0].astype(out_dtype), err, np.empty(0, np.int32)
    t = time[ok_time]
    if cadenceno is not None:
        number = np.asarray(cadenceno, dtype=np.int64)[ok_time]
    else:
        step = np.median(np.diff(t)) if len(t) > 1 else 1.0
        number = np.rint((t - t[0]) / step).astype(np.int64)
    _, inverse = np.unique((number - number[0]) // per_bin, return_inverse=True)
    n_bins = int(inverse.max()) + 1
    f = flux[ok_time].astype(np.float64)
    finite = np.isfinite(f)
    n_finite = np.bincount(inverse, weights=finite, minlength=n_bins)
    sums = np.bincount(inverse, weights=np.where(finite, f, 0.0), minlength=n_bins)
    enough = n_finite >= MIN_FINITE_PER_BIN
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(enough, sums / n_finite, np.nan)
        centres = np.bincount(inverse, weights=t, minlength=n_bins) / np.bincount(inverse, minlength=n_bins)
    out_err = None
    if flux_err is not None:
        e = np.asarray(flux_err)[ok_time].astype(np.float64)
        sq = np.bincount(inverse, weights=np.where(finite & np.isfinite(e), e * e, 0.0), minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            out_err = np.where(enough, np.sqrt(sq) / n_finite, np.nan).astype(np.asarray(flux_err).dtype)
    out_q = np.zeros(n_bins, dtype=np.int64)
    np.bitwise_or.at(out_q, inverse, np.asarray(quality)[ok_time].astype(np.int64))
    return centres, mean.astype(out_dtype), out_err, out_q.astype(np.int32)
