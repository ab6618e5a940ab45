"""The evaluate command on a tiny grid: recall per cell, baseline anomaly rate, heat maps, failures, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from clara_benchmark import cli
from clara_benchmark.config import ConfigError, EvaluateConfig, load_flat_config
from clara_benchmark.extract import clara4000_many
from clara_benchmark.modelio import save_model
from clara_benchmark.synthetic.sector import write_sector
from clara_benchmark.synthetic.transits import SyntheticSetSpec
from clara_benchmark.training.evaluate import injection_times, summarise
from clara_benchmark.training.train import fit_forest, synthetic_matrix

GRID = {"depth_ppm": [300, 30000], "period_days": [2, 6], "duration_hours": [4]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 24-star short sector and a small URF trained on its first 16 stars."""
    from clara_benchmark.executors import LocalExecutor

    base = tmp_path_factory.mktemp("evaluate")
    sim = write_sector(base / "sim", n_stars=24, sector=2, seed=9, n_cadences=300, max_workers=1)
    paths = sorted((base / "sim").glob("*.fits"))[:16]
    real = clara4000_many(paths).features
    _, syn = synthetic_matrix(SyntheticSetSpec(16, 27.0, 90.0, 300.0), LocalExecutor(1))
    forest = fit_forest(real, syn, {"n_estimators": 15, "random_state": 42, "bootstrap": False})
    model = save_model(forest, base / "tiny.skops", {"feature_spec": "clara-4000/1"})
    return base, sim, model


def run_evaluate(tmp_path, **keys):
    cfg = tmp_path / "evaluate.json"
    cfg.write_text(json.dumps({"max_workers": 1, "grid": GRID, **keys}, default=str))
    return cli.main(["evaluate", "--config", str(cfg), "--log_dir", str(tmp_path / "logs"), "--quiet"])


def test_tiny_grid_recall_and_heat_maps(setup, published_dir, tmp_path):
    base, sim, model = setup
    p3 = published_dir / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"
    code = run_evaluate(
        tmp_path,
        input_dirs=[str(base / "sim")],
        output_dir=str(tmp_path / "out"),
        model_paths=[str(model), str(p3)],
        truth_csv=str(sim.truth_path),
        max_hosts=5,
    )
    assert code == 0
    out = tmp_path / "out"
    recall = pd.read_csv(next(out.glob("injection_recall_*.csv")))
    assert sorted(recall["model"].unique()) == sorted(["tiny", p3.stem])
    assert len(recall) == 2 * 4 and (recall["n_injected"] == 5).all()
    assert recall["recall"].between(0, 1).all()
    np.testing.assert_allclose(recall["recall"], recall["n_recovered"] / recall["n_injected"])
    scores = pd.read_csv(next(out.glob("injection_scores_*.csv")))
    quiet = set(sim.truth.loc[sim.truth["class"] == "quiet", "filename"])
    assert set(scores["filename"]) <= quiet and scores["filename"].nunique() == 5
    assert len(scores) == 2 * 5 * (1 + 4)  # per model and host: the baseline + 4 injections
    base_rows = scores[scores["depth_ppm"] == 0]
    for name, part in recall.groupby("model"):
        rate = (base_rows.loc[base_rows["model"] == name, "anomaly_score"] > 0).mean()
        assert part["baseline_anomaly_rate"].iloc[0] == pytest.approx(rate)
    # the tiny model was trained on transits: 3 % dips must look more synthetic than 300 ppm ones
    tiny = scores[scores["model"] == "tiny"]
    assert (
        tiny.loc[tiny["depth_ppm"] == 30000, "anomaly_score"].median()
        > tiny.loc[tiny["depth_ppm"] == 300, "anomaly_score"].median()
    )
    for name in ("tiny", p3.stem):
        png = next(out.glob(f"injection_recall_{name}_*.png"))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = (tmp_path / "logs" / "evaluate.log").read_text()
    assert "un-injected anomaly rate" in log


