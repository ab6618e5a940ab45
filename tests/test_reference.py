"""Reference sets: building one from labelled light curves, and loading clara's or CLARA's published one."""

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from spoc_fake import light_curve, spoc_name, write_labelled_set, write_spoc_fits, write_star

from clara_benchmark import cli
from clara_benchmark.config import ConfigError
from clara_benchmark.cosine_similarity.reference import (
    load_reference_set,
    output_paths,
    read_labels,
)
from clara_benchmark.features import clara4000
from clara_benchmark.lightcurve import read_lightcurve
from clara_benchmark.modelio import load_model
from clara_benchmark.utils.io import sha256_file
from conftest import altered_copy

PCA_PKL = "pca_model_s2_toi_simbad_labelled.pkl"
REF_CSV = "reduced_features_s2_toi_simbad_labelled.csv"


def build(tmp_path, labels_csv, fits_dir, name="test", **keys):
    """Run ``reference`` in this process as the CLI does; return (exit code, model, csv, failures, log)."""
    args = [
        "reference",
        "--labels_path",
        labels_csv,
        "--fits_dir",
        fits_dir,
        "--output_dir",
        tmp_path / "models",
    ]
    args += ["--name", name, "--max_workers", "1", "--log_dir", tmp_path / "logs", "--quiet"]
    for k, v in keys.items():
        args += [f"--{k}", str(v)]
    code = cli.main([str(a) for a in args])
    model, csv, failures = output_paths(tmp_path / "models", name)
    return code, model, csv, failures, (tmp_path / "logs" / "reference.log").read_text()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled")
    labels = write_labelled_set(root / "fits")
    pd.DataFrame({"filename": list(labels), "label": list(labels.values())}).to_csv(
        root / "labels.csv", index=False
    )
    return root, labels


def test_build_writes_published_layout_and_bound_metadata(tmp_path, labelled):
    root, labels = labelled
    code, model_path, csv_path, failures_path, log = build(tmp_path, root / "labels.csv", root / "fits")
    assert code == 0
    table = pd.read_csv(csv_path, dtype={"label": str}, keep_default_na=False)
    n = len(labels)
    # 12 objects: at most 11 informative components, and the log says so
    assert list(table.columns) == [str(i) for i in range(n - 1)] + ["label", "filename"]
    assert "using 11 PCA components instead of 50" in log
    assert table["filename"].tolist() == sorted(labels)
    assert dict(zip(table["filename"], table["label"])) == labels
    pca, meta = load_model(model_path, expect=PCA)
    assert pca.n_components_ == n - 1 and meta["n_components_requested"] == 50
    assert meta["reference_csv_sha256"] == sha256_file(csv_path)
    assert meta["n_objects"] == n and meta["label_counts"]["Pl"] == 2
    # a row is the PCA projection of that file's own clara-4000 vector, recomputed here
    name = table["filename"].iloc[5]
    vec = clara4000(read_lightcurve(root / "fits" / name))
    np.testing.assert_allclose(table.iloc[5, : n - 1].to_numpy(float), pca.transform(vec[None])[0], atol=1e-9)
    assert pd.read_csv(failures_path).empty
    ref = load_reference_set(model_path, csv_path)
    assert len(ref) == n and ref.n_components == n - 1


def test_requested_components_kept_when_enough_objects(tmp_path, labelled):
    root, _ = labelled
    code, model_path, csv_path, _, log = build(tmp_path, root / "labels.csv", root / "fits", n_components=3)
    assert code == 0 and "instead of" not in log
    assert list(pd.read_csv(csv_path).columns) == ["0", "1", "2", "label", "filename"]
    assert load_model(model_path)[0].n_components_ == 3


def test_tic_id_labels_find_files_by_name_or_header(tmp_path):
    fits_dir = tmp_path / "fits"
    fits_dir.mkdir()
    write_star(fits_dir, 501, "transit")
    write_star(fits_dir, 501, "transit", seed=9, sector=2)  # a second sector of the same star
    write_star(fits_dir, 502, "eclipse")
    time, flux = light_curve("rotation", 3)
    write_spoc_fits(fits_dir / "my_star.fits", 503, time, flux)  # not a SPOC name: TIC from the header
    (tmp_path / "labels.csv").write_text("TIC,label\n501,Pl\n502,EB*\n503,PM*\n504,Pl?\n")
    code, _, csv_path, failures_path, log = build(tmp_path, tmp_path / "labels.csv", fits_dir)
    assert code == 0
    got = pd.read_csv(csv_path)
    assert dict(zip(got["filename"], got["label"])) == {
        spoc_name(501, 1): "Pl",
        spoc_name(501, 2): "Pl",
        spoc_name(502): "EB*",
        "my_star.fits": "PM*",
    }
    failures = pd.read_csv(failures_path)
    assert failures["reason"].tolist() == ["no light curve of TIC 504 in fits_dir"]
    assert "TIC 501: 2 light curves" in log


