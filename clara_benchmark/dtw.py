"""Pairwise dynamic-time-warping distances of ``bin_means`` vectors (CLARA's ``use_dtw``), in blocks.

CLARA computes ``dtaidistance.dtw.distance_fast(v_i, v_j)`` for every pair in a Python loop (n² calls).
:func:`dtw_distance_matrix` gets the same numbers from dtaidistance's C implementation of the whole
block (``distance_matrix_fast`` with a ``block`` and ``compact=True``: the same C routine as
``distance_fast``, looped in C and parallel over rows with OpenMP), a block of rows at a time, so memory
beyond the output is O(block_rows · n); the output may be a memory-mapped ``.npy`` (pass ``out``) for
matrices larger than memory. DTW is symmetric and dtaidistance's result for (j, i) is bit-identical to
(i, j), so only the upper triangle is computed and mirrored; the diagonal is 0, as ``distance_fast(v, v)``.

The cost is dtaidistance's per-pair C routine (~100–280 µs per 100×100 pair here): clara saves CLARA's
half of the pairs (symmetry), the Python call per pair, and runs rows on all cores. Measured
(``bench/bench_shapes.py dtw``, 1,000 stars × 100 bins, busy 2-core machine): CLARA's loop ≈ 278 s
(extrapolated from 50 rows), clara 100 s on one thread (2.8x), 93 s on two (3.0x), 50 MB peak RSS.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_BLOCK_ROWS = 64


def _as_matrix(vectors) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"need a 2-D array (one vector per row), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("vectors contain NaN or infinite values")
    return x


def dtw_distance_matrix(
    vectors,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The symmetric n×n DTW distance matrix of the rows of ``vectors`` (float64, zero diagonal).

    Parameters
    ----------
    vectors : array-like, shape (n, m)
        One vector per star (e.g. z-scored bin means); finite values.
    block_rows : int
        Rows computed per call into dtaidistance (memory O(block_rows · n) besides the output).
    n_threads : int, optional
        OpenMP threads dtaidistance may use (default: all it finds).
    progress : callable, optional
        ``progress(pairs_done, pairs_total)`` after each block (for a progress bar).
    out : numpy.ndarray, optional
        An (n, n) float64 array to fill (e.g. ``numpy.lib.format.open_memmap``); default a new array.

    Returns
    -------
    numpy.ndarray
        ``D[i, j] = dtaidistance.dtw.distance_fast(vectors[i], vectors[j])``.

    Examples
    --------
    >>> import numpy as np
    >>> d = dtw_distance_matrix(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    >>> d.shape, float(d[0, 0]), bool(d[0, 1] == d[1, 0])
    ((3, 3), 0.0, True)
    """
    from dtaidistance import dtw
    from threadpoolctl import threadpool_limits

    x = _as_matrix(vectors)
    n = len(x)
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive integer, got {block_rows}")
    if out is None:
        out = np.zeros((n, n), dtype=np.float64)
    elif out.shape != (n, n):
        raise ValueError(f"out must have shape {(n, n)}, got {out.shape}")
    total = n * (n - 1) // 2
    done = 0
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        for r0 in range(0, n, block_rows):
            r1 = min(n, r0 + block_rows)
            if r0 + 1 < n:
                flat = np.asarray(
                    dtw.distance_matrix_fast(
                        x, block=((r0, r1), (r0, n)), compact=True, parallel=n_threads != 1
                    )
                )
                _scatter_block(out, flat, r0, r1, n)
                done += len(flat)
            for i in range(r0, r1):
                out[i, i] = 0.0
            if progress is not None:
                progress(done, total)
    return out


def _scatter_block(out: np.ndarray, flat: np.ndarray, r0: int, r1: int, n: int) -> None:
    """Place the compact upper-triangle values of rows r0..r1 (columns > row) and mirror them."""
    pos = 0
    for i in range(r0, r1):
        k = n - i - 1
        row = flat[pos : pos + k]
        out[i, i + 1 :] = row
        out[i + 1 :, i] = row
        pos += k


def dtw_distance_matrix_reference(vectors) -> np.ndarray:
    """CLARA's loop: ``distance_fast`` for every ordered pair (O(n²) Python calls; for tests/benchmarks)."""
    from dtaidistance import dtw

    x = _as_matrix(vectors)
    n = len(x)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = dtw.distance_fast(x[i], x[j])
    return d
