"""The ``clustering`` command: cluster a feature matrix (or DTW distances) as CLARA's pipeline does, and more.

config (every parameter checked, unknown keys refused) → ``featuresets.load_matrix`` (CLARA's ``.npy`` +
``.txt``, or the ``.npz`` written by ``features``) → ``clustering.cluster`` (or, for ``cluster_algorithm``
"compare", ``clustering.compare.compare_algorithms``) → in ``output_dir``:

* ``<algo>_results_<ts>.csv`` (``filename,cluster_label``, −1 = noise) and ``<algo>_metadata_<ts>.txt``
  (``clustering.metadata_text``): CLARA's files, one pair per algorithm that ran;
* ``<algo>_map_<ts>.png`` and ``.csv``: the 2-D map (PCA or t-SNE) coloured by cluster, each point's TIC;
* compare: ``clustering_comparison_<ts>.csv`` and ``.png`` (one row / bar per algorithm), the map drawn
  for the best by silhouette;
* ``clustering_<ts>.json``: what this run wrote (the report reads the newest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clara_benchmark import products
from clara_benchmark.config import ClusteringConfig
from clara_benchmark.exceptions import ClaraError
from clara_benchmark.featuresets import LoadedMatrix, load_matrix


def run(config: ClusteringConfig, ctx) -> int:
    data = read_input(config, ctx)
    out = Path(config.output_dir)
    ts = ctx.timestamp
    record = {
        "timestamp": ts,
        "features_path": str(config.features_path),
        "matrix": config.matrix,
        "method": data.method,
        "n_samples": len(data.filenames),
        "algorithms": {},
    }
    if config.cluster_algorithm == "compare":
        results = compare(config, ctx, data, out, record)
    else:
        results = {config.cluster_algorithm: fit(config, data, config.cluster_algorithm)}
    for name, result in results.items():
        record["algorithms"][name] = write_result(config, ctx, data, name, result, out)
    shown = record.get("best") or next(iter(results))
    record["algorithm"] = shown
    record.update(draw_map(config, ctx, data, shown, results[shown], out))
    record_path = products.write_json(products.CLUSTER_RECORD.path(out, ts=ts), record)
    ctx.log.log(f"wrote {record_path}")
    return 0


def read_input(config: ClusteringConfig, ctx) -> LoadedMatrix:
    if config.input_kind == ".npz" and config.filenames_path is not None:
        ctx.log.main(
            f"note: filenames_path {config.filenames_path} not used: the .npz carries the file names"
        )
    data = load_matrix(
        config.features_path, config.filenames_path if config.input_kind == ".npy" else None, config.matrix
    )
    if config.matrix == "dtw" and not config.is_distance_matrix:
        ctx.log.main('note: the "dtw" matrix is a distance matrix: clustered as is_distance_matrix true')
    shape = " x ".join(map(str, data.x.shape))
    ctx.log.main(
        f"clustering {data.source}: {shape}"
        + (
            " distance matrix"
            if config.distance_matrix
            else f" features, preprocessing {config.preprocessing}"
        )
    )
    if len(data.filenames) < 2:
        raise ClaraError(f"{data.source}: clustering needs at least 2 rows, got {len(data.filenames)}")
    return data


def fit(config: ClusteringConfig, data: LoadedMatrix, algorithm: str):
    from clara_benchmark.clustering import cluster

    try:
        return cluster(
            data.x,
            algorithm,
            config.params(),
            preprocessing=config.preprocessing,
            is_distance_matrix=config.distance_matrix,
        )
    except ValueError as exc:  # a bad matrix (NaN rows, not square), or too few rows for the estimator
        raise ClaraError(
            f"{data.source}: {algorithm} cannot cluster it: {' '.join(str(exc).split())}"
        ) from None


def compare(config: ClusteringConfig, ctx, data: LoadedMatrix, out: Path, record: dict) -> dict:
    from clara_benchmark.clustering.compare import best_by_silhouette, compare_algorithms, comparison_plot

    try:
        table, results = compare_algorithms(
            data.x,
            config.algorithms,
            config.params(),
            preprocessing=config.preprocessing,
            is_distance_matrix=config.distance_matrix,
        )
    except ValueError as exc:
        raise ClaraError(f"{data.source}: cannot cluster it: {' '.join(str(exc).split())}") from None
    counts = {
        c: table[c].astype("Int64") for c in ("n_clusters", "n_noise")
    }  # whole numbers, blank if skipped
    csv_path = products.write_frame(
        products.CLUSTER_COMPARISON.path(out, ts=ctx.timestamp), table.assign(**counts)
    )
    png_path = products.write_bytes(
        products.CLUSTER_COMPARISON_PLOT.path(out, ts=ctx.timestamp), comparison_plot(table)
    )
    record.update(comparison_csv=csv_path.name, comparison_png=png_path.name)
    best = best_by_silhouette(results)
    record["best"] = best
    for row in table.itertuples(index=False):
        if row.skipped is not None and row.skipped == row.skipped:
            ctx.log.main(f"compare: {row.algorithm} skipped: {row.skipped}")
    ctx.log.main(
        f"compared {', '.join(results)}; best by silhouette: {best or 'none (no silhouette defined)'} "
        f"→ {csv_path}, {png_path}"
    )
    return results


def write_result(config: ClusteringConfig, ctx, data: LoadedMatrix, name: str, result, out: Path) -> dict:
    """CLARA's results CSV and metadata text of one algorithm; returns their names."""
    from clara_benchmark.clustering import metadata_text

    fields = {"algo": name, "ts": ctx.timestamp}
    rows = zip(data.filenames, (int(v) for v in result.labels))
    results_path = products.write_csv(
        products.CLUSTER_RESULTS.path(out, **fields), products.CLUSTER_COLUMNS, rows
    )
    text = metadata_text(
        name,
        result.metrics,
        result.plan.params,
        preprocessing=result.plan.preprocessing,
        is_distance_matrix=result.plan.is_distance_matrix,
        features_path=data.source,
        timestamp=ctx.timestamp,
        notes=result.plan.notes,
    )
    metadata_path = products.CLUSTER_METADATA.path(out, **fields)
    products.write_bytes(metadata_path, text.encode("utf-8"))
    m = result.metrics
    silhouette = "n/a" if m.silhouette is None else f"{m.silhouette:.3f}"
    ctx.log.main(
        f"{name}: {m.n_clusters} clusters, {m.n_noise} noise points, silhouette {silhouette} "
        f"({result.seconds:.2f} s) → {results_path}, {metadata_path.name}"
    )
    return {"results": results_path.name, "metadata": metadata_path.name, "n_clusters": m.n_clusters}


