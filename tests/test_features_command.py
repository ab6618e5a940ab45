"""The ``features`` command: CLARA's keys, input convention and output layout; the real shared files against
CLARA's recorded features; every star that cannot be processed a failure row; the extra matrices (PCA,
adjusted, DTW); the self-describing .npz read back by the library and by sim's feature reuse; every
config error as one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapes_helpers import TESS_REAL, as_float, expected_features

import clara_benchmark as clara
from clara_benchmark import cli, products
from clara_benchmark.config import ConfigError, FeaturesConfig, load_flat_config
from clara_benchmark.dtw import dtw_distance_matrix
from clara_benchmark.featuresets import FeatureSet, adjust_length, load_matrix, reduce_features
from clara_benchmark.featurestore import FeatureStoreWriter

EXPECTED = expected_features()
BOTH = [  # CLARA gives a bin_means and an advanced_10 vector for these
    "notch-locor/tess2018206045859-s0001-0000000410214986-0120-s_lc.fits",
    "stsci-notebooks/tess2018206045859-s0001-0000000038846515-0120-s_lc.fits",
    "stsci-notebooks/tess2018206045859-s0001-0000000149603524-0120-s_lc.fits",
]
LOW_POWER = "stsci-notebooks/tess2018206045859-s0001-0000000025155310-0120-s_lc.fits"
NO_PDCSAP = "lightkurve-ext/hlsp_qlp_tess_ffi_s0024-0000000188589164_tess_v01_llc.fits"
FFI = "lightkurve-ext/hlsp_tess-spoc_tess_phot_0000001925740387-s0013_tess_v1_lc.fits"  # bin_means only
EMPTY_BINS = "notch-locor/tess2019112060037-s0011-0000000127315102-0143-s_lc.fits"
DAMAGED = "tess2018206045859-s0001-0000000000000042-0120-s_lc.fits"
ABSENT = "tess2018206045859-s0001-0000000000000043-0120-s_lc.fits"
COMMON = ["--quiet", "--monitor_interval", "60"]


def name(key: str) -> str:
    return key.split("/", 1)[1]


@pytest.fixture(scope="module")
def candidates(tmp_path_factory) -> dict:
    """A fits_dir (sector sub-folders, as downloads make them) and CLARA's candidate table for it."""
    root = tmp_path_factory.mktemp("features")
    fits = root / "fits"
    for i, key in enumerate([*BOTH, LOW_POWER, NO_PDCSAP, FFI, EMPTY_BINS]):
        (fits / f"s{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(TESS_REAL / key, fits / f"s{i % 2}" / name(key))
    (fits / DAMAGED).write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    rows = [name(k) for k in [*BOTH, LOW_POWER, NO_PDCSAP, FFI, EMPTY_BINS]] + [DAMAGED, ABSENT, ""]
    table = pd.DataFrame({"fits_name": rows, "score": np.arange(len(rows), dtype=float)})
    table.loc[len(table)] = [name(BOTH[0]), 99.0]  # a file listed twice is computed once
    table.to_csv(root / "candidates.csv", index=False)
    return {"root": root, "fits": fits, "table": root / "candidates.csv", "rows": rows}


def run_features(root: Path, tag: str, **keys) -> Path:
    """``clara features`` in this process (as a user's command line); returns its output_dir."""
    out = root / f"out_{tag}"
    config = {"output_dir": str(out), "max_workers": 1, **keys}
    path = root / f"{tag}.json"
    path.write_text(json.dumps(config))
    code = cli.main(["features", "--config", str(path), "--log_dir", str(root / f"logs_{tag}"), *COMMON])
    assert code == 0, (root / f"logs_{tag}" / "feature_extraction.log").read_text()
    return out


def outputs(out: Path, method: str) -> dict:
    folder = out / method
    npy = products.SHAPE_FEATURES.find(folder)
    assert len(npy) == 1, list(folder.iterdir())
    ts = npy[0][1]["ts"]
    fields = {"method": method, "ts": ts}
    return {
        "ts": ts,
        "x": np.load(npy[0][0], allow_pickle=False),
        "names": products.SHAPE_FILENAMES.path(folder, **fields).read_text().splitlines(),
        "npz": products.SHAPE_SET.path(folder, **fields),
        "failures": pd.read_csv(products.SHAPE_FAILURES.path(folder, **fields), keep_default_na=False),
        "folder": folder,
    }


def base_keys(candidates, **more) -> dict:
    return {
        "fits_dir": str(candidates["fits"]),
        "input_df_path": str(candidates["table"]),
        "filename_column_in_df": "fits_name",
        "input_df_sql": "SELECT fits_name FROM input_df WHERE score >= 0",
        **more,
    }


def test_bin_means_equal_clara_with_a_failure_row_for_every_other_star(candidates):
    out = run_features(candidates["root"], "bm", **base_keys(candidates, features="bin_means"))
    got = outputs(out, "bin_means")
    assert got["names"] == [name(k) for k in [*BOTH, FFI]]  # row i ↔ line i, in table order
    for i, key in enumerate([*BOTH, FFI]):
        assert np.max(np.abs(got["x"][i] - as_float(EXPECTED[key]["bin_means"]))) <= 1e-9, key
    reasons = dict(zip(got["failures"]["filename"], got["failures"]["reason"]))
    assert "Lomb–Scargle peak power 0.0464 < min_power_threshold 0.05" in reasons[name(LOW_POWER)]
    assert "PDCSAP_FLUX" in reasons[name(NO_PDCSAP)]
    assert "phase bins are empty" in reasons[name(EMPTY_BINS)]  # CLARA writes an all-NaN row
    assert reasons[ABSENT] == "file not found in fits_dir"
    assert reasons[DAMAGED] and reasons[""] == 'candidate row 10 has no file name in column "fits_name"'
    assert len(got["failures"]) == 6
    saved = FeatureSet.load(got["npz"])  # the same matrix, self-described
    assert saved.method == "bin_means" and saved.filenames == got["names"]
    assert np.array_equal(saved.features, got["x"])
    assert saved.tic_ids[:3] == [410214986, 38846515, 149603524]
    assert saved.options["read_options"]["flux_column"] == "pdcsap_flux"


def test_advanced_10_equal_clara(candidates):
    keys = base_keys(candidates, features="advanced_10_feature_set", batch_size=2)
    keys["input_df_sql"] = (
        "score IN (0, 1, 3, 4, 5)"  # a condition (CLARA: a query): 2 with vectors, 3 without
    )
    got = outputs(run_features(candidates["root"], "adv", **keys), "advanced_10_feature_set")
    assert got["names"] == [name(k) for k in BOTH[:2]]
    for i, key in enumerate(BOTH[:2]):
        want = as_float(EXPECTED[key]["advanced_10"])
        assert np.all(np.abs(got["x"][i] - want) <= 1e-6 * np.abs(want) + 1e-300), key
    reasons = dict(zip(got["failures"]["filename"], got["failures"]["reason"]))
    assert "lengths differ" in reasons[name(FFI)]  # CLARA's transit count fails on these files
    assert "phase fold failed: Lomb–Scargle peak power" in reasons[name(LOW_POWER)]
    assert set(reasons) == {name(k) for k in (LOW_POWER, NO_PDCSAP, FFI)}
    assert FeatureSet.load(got["npz"]).feature_names[-1] == "bls_duration"


def test_bin_means_desired_length_and_dtw(candidates):
    keys = base_keys(candidates, features="bin_means", desired_length=120, use_dtw="true")
    keys["input_df_sql"] = "score < 3"
    out = run_features(candidates["root"], "dtw", **keys)
    got = outputs(out, "bin_means")
    assert got["x"].shape == (3, 120)
    # CLARA pads the bin means with zeros before the z-score (features_minbeans_folded)
    from clara_benchmark.folding import fold_lightcurve, zscore_bin_means
    from clara_benchmark.lightcurve import read_lightcurve

    lc = read_lightcurve(TESS_REAL / BOTH[1])
    padded = zscore_bin_means(fold_lightcurve(lc.time, lc.flux).bin_means, 120)
    np.testing.assert_array_equal(got["x"][1], padded)
    dtw = np.load(products.SHAPE_DTW.path(got["folder"], ts=got["ts"]), allow_pickle=False)
    np.testing.assert_array_equal(dtw, dtw_distance_matrix(got["x"]))
    assert FeatureSet.load(got["npz"]).companions == {"dtw": f"bin_means_dtw_matrix_{got['ts']}.npy"}
    loaded = load_matrix(got["npz"], matrix="dtw")
    assert loaded.filenames == got["names"] and np.array_equal(loaded.x, dtw)
    log = (candidates["root"] / "logs_dtw" / "feature_extraction.log").read_text()
    assert "DTW distance matrix of 3 bin_means vectors: 3 pairs" in log


def test_fluxpowerstack_reuses_the_store_pca_lowered_and_adjusted(candidates, tmp_path):
    files = [candidates["fits"] / f"s{i % 2}" / name(k) for i, k in enumerate(BOTH)]
    computed = clara.clara4000_many(files)
    store = tmp_path / "features_20240101_000000"
    FeatureStoreWriter(store).write(computed.as_batch())  # as score's save_features writes it
    keys = base_keys(
        candidates,
        features="fluxpowerstack",
        features_path=str(store),
        reduce_features=True,
        desired_length=4100,
        input_df_sql="score < 4",  # the three in the store and one more, computed
    )
    root = candidates["root"]
    got = outputs(run_features(root, "fps", **keys), "fluxpowerstack")
    assert got["names"] == [name(k) for k in [*BOTH, LOW_POWER]]
    by_name = dict(zip(computed.filenames, computed.features))  # clara4000_many: file-name order
    np.testing.assert_array_equal(got["x"][:3], np.array([by_name[n] for n in got["names"][:3]]))
    log = (root / "logs_fps" / "feature_extraction.log").read_text()
    assert "(3 reused from" in log
    assert "reduce_features_n_features 50 lowered to 3 components" in log  # n_samples - 1
    fields = {"method": "fluxpowerstack", "ts": got["ts"]}
    pca = np.load(products.SHAPE_PCA.path(got["folder"], **fields, n=3), allow_pickle=False)
    np.testing.assert_allclose(pca, reduce_features(got["x"], 50)[0])
    adjusted = np.load(products.SHAPE_ADJUSTED.path(got["folder"], **fields, n=4100), allow_pickle=False)
    assert adjusted.shape == (4, 4100) and not adjusted[:, 4000:].any()
    np.testing.assert_array_equal(adjusted[:, :4000], got["x"])
    saved = FeatureSet.load(got["npz"])
    assert set(saved.companions) == {"pca", "adjusted"}
    assert np.array_equal(load_matrix(got["npz"], matrix="pca").x, pca)
    # sim, train and the library take the .npz as a feature store: every vector reused, none recomputed
    again = clara.clara4000_many(files, features_path=got["npz"])
    assert again.reused == 3 and np.array_equal(again.features, computed.features)
    assert again.filenames == computed.filenames
    sap = {"flux_column": "sap_flux"}
    with pytest.raises(clara.FeatureStoreError, match="made with"):
        clara.clara4000_many(files, features_path=got["npz"], read_options=sap)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_one_blas_thread_in_worker_processes_only():
    import multiprocessing

    from clara_benchmark.featuresets import one_blas_thread_in_workers

    before = _blas_threads()
    one_blas_thread_in_workers()  # the caller's own process is left alone
    assert _blas_threads() == before
    with multiprocessing.get_context("fork").Pool(1, initializer=one_blas_thread_in_workers) as pool:
        assert pool.apply(_blas_threads) == [1] * len(before)


def test_adjust_length_truncates_and_pads():
    x = np.arange(6.0).reshape(2, 3)
    assert adjust_length(x, 2).tolist() == [[0, 1], [3, 4]]
    assert adjust_length(x, 4).tolist() == [[0, 1, 2, 0], [3, 4, 5, 0]]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            adjust_length(x, bad)


def test_saved_set_refuses_foreign_and_damaged_files(tmp_path):
    np.savez(tmp_path / "other.npz", features=np.ones((2, 2)))
    with pytest.raises(ValueError, match="not a feature set written by clara"):
        FeatureSet.load(tmp_path / "other.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="not a readable .npz"):
        FeatureSet.load(tmp_path / "bad.npz")
    fs = FeatureSet("bin_means", ["a.fits"], ["/x/a.fits"], [7], np.ones((1, 100)))
    fs.save(tmp_path / "ok.npz")
    with pytest.raises(ValueError, match="no pca matrix"):
        FeatureSet.load(tmp_path / "ok.npz").companion("pca", tmp_path)
    with pytest.raises(ValueError, match="only a fluxpowerstack set"):
        fs.to_feature_matrix()


# ------------------------------------------------------------------------------------------ config


def test_clara_string_booleans(tmp_path, candidates):
    raw = base_keys(candidates, features="bin_means", output_dir=str(tmp_path))
    for text, want in (("true", True), ("false", False), ("TRUE", True), (" False ", False), (True, True)):
        cfg = load_flat_config(FeaturesConfig, None, {**raw, "use_dtw": text, "reduce_features": text})
        assert cfg.use_dtw is want and cfg.reduce_features is want
    for bad in ("yes", "1", 1, "", None):
        with pytest.raises(ConfigError, match='key "use_dtw" must be true or false') as info:
            load_flat_config(FeaturesConfig, None, {**raw, "use_dtw": bad})
        assert "CLARA's strings" in str(info.value) or bad is None


def test_keys_that_do_not_apply_are_notes(candidates, tmp_path):
    cfg = load_flat_config(
        FeaturesConfig,
        None,
        base_keys(candidates, features="advanced_10_feature_set", output_dir=str(tmp_path))
        | {"reduce_features": "true", "use_dtw": "true", "features_path": str(tmp_path)},
    )
    notes = cfg.unused_keys()
    assert len(notes) == 3 and "reduce_features" in notes[0] and "use_dtw" in notes[1]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"features": "shapes"}, 'key "features" must be one of'),
        ({"features": None}, 'missing required key "features"'),
        ({"fits_dir": "nope/"}, 'key "fits_dir": directory "nope/" does not exist'),
        ({"input_df_path": "nope.csv"}, 'key "input_df_path": file "nope.csv" does not exist'),
        ({"reduce_features": "yes"}, 'key "reduce_features" must be true or false'),
        ({"reduce_features_n_features": 0}, 'key "reduce_features_n_features" must be >= 1'),
        ({"reduce_features_n_features": 4001}, "a clara-4000 vector has 4,000 values"),
        ({"desired_length": 0}, 'key "desired_length" must be >= 1'),
        ({"desired_length": 10**6}, "clara's limit on a vector's length"),
        ({"desired_length": 2.5}, 'key "desired_length" must be an integer'),
        ({"filename_column_in_df": ""}, 'key "filename_column_in_df" must be a non-empty string'),
        ({"filename_column_in_df": " "}, 'key "filename_column_in_df" must name a column'),
        ({"flux_column": "PDCSAP FLUX"}, 'key "flux_column" must be a column name'),
        ({"features_path": "nope/"}, 'key "features_path": path "nope/" does not exist'),
        ({"max_workers": 0}, 'key "max_workers" must be >= 1'),
        ({"reduce_feature": True}, 'unknown key "reduce_feature" (did you mean "reduce_features"?)'),
        ({"output_dir": "FILE"}, '"output_dir": "FILE" is a file, not a directory'),
    ],
)
def test_every_config_error_is_one_line_exit_2(candidates, tmp_path, monkeypatch, capsys, change, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    raw = base_keys(candidates, features="bin_means", output_dir=str(tmp_path / "out")) | change
    (tmp_path / "c.json").write_text(json.dumps({k: v for k, v in raw.items() if v is not None}))
    assert cli.main(["features", "--config", "c.json", "--log_dir", "logs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clara features: error: c.json: ") and needle in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert not (tmp_path / "logs").exists()  # refused before anything ran


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"input_df_sql": "SELECT score FROM input_df"}, 'the query must return a "fits_name" column'),
        ({"input_df_sql": "SELEC nonsense"}, 'key "input_df_sql": query failed'),
        ({"filename_column_in_df": "filename"}, 'has no "filename" column (columns: fits_name, score)'),
    ],
)
def test_input_table_errors_are_config_errors(candidates, tmp_path, capsys, change, needle):
    raw = base_keys(candidates, features="bin_means", output_dir=str(tmp_path / "out")) | change
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert cli.main(["features", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_error_in_a_subprocess_is_one_line(candidates, tmp_path, cli_process):
    cli = cli_process
    raw = base_keys(candidates, features="bin_means", output_dir=str(tmp_path / "out"), use_dtw="maybe")
    (tmp_path / "c.json").write_text(json.dumps(raw))
    proc = cli("features", "--config", tmp_path / "c.json", "--log_dir", tmp_path / "logs")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f'clara features: error: {tmp_path / "c.json"}: key "use_dtw" must be true or false (a JSON '
        'boolean, or CLARA\'s strings "true"/"false"), got "maybe"'
    ]


def test_nothing_computed_is_exit_1_with_the_failures_written(candidates, tmp_path):
    raw = base_keys(candidates, features="bin_means", output_dir=str(tmp_path / "out"))
    raw["input_df_sql"] = f"fits_name = '{name(LOW_POWER)}'"
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert (
        cli.main(["features", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path), *COMMON]) == 1
    )
    assert "none of the 1 candidates gave bin_means features" in (tmp_path / "main.log").read_text()
    failures = list((tmp_path / "out" / "bin_means").glob("bin_means_failures_*.csv"))
    assert len(failures) == 1 and "peak power" in failures[0].read_text()
    assert not list((tmp_path / "out" / "bin_means").glob("*.npy"))
    raw["input_df_sql"] = "score > 1000"
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert (
        cli.main(["features", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path), *COMMON]) == 1
    )
    assert "no candidates" in (tmp_path / "main.log").read_text()


def test_a_feature_store_made_with_other_read_options_is_refused(candidates, tmp_path):
    store = tmp_path / "store"
    FeatureStoreWriter(store, clara.ReadOptions(flux_column="sap_flux")).write(
        clara.clara4000_many(candidates["fits"] / "s0" / name(BOTH[0])).as_batch()
    )
    raw = base_keys(
        candidates, features="fluxpowerstack", output_dir=str(tmp_path / "o"), features_path=str(store)
    )
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert (
        cli.main(["features", "--config", str(tmp_path / "c.json"), "--log_dir", str(tmp_path), *COMMON]) == 1
    )
    assert 'features_path "' in (tmp_path / "main.log").read_text()
