"""Clustering as CLARA's pipeline runs it on scikit-learn; every parameter error; metrics, compare, map;
and a synthetic set (planets / eclipsing binaries / rotators) where the right clustering is known."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from shapes_helpers import dip_depths as _dip_depths
from sklearn.cluster import DBSCAN, HDBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from clara_benchmark.clustering import DEFAULTS, cluster, metadata_text, plan_clustering, validate_params
from clara_benchmark.clustering.compare import best_by_silhouette, compare_algorithms, comparison_plot
from clara_benchmark.clustering.map import cluster_map
from clara_benchmark.clustering.metrics import clustering_metrics
from clara_benchmark.clustering.preprocessing import check_distance_matrix, scale_features
from clara_benchmark.config import ClusteringConfig
from clara_benchmark.dtw import dtw_distance_matrix
from clara_benchmark.exceptions import ConfigError
from conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(7)
    centres = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 3]], dtype=float)
    return np.concatenate([c + rng.normal(size=(40, 4)) for c in centres])


def _claras_estimator(algorithm):
    d = DEFAULTS
    return {
        "kmeans": KMeans(n_clusters=d["n_clusters"], random_state=d["random_state"]),
        "dbscan": DBSCAN(eps=d["eps"], min_samples=d["min_samples"]),
        "hdbscan": HDBSCAN(min_cluster_size=d["min_cluster_size"], min_samples=d["min_samples"], copy=True),
        "gmm": GaussianMixture(
            n_components=d["n_components"],
            covariance_type=d["covariance_type"],
            random_state=d["random_state"],
        ),
        "bgmm": BayesianGaussianMixture(
            n_components=d["n_components"],
            covariance_type=d["covariance_type"],
            weight_concentration_prior_type=d["weight_concentration_prior_type"],
            weight_concentration_prior=d["weight_concentration_prior"],
            random_state=d["random_state"],
        ),
    }[algorithm]


@pytest.mark.parametrize("algorithm", ["kmeans", "dbscan", "hdbscan", "gmm", "bgmm"])
def test_same_labels_as_sklearn_for_claras_pipeline(blobs, algorithm):
    scaled = StandardScaler().fit_transform(blobs)
    estimator = _claras_estimator(algorithm)
    want = (
        estimator.fit(scaled).predict(scaled)
        if algorithm in ("gmm", "bgmm")
        else estimator.fit_predict(scaled)
    )
    result = cluster(blobs, algorithm)
    np.testing.assert_array_equal(result.labels, want)
    assert result.plan.params == validate_params(algorithm)


@pytest.mark.parametrize("algorithm", ["dbscan", "hdbscan"])
def test_same_labels_on_a_precomputed_distance_matrix(blobs, algorithm):
    d = dtw_distance_matrix(blobs)
    params = {"eps": 2.0, "min_samples": 4, "min_cluster_size": 10}
    kwargs = (
        {"eps": 2.0, "min_samples": 4}
        if algorithm == "dbscan"
        else {"min_cluster_size": 10, "min_samples": 4}
    )
    if algorithm == "hdbscan":
        kwargs["copy"] = True
    estimator = (DBSCAN if algorithm == "dbscan" else HDBSCAN)(metric="precomputed", **kwargs)
    result = cluster(d, algorithm, params, preprocessing="standard", is_distance_matrix=True)
    np.testing.assert_array_equal(result.labels, estimator.fit_predict(d))
    assert result.plan.preprocessing == "none" and "not applied" in result.plan.notes[0]


@pytest.mark.parametrize(
    ("method", "scaler"), [("standard", StandardScaler), ("minmax", MinMaxScaler), ("robust", RobustScaler)]
)
def test_preprocessing_is_sklearns(blobs, method, scaler):
    np.testing.assert_array_equal(scale_features(blobs, method), scaler().fit_transform(blobs))
    np.testing.assert_array_equal(scale_features(blobs, "none"), blobs)


def test_defaults_are_claras():
    # CLARA's values (spec CLARA_LATER.md) as the shipped config template states them, a file the code
    # never writes; not a copy of the library's table. The library and the config keys' defaults agree.
    template = json.loads((ROOT / "configs" / "clustering_config.json").read_text())
    inputs = {"features_path", "filenames_path", "output_dir", "cluster_algorithm", "preprocessing"}
    params = {k: v for k, v in template.items() if k not in inputs | {"is_distance_matrix"}}
    assert DEFAULTS == params and len(params) == 9
    assert {f.name: f.default for f in dataclasses.fields(ClusteringConfig) if f.name in params} == params
    assert validate_params("hdbscan", {"eps": 0.9, "min_samples": 2}) == {
        "min_cluster_size": 15,
        "min_samples": 2,
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("n_clusters", 0, "integer >= 1"),
        ("n_clusters", True, "integer >= 1"),
        ("n_clusters", 2.5, "integer >= 1"),
        ("n_components", "3", "integer >= 1"),
        ("min_samples", 0, "integer >= 1"),
        ("min_cluster_size", 1, "integer >= 2"),
        ("eps", 0, "positive number"),
        ("eps", "0.5", "positive number"),
        ("eps", float("nan"), "positive number"),
        ("weight_concentration_prior", -1, "positive number"),
        ("covariance_type", "round", "full, tied, diag, spherical"),
        ("weight_concentration_prior_type", "dirichlet", "dirichlet_process, dirichlet_distribution"),
        ("random_state", -1, "integer >= 0"),
        ("random_state", "seed", "integer >= 0"),
    ],
)
def test_every_bad_parameter_names_its_key(key, value, message):
    with pytest.raises(ConfigError, match=f'key "{key}" must be') as info:
        validate_params("bgmm", {key: value})
    assert message in str(info.value)


def test_unknown_keys_algorithms_and_combinations():
    with pytest.raises(ConfigError, match='unknown clustering parameter "n_cluster"'):
        validate_params("kmeans", {"n_cluster": 4})
    with pytest.raises(ConfigError, match="unknown clustering parameters 'alpha', 'beta'"):
        validate_params("kmeans", {"beta": 1, "alpha": 2})
    with pytest.raises(ConfigError, match='key "cluster_algorithm" must be one of kmeans'):
        validate_params("spectral")
    with pytest.raises(ConfigError, match='key "preprocessing" must be one of'):
        plan_clustering("kmeans", preprocessing="zscore")
    with pytest.raises(ConfigError, match='key "preprocessing"'):
        scale_features(np.ones((3, 2)), "zscore")
    with pytest.raises(ConfigError, match='key "is_distance_matrix" must be true or false'):
        plan_clustering("dbscan", is_distance_matrix="yes")
    for algorithm in ("kmeans", "gmm", "bgmm"):
        with pytest.raises(ConfigError, match=f'density-based algorithm .*not "{algorithm}"'):
            plan_clustering(algorithm, is_distance_matrix=True)
    assert plan_clustering("gmm", {"random_state": None}).params["random_state"] is None


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones((3, 2)), "square"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
        (np.array([[1.0, 1.0], [1.0, 0.0]]), "zero diagonal"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), "symmetric"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
        (np.zeros((1, 1)), "at least two rows"),
    ],
)
def test_bad_distance_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        check_distance_matrix(matrix)
    with pytest.raises(ValueError, match=message):
        cluster(matrix, "dbscan", is_distance_matrix=True)


def test_metrics_regular_and_degenerate(blobs):
    km = cluster(blobs, "kmeans")
    scaled = StandardScaler().fit_transform(blobs)
    assert km.metrics.inertia == km.model.inertia_
    assert km.metrics.silhouette == pytest.approx(silhouette_score(scaled, km.labels))
    assert km.metrics.n_clusters == 3 and sum(km.metrics.cluster_sizes.values()) == 120
    gmm = cluster(blobs, "gmm")
    assert gmm.metrics.aic == pytest.approx(gmm.model.aic(scaled)) and gmm.metrics.bic is not None
    assert cluster(blobs, "bgmm").metrics.lower_bound is not None
    one = clustering_metrics(scaled, np.zeros(120, dtype=int))
    assert one.n_clusters == 1 and one.silhouette is None and one.davies_bouldin is None
    noise = clustering_metrics(scaled, np.full(120, -1))
    assert (noise.n_clusters, noise.n_noise, noise.silhouette) == (0, 120, None)
    with pytest.raises(ValueError, match="labels for"):
        clustering_metrics(scaled, np.zeros(3, dtype=int))


def test_precomputed_silhouette_uses_non_noise_points(blobs):
    d = dtw_distance_matrix(blobs)
    labels = np.r_[np.zeros(40), np.ones(40), np.full(40, -1)].astype(int)
    m = clustering_metrics(d, labels, is_distance_matrix=True)
    keep = labels != -1
    assert m.silhouette == silhouette_score(d[np.ix_(keep, keep)], labels[keep], metric="precomputed")
    assert m.calinski_harabasz is None and m.n_noise == 40


def test_metadata_text_layout(blobs):
    r = cluster(blobs, "dbscan", {"eps": 0.9})
    text = metadata_text(
        "dbscan", r.metrics, r.plan.params, preprocessing="standard", is_distance_matrix=False, timestamp="ts"
    )
    lines = text.splitlines()
    assert lines[0] == "Clustering Algorithm: dbscan" and "Timestamp: ts" in lines
    assert f"Number of clusters: {r.metrics.n_clusters}" in lines
    assert f"Number of noise points: {r.metrics.n_noise}" in lines
    assert "  eps: 0.9000" in lines and "  min_samples: 5" in lines
    assert any(line.startswith("Silhouette Score: ") for line in lines)
    one = clustering_metrics(blobs, np.zeros(120, dtype=int))
    assert "Silhouette Score: n/a" in metadata_text(
        "kmeans", one, {}, preprocessing="none", is_distance_matrix=False
    )


def test_compare_table_and_plot(blobs):
    table, results = compare_algorithms(blobs, params={"eps": 0.9})
    assert list(table["algorithm"]) == ["kmeans", "dbscan", "hdbscan", "gmm", "bgmm"]
    assert table["skipped"].isna().all() and set(results) == set(table["algorithm"])
    assert comparison_plot(table).startswith(PNG)
    assert best_by_silhouette(results) in results
    d = dtw_distance_matrix(blobs[::3])
    table, results = compare_algorithms(
        d, params={"eps": 3.0, "min_cluster_size": 5}, is_distance_matrix=True
    )
    assert set(results) == {"dbscan", "hdbscan"} and table["skipped"].notna().sum() == 3
    with pytest.raises(ConfigError, match="unknown clustering parameter"):
        compare_algorithms(blobs, params={"bogus": 1})
    with pytest.raises(ConfigError, match="at least one algorithm"):
        compare_algorithms(blobs, algorithms=[])


def test_map_pca_and_tsne(blobs):
    labels = cluster(blobs, "kmeans").labels
    tics = list(range(1000, 1120))
    m = cluster_map(blobs, labels, tics)
    np.testing.assert_allclose(
        np.abs(m.table[["x", "y"]].to_numpy()), np.abs(PCA(2, random_state=42).fit_transform(blobs))
    )
    assert list(m.table["tic_id"]) == tics and m.png.startswith(PNG)
    d = dtw_distance_matrix(blobs[:30])
    t = cluster_map(d, labels[:30], tics[:30], method="tsne", is_distance_matrix=True)
    assert t.table.shape == (30, 4) and t.png.startswith(PNG)
    with pytest.raises(ConfigError, match="PCA needs feature vectors"):
        cluster_map(d, labels[:30], method="pca", is_distance_matrix=True)
    with pytest.raises(ConfigError, match='key "map_method"'):
        cluster_map(blobs, labels, method="umap")
    with pytest.raises(ValueError, match="TIC ids for"):
        cluster_map(blobs, labels, tics[:5])


# Measured on seeds 0-9 (bench-free, a few seconds): adjusted Rand index of kmeans >= 0.92 (mean 0.99),
# gmm 1.00 on every seed, hdbscan >= 0.86; DTW + HDBSCAN on the full bin_means vectors (CLARA's own
# recipe) >= 0.56 on seeds 0-5 (it separates rotators from dips, not planets from binaries). The bounds
# below leave a margin under those minima.
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_planets_binaries_rotators(seed):
    depths, vectors, truth = _dip_depths(seed)
    assert adjusted_rand_score(truth, cluster(depths, "kmeans").labels) >= 0.85
    assert adjusted_rand_score(truth, cluster(depths, "gmm").labels) >= 0.9
    d = dtw_distance_matrix(vectors)
    hdb = cluster(d, "hdbscan", {"min_cluster_size": 5, "min_samples": 3}, is_distance_matrix=True)
    assert adjusted_rand_score(truth, hdb.labels) >= 0.5
