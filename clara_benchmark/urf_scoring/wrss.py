"""WRSS: CLARA's combination of the P3 and P9 anomaly scores (CLARA_SPEC §5).

Rows scoring > 0 in both models are inner-joined on filename, then
``score_weighted_root_sum = 0.8·√s_P3 + 0.2·√s_P9`` and ``score_weighted_root_sumnorm`` is that value
min-max scaled over the joined rows. The normalisation depends on the batch, so the min and max used are
returned for the caller to record. (CLARA calls it a "weighted root sum square"; it is a weighted sum of
square roots.)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from clara_benchmark import products

WEIGHT_P3 = 0.8
WEIGHT_P9 = 0.2
WRSS_COLUMNS = list(products.WRSS_COLUMNS)


class WrssResult(NamedTuple):
    """``table``: the WRSS rows (CLARA_SPEC §5 columns), sorted by file name; ``record``: the batch min/max
    and weights the normalisation used (it depends on the rows scored together)."""

    table: pd.DataFrame
    record: dict


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
    joined[products.WRSS_NORM] = scaled
    record = {
        "rows": int(len(joined)),
        "score_weighted_root_sum_min": lo,
        "score_weighted_root_sum_max": hi,
        "weight_p3": WEIGHT_P3,
        "weight_p9": WEIGHT_P9,
    }
    return joined[WRSS_COLUMNS], record


def wrss(scores: pd.DataFrame, p9: pd.DataFrame | None = None) -> WrssResult:
    """WRSS of P3 and P9 scores: ``0.8·√s_P3 + 0.2·√s_P9`` over the rows scoring > 0 in both, min-max scaled.

    Parameters
    ----------
    scores : DataFrame
        ``score()``'s table (columns ``tic``, ``filename``, ``p3``, ``p9``), or, with ``p9`` given, the P3
        table in the CSV layout (``tic``, ``filename``, ``anomaly_score``).
    p9 : DataFrame, optional
        The P9 table in the CSV layout.

    Returns
    -------
    WrssResult
        ``(table, record)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from clara_benchmark import wrss
    >>> scores = pd.DataFrame({"tic": [1, 2, 3], "filename": ["a", "b", "c"],
    ...                        "p3": [0.25, 0.0, 0.04], "p9": [0.16, 0.3, 0.01]})
    >>> table, record = wrss(scores)
    >>> table["filename"].tolist(), table["score_weighted_root_sumnorm"].round(12).tolist()
    (['a', 'c'], [1.0, 0.0])
    >>> record["rows"], round(record["score_weighted_root_sum_max"], 3)
    (2, 0.48)
    """
    if p9 is None:
        missing = [c for c in ("tic", "filename", "p3", "p9") if c not in scores.columns]
        if missing:
            raise ValueError(f"WRSS needs P3 and P9 scores: no column {', '.join(missing)}")
        p3 = scores[["tic", "filename", "p3"]].rename(columns={"p3": "anomaly_score"})
        p9 = scores[["tic", "filename", "p9"]].rename(columns={"p9": "anomaly_score"})
    else:
        p3 = scores
    return WrssResult(*wrss_p3p9(p3, p9))
