"""Compiled form of ``bls.approximate_objective`` (numba): the same boundary sums, one loop per period.

Imported only when numba is installed; ``clara_benchmark.bls`` falls back to its numpy blocks otherwise.
Same arithmetic as the numpy path: key ``k·P + j·bw``, its sample count from the cell table, the
ambiguity test against both neighbouring samples, astropy's padding and window objective.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _bin_sums(xx, cum, start, loops, inv_cell, amb_days, period, bw, nb, ybin, cbin):
    """Per-bin sums and counts of the fold at ``period``; True when a sample is near a boundary.

    ``xx = [-inf, x..., +inf]``: ``xx[i + 1]`` is the first sample at or after a boundary, ``xx[i]`` the
    last one before it; ``start`` covers one period past the last sample, so no clamping is needed.
    """
    n = len(xx) - 2
    for j in range(nb):
        ybin[j] = 0.0
        cbin[j] = 0.0
    ambiguous = False
    prev_idx = 0
    prev_sum = 0.0
    prev_j = 0
    k = 0
    first_j = 1  # the first boundary, 0, is the earliest sample: no interval before it, binned alike by both
    while True:
        base = k * period
        for j in range(first_j, nb):
            b = base + j * bw
            idx = start[int(b * inv_cell)]
            for _ in range(loops):
                idx += 1 if xx[idx + 1] < b else 0
            ambiguous |= (xx[idx + 1] - b < amb_days) | (b - xx[idx] < amb_days)
            s = cum[idx]
            ybin[prev_j] += s - prev_sum
            cbin[prev_j] += idx - prev_idx
            prev_idx = idx
            prev_sum = s
            prev_j = j
            if idx >= n:
                return ambiguous
        k += 1
        first_j = 0


@njit(cache=True, nogil=True)
def objective_kernel(
    xx, cum, start, loops, inv_cell, amb_days, periods, bw, oversample, dur, sum_y, out, amb
):
    n = len(xx) - 2
    max_nb = int(math.ceil(periods.max() / bw))
    ybin = np.zeros(max_nb)
    cbin = np.zeros(max_nb)
    cy = np.zeros(max_nb + oversample + 1)
    cc = np.zeros(max_nb + oversample + 1)
    for p in range(len(periods)):
        period = periods[p]
        nb = int(math.ceil(period / bw))
        amb[p] = _bin_sums(xx, cum, start, loops, inv_cell, amb_days, period, bw, nb, ybin, cbin)
        # astropy's kernel: bins 1..nb, the first `oversample` bins copied over nb..nb+oversample-1
        n_total = nb + oversample
        cy[0] = 0.0
        cc[0] = 0.0
        for i in range(1, n_total + 1):
            if i <= nb - 1:
                yv, cv = ybin[i - 1], cbin[i - 1]
            elif i <= nb - 1 + oversample:
                yv, cv = ybin[i - nb], cbin[i - nb]
            else:
                yv, cv = 0.0, 0.0
            cy[i] = cy[i - 1] + yv
            cc[i] = cc[i - 1] + cv
        best = -np.inf
        for i in range(n_total - dur + 1):
            y_in = cy[i + dur] - cy[i]
            c_in = cc[i + dur] - cc[i]
            c_out = n - c_in
            if c_in < 0.5 or c_out < 0.5:
                continue
            mean_in = y_in / c_in
            mean_out = (sum_y - y_in) / c_out
            if mean_out >= mean_in:
                obj = 0.5 * c_in * (mean_out - mean_in) ** 2
                if obj > best:
                    best = obj
        out[p] = best
