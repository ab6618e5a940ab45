"""``cluster_algorithm: "compare"``: several algorithms on one matrix, one table and one plot.

Beyond CLARA. Each algorithm runs as :func:`clara_benchmark.clustering.pipeline.cluster` would run it;
on a distance matrix only the density-based ones run (the others get a row saying why).
"""

from __future__ import annotations

import io

import numpy as np

from clara_benchmark.clustering.algorithms import ALGORITHMS, DENSITY_BASED, validate_params
from clara_benchmark.clustering.pipeline import ClusteringResult, cluster
from clara_benchmark.exceptions import ConfigError

COLUMNS = (
    "algorithm",
    "n_clusters",
    "n_noise",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "inertia",
    "aic",
    "bic",
    "seconds",
    "skipped",
)


def compare_algorithms(
    x,
    algorithms=ALGORITHMS,
    params: dict | None = None,
    *,
    preprocessing: str = "standard",
    is_distance_matrix: bool = False,
):
    """Run each algorithm; return ``(table, results)``.

    ``table`` is a pandas DataFrame with one row per algorithm (:data:`COLUMNS`); ``results`` maps each
    algorithm that ran to its :class:`ClusteringResult`. ``params`` is one flat dict (CLARA's config keys),
    each algorithm taking its own keys from it. Unknown algorithm or parameter: ``ConfigError``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.zeros((20, 2)), np.full((20, 2), 10.0)] + np.random.default_rng(0).normal(size=(40, 2))
    >>> table, results = compare_algorithms(x, ["kmeans", "gmm"], {"n_clusters": 2, "n_components": 2})
    >>> table[["algorithm", "n_clusters"]].to_dict("records")
    [{'algorithm': 'kmeans', 'n_clusters': 2}, {'algorithm': 'gmm', 'n_clusters': 2}]
    """
    import pandas as pd

    algorithms = list(algorithms)
    if not algorithms:
        raise ConfigError('key "algorithms": name at least one algorithm to compare')
    for name in algorithms:
        validate_params(name, params)
    rows, results = [], {}
    for name in algorithms:
        if is_distance_matrix and name not in DENSITY_BASED:
            rows.append({"algorithm": name, "skipped": "needs feature vectors, not a distance matrix"})
            continue
        result = cluster(x, name, params, preprocessing=preprocessing, is_distance_matrix=is_distance_matrix)
        results[name] = result
        m = result.metrics
        rows.append(
            {
                "algorithm": name,
                "n_clusters": m.n_clusters,
                "n_noise": m.n_noise,
                "silhouette": m.silhouette,
                "calinski_harabasz": m.calinski_harabasz,
                "davies_bouldin": m.davies_bouldin,
                "inertia": m.inertia,
                "aic": m.aic,
                "bic": m.bic,
                "seconds": result.seconds,
                "skipped": None,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)), results


def comparison_plot(table) -> bytes:
    """PNG bytes: clusters/noise and the three scores per algorithm, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ran = table[table["skipped"].isna()]
    fig = Figure(figsize=(12, 3.2), dpi=100)
    panels = (
        ("n_clusters", "clusters"),
        ("n_noise", "noise points"),
        ("silhouette", "silhouette (higher is better)"),
        ("calinski_harabasz", "Calinski–Harabasz (higher)"),
        ("davies_bouldin", "Davies–Bouldin (lower)"),
    )
    for i, (column, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        values = np.array([np.nan if v is None else float(v) for v in ran[column]], dtype=float)
        ax.bar(list(ran["algorithm"]), np.nan_to_num(values, nan=0.0), color="tab:blue")
        for j, v in enumerate(values):
            if np.isnan(v):
                ax.text(j, 0, "n/a", ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def best_by_silhouette(results: dict[str, ClusteringResult]) -> str | None:
    """The algorithm with the highest defined silhouette, or None."""
    scored = {k: r.metrics.silhouette for k, r in results.items() if r.metrics.silhouette is not None}
    return max(scored, key=scored.get) if scored else None
