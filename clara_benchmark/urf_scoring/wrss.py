"""WRSS: CLARA's combination of the P3 and P9 anomaly scores (CLARA_SPEC §5).

Rows scoring > 0 in both models are inner-joined on filename, then
``score_weighted_root_sum = 0.8·√s_P3 + 0.2·√s_P9`` and ``score_weighted_root_sumnorm`` is that value
min-max scaled over the joined rows. The normalisation depends on the batch, so the min and max used are
returned for the caller to record. (CLARA calls it a "weighted root sum square"; it is a weighted sum of
square roots.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHT_P3 = 0.8
WEIGHT_P9 = 0.2
WRSS_COLUMNS = [
    "tic_p3",
    "filename",
    "anomaly_score_p3",
    "tic_p9",
    "anomaly_score_p9",
    "score_weighted_root_sum",
    "score_weighted_root_sumnorm",
]


def minmax_scale(values: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
    """Min-max scaling with scikit-learn ``MinMaxScaler``'s arithmetic (``x·s − min·s``, s = 1/range).

    CLARA used MinMaxScaler, whose rounding differs from ``(x − min)/range`` in the last bits; a zero range
    (one row, or all equal: below 10 float64 eps, MinMaxScaler's test) scales to 0 as MinMaxScaler
    does. Returns (scaled, min, max).
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values.copy(), None, None
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo
    scale = 1.0 / (span if span >= 10 * np.finfo(np.float64).eps else 1.0)
    offset = 0.0 - lo * scale
    return values * scale + offset, lo, hi


def wrss_p3p9(p3: pd.DataFrame, p9: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The WRSS table from two ``tic,filename,anomaly_score`` tables, sorted by filename.

    Returns (table with ``WRSS_COLUMNS``, normalisation record {rows, min, max, weights}).
    """
    left = p3.loc[p3["anomaly_score"] > 0, ["tic", "filename", "anomaly_score"]]
    right = p9.loc[p9["anomaly_score"] > 0, ["tic", "filename", "anomaly_score"]]
    joined = pd.merge(left, right, on="filename", how="inner", suffixes=("_p3", "_p9"))
    joined = joined.sort_values("filename", kind="stable").reset_index(drop=True)
    root_sum = WEIGHT_P3 * np.sqrt(joined["anomaly_score_p3"].to_numpy(np.float64)) + WEIGHT_P9 * np.sqrt(
        joined["anomaly_score_p9"].to_numpy(np.float64)
    )
    joined["score_weighted_root_sum"] = root_sum
    scaled, lo, hi = minmax_scale(root_sum)
    joined["score_weighted_root_sumnorm"] = scaled
    record = {
        "rows": int(len(joined)),
        "score_weighted_root_sum_min": lo,
        "score_weighted_root_sum_max": hi,
        "weight_p3": WEIGHT_P3,
        "weight_p9": WEIGHT_P9,
    }
    return joined[WRSS_COLUMNS], record
