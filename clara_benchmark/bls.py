"""The peak of astropy's box-least-squares periodogram on astropy's own period grid, exactly, with less work.

CLARA's advanced-10 features need only the grid point where ``BoxLeastSquares(t, y).autopower(0.1)`` peaks
and the depth and duration there. astropy computes all ~30,000–40,000 grid periods of a 27-day sector
(``autoperiod``: uniform in frequency, ``df = duration / baseline²``); its C kernel bins every sample at
every period (O(N) per period: 5–10 s per star here). :func:`bls_peak` returns the same period, power,
depth and duration as astropy, with this work split:

1. **Every period, exact bin sums by boundaries instead of by samples.** For a period P the kernel's
   phase bins of width ``bw = duration/oversample`` are, on the time axis, the intervals between the
   boundaries ``k·P + j·bw`` (epoch k, bin j). With the samples sorted by time, the sum of y (and the
   count) in each interval is a difference of one cumulative sum at two boundary indices, and a
   boundary's index comes from a precomputed table of time cells narrower than the smallest sampling
   step (one table read and one comparison; no search). That is ``baseline/bw`` ≈ 2,800 boundaries per
   period instead of N ≈ 18,000 samples; the rest (wrap-around padding of the first ``oversample`` bins
   over the last, partial bin — as astropy's kernel does it, dropping that bin —, cumulative sums, the
   likelihood ``0.5·n_in·(ȳ_out − ȳ_in)²`` of every window with ``ȳ_out ≥ ȳ_in``) follows the kernel
   line by line, vectorised over blocks of periods with the same bin count.
2. **Where floating point could disagree, astropy decides.** A sample is put in a bin by comparisons with
   boundaries here and by ``floor(wrap(t, P)/bw)`` in astropy; the two can differ only for a sample
   within rounding distance of a boundary. Every period with a sample within ``AMBIGUITY_DAYS`` (1e-11 d,
   a thousand times the rounding error of a 30-day time) of one of its boundaries is flagged. Otherwise
   the per-period powers equal astropy's up to the order of floating-point additions (measured: within
   5e-15 of the maximum on the real files).
3. **The peak is recomputed by astropy.** All flagged periods and all periods whose power is within
   ``REL_MARGIN`` (1e-7) of the maximum are passed to astropy's own ``BoxLeastSquares.power`` (each
   period's result in astropy does not depend on the other periods of the grid), and the highest of those,
   the first in grid order on a tie (``np.argmax``), is the result — so period, power, depth and duration
   are astropy's numbers, not re-derived ones. Typically 1–3 periods are recomputed.

Why a compiled kernel (``_bls_numba.py``, numba): in numpy the boundary sums cost ~10 array passes per
boundary (~40 ns), no cheaper than astropy's C loop per sample, so the numpy path (kept as the fallback
when numba is missing, same numbers) is only ~1.6x faster than CLARA per star; the same loop compiled
costs a few ns per boundary. Measured with ``bench/bench_shapes.py features`` on the 13 real 2-minute
files where CLARA returns a vector (CPU time, one core, busy shared machine): CLARA's
``extract_features_from_fits`` 4.67 s per star, clara's advanced-10 (fold included) 0.84 s: 5.6x (median
5.7x, 3.8x–7.7x per star), the BLS peak itself ~5x; identical numbers (0.0 difference). numba compiles the
kernel once (~11 s cold, cached on disk afterwards: a worker's first call then costs ~1–4 s of imports).
For a 10-minute-cadence file (~1 sample per boundary) there is no gain over astropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a sample closer than this to a bin boundary (days) sends its period to astropy
AMBIGUITY_DAYS = 1e-11
#: periods within this fraction of the approximate maximum are recomputed by astropy
REL_MARGIN = 1e-7
#: boundaries per vectorised block (bounded memory: ~10 arrays of this many float64)
BLOCK_KEYS = 1 << 16
#: the time-cell table may have at most this many cells per sample (else fewer, wider cells)
MAX_CELLS_PER_SAMPLE = 8


@dataclass(frozen=True)
class BlsPeak:
    """astropy's BLS result at the highest-power grid period.

    Attributes
    ----------
    period_days, power, depth, duration_days, depth_snr, transit_time : float
        astropy's values at that period (``power`` is the log-likelihood objective).
    index : int
        Position of the period in the grid.
    n_periods : int
        Grid size.
    n_exact : int
        Periods recomputed by astropy (flagged or near the top).
    """

    period_days: float
    power: float
    depth: float
    duration_days: float
    depth_snr: float
    transit_time: float
    index: int
    n_periods: int
    n_exact: int


class _TimeIndex:
    """#samples with time < b for many b: a table of cells narrower than the sampling step."""

    def __init__(self, x: np.ndarray, reach: float | None = None):
        n = len(x)
        steps = np.diff(x)
        steps = steps[steps > 0]
        span = float(x[-1]) if n else 0.0
        cell = 0.999 * float(steps.min()) if len(steps) else 1.0
        cell = max(cell, span / (MAX_CELLS_PER_SAMPLE * n + 1), 1e-300)
        self.inv_cell = 1.0 / cell
        # cells up to `reach` (past the last sample), so that a boundary's cell needs no clamping
        self.n_cells = int(max(span, reach or 0.0) * self.inv_cell) + 2
        start = np.searchsorted(x, np.arange(self.n_cells) * cell, side="left")
        self.start = start
        self.loops = int(np.max(np.diff(np.append(start, n)))) if n else 0
        self.hi = np.append(x, np.inf)  # hi[i] = x[i]
        self.lo = np.concatenate([[-np.inf], x])  # lo[i] = x[i-1]

    def count_below(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(#x < b, ambiguous) for each b >= 0; ambiguous where a sample is within AMBIGUITY_DAYS of b."""
        c = (b * self.inv_cell).astype(np.int64)
        np.minimum(c, self.n_cells - 1, out=c)
        idx = self.start[c]
        for _ in range(self.loops):
            idx += self.hi[idx] < b
        ambiguous = (self.hi[idx] - b < AMBIGUITY_DAYS) | (b - self.lo[idx] < AMBIGUITY_DAYS)
        return idx, ambiguous


def _block_objective(index, cum, sum_y, n, periods, nb, n_epochs, bw, oversample, dur):
    """Best objective of each period in a block sharing ``nb`` bins; and whether any boundary was ambiguous."""
    m = len(periods)
    keys = (np.arange(n_epochs + 1)[None, :, None] * periods[:, None, None]) + (np.arange(nb) * bw)[
        None, None, :
    ]
    keys = keys.reshape(m, -1)
    idx, ambiguous = index.count_below(keys)
    ambiguous[:, 0] = False  # the first boundary is 0 = the earliest sample, binned alike by both
    rows = n_epochs * nb
    y_bins = np.diff(cum[idx], axis=1)[:, :rows].reshape(m, n_epochs, nb).sum(axis=1)
    n_bins_data = np.diff(idx, axis=1)[:, :rows].reshape(m, n_epochs, nb).sum(axis=1).astype(np.float64)
    zero = np.zeros((m, 1))
    # astropy's kernel: bins 1..nb, then the first `oversample` bins copied over nb..nb+oversample-1
    y_pad = np.concatenate([zero, y_bins[:, : nb - 1], y_bins[:, :oversample], zero], axis=1)
    c_pad = np.concatenate([zero, n_bins_data[:, : nb - 1], n_bins_data[:, :oversample], zero], axis=1)
    cy = np.cumsum(y_pad, axis=1)
    cc = np.cumsum(c_pad, axis=1)
    n_total = nb + oversample
    y_in = cy[:, dur : n_total + 1] - cy[:, : n_total - dur + 1]
    c_in = cc[:, dur : n_total + 1] - cc[:, : n_total - dur + 1]
    c_out = n - c_in
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in = y_in / c_in
        mean_out = (sum_y - y_in) / c_out
        objective = 0.5 * c_in * (mean_out - mean_in) ** 2
    valid = (c_in > 0.5) & (c_out > 0.5) & (mean_out >= mean_in)
    objective = np.where(valid, objective, -np.inf)
    return objective.max(axis=1), ambiguous.any(axis=1)


def approximate_objective(
    x: np.ndarray,
    y: np.ndarray,
    periods: np.ndarray,
    duration: float,
    oversample: int,
    use_numba: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-period log-likelihood objective of astropy's kernel (sorted ``x >= 0`` from 0, centred ``y``).

    Returns ``(objective, ambiguous)``; -inf where no window has samples in and out of transit.
    ``use_numba`` (default: when numba is installed) runs the same steps as one compiled loop.
    """
    n = len(x)
    bw = duration / float(oversample)
    dur = int(np.floor(duration / bw + 0.5))
    cum = np.concatenate([[0.0], np.cumsum(y)])
    sum_y = float(np.sum(y))
    index = _TimeIndex(x, reach=float(x[-1] + np.max(periods) + 2 * bw))
    kernel = _numba_kernel() if use_numba is not False else None
    if use_numba and kernel is None:
        raise RuntimeError("use_numba=True but numba is not installed")
    if kernel is not None:
        out = np.empty(len(periods))
        ambiguous = np.zeros(len(periods), dtype=bool)
        xx = np.concatenate([[-np.inf], x, [np.inf]])
        table = (index.start, index.loops, index.inv_cell, AMBIGUITY_DAYS)
        kernel(xx, cum, *table, periods, bw, oversample, dur, sum_y, out, ambiguous)
        return out, ambiguous
    nb_all = np.ceil(periods / bw).astype(np.int64)
    epochs_all = np.floor(x[-1] / periods).astype(np.int64) + 1
    out = np.empty(len(periods))
    ambiguous = np.zeros(len(periods), dtype=bool)
    cuts = np.flatnonzero(np.diff(nb_all)) + 1
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(periods)]):
        nb = int(nb_all[start])
        n_epochs = int(epochs_all[start:stop].max())
        step = max(1, BLOCK_KEYS // ((n_epochs + 1) * nb))
        for a in range(start, stop, step):
            b = min(stop, a + step)
            out[a:b], ambiguous[a:b] = _block_objective(
                index, cum, sum_y, n, periods[a:b], nb, n_epochs, bw, oversample, dur
            )
    return out, ambiguous


_KERNEL: list = []


def _numba_kernel():
    """The compiled loop (numba), or None when numba is not installed. Compiled once per process (cached)."""
    if not _KERNEL:
        try:
            from clara_benchmark._bls_numba import objective_kernel
        except ImportError:
            objective_kernel = None
        _KERNEL.append(objective_kernel)
    return _KERNEL[0]


def bls_peak(
    time: np.ndarray,
    y: np.ndarray,
    duration: float = 0.1,
    oversample: int = 10,
    periods: np.ndarray | None = None,
    use_numba: bool | None = None,
) -> BlsPeak:
    """astropy ``BoxLeastSquares(time, y).autopower(duration)`` at its highest-power period, exactly.

    Parameters
    ----------
    time, y : numpy.ndarray
        Finite samples (``dy`` is None: unit weights, as CLARA calls it).
    duration : float
        The single transit duration searched, days.
    oversample : int
        Bins per duration (astropy's default 10).
    periods : numpy.ndarray, optional
        The grid; default astropy's ``autoperiod(duration)``.
    use_numba : bool, optional
        Compiled or numpy boundary sums (same numbers); default compiled when numba is installed.

    Returns
    -------
    BlsPeak
        Raises ``ValueError`` when no grid period has a box model (e.g. fewer than two samples).
    """
    from astropy.timeseries import BoxLeastSquares

    t = np.ascontiguousarray(time, dtype=np.float64)
    yy = np.ascontiguousarray(y, dtype=np.float64)
    bls = BoxLeastSquares(t, yy)
    if periods is None:
        periods = bls.autoperiod(duration)
    periods = np.ascontiguousarray(periods, dtype=np.float64)
    if len(t) < 2 or periods.min() < duration:
        raise ValueError("BLS needs at least two samples and periods longer than the duration")
    x = t - np.min(t)
    order = np.argsort(x, kind="stable")
    objective, ambiguous = approximate_objective(
        x[order], (yy - np.median(yy))[order], periods, duration, oversample, use_numba
    )
    top = objective.max()
    if not np.isfinite(top):
        raise ValueError("no BLS box model: no period has samples both in and out of transit")
    candidates = np.flatnonzero(ambiguous | (objective >= top - REL_MARGIN * abs(top)))
    exact = bls.power(periods[candidates], duration, objective="likelihood", oversample=oversample)
    best = int(np.argmax(exact.power))
    return BlsPeak(
        period_days=float(periods[candidates[best]]),
        power=float(exact.power[best]),
        depth=float(exact.depth[best]),
        duration_days=float(exact.duration[best]),
        depth_snr=float(exact.depth_snr[best]),
        transit_time=float(exact.transit_time[best]),
        index=int(candidates[best]),
        n_periods=len(periods),
        n_exact=len(candidates),
    )
