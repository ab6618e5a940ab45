import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier

from clara_benchmark.modelio import KNOWN_PICKLES, ModelFileError, load_model, save_model
from clara_benchmark.utils.io import sha256_file
from conftest import altered_copy

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
    path = altered_copy(published_dir / P3, tmp_path)
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


# ---------------------------------------------------------------------------------------------------------
# helpers for the hardening tests below

P5 = "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl"
P9 = "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl"
PCA_PKL = "pca_model_s2_toi_simbad_labelled.pkl"


class _Canary:
    """Unpickling this creates (opens for writing) the canary file: proof that the pickle's code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _forest(n_estimators=3, n_features=4000, seed=0, **params):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, n_features))
    return RandomForestClassifier(n_estimators=n_estimators, random_state=seed, **params).fit(X, [0, 1] * 20)


def _corrupt(forest, tree_index, field, make):
    """Edit one field of one tree's node array through the Tree's own state (what a crafted file holds)."""
    tree = forest.estimators_[tree_index].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    inner = np.flatnonzero(nodes["left_child"] != -1)
    make(nodes, inner)
    state["nodes"] = nodes
    tree.__setstate__(state)
    return forest


def _score_config(tmp_path, input_dir, **models) -> Path:
    cfg = {
        "input_dirs": [str(input_dir)],
        "output_dir": str(tmp_path / "out"),
        "max_workers": 1,
        "use_p3": "p3" in models,
        "use_p5": "p5" in models,
        "use_p9": "p9" in models,
        "calculate_wrss_p3p9": False,
        **{f"{k}model_path": str(v) for k, v in models.items()},
    }
    path = tmp_path / "score.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture
def one_real(tmp_path, tess_dir):
    """A folder with one real light curve (so that ``score`` really runs the model on something)."""
    from conftest import REAL_LIGHTCURVES

    out = tmp_path / "one"
    out.mkdir()
    name = sorted(REAL_LIGHTCURVES)[0]
    shutil.copy(tess_dir / name, out / name)
    return out


# ---------------------------------------------------------------------------------------------------------
# issue 11 item 2: the bytes that are hashed (or type-checked) are the bytes that are loaded


def test_pickle_swapped_between_hash_and_load_is_not_executed(tmp_path, published_dir, monkeypatch):
    path = tmp_path / "model.pkl"
    shutil.copy(published_dir / P3, path)
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pkl"
    joblib.dump(_Canary(canary), evil)
    real_load = joblib.load

    def swapping_load(*args, **kwargs):  # the attacker wins every race: the file changes right here
        shutil.copy(evil, path)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(joblib, "load", swapping_load)
    model, meta = load_model(path)
    assert not canary.exists(), "the swapped-in pickle was executed"
    assert isinstance(model, RandomForestClassifier) and model.n_estimators == 83
    assert meta["sha256"] == sha256_file(published_dir / P3)


def test_skops_swapped_between_type_check_and_load_gives_the_checked_model(tmp_path, monkeypatch):
    import skops.io as sio

    path = save_model(_forest(3), tmp_path / "m.skops")
    other = save_model(_forest(5), tmp_path / "other.skops")
    real = {name: getattr(sio, name) for name in ("load", "loads")}

    def swapping(name):
        def hook(*args, **kwargs):
            shutil.copy(other, path)
            return real[name](*args, **kwargs)

        return hook

    for name in real:
        monkeypatch.setattr(sio, name, swapping(name))
    model, _ = load_model(path)
    assert model.n_estimators == 3


# ---------------------------------------------------------------------------------------------------------
# issue 11 item 4: a loaded forest's structure is checked before it runs; only the classes clara writes


def _feature_out_of_range(nodes, inner):
    nodes["feature"][inner[0]] = 10**9


def _feature_negative(nodes, inner):
    nodes["feature"][inner[-1]] = -5


def _left_child_out_of_range(nodes, inner):
    nodes["left_child"][inner[0]] = len(nodes) + 7


def _right_child_backwards(nodes, inner):  # a cycle: the last inner node points back at the root
    nodes["right_child"][inner[-1]] = 0


def _child_shared(nodes, inner):  # both children the same later node: it has two parents, not a tree
    nodes["left_child"][inner[-1]] = nodes["right_child"][inner[-1]]


def _half_leaf(nodes, inner):
    nodes["right_child"][inner[-1]] = -1


def _threshold_nan(nodes, inner):
    nodes["threshold"][inner[0]] = np.nan


CORRUPTIONS = {
    "feature_out_of_range": (_feature_out_of_range, "feature 1000000000"),
    "feature_negative": (_feature_negative, "feature -5"),
    "left_child_out_of_range": (_left_child_out_of_range, "children"),
    "right_child_backwards": (_right_child_backwards, "children"),
    "child_shared": (_child_shared, "parent"),
    "half_leaf": (_half_leaf, "one child"),
    "threshold_nan": (_threshold_nan, "threshold nan"),
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_corrupt_forest_structure_refused_on_load(tmp_path, how):
    make, needle = CORRUPTIONS[how]
    path = save_model(_corrupt(_forest(3), 1, "nodes", make), tmp_path / "p3.skops")
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    text = str(err.value)
    assert str(path) in text and "tree 1" in text and needle in text


@pytest.mark.parametrize("how", ["feature_out_of_range", "left_child_out_of_range"])
def test_score_refuses_a_crafted_forest_instead_of_crashing(tmp_path, one_real, how):
    """Before the check: segfault (rc -11) with one worker, nothing logged."""
    from conftest import run_cli

    path = save_model(_corrupt(_forest(3), 0, "nodes", CORRUPTIONS[how][0]), tmp_path / "p3.skops")
    res = run_cli("score", "--config", _score_config(tmp_path, one_real, p3=path), "--quiet", timeout=60)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert str(path) in res.stderr and "tree 0" in res.stderr and "Traceback" not in res.stderr


def test_trees_built_by_sklearn_point_forward_and_pass(tmp_path):
    """The checks assume sklearn's node layout (children after their parent, one parent each): every tree
    builder sklearn has (depth-first, best-first with max_leaf_nodes, bootstrap or not) writes it."""
    for params in ({}, {"max_leaf_nodes": 6}, {"bootstrap": False, "max_features": "log2"}):
        forest = _forest(4, n_features=50, **params)
        for est in forest.estimators_:
            tree = est.tree_
            inner = np.flatnonzero(tree.children_left != -1)
            assert (tree.children_left[inner] > inner).all() and (tree.children_right[inner] > inner).all()
        path = save_model(forest, tmp_path / "f.skops")
        model, _ = load_model(path)
        np.testing.assert_array_equal(
            model.predict_proba(np.ones((2, 50))), forest.predict_proba(np.ones((2, 50)))
        )


def test_published_forests_pass_the_structure_checks(published_dir):
    from clara_benchmark.modelio import load_scoring_model

    for role, name in (("p3", P3), ("p5", P5), ("p9", P9)):
        model, meta = load_scoring_model(published_dir / name, role)
        assert meta["role"] == role and len(model.estimators_) in (83, 166)


def test_score_refuses_a_logistic_regression_as_p3(tmp_path, one_real):
    """Before the check a LogisticRegression .skops scored with rc 0."""
    from sklearn.linear_model import LogisticRegression

    from conftest import run_cli_here as run_cli  # in this process: its imports are loaded

    X = np.random.default_rng(0).normal(size=(20, 4000))
    path = save_model(LogisticRegression().fit(X, [0, 1] * 10), tmp_path / "p3.skops")
    res = run_cli("score", "--config", _score_config(tmp_path, one_real, p3=path), "--quiet", timeout=60)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert (
        str(path) in res.stderr
        and "LogisticRegression" in res.stderr
        and "RandomForestClassifier" in res.stderr
    )


def test_scoring_model_checks_classes_and_width(tmp_path):
    from clara_benchmark.modelio import load_scoring_model

    narrow = save_model(_forest(2, n_features=30), tmp_path / "narrow.skops")
    with pytest.raises(ModelFileError, match="expects 30 features, clara-4000 vectors have 4000"):
        load_scoring_model(narrow, "p3")
    X = np.random.default_rng(1).normal(size=(30, 4000))
    three = save_model(
        RandomForestClassifier(n_estimators=2, random_state=0).fit(X, [0, 1, 2] * 10),
        tmp_path / "three.skops",
    )
    with pytest.raises(ModelFileError, match=r"classes \[0, 1, 2\]"):
        load_scoring_model(three, "p3")


def test_reference_pca_must_be_a_clara_4000_pca(tmp_path, published_dir):
    from clara_benchmark.modelio import load_reference_pca

    pca, meta = load_reference_pca(published_dir / PCA_PKL)
    assert pca.n_components_ == 50 and meta["role"] == "reference_pca"
    X = np.random.default_rng(0).normal(size=(10, 4000))
    from sklearn.decomposition import TruncatedSVD

    path = save_model(TruncatedSVD(3).fit(X), tmp_path / "svd.skops")
    with pytest.raises(ModelFileError) as err:
        load_reference_pca(path)
    assert str(path) in str(err.value) and "TruncatedSVD" in str(err.value)
    pca = PCA(3).fit(X)
    pca.components_ = pca.components_[:, :100]
    path = save_model(pca, tmp_path / "cut.skops")
    with pytest.raises(ModelFileError, match="components"):
        load_reference_pca(path)


# ---------------------------------------------------------------------------------------------------------
# issue 15 "Model identity": a known model in another model's slot is refused, naming both

PUBLISHED = {"p3": P3, "p5": P5, "p9": P9}


def test_score_refuses_the_p9_release_given_as_p3(tmp_path, published_dir, one_real):
    """Before the check this scored with rc 0 (and WRSS weighed P3 and P9 the wrong way round)."""
    from conftest import run_cli_here as run_cli  # in this process: its imports are loaded

    disguised = tmp_path / P3  # P9's bytes under P3's file name: identity is the sha256, not the name
    shutil.copy(published_dir / P9, disguised)
    cfg = _score_config(tmp_path, one_real, p3=disguised, p9=published_dir / P9)
    res = run_cli("score", "--config", cfg, "--quiet", timeout=120)
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = res.stderr.strip()
    assert str(disguised) in line and "CLARA P9" in line and "P3 model (p3model_path)" in line
    assert "give it as p9model_path" in line and len(line.splitlines()) == 1


@pytest.mark.parametrize("slot", ["p3", "p5", "p9"])
def test_every_published_model_only_in_its_own_slot(published_dir, slot):
    from clara_benchmark.modelio import load_scoring_model

    for role, name in PUBLISHED.items():
        if role == slot:
            assert load_scoring_model(published_dir / name, slot)[1]["role"] == slot
            continue
        with pytest.raises(ModelFileError) as err:
            load_scoring_model(published_dir / name, slot)
        assert f"CLARA {role.upper()}" in str(err.value) and f"{slot}model_path" in str(err.value)
    with pytest.raises(ModelFileError, match="CLARA reference PCA .*not a scoring model"):
        load_scoring_model(published_dir / PCA_PKL, slot)


def test_scoring_model_given_as_reference_pca_refused(tmp_path, published_dir):
    from clara_benchmark.cosine_similarity.reference import load_reference_set

    with pytest.raises(ModelFileError) as err:
        load_reference_set(published_dir / P3, published_dir / "reduced_features_s2_toi_simbad_labelled.csv")
    assert str(published_dir / P3) in str(err.value) and "CLARA P3" in str(err.value)
    assert "reference PCA" in str(err.value)
    from clara_benchmark.modelio import load_reference_pca

    path = save_model(_forest(2), tmp_path / "urf.skops", {"role": "custom", "variant": "A"})
    with pytest.raises(ModelFileError, match='a custom clara model \\(variant "A"\\), a scoring model'):
        load_reference_pca(path)


@pytest.mark.parametrize(
    "metadata, slot, refused",
    [
        ({"role": "p9", "variant": "P9"}, "p3", "clara's P9 model"),
        ({"role": "p3", "variant": "P3"}, "p5", "clara's P3 model"),
        ({"variant": "P5"}, "p9", "clara's P5 model"),  # written before train recorded roles
        ({"role": "p3", "variant": "P3"}, "p3", None),
        ({"role": "custom", "variant": "A"}, "p9", None),
        ({}, "p3", None),
    ],
)
def test_clara_models_carry_their_role(tmp_path, metadata, slot, refused):
    from clara_benchmark.modelio import load_scoring_model

    path = save_model(_forest(2), tmp_path / "m.skops", metadata)
    if refused:
        with pytest.raises(ModelFileError) as err:
            load_scoring_model(path, slot)
        assert refused in str(err.value) and f"the {slot.upper()} model ({slot}model_path)" in str(err.value)
        return
    _, meta = load_scoring_model(path, slot)
    if metadata.get("role") == slot:
        assert "note" not in meta
    else:  # a custom model goes in any slot, and the log says so
        assert meta["role"] == "custom" and f"used as the {slot.upper()} model" in meta["note"]
        assert ('custom clara model (variant "A")' if metadata else "records no role") in meta["note"]


def test_custom_model_in_a_slot_is_logged_by_score(tmp_path, one_real):
    from conftest import run_cli_here as run_cli  # in this process: its imports are loaded

    path = save_model(_forest(2), tmp_path / "mine.skops", {"role": "custom", "variant": "wide"})
    cfg = _score_config(tmp_path, one_real, p9=path)
    res = run_cli("score", "--config", cfg, "--quiet", "--log_dir", tmp_path / "logs", timeout=120)
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "logs" / "main.log").read_text()
    assert f'{path}: a custom clara model (variant "wide"), used as the P9 model (p9model_path)' in log


def test_variant_names_map_to_roles():
    from clara_benchmark.config import CLARA_VARIANTS
    from clara_benchmark.modelio import variant_role

    assert [variant_role(v) for v in CLARA_VARIANTS] == ["p3", "p5", "p9"]
    assert variant_role("A") == variant_role("p3_wide") == "custom"


def test_model_path_that_is_not_a_regular_file_or_too_large(tmp_path, monkeypatch):
    import os

    from clara_benchmark import modelio

    fifo = tmp_path / "p3.skops"
    os.mkfifo(fifo)  # opened without blocking, then refused
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_model(fifo)
    (tmp_path / "dir.pkl").mkdir()
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_model(tmp_path / "dir.pkl")
    path = save_model(_forest(2, n_features=5), tmp_path / "m.skops")
    monkeypatch.setattr(modelio, "MAX_MODEL_BYTES", path.stat().st_size - 1)
    with pytest.raises(ModelFileError, match="larger than"):
        load_model(path)
