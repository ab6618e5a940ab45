"""CLARA's published algorithm, recomputed independently of clara's reader, features and scoring code.

From CLARA's public code (MIT): astropy ``Table.read(path, hdu=1)`` (PDCSAP_FLUX arrives as big-endian
float32), keep rows where TIME and PDCSAP_FLUX are finite, ``(f - mean) / std`` on that column, the first
3000 values zero-padded, astropy ``LombScargle(time, z).power(freqs)``; the model's ``predict_proba`` on the
one row, anomaly score ``1 - P(class 1)``. CLARA also passes the columns through lightkurve; with
lightkurve 2.6 that gives bit-identical times and z-scores on the three real files, so astropy stands in.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
from astropy.table import Table
from astropy.timeseries import LombScargle

FREQS = np.logspace(np.log10(1 / 27), np.log10(1 / (4 / 24)), 1000)  # written as CLARA writes it


def _filled(column) -> np.ndarray:
    """The column's values (masked NaNs back to NaN), dtype and byte order as astropy read them."""
    return np.asarray(column.filled(np.nan) if hasattr(column, "filled") else column)


def clara_features(path) -> np.ndarray:
    """CLARA's 4,000 features of one file (a copy: the cached array is never handed out)."""
    stat = os.stat(path)
    return _clara_features(str(path), stat.st_mtime_ns, stat.st_size).copy()


@functools.lru_cache(maxsize=64)  # ~1 s a file (astropy's LombScargle); tests ask for one file per model
def _clara_features(path: str, mtime_ns: int, size: int) -> np.ndarray:  # noqa: ARG001 (cache key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = Table.read(path, hdu=1)
    time = _filled(table["TIME"])
    flux = _filled(table["PDCSAP_FLUX"])
    mask = np.isfinite(time) & np.isfinite(flux)
    time, flux = time[mask], flux[mask]
    z = (flux - np.mean(flux)) / np.std(flux)
    fv = z[:3000]
    if len(fv) < 3000:
        fv = np.pad(fv, (0, 3000 - len(fv)))
    power = LombScargle(time, z).power(FREQS)
    return np.concatenate([fv, power[:1000]])


def clara_score(model, path) -> float:
    """One file, one row, one predict_proba: CLARA's ``get_anomaly_score``."""
    row = clara_features(path).reshape(1, -1)
    return float(1 - model.predict_proba(row)[0, 1])
