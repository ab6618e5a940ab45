"""Unsupervised Random Forest scoring (CLARA_SPEC §4–§5)."""

from __future__ import annotations

import numpy as np


def anomaly_score(model, features: np.ndarray) -> np.ndarray:
    """CLARA's anomaly score: ``1 − P(real)``, real being class 1 of the real-vs-synthetic forest.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from clara_benchmark import anomaly_score
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (20, 4)), rng.normal(5, 1, (20, 4))])
    >>> forest = RandomForestClassifier(10, random_state=0).fit(X, [1] * 20 + [0] * 20)
    >>> anomaly_score(forest, [[0, 0, 0, 0], [5, 5, 5, 5]]).tolist()  # a "real" row, a "synthetic" one
    [0.0, 1.0]
    """
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"model classes {classes} have no class 1 (real light curves)")
    proba = model.predict_proba(np.asarray(features, dtype=np.float64))
    return 1.0 - proba[:, classes.index(1)]
