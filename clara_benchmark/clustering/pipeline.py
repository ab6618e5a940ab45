"""One clustering run as CLARA's pipeline does it: scale, fit the estimator, labels, metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from clara_benchmark.clustering.algorithms import ClusteringPlan, make_estimator, plan_clustering
from clara_benchmark.clustering.metrics import ClusteringMetrics, clustering_metrics
from clara_benchmark.clustering.preprocessing import check_distance_matrix, scale_features


@dataclass(frozen=True)
class ClusteringResult:
    """Labels (−1 = noise) and metrics of one run, with the plan and the fitted estimator."""

    labels: np.ndarray
    metrics: ClusteringMetrics
    plan: ClusteringPlan
    model: object
    seconds: float


def cluster(
    x,
    algorithm: str,
    params: dict | None = None,
    *,
    preprocessing: str = "standard",
    is_distance_matrix: bool = False,
) -> ClusteringResult:
    """Cluster the rows of ``x`` (features, or a square distance matrix with ``is_distance_matrix``).

    Raises ``ConfigError`` for a bad algorithm, parameter or combination, ``ValueError`` for a bad matrix.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 10] + np.random.default_rng(0).normal(size=(40, 2))
    >>> r = cluster(x, "kmeans", {"n_clusters": 2})
    >>> r.metrics.n_clusters, sorted(r.metrics.cluster_sizes.values())
    (2, [20, 20])
    """
    plan = plan_clustering(algorithm, params, preprocessing, is_distance_matrix)
    start = time.perf_counter()
    matrix = check_distance_matrix(x) if plan.is_distance_matrix else scale_features(x, plan.preprocessing)
    model = make_estimator(plan)
    if plan.algorithm in ("gmm", "bgmm"):
        labels = model.fit(matrix).predict(matrix)
    else:
        labels = model.fit_predict(matrix)
    labels = np.asarray(labels, dtype=np.int64)
    seconds = time.perf_counter() - start
    metrics = clustering_metrics(matrix, labels, model, plan.is_distance_matrix)
    return ClusteringResult(labels, metrics, plan, model, seconds)
