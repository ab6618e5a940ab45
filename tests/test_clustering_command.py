"""The ``clustering`` command: CLARA's keys and outputs on a synthetic set whose right clustering is known
(planets / eclipsing binaries / rotators, minimum adjusted Rand index), DTW distances, compare mode, the
2-D map with TICs, the .npz input alone, and every config and input error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from shapes_helpers import dip_depths
from sklearn.metrics import adjusted_rand_score

from clara_benchmark import cli, products
from clara_benchmark.clustering import cluster, metadata_text
from clara_benchmark.clustering.compare import best_by_silhouette, compare_algorithms
from clara_benchmark.dtw import dtw_distance_matrix
from clara_benchmark.featuresets import FeatureSet

PNG = b"\x89PNG\r\n\x1a\n"
COMMON = ["--quiet", "--monitor_interval", "60"]


def spoc_name(i: int) -> str:
    return f"tess2018206045859-s0001-{900000 + i:016d}-0120-s_lc.fits"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The synthetic set (seed 0) as CLARA's files: a 2-feature .npy, a DTW .npy, and the .txt of names."""
    root = tmp_path_factory.mktemp("clustering")
    depths, vectors, truth = dip_depths(0)
    names = [spoc_name(i) for i in range(len(truth))]
    np.save(root / "depths.npy", depths)
    np.save(root / "dtw.npy", dtw_distance_matrix(vectors))
    (root / "names.txt").write_text("".join(f"{n}\n" for n in names))
    return {"root": root, "depths": depths, "vectors": vectors, "truth": truth, "names": names}


def run_clustering(tmp_path, **keys) -> dict:
    """``clara clustering`` from a JSON config in this process; returns the run's record and files."""
    out = tmp_path / "out"
    (tmp_path / "c.json").write_text(json.dumps({"output_dir": str(out), **keys}))
    code = cli.main(
        ["clustering", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path / "logs"), *COMMON]
    )
    assert code == 0, (tmp_path / "logs" / "clustering.log").read_text()
    (record_path, fields) = products.CLUSTER_RECORD.find(out)[-1]
    record = json.loads(record_path.read_text())
    record["dir"] = out
    record["log"] = (tmp_path / "logs" / "clustering.log").read_text()
    return record


def run_on_shapes(shapes, tmp_path, matrix: str, **keys) -> dict:
    """``run_clustering`` on the synthetic set's ``matrix`` (depths.npy or dtw.npy) with its names."""
    root = shapes["root"]
    return run_clustering(
        tmp_path, features_path=str(root / matrix), filenames_path=str(root / "names.txt"), **keys
    )


def results(record: dict, algo: str) -> pd.DataFrame:
    return pd.read_csv(record["dir"] / record["algorithms"][algo]["results"], dtype={"filename": str})


@pytest.mark.parametrize(("algo", "bound"), [("kmeans", 0.85), ("gmm", 0.9)])
def test_known_answer_through_the_command(shapes, tmp_path, algo, bound):
    root = shapes["root"]
    record = run_on_shapes(
        shapes,
        tmp_path,
        "depths.npy",
        cluster_algorithm=algo,
        is_distance_matrix="false",  # CLARA's string booleans
        preprocessing="standard",
    )
    table = results(record, algo)
    assert list(table.columns) == ["filename", "cluster_label"] and table.filename.tolist() == shapes["names"]
    assert adjusted_rand_score(shapes["truth"], table.cluster_label) >= bound
    library = cluster(shapes["depths"], algo)  # the command gives the library's labels
    np.testing.assert_array_equal(table.cluster_label, library.labels)
    metadata = (record["dir"] / record["algorithms"][algo]["metadata"]).read_text()
    want = metadata_text(
        algo,
        library.metrics,
        library.plan.params,
        preprocessing="standard",
        is_distance_matrix=False,
        features_path=str(root / "depths.npy"),
        timestamp=record["timestamp"],
    )
    assert metadata == want and "Number of clusters: 3" in metadata
    coords = pd.read_csv(record["dir"] / record["map_csv"], dtype={"filename": str})
    assert list(coords.columns) == list(products.CLUSTER_MAP_COLUMNS)
    assert coords.tic_id.tolist() == [900000 + i for i in range(len(shapes["names"]))]
    assert coords.cluster_label.tolist() == table.cluster_label.tolist()
    assert (record["dir"] / record["map_png"]).read_bytes().startswith(PNG) and record["map_method"] == "pca"


