"""CLARA's feature scaling before clustering: ``standard``, ``minmax``, ``robust`` (scikit-learn) or ``none``."""

from __future__ import annotations

import numpy as np

from clara_benchmark.clustering.algorithms import PREPROCESSING
from clara_benchmark.exceptions import ConfigError


def check_features(x) -> np.ndarray:
    """A finite 2-D float64 feature matrix with at least two rows; ``ValueError`` otherwise."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need a 2-D matrix with at least two rows, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        rows = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
        raise ValueError(f"{len(rows)} rows contain NaN or infinite values (first: row {rows[0]})")
    return x


def check_distance_matrix(d) -> np.ndarray:
    """A square, symmetric, non-negative, finite matrix with a zero diagonal; ``ValueError`` otherwise."""
    d = check_features(d)
    if d.shape[0] != d.shape[1]:
        raise ValueError(f"a distance matrix must be square, got shape {d.shape}")
    if np.any(d < 0):
        raise ValueError("a distance matrix cannot have negative entries")
    if np.any(np.diag(d) != 0):
        raise ValueError("a distance matrix must have a zero diagonal")
    if not np.allclose(d, d.T, rtol=1e-12, atol=0):
        raise ValueError("a distance matrix must be symmetric")
    return d


def scale_features(x, method: str = "standard") -> np.ndarray:
    """``fit_transform`` of scikit-learn's ``StandardScaler``/``MinMaxScaler``/``RobustScaler``, or x as is."""
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    if method not in PREPROCESSING:
        raise ConfigError(f'key "preprocessing" must be one of {", ".join(PREPROCESSING)}, got {method!r}')
    x = check_features(x)
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    return x if method == "none" else scalers[method]().fit_transform(x)