def test_missing_and_damaged_labelled_files_are_failures(tmp_path, labelled):
    root, labels = labelled
    fits_dir = tmp_path / "fits"
    shutil.copytree(root / "fits", fits_dir)
    names = sorted(labels)
    data = (fits_dir / names[0]).read_bytes()
    (fits_dir / names[0]).write_bytes(data[: len(data) // 2])
    (fits_dir / names[1]).unlink()
    code, _, csv_path, failures_path, _ = build(tmp_path, root / "labels.csv", fits_dir)
    assert code == 0
    assert set(pd.read_csv(csv_path)["filename"]) == set(names[2:])
    failures = pd.read_csv(failures_path).set_index("filename")["reason"]
    assert failures[names[1]] == "file not found in fits_dir"
    assert "truncated" in failures[names[0]]


def test_too_few_objects_is_a_run_error(tmp_path, labelled):
    root, labels = labelled
    one = sorted(labels)[0]
    (tmp_path / "labels.csv").write_text(f"filename,label\n{one},Pl\nnothere.fits,EB*\n")
    code, model_path, *_ = build(tmp_path, tmp_path / "labels.csv", root / "fits")
    assert code == 1 and not model_path.exists()
    assert "needs at least 2" in (tmp_path / "logs" / "main.log").read_text()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("name,kind\na.fits,Pl\n", 'needs columns "filename,label" or "tic_id,label" (found: name, kind)'),
        ("filename,label\na.fits,Pl\nb.fits,\n", "line 3: empty label"),
        (
            "filename,label\na.fits,Pl\nb.fits,EB*\na.fits,PM*\n",
            "filename a.fits has conflicting labels ['PM*', 'Pl']",
        ),
        ("tic_id,label\n12,Pl\nTIC 13,EB*\n", 'line 3: tic_id "TIC 13" is not a positive integer'),
        ("", "labels CSV is empty"),
    ],
)
def test_bad_labels_csv_named_errors(tmp_path, text, needle):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_labels(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_labels_dedupe_and_paths_reduced_to_names(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("filename,label\n/data/s2/a.fits,Pl\na.fits,Pl\nb.fits, EB* \n")
    table = read_labels(path)
    assert table.to_dict("records") == [
        {"filename": "a.fits", "label": "Pl"},
        {"filename": "b.fits", "label": "EB*"},
    ]


# ------------------------------------------------------------------------------ CLARA's published reference


def test_published_reference_loads_under_trust_policy(published_dir):
    ref = load_reference_set(published_dir / PCA_PKL, published_dir / REF_CSV)
    assert len(ref) == 187 and ref.n_components == 50 and ref.pca.n_features_in_ == 4000
    assert "CLARA reference PCA" in ref.metadata["source"]
    assert ref.filenames[0].endswith("-s_lc.fits") and "-s0002-" in ref.filenames[0]
    np.testing.assert_allclose(np.linalg.norm(ref.unit, axis=1), 1.0)


def test_altered_published_pca_refused_unless_trusted(tmp_path, published_dir):
    copy = altered_copy(published_dir / PCA_PKL, tmp_path)
    with pytest.raises(ConfigError, match="refusing to load a pickle") as err:
        load_reference_set(copy, published_dir / REF_CSV)
    assert str(copy) in str(err.value)
    ref = load_reference_set(copy, published_dir / REF_CSV, trust_pickles=True)
    assert ref.metadata["source"] == "user-trusted pickle" and len(ref) == 187


def _malformed(table: pd.DataFrame, how: str) -> pd.DataFrame:
    t = table.copy()
    if how == "no label":
        return t.drop(columns="label")
    if how == "no filename":
        return t.drop(columns="filename")
    if how == "49 components":
        return t.drop(columns="49")
    if how == "51 components":
        t.insert(50, "50", 0.0)
        return t
    if how == "text value":
        t.loc[7, "12"] = "abc"
        return t
    if how == "empty label":
        t.loc[3, "label"] = ""
        return t
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how, needle",
    [
        ("no label", "reference CSV has no 'label' column"),
        ("no filename", "reference CSV has no 'filename' column"),
        ("49 components", "has 49 component columns (0..48) but the PCA model has 50 components"),
        ("51 components", "has 51 component columns (0..50) but the PCA model has 50 components"),
        ("text value", "row 8 (line 9) has a missing or non-numeric component value"),
        ("empty label", "row 4 (line 5) has an empty label"),
    ],
)
def test_malformed_reference_csv_clear_errors(tmp_path, published_dir, how, needle):
    table = pd.read_csv(published_dir / REF_CSV, dtype=str, keep_default_na=False)
    bad = tmp_path / "ref.csv"
    _malformed(table, how).to_csv(bad, index=False)
    with pytest.raises(ConfigError) as err:
        load_reference_set(published_dir / PCA_PKL, bad)
    assert str(bad) in str(err.value) and needle in str(err.value)


def test_pca_of_wrong_width_refused(tmp_path):
    from clara_benchmark.modelio import save_model

    path = save_model(PCA(2).fit(np.random.default_rng(0).normal(size=(10, 5))), tmp_path / "pca.skops")
    (tmp_path / "ref.csv").write_text("0,1,label,filename\n1,2,Pl,a.fits\n")
    with pytest.raises(ConfigError, match="the PCA takes 5 features, clara-4000 vectors have 4000"):
        load_reference_set(path, tmp_path / "ref.csv")
