"""Clustering of feature vectors or DTW distances as CLARA's ``clustering`` command does it, and more.

Modules: :mod:`.algorithms` (CLARA's algorithms, parameters and defaults, validated),
:mod:`.preprocessing` (scaling, matrix checks), :mod:`.pipeline` (one run), :mod:`.metrics` (the metadata
numbers and text), :mod:`.compare` (several algorithms, one table and plot), :mod:`.map` (2-D map).
"""

from clara_benchmark.clustering.algorithms import (
    ALGORITHMS,
    DEFAULTS,
    DENSITY_BASED,
    PARAMETERS_BY_ALGORITHM,
    PREPROCESSING,
    ClusteringPlan,
    plan_clustering,
    validate_params,
)
from clara_benchmark.clustering.metrics import ClusteringMetrics, clustering_metrics, metadata_text
from clara_benchmark.clustering.pipeline import ClusteringResult, cluster

__all__ = [
    "ALGORITHMS",
    "DEFAULTS",
    "DENSITY_BASED",
    "PARAMETERS_BY_ALGORITHM",
    "PREPROCESSING",
    "ClusteringMetrics",
    "ClusteringPlan",
    "ClusteringResult",
    "cluster",
    "clustering_metrics",
    "metadata_text",
    "plan_clustering",
    "validate_params",
]
