"""The numbers of CLARA's clustering metadata file, and the file's text.

:func:`clustering_metrics` computes: number of clusters (noise label −1 excluded), noise points,
silhouette, Calinski–Harabasz and Davies–Bouldin scores, KMeans inertia or the Gaussian mixture's AIC/BIC
(a Bayesian mixture has neither in scikit-learn: its variational lower bound instead), cluster sizes.

Degenerate cases, where scikit-learn's scores are undefined (they need 2 ≤ clusters ≤ samples − 1): one
cluster, all noise, or every point its own cluster → the score is None ("n/a" in the file). The scores
are computed on the non-noise points only (noise is not a cluster); on a precomputed distance matrix the
silhouette uses ``metric="precomputed"`` on the non-noise rows and columns, and Calinski–Harabasz and
Davies–Bouldin (which need coordinates) are None.

:func:`metadata_text` lays these out as CLARA's ``<algo>_metadata_<ts>.txt``. CLARA's writer was not in the
material available to us; the layout below is an assumption from CLARA_LATER.md's list of contents: one
``Name: value`` line per item in that order, then the parameters and the cluster sizes one per line,
floats with 4 decimals, "n/a" when undefined. It takes plain values, so any writer (atomic file, report)
can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClusteringMetrics:
    """Metrics of one clustering (None where undefined)."""

    n_samples: int
    n_clusters: int
    n_noise: int
    silhouette: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    inertia: float | None = None
    aic: float | None = None
    bic: float | None = None
    lower_bound: float | None = None
    cluster_sizes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "cluster_sizes"}
        out["cluster_sizes"] = dict(self.cluster_sizes)
        return out


def _scores(x, labels, precomputed):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    keep = labels != -1
    kept = labels[keep]
    n_kept_clusters = len(np.unique(kept))
    if not (2 <= n_kept_clusters <= len(kept) - 1):
        return None, None, None
    if precomputed:
        return float(silhouette_score(x[np.ix_(keep, keep)], kept, metric="precomputed")), None, None
    xk = x[keep]
    return (
        float(silhouette_score(xk, kept)),
        float(calinski_harabasz_score(xk, kept)),
        float(davies_bouldin_score(xk, kept)),
    )


def clustering_metrics(x, labels, model=None, is_distance_matrix: bool = False) -> ClusteringMetrics:
    """Metrics of ``labels`` on the matrix the estimator saw (scaled features or the distance matrix)."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"{len(labels)} labels for {len(x)} samples")
    values, counts = np.unique(labels, return_counts=True)
    sizes = {int(v): int(c) for v, c in zip(values, counts)}
    silhouette, ch, db = _scores(x, labels, is_distance_matrix)
    extra = {}
    if model is not None and hasattr(model, "inertia_"):
        extra["inertia"] = float(model.inertia_)
    if model is not None and hasattr(model, "aic") and not is_distance_matrix:
        extra["aic"] = float(model.aic(x))
        extra["bic"] = float(model.bic(x))
    elif model is not None and hasattr(model, "lower_bound_"):
        extra["lower_bound"] = float(model.lower_bound_)
    return ClusteringMetrics(
        n_samples=len(labels),
        n_clusters=len([v for v in sizes if v != -1]),
        n_noise=sizes.get(-1, 0),
        silhouette=silhouette,
        calinski_harabasz=ch,
        davies_bouldin=db,
        cluster_sizes=sizes,
        **extra,
    )


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metadata_text(
    algorithm: str,
    metrics: ClusteringMetrics,
    params: dict,
    *,
    preprocessing: str,
    is_distance_matrix: bool,
    features_path: str | None = None,
    timestamp: str | None = None,
    notes: tuple[str, ...] | list[str] = (),
) -> str:
    """The text of ``<algo>_metadata_<ts>.txt`` (see the module docstring for the assumed layout)."""
    lines = [
        f"Clustering Algorithm: {algorithm}",
        f"Timestamp: {timestamp or 'n/a'}",
        f"Features file: {features_path or 'n/a'}",
        f"Preprocessing: {preprocessing}",
        f"Distance matrix: {is_distance_matrix}",
        f"Number of samples: {metrics.n_samples}",
        f"Number of clusters: {metrics.n_clusters}",
        f"Number of noise points: {metrics.n_noise}",
        f"Silhouette Score: {_fmt(metrics.silhouette)}",
        f"Calinski-Harabasz Score: {_fmt(metrics.calinski_harabasz)}",
        f"Davies-Bouldin Score: {_fmt(metrics.davies_bouldin)}",
    ]
    for name, label in (
        ("inertia", "Inertia"),
        ("aic", "AIC"),
        ("bic", "BIC"),
        ("lower_bound", "Lower bound"),
    ):
        value = getattr(metrics, name)
        if value is not None:
            lines.append(f"{label}: {_fmt(value)}")
    lines.append("Parameters:")
    lines += [f"  {key}: {_fmt(value)}" for key, value in params.items()]
    lines.append("Cluster sizes:")
    lines += [
        f"  {'Noise' if label == -1 else f'Cluster {label}'}: {size}"
        for label, size in metrics.cluster_sizes.items()
    ]
    lines += [f"Note: {note}" for note in notes]
    return "\n".join(lines) + "\n"