def test_bad_host_is_a_failure_row(setup, tmp_path):
    base, _, model = setup
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    good = sorted((base / "sim").glob("*.fits"))[-2:]
    for p in good:
        (hosts / p.name).write_bytes(p.read_bytes())
    (hosts / "tess2018234000000-s0002-0000000000000002-0121-s_lc.fits").write_bytes(b"SIMPLE  = nonsense")
    code = run_evaluate(
        tmp_path, input_dirs=[str(hosts)], output_dir=str(tmp_path / "out"), model_paths=[str(model)]
    )
    assert code == 0
    failures = pd.read_csv(next((tmp_path / "out").glob("evaluate_failures_*.csv")))
    assert len(failures) == 1 and "FITS" in failures["reason"][0]
    scores = pd.read_csv(next((tmp_path / "out").glob("injection_scores_*.csv")))
    assert scores["filename"].nunique() == 2


def test_summary_by_hand():
    rows = []
    # host a: flagged before injection (0.2); host b: clean (0); injected scores below
    for host, base_score, s_deep, s_shallow in (("a", 0.2, 0.5, 0.2), ("b", 0.0, 0.4, 0.0)):
        rows.append(
            {
                "filename": host,
                "model": "m",
                "depth_ppm": 0,
                "period_days": np.nan,
                "duration_hours": np.nan,
                "anomaly_score": base_score,
            }
        )
        rows.append(
            {
                "filename": host,
                "model": "m",
                "depth_ppm": 9000,
                "period_days": 2,
                "duration_hours": 3,
                "anomaly_score": s_deep,
            }
        )
        rows.append(
            {
                "filename": host,
                "model": "m",
                "depth_ppm": 100,
                "period_days": 2,
                "duration_hours": 3,
                "anomaly_score": s_shallow,
            }
        )
    summary = summarise(pd.DataFrame(rows), threshold=0.0).set_index("depth_ppm")
    assert summary.loc[9000, "recall"] == 1.0 and summary.loc[100, "recall"] == 0.5
    assert summary.loc[100, "recall_unflagged_hosts"] == 0.0  # only b counts, and b's 0.0 is not > 0
    assert (summary["baseline_anomaly_rate"] == 0.5).all()
    assert summarise(pd.DataFrame(rows), threshold=0.3).set_index("depth_ppm").loc[9000, "n_recovered"] == 2


def test_injection_times_are_reproducible_and_within_the_first_period():
    cells = [(1000, 2.0, 2.0), (1000, 7.0, 2.0)]
    a = injection_times(1325.0, cells, 42, 3)
    assert a == injection_times(1325.0, cells, 42, 3) and a != injection_times(1325.0, cells, 42, 4)
    assert 1325.0 <= a[0] < 1327.0 and 1325.0 <= a[1] < 1332.0


@pytest.mark.parametrize(
    "grid, needle",
    [
        ({"depth": [1]}, 'unknown axis "depth"'),
        ({"depth_ppm": [-5]}, "positive numbers"),
        ({"depth_ppm": []}, "non-empty list"),
        ({"period_days": [1.0], "duration_hours": [13]}, "half the shortest period"),
    ],
)
def test_grid_errors(tmp_path, grid, needle):
    model = tmp_path / "m.skops"
    model.write_bytes(b"x")
    with pytest.raises(ConfigError, match="grid") as err:
        load_flat_config(
            EvaluateConfig,
            None,
            {"input_dirs": [str(tmp_path)], "output_dir": "o", "model_paths": [str(model)], "grid": grid},
        )
    assert needle in str(err.value)


def test_duplicate_model_names_refused(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "p3.skops").write_bytes(b"x")
    with pytest.raises(ConfigError, match="same file name"):
        load_flat_config(
            EvaluateConfig,
            None,
            {
                "input_dirs": [str(tmp_path)],
                "output_dir": "o",
                "model_paths": [str(tmp_path / "a" / "p3.skops"), str(tmp_path / "b" / "p3.skops")],
            },
        )