def test_dtw_distances_with_hdbscan(shapes, tmp_path):
    record = run_on_shapes(
        shapes,
        tmp_path,
        "dtw.npy",
        cluster_algorithm="hdbscan",
        is_distance_matrix="true",
        min_cluster_size=5,
        min_samples=3,
    )
    labels = results(record, "hdbscan").cluster_label
    assert adjusted_rand_score(shapes["truth"], labels) >= 0.5  # CLARA's own recipe (see test_clustering)
    metadata = (record["dir"] / record["algorithms"]["hdbscan"]["metadata"]).read_text()
    assert "Distance matrix: True" in metadata and 'preprocessing "standard" not applied' in metadata
    assert record["map_method"] == "tsne"


def test_compare_mode(shapes, tmp_path):
    params = {"n_clusters": 3, "n_components": 3, "min_cluster_size": 5, "eps": 0.3}
    record = run_on_shapes(
        shapes,
        tmp_path,
        "depths.npy",
        cluster_algorithm="compare",
        **params,
    )
    table = pd.read_csv(record["dir"] / record["comparison_csv"])
    assert table.algorithm.tolist() == ["kmeans", "dbscan", "hdbscan", "gmm", "bgmm"]
    want, runs = compare_algorithms(shapes["depths"], params=params)
    np.testing.assert_allclose(table.silhouette, want.silhouette)
    assert table.n_clusters.tolist() == want.n_clusters.tolist()
    assert record["best"] == best_by_silhouette(runs) == record["algorithm"]
    assert record["map_png"].startswith(f"{record['best']}_map_")
    assert (record["dir"] / record["comparison_png"]).read_bytes().startswith(PNG)
    assert set(record["algorithms"]) == set(table.algorithm)
    for algo, run in runs.items():
        assert results(record, algo).cluster_label.tolist() == run.labels.tolist()
    assert f"best by silhouette: {record['best']}" in record["log"]


def test_compare_on_a_distance_matrix_skips_the_others(shapes, tmp_path):
    record = run_on_shapes(
        shapes,
        tmp_path,
        "dtw.npy",
        cluster_algorithm="compare",
        is_distance_matrix=True,
        algorithms=["kmeans", "hdbscan"],
        min_cluster_size=5,
    )
    table = pd.read_csv(record["dir"] / record["comparison_csv"], keep_default_na=False)
    assert table.skipped.tolist() == ["needs feature vectors, not a distance matrix", ""]
    assert list(record["algorithms"]) == ["hdbscan"]
    assert "kmeans skipped" in record["log"]


