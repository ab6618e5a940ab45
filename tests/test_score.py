"""The score command: CLARA-exact scores with the published models, output formats, failures, resume, WRSS."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from clara_reference import clara_score
from sklearn.preprocessing import MinMaxScaler

from clara_benchmark.commands import score as score_mod
from clara_benchmark.config import ConfigError, ScoreConfig, build_config
from clara_benchmark.featurestore import FeatureStore
from clara_benchmark.modelio import load_model
from clara_benchmark.resume import WorkDir
from clara_benchmark.urf_scoring.wrss import WRSS_COLUMNS, wrss_p3p9
from clara_benchmark.utils.context import RunContext
from clara_benchmark.utils.logs import RunLog
from conftest import REAL_LIGHTCURVES

MODELS = {
    "p3": "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl",
    "p5": "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl",
    "p9": "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl",
}


def score_config(published_dir, input_dir, output_dir, **overrides) -> dict:
    cfg = {
        "input_dirs": [str(input_dir)],
        "output_dir": str(output_dir),
        "max_workers": 1,
        "use_p3": True,
        "use_p5": True,
        "use_p9": True,
        "calculate_wrss_p3p9": True,
        **{f"{k}model_path": str(published_dir / v) for k, v in MODELS.items()},
    }
    cfg.update(overrides)
    return cfg


def read_scores(path) -> pd.DataFrame:
    """A score CSV with every float parsed by Python's float() (exact round trip of the written repr)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in table.columns:
        if col.startswith(("anomaly_score", "score_")):
            table[col] = table[col].map(float)
        elif col.startswith("tic"):
            table[col] = table[col].map(int)
    return table


@pytest.fixture
def run_in_process(tmp_path):
    """Run ``score`` in this process (for interruption tests); returns (exit code, ctx)."""
    logs = []

    def go(raw: dict, timestamp: str):
        config = build_config(ScoreConfig, raw, "test")
        log = RunLog("score", tmp_path / "logs", None, console=False)
        logs.append(log)
        ctx = RunContext(command="score", log=log, log_dir=tmp_path / "logs", timestamp=timestamp, quiet=True)
        try:
            return score_mod.run(config, ctx)
        finally:
            log.close()

    return go


def test_cli_scores_real_files_exactly_as_clara(cli_process, published_dir, real_copies, tmp_path):
    """The seed's score command in a shell of its own (a subprocess, two worker processes): CLARA's numbers."""
    cli = cli_process
    out = tmp_path / "results"
    cfg = tmp_path / "score.json"
    # trailing slash on output_dir, as in the seed's example config; two workers, batches of 2
    raw = score_config(published_dir, real_copies, f"{out}/", max_workers=2, batch_size=2, save_features=True)
    cfg.write_text(json.dumps(raw))
    res = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    names = sorted(REAL_LIGHTCURVES)
    tables = {}
    for key, model_file in MODELS.items():
        (path,) = out.glob(f"anomaly_scores_{key}_*.csv")
        assert path.read_text().splitlines()[0] == "tic,filename,anomaly_score"
        table = read_scores(path)
        assert table["filename"].tolist() == names  # one row per light curve, sorted by filename
        assert table["tic"].tolist() == [REAL_LIGHTCURVES[n][1] for n in names]
        model, _ = load_model(published_dir / model_file)
        expected = [clara_score(model, real_copies / n) for n in names]
        assert table["anomaly_score"].tolist() == expected  # exactly CLARA's numbers
        tables[key] = table
    stamp = path.name.split("_", 3)[3].removesuffix(".csv")

    failures = out / f"failures_{stamp}.csv"
    assert failures.read_text() == "filename,reason\n"

    wrss = read_scores(out / f"wrss_p3p9_{stamp}.csv")
    assert list(wrss.columns) == WRSS_COLUMNS
    both = [n for n in names if tables["p3"].set_index("filename").loc[n, "anomaly_score"] > 0]
    both = [n for n in both if tables["p9"].set_index("filename").loc[n, "anomaly_score"] > 0]
    assert wrss["filename"].tolist() == both
    sidecar = json.loads((out / f"wrss_p3p9_{stamp}.json").read_text())
    assert sidecar["rows"] == len(both)
    assert sidecar["score_weighted_root_sum_min"] == wrss["score_weighted_root_sum"].min()
    assert sidecar["score_weighted_root_sum_max"] == wrss["score_weighted_root_sum"].max()

    store = FeatureStore(out / f"features_{stamp}")
    assert sorted(store.lookup(names)) == names
    assert not list(out.glob(".score_*"))  # the work directory is gone once the run is complete


def _write_lightcurve(path, time, flux, tic=42):
    cols = [
        fits.Column(name="TIME", format="D", array=np.asarray(time, dtype=np.float64)),
        fits.Column(name="PDCSAP_FLUX", format="E", array=np.asarray(flux, dtype=np.float32)),
    ]
    primary = fits.PrimaryHDU()
    primary.header["TICID"] = tic
    primary.header["SECTOR"] = 1
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")]).writeto(path)