def draw_map(config: ClusteringConfig, ctx, data: LoadedMatrix, name: str, result, out: Path) -> dict:
    """The 2-D map of ``name``'s clusters (PNG + CSV of the coordinates); {} when none is drawn."""
    from clara_benchmark.clustering.map import cluster_map
    from clara_benchmark.clustering.preprocessing import scale_features

    method = config.map_method
    if method == "none":
        return {}
    if method == "auto":
        method = "tsne" if config.distance_matrix else "pca"
    if len(data.filenames) < 3:
        ctx.log.main(f"note: no map: a map needs at least 3 stars, there are {len(data.filenames)}")
        return {}
    x = np.asarray(data.x, dtype=np.float64)
    seen = x if result.plan.is_distance_matrix else scale_features(x, result.plan.preprocessing)
    tics = [t if t >= 0 else None for t in data.tic_ids]
    title = f"{name}: {result.metrics.n_clusters} clusters of {len(tics)} stars ({method.upper()} map)"
    drawn = cluster_map(
        seen,
        result.labels,
        tics,
        method=method,
        is_distance_matrix=result.plan.is_distance_matrix,
        random_state=42 if config.random_state is None else config.random_state,
        title=title,
    )
    fields = {"algo": name, "ts": ctx.timestamp}
    png = products.write_bytes(products.CLUSTER_MAP.path(out, **fields), drawn.png)
    table = drawn.table.assign(filename=data.filenames, tic_id=data.tic_ids)[
        list(products.CLUSTER_MAP_COLUMNS)
    ]
    csv_path = products.write_frame(products.CLUSTER_MAP_CSV.path(out, **fields), table)
    ctx.log.main(f"map ({method}) → {png}, {csv_path.name}")
    return {"map_png": png.name, "map_csv": csv_path.name, "map_method": method}