def test_the_npz_alone_carries_names_and_tics(shapes, tmp_path):
    n = len(shapes["truth"])
    fs = FeatureSet(
        "bin_means",
        [f"star{i}.fits" for i in range(n)],
        [f"/data/star{i}.fits" for i in range(n)],
        list(range(100, 100 + n)),
        shapes["vectors"],
    )
    npz = fs.save(tmp_path / "bin_means_features_20240101_000000.npz")
    record = run_clustering(tmp_path, features_path=str(npz), cluster_algorithm="kmeans", n_clusters=3)
    assert results(record, "kmeans").filename.tolist() == fs.filenames
    coords = pd.read_csv(record["dir"] / record["map_csv"])
    assert coords.tic_id.tolist() == fs.tic_ids and record["method"] == "bin_means"


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"alpha": 1.0}, 'unknown key "alpha"'),  # CLARA passes it silently to the estimator
        ({"n_cluster": 4}, 'unknown key "n_cluster" (did you mean "n_clusters"?)'),
        ({"cluster_algorithm": "spectral"}, 'key "cluster_algorithm" must be one of'),
        ({"cluster_algorithm": None}, 'missing required key "cluster_algorithm"'),
        ({"preprocessing": "zscore"}, 'key "preprocessing" must be one of'),
        ({"is_distance_matrix": "yes"}, 'key "is_distance_matrix" must be true or false'),
        ({"filenames_path": None}, 'key "filenames_path" is required with a .npy features_path'),
        ({"features_path": "names.txt"}, 'key "features_path" must be a .npy matrix'),
        ({"features_path": "absent.npy"}, 'key "features_path": file "absent.npy" does not exist'),
        ({"matrix": "pca"}, 'key "matrix" ("pca") picks a matrix of a .npz'),
        ({"matrix": "raw"}, 'key "matrix" must be one of'),
        ({"is_distance_matrix": True}, "a precomputed distance matrix needs a density-based algorithm"),
        (
            {"is_distance_matrix": True, "cluster_algorithm": "dbscan", "map_method": "pca"},
            'key "map_method": PCA needs feature vectors',
        ),
        ({"cluster_algorithm": "compare", "algorithms": ["spectral"]}, 'unknown algorithm "spectral"'),
        (
            {"cluster_algorithm": "compare", "algorithms": ["kmeans"], "is_distance_matrix": True},
            "can only be clustered by dbscan or hdbscan",
        ),
        ({"eps": 0}, 'key "eps" must be a positive number'),
        ({"weight_concentration_prior": -1}, 'key "weight_concentration_prior" must be a positive number'),
        ({"n_clusters": 0}, 'key "n_clusters" must be >= 1'),
        ({"min_cluster_size": 1}, 'key "min_cluster_size" must be >= 2'),
        ({"covariance_type": "round"}, 'key "covariance_type" must be one of'),
        ({"weight_concentration_prior_type": "x"}, 'key "weight_concentration_prior_type" must be one of'),
        ({"random_state": -1}, 'key "random_state" must be >= 0'),
        ({"map_method": "umap"}, 'key "map_method" must be one of'),
    ],
)
def test_every_config_error_is_one_line_exit_2(shapes, tmp_path, monkeypatch, capsys, change, needle):
    root = shapes["root"]
    monkeypatch.chdir(root)
    raw = {
        "features_path": "depths.npy",
        "filenames_path": "names.txt",
        "output_dir": str(tmp_path / "out"),
        "cluster_algorithm": "kmeans",
    } | change
    (tmp_path / "c.json").write_text(json.dumps({k: v for k, v in raw.items() if v is not None}))
    assert (
        cli.main(["clustering", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path / "l")]) == 2
    )
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "l").exists()


def _write_bad_inputs(root):
    np.save(root / "objects.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    np.save(root / "one_d.npy", np.arange(5.0))
    nan = np.ones((4, 2))
    nan[2, 1] = np.nan
    np.save(root / "nan.npy", nan)
    (root / "four.txt").write_text("a.fits\nb.fits\n\nc.fits\nd.fits\n")  # a blank line is no name
    np.save(root / "square.npy", np.ones((4, 3)))
    np.save(root / "one_row.npy", np.ones((1, 3)))
    (root / "one.txt").write_text("a.fits\n")
    FeatureSet("bin_means", ["a", "b"], ["a", "b"], [1, 2], np.ones((2, 3))).save(root / "set.npz")
    (root / "fake.npz").write_bytes(b"not a zip")


@pytest.mark.parametrize(
    ("keys", "needle"),
    [
        ({"features_path": "depths.npy", "filenames_path": "four.txt"}, "four.txt lists 4 file names but"),
        ({"features_path": "objects.npy", "filenames_path": "one.txt"}, "objects.npy: not a readable .npy"),
        ({"features_path": "one_d.npy", "filenames_path": "four.txt"}, "expected a 2-D numeric matrix"),
        ({"features_path": "nan.npy", "filenames_path": "four.txt"}, "1 rows contain NaN or infinite values"),
        (
            {"features_path": "square.npy", "filenames_path": "four.txt", "is_distance_matrix": True},
            "a distance matrix must be square",
        ),
        ({"features_path": "one_row.npy", "filenames_path": "one.txt"}, "needs at least 2 rows, got 1"),
        ({"features_path": "set.npz", "matrix": "pca"}, "has no pca matrix (it has: none)"),
        ({"features_path": "fake.npz"}, "fake.npz: not a readable .npz archive"),
    ],
)
def test_bad_inputs_are_one_line_exit_1(shapes, tmp_path, monkeypatch, capsys, keys, needle):
    root = tmp_path / "in"
    root.mkdir()
    np.save(root / "depths.npy", shapes["depths"])
    _write_bad_inputs(root)
    monkeypatch.chdir(root)
    algo = "dbscan" if keys.get("is_distance_matrix") else "kmeans"
    (tmp_path / "c.json").write_text(json.dumps({"output_dir": "out", "cluster_algorithm": algo, **keys}))
    assert (
        cli.main(["clustering", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path / "l")]) == 1
    )
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err
    assert not list((root / "out").glob("*_results_*.csv")) if (root / "out").exists() else True