def test_bad_light_curves_go_to_failures_never_to_score_rows(
    run_in_process, published_dir, real_copies, tmp_path
):
    t = np.linspace(1325.0, 1352.0, 500)
    _write_lightcurve(real_copies / "a_constant.fits", t, np.full(500, 1000.0))
    _write_lightcurve(real_copies / "b_short.fits", t[:4], np.arange(4.0) + 1000)
    _write_lightcurve(real_copies / "c_all_nan.fits", t, np.full(500, np.nan))
    (real_copies / "d_broken.fits").write_bytes(b"garbage" * 100)
    out = tmp_path / "out"
    raw = score_config(published_dir, real_copies, out, use_p5=False, batch_size=3)
    assert run_in_process(raw, "20250101_000000") == 0

    failures = pd.read_csv(out / "failures_20250101_000000.csv")
    assert failures["filename"].tolist() == [
        "a_constant.fits",
        "b_short.fits",
        "c_all_nan.fits",
        "d_broken.fits",
    ]
    reasons = dict(zip(failures["filename"], failures["reason"]))
    assert "constant flux" in reasons["a_constant.fits"]
    assert "only 4 finite samples" in reasons["b_short.fits"]
    assert "no finite" in reasons["c_all_nan.fits"]
    assert "not a FITS file" in reasons["d_broken.fits"]
    for key in ("p3", "p9"):
        table = read_scores(out / f"anomaly_scores_{key}_20250101_000000.csv")
        assert table["filename"].tolist() == sorted(REAL_LIGHTCURVES)
        assert table["anomaly_score"].notna().all() and table["tic"].notna().all()
    assert not (out / "anomaly_scores_p5_20250101_000000.csv").exists()


def _copies(real_copies, n):
    """n distinct light-curve files (copies of the real ones under new names)."""
    src = sorted(real_copies.iterdir())
    for i in range(n - len(src)):
        shutil.copy(src[i % len(src)], real_copies / f"copy_{i:03d}.fits")
    return sorted(p.name for p in real_copies.iterdir())


def test_resume_after_interruption_has_no_duplicate_or_lost_rows(
    run_in_process, published_dir, real_copies, tmp_path, monkeypatch
):
    names = _copies(real_copies, 8)
    out = tmp_path / "out"
    raw = score_config(published_dir, real_copies, out, batch_size=2, save_features=True)

    # first run: stopped (Ctrl-C) after the feature shard of the 3rd batch, before its part is written
    real_write_part = WorkDir.write_part
    parts = []

    def interrupted_write_part(work, arrays):
        if len(parts) == 2:
            raise KeyboardInterrupt
        parts.append(list(arrays["filenames"]))
        return real_write_part(work, arrays)

    monkeypatch.setattr(WorkDir, "write_part", interrupted_write_part)
    with pytest.raises(KeyboardInterrupt):
        run_in_process(raw, "20250101_000001")
    assert not list(out.glob("anomaly_scores_*"))  # no final output from an unfinished run
    (work,) = out.glob(".score_20250101_000001.work")
    assert len(list(work.glob("part-*.npz"))) == 2
    assert len(list((out / "features_20250101_000001").glob("part-*.npz"))) == 3  # one orphan shard
    monkeypatch.setattr(WorkDir, "write_part", real_write_part)

    # second run with resume: only the 4 light curves not yet done are scored
    scored_now = []
    real_batches = score_mod.score_batches

    def recording_batches(items, *args, **kw):
        items = list(items)
        scored_now.extend(str(p) for p in items)
        return real_batches(items, *args, **kw)

    monkeypatch.setattr(score_mod, "score_batches", recording_batches)
    assert run_in_process({**raw, "resume": True}, "20250101_000002") == 0
    done_first = {n for batch in parts for n in batch}
    assert sorted(p.rsplit("/", 1)[-1] for p in scored_now) == sorted(set(names) - done_first)
    assert not list(out.glob(".score_*"))  # finished: the work directory is gone
    assert not list(out.glob("*20250101_000002*"))  # the resumed run keeps its original timestamp

    # the same rows as an uninterrupted run, each exactly once
    fresh = tmp_path / "fresh"
    assert (
        run_in_process(score_config(published_dir, real_copies, fresh, batch_size=3), "20250101_000003") == 0
    )
    for key in MODELS:
        resumed = read_scores(out / f"anomaly_scores_{key}_20250101_000001.csv")
        assert resumed["filename"].tolist() == names
        pd.testing.assert_frame_equal(
            resumed, read_scores(fresh / f"anomaly_scores_{key}_20250101_000003.csv")
        )
    pd.testing.assert_frame_equal(
        read_scores(out / "wrss_p3p9_20250101_000001.csv"),
        read_scores(fresh / "wrss_p3p9_20250101_000003.csv"),
    )
    store = FeatureStore(out / "features_20250101_000001")
    stored = [n for b in store.iter_batches() for n in b.filenames]
    assert sorted(stored) == names  # the orphan shard was dropped, nothing stored twice


