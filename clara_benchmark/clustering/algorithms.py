"""CLARA's clustering algorithms and parameters, validated, on scikit-learn's estimators.

CLARA's ``clustering`` command reads one flat config with the algorithm's name, the preprocessing, whether
the input is a precomputed distance matrix, and the parameters of all its algorithms with these defaults:
``n_clusters`` 3, ``eps`` 0.5, ``min_samples`` 5, ``min_cluster_size`` 15, ``n_components`` 3,
``covariance_type`` "full", ``weight_concentration_prior_type`` "dirichlet_process",
``weight_concentration_prior`` 0.1, ``random_state`` 42. Each algorithm takes the keys of
:data:`PARAMETERS_BY_ALGORITHM` (the others may be present, as in CLARA's config template, and are unused).
CLARA passes unknown keys silently to the estimator; :func:`validate_params` refuses them naming the key.

``hdbscan`` is scikit-learn's ``HDBSCAN`` (CLARA used the separate ``hdbscan`` package; scikit-learn has
its own since 1.3). With ``is_distance_matrix`` (a square precomputed matrix such as the DTW one) only the
density-based algorithms run, with ``metric="precomputed"``, and no scaling is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from clara_benchmark.config import (
    CLUSTER_ALGORITHMS,
    CLUSTER_COVARIANCE_TYPES,
    CLUSTER_PARAMETERS,
    CLUSTER_PREPROCESSING,
    CLUSTER_PRIOR_TYPES,
    ClusteringConfig,
    config_keys,
)
from clara_benchmark.exceptions import ConfigError

ALGORITHMS = CLUSTER_ALGORITHMS
DENSITY_BASED = ("dbscan", "hdbscan")
PREPROCESSING = CLUSTER_PREPROCESSING
#: CLARA's defaults: the ``clustering`` config keys' defaults (config.py states them once)
DEFAULTS: dict[str, object] = {
    name: config_keys(ClusteringConfig)[name].default for name in CLUSTER_PARAMETERS
}
PARAMETERS_BY_ALGORITHM = {
    "kmeans": ("n_clusters", "random_state"),
    "dbscan": ("eps", "min_samples"),
    "hdbscan": ("min_cluster_size", "min_samples"),
    "gmm": ("n_components", "covariance_type", "random_state"),
    "bgmm": (
        "n_components",
        "covariance_type",
        "weight_concentration_prior_type",
        "weight_concentration_prior",
        "random_state",
    ),
}
COVARIANCE_TYPES = CLUSTER_COVARIANCE_TYPES
PRIOR_TYPES = CLUSTER_PRIOR_TYPES


@dataclass(frozen=True)
class ClusteringPlan:
    """A validated clustering request: what runs, with which parameters (only the algorithm's own)."""

    algorithm: str
    preprocessing: str
    is_distance_matrix: bool
    params: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _int(key, value, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f'key "{key}" must be an integer >= {minimum}, got {value!r}')
    return int(value)


def _positive(key, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ConfigError(f'key "{key}" must be a positive number, got {value!r}')
    return float(value)


def _choice(key, value, choices):
    if value not in choices:
        raise ConfigError(f'key "{key}" must be one of {", ".join(choices)}, got {value!r}')
    return value


def _check(key, value):
    if key in ("n_clusters", "n_components", "min_samples"):
        return _int(key, value, 1)
    if key == "min_cluster_size":
        return _int(key, value, 2)
    if key in ("eps", "weight_concentration_prior"):
        return _positive(key, value)
    if key == "covariance_type":
        return _choice(key, value, COVARIANCE_TYPES)
    if key == "weight_concentration_prior_type":
        return _choice(key, value, PRIOR_TYPES)
    if value is None:  # random_state
        return None
    return _int(key, value, 0)


def validate_params(algorithm: str, params: dict | None = None) -> dict:
    """The algorithm's parameters: CLARA's defaults overridden by ``params``, each checked.

    Raises ``ConfigError`` naming the key for an unknown key or a bad value, or for an unknown algorithm.
    Keys of other algorithms are accepted (CLARA's config template lists them all) and unused.

    Examples
    --------
    >>> validate_params("dbscan", {"eps": 0.8})
    {'eps': 0.8, 'min_samples': 5}
    """
    _choice("cluster_algorithm", algorithm, ALGORITHMS)
    params = dict(params or {})
    unknown = sorted(k for k in params if k not in DEFAULTS)
    if unknown:
        raise ConfigError(
            f'unknown clustering parameter "{unknown[0]}" (known: {", ".join(DEFAULTS)})'
            if len(unknown) == 1
            else f"unknown clustering parameters {', '.join(repr(k) for k in unknown)} (known: {', '.join(DEFAULTS)})"
        )
    checked = {key: _check(key, params[key]) for key in params}
    return {key: checked.get(key, DEFAULTS[key]) for key in PARAMETERS_BY_ALGORITHM[algorithm]}


def plan_clustering(
    algorithm: str,
    params: dict | None = None,
    preprocessing: str = "standard",
    is_distance_matrix: bool = False,
) -> ClusteringPlan:
    """Validate a whole request. A distance matrix is refused for kmeans/gmm/bgmm and is never scaled."""
    resolved = validate_params(algorithm, params)
    _choice("preprocessing", preprocessing, PREPROCESSING)
    if not isinstance(is_distance_matrix, bool):
        raise ConfigError(f'key "is_distance_matrix" must be true or false, got {is_distance_matrix!r}')
    notes = []
    if is_distance_matrix:
        if algorithm not in DENSITY_BASED:
            raise ConfigError(
                f'key "is_distance_matrix": a precomputed distance matrix needs a density-based algorithm '
                f'({", ".join(DENSITY_BASED)}), not "{algorithm}"'
            )
        if preprocessing != "none":
            notes.append(f'preprocessing "{preprocessing}" not applied: the input is a distance matrix')
        preprocessing = "none"
    return ClusteringPlan(algorithm, preprocessing, is_distance_matrix, resolved, tuple(notes))


def make_estimator(plan: ClusteringPlan):
    """The scikit-learn estimator CLARA's pipeline builds for this plan."""
    from sklearn.cluster import DBSCAN, HDBSCAN, KMeans
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    p = plan.params
    metric = {"metric": "precomputed"} if plan.is_distance_matrix else {}
    if plan.algorithm == "kmeans":
        return KMeans(n_clusters=p["n_clusters"], random_state=p["random_state"])
    if plan.algorithm == "dbscan":
        return DBSCAN(eps=p["eps"], min_samples=p["min_samples"], **metric)
    if plan.algorithm == "hdbscan":
        return HDBSCAN(
            min_cluster_size=p["min_cluster_size"], min_samples=p["min_samples"], copy=True, **metric
        )
    if plan.algorithm == "gmm":
        return GaussianMixture(
            n_components=p["n_components"],
            covariance_type=p["covariance_type"],
            random_state=p["random_state"],
        )
    return BayesianGaussianMixture(
        n_components=p["n_components"],
        covariance_type=p["covariance_type"],
        weight_concentration_prior_type=p["weight_concentration_prior_type"],
        weight_concentration_prior=p["weight_concentration_prior"],
        random_state=p["random_state"],
    )
