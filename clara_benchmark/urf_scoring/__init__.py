"""Unsupervised Random Forest scoring (CLARA_SPEC §4–§5)."""

from __future__ import annotations

import numpy as np


def anomaly_score(model, features: np.ndarray) -> np.ndarray:
    """CLARA's anomaly score: ``1 − P(real)``, real being class 1 of the real-vs-synthetic forest."""
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"model classes {classes} have no class 1 (real light curves)")
    proba = model.predict_proba(np.asarray(features, dtype=np.float64))
    return 1.0 - proba[:, classes.index(1)]