def test_resume_refuses_a_run_with_other_models(
    run_in_process, published_dir, real_copies, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    raw = score_config(published_dir, real_copies, out, use_p5=False, batch_size=1)
    monkeypatch.setattr(WorkDir, "write_part", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run_in_process(raw, "20250101_000010")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="used different models"):
        run_in_process({**raw, "use_p5": True, "resume": True}, "20250101_000011")


def test_wrss_matches_an_independent_computation():
    rng = np.random.default_rng(3)
    n = 60
    names = [f"f{i:03d}.fits" for i in range(n)]
    p3 = pd.DataFrame(
        {"tic": np.arange(n), "filename": names, "anomaly_score": rng.choice([0, 0.01, 0.2, 0.5], n)}
    )
    p9 = pd.DataFrame(
        {"tic": np.arange(n), "filename": names, "anomaly_score": rng.choice([0, 0.03, 0.3], n)}
    )
    p9 = p9.iloc[::-1].drop(index=[5, 6])  # other order, two files missing in P9
    table, record = wrss_p3p9(p3, p9)

    keep = [
        i
        for i in range(n)
        if p3["anomaly_score"][i] > 0
        and i not in (5, 6)
        and p9.set_index("filename").loc[names[i], "anomaly_score"] > 0
    ]
    assert table["filename"].tolist() == [names[i] for i in keep]
    s3 = p3["anomaly_score"].to_numpy()[keep]
    s9 = p9.set_index("filename").loc[[names[i] for i in keep], "anomaly_score"].to_numpy()
    expected = 0.8 * np.sqrt(s3) + 0.2 * np.sqrt(s9)
    assert np.array_equal(table["score_weighted_root_sum"].to_numpy(), expected)
    # CLARA normalised with MinMaxScaler: same bits; and the textbook formula to rounding
    clara_norm = MinMaxScaler().fit_transform(expected.reshape(-1, 1)).ravel()
    assert np.array_equal(table["score_weighted_root_sumnorm"].to_numpy(), clara_norm)
    textbook = (expected - expected.min()) / (expected.max() - expected.min())
    assert np.allclose(table["score_weighted_root_sumnorm"], textbook, rtol=0, atol=1e-12)
    assert record["score_weighted_root_sum_min"] == expected.min()
    assert record["score_weighted_root_sum_max"] == expected.max()
    assert table["tic_p3"].tolist() == table["tic_p9"].tolist() == keep


def test_wrss_edge_cases():
    one = pd.DataFrame({"tic": [1, 2], "filename": ["a", "b"], "anomaly_score": [0.3, 0.0]})
    table, record = wrss_p3p9(one, one)
    assert table["filename"].tolist() == ["a"] and table["score_weighted_root_sumnorm"].tolist() == [0.0]
    empty, record = wrss_p3p9(one.assign(anomaly_score=0.0), one)
    assert list(empty.columns) == WRSS_COLUMNS and len(empty) == 0
    assert record["rows"] == 0 and record["score_weighted_root_sum_min"] is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_p9": False}, 'key "calculate_wrss_p3p9" needs both "use_p3" and "use_p9"'),
        (
            {"use_p3": False, "use_p5": False, "use_p9": False, "calculate_wrss_p3p9": False},
            "no model enabled",
        ),
        (
            {"p5model_path": "/nonexistent/p5.pkl"},
            'key "p5model_path": file "/nonexistent/p5.pkl" does not exist',
        ),
        ({"batch_size": 0}, 'key "batch_size" must be >= 1'),
    ],
)
def test_config_errors(published_dir, real_copies, tmp_path, overrides, message):
    raw = score_config(published_dir, real_copies, tmp_path / "out", **overrides)
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(ScoreConfig, raw, "test")


def test_cli_refuses_unknown_pickle_and_bad_output_dir(cli, published_dir, real_copies, tmp_path):
    tampered = tmp_path / "p3.pkl"
    tampered.write_bytes((published_dir / MODELS["p3"]).read_bytes() + b"\0")
    cfg = tmp_path / "score.json"
    raw = score_config(published_dir, real_copies, tmp_path / "out", use_p5=False, p3model_path=str(tampered))
    cfg.write_text(json.dumps(raw))
    res = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs", cwd=tmp_path)
    assert res.returncode == 2
    assert "refusing to load a pickle" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("anomaly_scores_*"))

    (tmp_path / "afile").write_text("x")
    raw = score_config(published_dir, real_copies, tmp_path / "afile")
    cfg.write_text(json.dumps(raw))
    res = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs", cwd=tmp_path)
    assert res.returncode == 2 and "not a directory" in res.stderr and "Traceback" not in res.stderr


def test_empty_input_dir_is_a_clear_error(run_in_process, published_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    from clara_benchmark.config import ClaraError

    with pytest.raises(ClaraError, match="no \\*.fits light curves"):
        run_in_process(score_config(published_dir, empty, tmp_path / "out"), "20250101_000020")
