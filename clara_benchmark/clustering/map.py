"""A 2-D map of the clustered stars (PCA or t-SNE, as CLARA's notebooks drew them), coloured by cluster.

:func:`cluster_map` returns the coordinates with each point's TIC id and label (a table a report can use
for hover labels or thumbnails) and a PNG. On a precomputed distance matrix PCA has no coordinates to
work on, so only t-SNE (``metric="precomputed"``) is offered there.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from clara_benchmark.exceptions import ConfigError

METHODS = ("pca", "tsne")
#: annotate points with their TIC when there are at most this many
MAX_LABELLED_POINTS = 60


@dataclass(frozen=True)
class ClusterMap:
    """``table``: pandas DataFrame (tic_id, x, y, cluster_label); ``png``: the figure."""

    table: object
    png: bytes
    method: str


def map_coordinates(x, method: str = "pca", *, is_distance_matrix: bool = False, random_state: int = 42):
    """(n, 2) coordinates: PCA of the features, or t-SNE of the features or of a distance matrix."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in METHODS:
        raise ConfigError(f'key "map_method" must be one of {", ".join(METHODS)}, got {method!r}')
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3:
        raise ValueError(f"a map needs at least 3 stars, got {n}")
    if method == "pca":
        if is_distance_matrix:
            raise ConfigError('key "map_method": PCA needs feature vectors; use "tsne" for a distance matrix')
        return PCA(n_components=2, random_state=random_state).fit_transform(x)
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    if is_distance_matrix:
        tsne = TSNE(2, metric="precomputed", init="random", perplexity=perplexity, random_state=random_state)
    else:
        tsne = TSNE(2, init="pca", perplexity=perplexity, random_state=random_state)
    return tsne.fit_transform(x)


def cluster_map(
    x,
    labels,
    tic_ids=None,
    *,
    method: str = "pca",
    is_distance_matrix: bool = False,
    random_state: int = 42,
    title: str | None = None,
) -> ClusterMap:
    """Coordinates + PNG of the stars coloured by cluster (noise in grey), TIC ids kept per point.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(6, 4))
    >>> m = cluster_map(x, [0, 0, 0, 1, 1, -1], [11, 12, 13, 14, 15, 16])
    >>> list(m.table.columns), m.png[:4]
    (['tic_id', 'x', 'y', 'cluster_label'], b'\x89PNG')
    """
    import pandas as pd

    labels = np.asarray(labels)
    coords = map_coordinates(x, method, is_distance_matrix=is_distance_matrix, random_state=random_state)
    if len(labels) != len(coords):
        raise ValueError(f"{len(labels)} labels for {len(coords)} stars")
    tics = list(tic_ids) if tic_ids is not None else [None] * len(labels)
    if len(tics) != len(labels):
        raise ValueError(f"{len(tics)} TIC ids for {len(labels)} stars")
    table = pd.DataFrame({"tic_id": tics, "x": coords[:, 0], "y": coords[:, 1], "cluster_label": labels})
    return ClusterMap(table, _map_png(table, method, title), method)


def _map_png(table, method: str, title: str | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 5.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab10"]
    for i, label in enumerate(sorted(table["cluster_label"].unique())):
        part = table[table["cluster_label"] == label]
        colour = "lightgrey" if label == -1 else cmap(i % 10)
        name = "noise" if label == -1 else f"cluster {label}"
        ax.scatter(part["x"], part["y"], s=14, color=colour, label=f"{name} ({len(part)})")
    if len(table) <= MAX_LABELLED_POINTS:
        for row in table.itertuples():
            if row.tic_id is not None:
                ax.annotate(str(row.tic_id), (row.x, row.y), fontsize=6, alpha=0.7)
    axis = "PC" if method == "pca" else "t-SNE "
    ax.set_xlabel(f"{axis}1")
    ax.set_ylabel(f"{axis}2")
    ax.set_title(title or f"Clusters ({method.upper()} map)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
