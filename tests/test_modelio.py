import shutil

import joblib
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier

from clara_benchmark.modelio import KNOWN_PICKLES, ModelFileError, load_model, save_model
from clara_benchmark.utils.io import sha256_file

P3 = "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"


def test_known_sums_match_published_list(published_dir):
    listed = dict(line.split()[::-1] for line in (published_dir / "SHA256SUMS").read_text().splitlines())
    for name, digest in listed.items():
        if name.endswith(".pkl"):
            assert digest in KNOWN_PICKLES, name


def test_published_pickle_loads(published_dir):
    model, meta = load_model(published_dir / P3, expect=RandomForestClassifier)
    assert model.n_features_in_ == 4000 and model.n_estimators == 83
    assert "P3" in meta["source"]


def test_unknown_pickle_refused_unless_trusted(tmp_path):
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(np.random.rand(20, 4), [0, 1] * 10)
    path = tmp_path / "mine.pkl"
    joblib.dump(rf, path)
    with pytest.raises(ModelFileError, match="not a known CLARA release") as err:
        load_model(path)
    assert str(path) in str(err.value) and "trust_pickles" in str(err.value)
    model, meta = load_model(path, trust_pickles=True)
    assert meta["source"] == "user-trusted pickle"


def test_tampered_published_pickle_refused(tmp_path, published_dir):
    path = tmp_path / P3
    shutil.copy(published_dir / P3, path)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    assert sha256_file(path) not in KNOWN_PICKLES
    with pytest.raises(ModelFileError, match="refusing"):
        load_model(path)


def test_skops_round_trip_with_metadata(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 6))
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, [0, 1] * 20)
    path = save_model(
        rf, tmp_path / "p3.skops", {"feature_spec": "clara-4000/1", "training_set": "unit test"}
    )
    model, meta = load_model(path, expect=RandomForestClassifier)
    np.testing.assert_array_equal(model.predict_proba(X), rf.predict_proba(X))
    assert meta["feature_spec"] == "clara-4000/1" and "scikit-learn" in meta["libraries"]
    pca_path = save_model(PCA(3).fit(X), tmp_path / "pca.skops")
    assert isinstance(load_model(pca_path)[0], PCA)
    with pytest.raises(ModelFileError, match="expected RandomForestClassifier"):
        load_model(pca_path, expect=RandomForestClassifier)


def test_skops_with_unexpected_type_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    path.write_bytes(
        sio.dumps({"estimator": Pipeline([("f", FunctionTransformer(shutil.rmtree))]), "metadata": {}})
    )
    with pytest.raises(ModelFileError, match="types clara does not expect"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "x.skops"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="not a readable skops"):
        load_model(bad)
    txt = tmp_path / "m.txt"
    txt.write_text("x")
    with pytest.raises(ModelFileError, match="unknown model file type"):
        load_model(txt)
