"""The train command on a small simulated sector: models, metadata, α selection, failures, feature reuse,
config errors; and the α-selection metrics on hand-made tables."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from clara_benchmark import cli
from clara_benchmark.config import ConfigError, TrainConfig, load_flat_config
from clara_benchmark.features import FEATURE_SPEC_VERSION, clara4000
from clara_benchmark.modelio import load_model, save_model
from clara_benchmark.synthetic.sector import write_sector
from clara_benchmark.synthetic.transits import SyntheticSetSpec, generate_transit_set
from clara_benchmark.training.selection import alpha_scores, mark_labelled, planet_labels, variant_metrics
from clara_benchmark.training.train import fit_forest, plain
from clara_benchmark.urf_scoring import anomaly_score

VARIANTS = {
    "A": {"n_curves": 20, "length_days": 6, "cadence_minutes": 30, "noise_ppm": 200, "n_estimators": 8},
    "B": {
        "n_curves": 16,
        "length_days": 20,
        "cadence_minutes": 90,
        "noise_ppm": 50,
        "n_estimators": 5,
        "bootstrap": False,
        "max_features": "log2",
        "min_samples_split": 4,
    },
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """30 short (300-cadence) light curves, a fifth of them planets."""
    out = tmp_path_factory.mktemp("sim") / "s1"
    write_sector(
        out, n_stars=30, sector=1, seed=3, n_cadences=300, class_fractions={"planet": 0.2}, max_workers=1
    )
    return out


def run_train(tmp_path, **keys):
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"max_workers": 1, **keys}))
    code = cli.main(["train", "--config", str(cfg), "--log_dir", str(tmp_path / "logs"), "--quiet"])
    return code, tmp_path / "logs"


@pytest.fixture(scope="module")
def trained(sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    code, logs = run_train(
        tmp,
        input_dirs=[str(sim)],
        output_dir=str(tmp / "models"),
        max_real=20,
        variants=VARIANTS,
        labels_csv=str(sim / "truth_s0001.csv"),
        save_features=True,
    )
    return code, tmp / "models", logs


def test_train_writes_models_with_metadata(trained, sim):
    code, out, logs = trained
    assert code == 0
    model, meta = load_model(out / "urf_A_n20_d6_c30_n200ppm.skops", expect=RandomForestClassifier)
    assert model.n_features_in_ == 4000 and list(model.classes_) == [0, 1] and model.n_estimators == 8
    assert meta["feature_spec"] == FEATURE_SPEC_VERSION and meta["variant"] == "A"
    assert meta["role"] == "custom"  # only variants named P3/P5/P9 get a slot of their own
    real = meta["training_set"]["real"]
    assert real["n_used"] == 20 and real["n_files_found"] == 30
    assert real["first_filename"] == sorted(p.name for p in sim.glob("*.fits"))[0]
    assert meta["training_set"]["synthetic"]["tag"] == "n20_d6_c30_n200ppm"
    assert meta["hyperparameters"]["max_depth"] == 700 and meta["hyperparameters"]["bootstrap"] is True
    b, meta_b = load_model(out / "urf_B_n16_d20_c90_n50ppm.skops")
    assert b.max_features == "log2" and b.min_samples_split == 4 and meta_b["oob_score"] is None
    summary = pd.read_csv(next(out.glob("train_summary_*.csv")))
    assert list(summary["variant"]) == ["A", "B"] and (summary["n_real"] == 20).all()
    assert any("train finished" in line for line in (logs / "main.log").read_text().splitlines())
    assert (logs / "train.log").exists()


def test_models_tell_synthetic_transits_from_real_stars(trained, sim):
    _, out, _ = trained
    model, _ = load_model(out / "urf_A_n20_d6_c30_n200ppm.skops")
    fresh = generate_transit_set(SyntheticSetSpec(10, 6, 30, 200, seed=7))  # not the training set
    syn = np.vstack([clara4000(fresh.time, f) for f in fresh.flux])
    store = next(out.glob("features_real_*"))
    real = np.vstack([np.load(p)["features"] for p in sorted(store.glob("part-*.npz"))])
    assert anomaly_score(model, syn).mean() > anomaly_score(model, real).mean() + 0.3


def test_alpha_selection_ranks_the_variants(trained):
    _, out, logs = trained
    table = pd.read_csv(next(out.glob("alpha_selection_*.csv")))
    assert list(table["variant"]) == ["A", "B"]
    assert (table["n_scored"] == 10).all()  # the 10 real light curves not used for training
    for col in ("recall", "anomaly_rate", "mean_importance_top20", "top10_importance_range_end"):
        assert col in table
    assert sorted(";".join(table["best_for_alpha"].fillna("")).strip(";").split(";")) == ["0.3", "0.5", "0.9"]
    chosen = json.loads(next(out.glob("selected_models_*.json")).read_text())
    assert set(chosen) == {"0.3", "0.5", "0.9"} and all(
        p in set(table["model_path"]) for p in chosen.values()
    )
    assert "α = 0.9: best" in (logs / "main.log").read_text()


def test_bad_files_become_failure_rows_and_features_are_reused(trained, sim, tmp_path):
    _, first_out, _ = trained
    data = tmp_path / "data"
    shutil.copytree(sim, data)
    first = sorted(data.glob("*.fits"))[0]
    broken = data / ("tess2018206000000-s0001-0000000000000001-0120-s_lc.fits")  # sorts first
    broken.write_bytes(first.read_bytes()[:5000])
    store = next(first_out.glob("features_real_*"))
    code, logs = run_train(
        tmp_path,
        input_dirs=[str(data)],
        output_dir=str(tmp_path / "out"),
        max_real=21,
        variants={"A": VARIANTS["A"]},
        features_dir=str(store),
    )
    assert code == 0
    failures = pd.read_csv(next((tmp_path / "out").glob("train_failures_*.csv")))
    assert list(failures["filename"]) == [broken.name] and "truncated" in failures["reason"][0]
    assert "(20 reused from the feature store)" in (logs / "main.log").read_text()
    # same real features (reused) + same synthetic set + same seed = the same forest as the first run
    old, _ = load_model(first_out / "urf_A_n20_d6_c30_n200ppm.skops")
    new, meta = load_model(tmp_path / "out" / "urf_A_n20_d6_c30_n200ppm.skops")
    X = np.random.default_rng(0).normal(size=(5, 4000))
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    assert meta["training_set"]["real"]["n_failed"] == 1


def test_model_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    real, syn = rng.normal(0, 1, (30, 4000)), rng.normal(0.5, 1, (20, 4000))
    forest = fit_forest(
        real, syn, {"n_estimators": 4, "max_depth": 700, "random_state": 42, "bootstrap": False}
    )
    meta = plain(
        {"feature_spec": FEATURE_SPEC_VERSION, "oob": np.float64(0.5), "n": np.int64(3), "t": (1, 2)}
    )
    assert meta == {"feature_spec": FEATURE_SPEC_VERSION, "oob": 0.5, "n": 3, "t": [1, 2]}
    path = save_model(forest, tmp_path / "m.skops", meta)
    loaded, got = load_model(path, expect=RandomForestClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(real), forest.predict_proba(real))
    assert got["oob"] == 0.5 and got["t"] == [1, 2]


def test_unreadable_feature_store_is_a_run_error(sim, tmp_path):
    store = tmp_path / "features"
    store.mkdir()
    (store / "part-00000.npz").write_bytes(b"")  # an empty shard
    code, logs = run_train(
        tmp_path,
        input_dirs=[str(sim)],
        output_dir=str(tmp_path / "out"),
        variants={"A": VARIANTS["A"]},
        features_dir=str(store),
    )
    assert code == 1
    text = (logs / "main.log").read_text()
    assert f"{store}: cannot read feature store (" in text and "Traceback" not in text
    assert not list((tmp_path / "out").glob("*.skops"))


# ------------------------------------------------------------------------------------------ config errors


def load(tmp_path, **raw):
    (tmp_path / "real").mkdir(exist_ok=True)
    return load_flat_config(
        TrainConfig, None, {"input_dirs": [str(tmp_path / "real")], "output_dir": "o", **raw}
    )


def test_defaults_are_clara_p3_p5_p9(tmp_path):
    cfg = load(tmp_path)
    assert set(cfg.variants) == {"P3", "P5", "P9"}
    assert cfg.variants["P3"]["noise_ppm"] == 50 and cfg.variants["P3"]["max_features"] == "log2"
    assert cfg.variants["P9"]["length_days"] == 24.5 and cfg.variants["P5"]["n_estimators"] == 166


@pytest.mark.parametrize(
    "raw, needles",
    [
        ({"variants": {"X": {"length_days": 5}}}, ['variant "X"', 'missing required key "noise_ppm"']),
        (
            {"variants": {"X": {"length_days": 5, "noise_ppm": 9, "max_features": "half"}}},
            ['"max_features"', "log2"],
        ),
        (
            {"variants": {"X": {"length_days": 5, "noise_ppm": 9, "n_estimator": 3}}},
            ['did you mean "n_estimators"'],
        ),
        ({"variants": {"X": 3}}, ['variant "X" must be a JSON object']),
        ({"variants": {}}, ['"variants" is empty']),
        ({"variants": {"a/b": {"length_days": 5, "noise_ppm": 9}}}, ["file name"]),
        ({"alphas": "0.3,x"}, ['"alphas"', "0.3,x"]),
        ({"alphas": "1.5"}, ['"alphas"', "[0, 1]"]),
    ],
)
def test_config_errors_name_the_key(tmp_path, raw, needles):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, **raw)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_cli_config_error_is_one_line(cli, tmp_path):
    cfg = tmp_path / "t.json"
    cfg.write_text(json.dumps({"input_dirs": [str(tmp_path / "missing")], "output_dir": "o"}))
    proc = cli("train", "--config", cfg)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "does not exist" in proc.stderr


# -------------------------------------------------------------------------------------- α-selection maths


def test_selection_metrics_by_hand():
    # 10 stars; planets p1 (importance 1.0), p2 (0.0), p3 (0.5); 4 flagged: s1 .9, p1 .8, x .5, p3 .2
    scores = pd.DataFrame(
        {
            "filename": [f"f{i}" for i in range(10)],
            "tic_id": [100, 1, 101, 3, 2, 102, 103, 104, 105, 106],
            "anomaly_score": [0.9, 0.8, 0.5, 0.2, 0, 0, 0, 0, 0, 0],
        }
    )
    labels = pd.DataFrame(
        {
            "TIC ID": [1, 2, 3],
            "Planet SNR": [10, 1, 5],
            "Depth (ppm)": [1000, 100, 1000],
            "Duration (hours)": [2, 1, 1.9],
        }
    )
    planets = planet_labels(labels)  # importance raw 20000, 100, 9500 -> 1, 0, 0.4774
    np.testing.assert_allclose(planets["importance"], [1.0, 0.0, 9400 / 19900])
    m = variant_metrics(mark_labelled(scores, planets))
    assert m["recall"] == pytest.approx(2 / 3) and m["anomaly_rate"] == pytest.approx(0.4)
    # top 20 % of the 4 flagged = int(0.8) = 0 rows -> no importance in the top: 0
    assert m["mean_importance_top20"] == 0.0
    # top 10 % (at least one) most important flagged planet: p1, ranked 2nd of 4 flagged -> percentile 25
    assert m["top10_importance_range_end"] == pytest.approx(25.0)


def test_alpha_formula_by_hand():
    metrics = pd.DataFrame(
        {
            "variant": ["loud", "quiet"],
            "recall": [1.0, 0.5],
            "anomaly_rate": [0.6, 0.1],
            "mean_importance_top20": [0.2, 0.8],
            "top10_importance_range_end": [10.0, 50.0],
        }
    )
    out = alpha_scores(metrics, [0.0, 0.5, 1.0])
    # scaled: recall (1, 0), rate (1, 0), recall-rate (0.4 vs 0.4 -> 0, 0), importance (0, 1), range (0, 1)
    # detection = 0.5 r + 0.2 (1 - rate) + 0.3 gap: loud 0.5, quiet 0.2; ranking: loud 0.5, quiet 0.5
    np.testing.assert_allclose(out["score_alpha_1"], [0.5, 0.2])
    np.testing.assert_allclose(out["score_alpha_0"], [0.5, 0.5])
    np.testing.assert_allclose(out["score_alpha_0.5"], [0.5, 0.35])
    assert out.loc[0, "best_for_alpha"] == "0;0.5;1"


def test_truth_csv_works_as_labels(sim):
    truth = pd.read_csv(sim / "truth_s0001.csv")
    planets = planet_labels(truth)
    assert len(planets) == (truth["class"] == "planet").sum() == 6
    assert planets["importance"].between(0, 1).all() and planets["importance"].max() == 1.0
