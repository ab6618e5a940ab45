"""The fold command and library (issue 13): centroids read, real planets recovered, CLARA's "ls" fold exactly,
flags of a planet and an eclipsing binary, the TOI table from a file and from 127.0.0.1, config errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import fold_helpers as H
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from clara_benchmark import LightCurve, products
from clara_benchmark.config import ConfigError, FoldConfig, load_flat_config
from clara_benchmark.exceptions import ClaraError
from clara_benchmark.folding import zscore_bin_means
from clara_benchmark.folds import fold
from clara_benchmark.lightcurve import ReadOptions, read_lightcurve
from clara_benchmark.tess_spoc_download.fetch import FetchOptions
from clara_benchmark.tess_spoc_download.localserver import LocalServer
from clara_benchmark.tess_spoc_download.toi_table import cache_path, load_toi_catalogue
from conftest import SHARED

TESS_REAL = SHARED / "data" / "tess_real"
WASP126 = TESS_REAL / "stsci-notebooks" / "tess2018206045859-s0001-0000000025155310-0120-s_lc.fits"
WASP46 = TESS_REAL / "stsci-notebooks" / "tess2018206045859-s0001-0000000231663901-0120-s_lc.fits"
QLP = TESS_REAL / "lightkurve-ext" / "hlsp_qlp_tess_ffi_s0024-0000000188589164_tess_v01_llc.fits"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    """A planet, an eclipsing binary with unequal eclipses, and the same binary with its centroid moving in
    eclipse (a blend), as SPOC files."""
    out = tmp_path_factory.mktemp("synthetic")
    quiet = H.quiet_stars(3)
    planet = H.write_star(out, quiet[0], "planet")
    binary = H.write_star(out, quiet[1], "binary")
    blend = H.write_star(out, quiet[2], "binary", centroid_shift_px=0.02)
    return {"dir": out, "planet": planet, "binary": binary, "blend": blend}


def _config(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "phase_folding_config.json"
    path.write_text(json.dumps(keys, indent=2))
    return path


def _main(*args) -> int:
    """The command in this process (its imports are already loaded here: faster than a subprocess)."""
    from clara_benchmark import cli

    return cli.main([*map(str, args), "--quiet", "--monitor_interval", "60"])


# --------------------------------------------------------------------------------------------- reader


def test_centroids_are_read_only_when_asked_and_nan_filled_when_absent(tmp_path):
    plain = read_lightcurve(WASP126)
    assert not {"mom_centr1", "pos_corr1"} & set(plain.columns)
    lc = ReadOptions(centroids=True).read(WASP126)
    with fits.open(WASP126) as h:
        for name in ("MOM_CENTR1", "MOM_CENTR2", "POS_CORR1", "POS_CORR2"):
            np.testing.assert_array_equal(lc.columns[name.lower()], np.asarray(h[1].data[name], float))
        cols = [c for c in h[1].columns if not c.name.startswith(("MOM_CENTR", "POS_CORR"))]
        table = fits.BinTableHDU.from_columns(cols, header=h[1].header)
        fits.HDUList([h[0].copy(), table, *[x.copy() for x in h[2:]]]).writeto(
            tmp_path / "no_centroids.fits", checksum=True
        )
    bare = read_lightcurve(tmp_path / "no_centroids.fits", centroids=True)
    assert bare.columns["mom_centr1"].shape == bare.time.shape and np.isnan(bare.columns["mom_centr2"]).all()
    np.testing.assert_array_equal(bare.flux, lc.flux)
    assert ReadOptions(centroids=True).identity() == ReadOptions().identity()  # no feature changes
    with pytest.raises(ConfigError, match="centroids must be true or false"):
        ReadOptions(centroids="yes")


# --------------------------------------------------------------------------------------------- library


def test_fold_recovers_real_planets_and_makes_failure_rows(tmp_path):
    damaged = tmp_path / "tess2018206045859-s0001-0000000000000042-0120-s_lc.fits"
    damaged.write_bytes(b"SIMPLE  =                    T" + b" " * 100)
    result = fold([WASP126, WASP46, QLP, damaged])
    periods = result.periods.set_index("tic")
    assert periods.loc[25155310, "period_days"] == pytest.approx(3.2888, rel=0.01)  # WASP-126 b
    assert periods.loc[231663901, "period_days"] == pytest.approx(1.43037, rel=0.01)  # WASP-46 b
    assert list(result.periods.columns) == list(products.FOLD_PERIODS.columns)
    assert (periods["method"] == "bls").all() and (periods["snr"] > 50).all()
    assert (periods["n_transits"] >= 8).all() and result.bins is None
    failures = result.failures.set_index("filename")["reason"]
    assert "PDCSAP_FLUX" in failures[QLP.name] and damaged.name in failures.index
    png = result.figure(WASP126.name)
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    with pytest.raises(KeyError):
        result.figure("nope.fits")


def test_auto_keeps_the_box_for_a_transit_and_the_sinusoid_for_a_rotator():
    from clara_benchmark.synthetic.transits import box_transit

    rng = np.random.default_rng(5)
    t = np.arange(1325.0, 1352.0, 2 / 1440)
    transit = 1e4 * box_transit(t, 3.3, 0.12, 0.004, 1326.1) * (1 + 8e-4 * rng.standard_normal(t.size))
    spots = 1e4 * (1 + 0.01 * np.sin(2 * np.pi * t / 4.7)) * (1 + 8e-4 * rng.standard_normal(t.size))
    lcs = [LightCurve(t, transit, tic_id=1, name="transit"), LightCurve(t, spots, tic_id=2, name="rotator")]
    result = fold(lcs, "auto")
    rows = result.periods.set_index("filename")
    assert rows.loc["transit", "method"] == "bls" and rows.loc["transit", "period_days"] == pytest.approx(
        3.3, 0.01
    )
    assert rows.loc["rotator", "method"] == "ls" and rows.loc["rotator", "period_days"] == pytest.approx(
        4.7, 0.02
    )
    # the detrending takes the rotation out: no box is left, and CLARA's periodogram has the period
    assert (
        rows.loc["rotator", "method_reason"].startswith("BLS SNR")
        and "LS power" in rows.loc["rotator", "method_reason"]
    )
    assert "box-shaped dip" in rows.loc["transit", "method_reason"]
    assert result.bins["filename"].tolist() == ["rotator"]  # CLARA's fold skips the transit (power < 0.05)
    ls = fold(lcs, "ls").periods.set_index("filename")
    assert ls.loc["rotator", "period_days"] == rows.loc["rotator", "period_days"]  # the same CLARA fold
    with pytest.raises(ConfigError, match="period_method"):
        fold(lcs, "fft")


# --------------------------------------------------------------------------------------------- command


def test_ls_mode_through_the_command_is_claras_fold(tmp_path):
    """CLARA's keys as CLARA writes them ("false" strings), its feature defaults (0.2-20 d, 0.05, 100 bins):
    the z-scored bins equal CLARA's recorded bin_means to 1e-9, and every star CLARA skips is a failure row
    with the reason."""
    from shapes_helpers import as_float, expected_features

    expected = expected_features()
    names = [Path(key).name for key in expected]
    table = H.candidates_csv(tmp_path / "candidates.csv", names)
    cfg = _config(
        tmp_path,
        input_df_path=str(table),
        output_dir=str(tmp_path / "out"),
        fits_dir=str(TESS_REAL),
        input_df_sql="SELECT filename FROM input_df WHERE label_group = 'planet_like'",
        max_workers=2,
        min_power_threshold=0.05,
        min_period_threshold=0.2,
        max_period_threshold=20,
        bins=100,
        save="false",
        show="false",
        phase_shift=0.0,
        column_name="filename",
        period_method="ls",
    )
    assert _main("fold", "--config", cfg, "--log_dir", tmp_path / "logs") == 0
    (bins_path,) = (tmp_path / "out").glob("fold_bins_*.csv")
    bins = pd.read_csv(bins_path, float_precision="round_trip").set_index("filename")
    periods = H.read_periods(tmp_path / "out").set_index("filename")
    failures = H.read_failures(tmp_path / "out").set_index("filename")["reason"]
    compared = skipped = 0
    for key, want in expected.items():
        name = Path(key).name
        if want["bin_means"] is None:
            assert name in failures.index and name not in periods.index, key
            if "power < 0.05" in (want.get("fold_note") or ""):
                assert "< min_power_threshold 0.05" in failures[name], failures[name]
                skipped += 1
            continue
        raw = bins.loc[name, [f"bin_{i}" for i in range(1, 101)]].to_numpy(float)
        clara = as_float(want["bin_means"])
        if np.isnan(clara).all():  # CLARA's all-NaN row: a phase bin is empty here too
            assert np.isnan(raw).any()
            continue
        assert np.max(np.abs(zscore_bin_means(raw) - clara)) <= 1e-9, key
        assert (
            periods.loc[name, "method"] == "ls"
            and periods.loc[name, "period_days"] == bins.loc[name, "ls_period_days"]
        )
        compared += 1
    assert (compared, skipped) == (16, 12)
    assert not list((tmp_path / "out").glob("*.png"))  # save "false"


def test_command_flags_binary_and_blend_not_planet_and_names_tois_from_127_0_0_1(tmp_path, synthetic):
    names = [synthetic[k][0] for k in ("planet", "binary", "blend")]
    table = H.candidates_csv(tmp_path / "cands.csv", names + ["absent.fits"], column="file")
    served = tmp_path / "served"
    served.mkdir()
    planet_tic = synthetic["planet"][1]["tic_id"]
    H.toi_csv(served / "toi.csv", [(planet_tic, "5001.01", 3.9, "PC"), (planet_tic, "5001.02", 11.0, "PC")])
    out = tmp_path / "out"
    with LocalServer(served) as srv:
        cfg = _config(
            tmp_path,
            input_df_path=str(table),
            output_dir=str(out),
            fits_dir=str(synthetic["dir"]),
            column_name="file",
            save="true",
            show="true",
            max_workers=1,
            toi_catalogue=srv.url("toi.csv"),
        )
        assert _main("fold", "--config", cfg, "--log_dir", tmp_path / "logs") == 0
        time.sleep(1.0)  # a new run timestamp
        assert _main("fold", "--config", cfg, "--log_dir", tmp_path / "logs", "--save", "false") == 0
        assert len(srv.requests_for("toi.csv")) == 1  # the second run used the verified cache
    first, second = (products.read_fold_periods(p) for p in sorted(out.glob("fold_periods_*.csv")))
    pd.testing.assert_frame_equal(first, second)  # the same stars, the same numbers, from the cache
    rows = first.set_index("tic")
    planet, binary, blend = (rows.loc[synthetic[k][1]["tic_id"]] for k in ("planet", "binary", "blend"))
    assert planet["period_days"] == pytest.approx(3.9, rel=0.005) and planet["flags"] == "known TOI"
    assert (
        planet["toi"] == "5001.01" and planet["toi_relation"] == "same" and planet["toi_disposition"] == "PC"
    )
    for eb in (binary, blend):
        flags = eb["flags"].split(";")
        assert {"secondary eclipse", "odd-even mismatch"} & set(flags), flags
        assert "known TOI" not in flags and eb["toi"] == ""
    assert "centroid shift" in blend["flags"] and "centroid shift" not in binary["flags"]
    assert blend["centroid_shift_sigma"] > 5 > binary["centroid_shift_sigma"]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(products.file_stem(n) + "_vetting.png" for n in names)
    failures = pd.read_csv(sorted(out.glob("fold_failures_*.csv"))[0], dtype=str)
    assert failures.to_dict("records") == [
        {
            "filename": "absent.fits",
            "path": str(synthetic["dir"] / "absent.fits"),
            "reason": "file not found in fits_dir",
        }
    ]
    log = (tmp_path / "logs" / "phase_folding.log").read_text()
    assert "show is true: accepted and ignored, clara runs headless" in log
    assert cache_path(srv.url("toi.csv"), out).is_file() and "cached copy used" in log


def test_ls_figures_have_claras_names(tmp_path):
    name = "tess2018206045859-s0001-0000000038846515-0120-s_lc.fits"  # CLARA folds this one
    table = H.candidates_csv(tmp_path / "c.csv", [name])
    out = tmp_path / "out"
    code = _main(
        "fold", "--input_df_path", table, "--output_dir", out, "--fits_dir", TESS_REAL / "stsci-notebooks",
        "--period_method", "ls", "--log_dir", tmp_path / "logs", "--max_workers", "1",
    )  # fmt: skip
    assert code == 0
    (row,) = H.read_periods(out).to_dict("records")
    (png,) = out.glob("*.png")
    assert png.name == f"{name[:-5]}_period_{row['period_days']:.4f}_days.png" and row["method"] == "ls"
    assert png.read_bytes().startswith(b"\x89PNG")


# --------------------------------------------------------------------------------------------- TOI table


def test_toi_table_from_a_local_file_and_a_bad_one(tmp_path):
    path = H.toi_csv(tmp_path / "toi.csv", [(25155310, "114.01", 3.2888, "KP")])
    result = fold([WASP126], toi_catalogue=path)
    (row,) = result.periods.to_dict("records")
    assert row["flags"] == "known TOI" and row["toi"] == "114.01" and row["toi_relation"] == "same"
    assert row["toi_period_days"] == 3.2888 and row["toi_disposition"] == "KP"
    bad = tmp_path / "bad.csv"
    bad.write_text("TIC ID,Period (days)\n1,2\n")
    with pytest.raises(ConfigError, match=r"bad.csv: line 1: no column 'TOI'"):
        load_toi_catalogue(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toi_catalogue(tmp_path / "nope.csv")


def test_toi_url_is_verified_before_it_is_cached(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "error.csv").write_text("<html><body>Service unavailable</body></html>\n")
    H.toi_csv(tmp_path / "www" / "toi.csv", [(25155310, "114.01", 3.2888, "KP")])
    fast = FetchOptions(backoff_seconds=0.01, max_retries=2)
    with LocalServer(tmp_path / "www") as srv:
        with pytest.raises(ClaraError, match="failed verification.*no column"):
            load_toi_catalogue(srv.url("error.csv"), cache_dir=tmp_path / "cache", fetch_options=fast)
        assert not cache_path(srv.url("error.csv"), tmp_path / "cache").exists()
        srv.add_faults("toi.csv", "500", "drop")  # retried like a light curve download
        cat = load_toi_catalogue(srv.url("toi.csv"), cache_dir=tmp_path / "cache", fetch_options=fast)
        assert [e.toi for e in cat.lookup(25155310)] == ["114.01"]
        assert len(srv.requests_for("toi.csv")) == 3
        with pytest.raises(ConfigError, match="needs a cache_dir"):
            load_toi_catalogue(srv.url("toi.csv"))


# --------------------------------------------------------------------------------------------- config


def _base(tmp_path) -> dict:
    table = H.candidates_csv(tmp_path / "c.csv", ["a.fits"])
    return {"input_df_path": str(table), "output_dir": str(tmp_path / "o"), "fits_dir": str(tmp_path)}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"period_methd": "bls"}, 'unknown key "period_methd" (did you mean "period_method"?)'),
        ({"period_method": "fft"}, "key \"period_method\" must be one of ['bls', 'ls', 'auto'], got \"fft\""),
        (
            {"min_period_threshold": 5, "max_period_threshold": 2},
            'key "min_period_threshold" (5) must be less',
        ),
        ({"min_period_threshold": 0}, 'key "min_period_threshold" must be >= 0.05'),
        ({"min_period_threshold": 0.1, "max_period_threshold": 0.2}, "no box least squares search"),
        (
            {"save": "yes"},
            'key "save" must be true or false (a JSON boolean, or CLARA\'s strings "true"/"false"), got "yes"',
        ),
        ({"bins": 1}, 'key "bins" must be >= 2'),
        ({"toi_catalogue": "nope.csv"}, 'key "toi_catalogue": "nope.csv" does not exist'),
        ({"toi_catalogue": "ftp://example.org/toi.csv"}, "must be a local file or an http(s) URL"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    raw = {**_base(tmp_path), **change}
    with pytest.raises(ConfigError) as err:
        load_flat_config(FoldConfig, _config(tmp_path, **raw), {})
    assert message in str(err.value)


def test_claras_string_booleans_and_command_line_errors(tmp_path, cli):
    raw = {**_base(tmp_path), "save": "TRUE", "show": "false"}
    config = load_flat_config(FoldConfig, _config(tmp_path, **raw), {})
    assert config.save is True and config.show is False and config.period_method == "bls"
    proc = cli(
        "fold", "--config", _config(tmp_path, **raw), "--period_method", "box", "--log_dir", tmp_path / "l"
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "clara fold: error: command line: key \"period_method\" must be one of ['bls', 'ls', 'auto'], got \"box\""
    ]


def test_shipped_example_config_is_claras_keys_plus_claras_own():
    path = Path(__file__).resolve().parents[1] / "configs" / "phase_folding_config.json"
    keys = list(json.loads(path.read_text()))
    clara = ["input_df_path", "output_dir", "fits_dir", "input_df_sql", "max_workers", "min_power_threshold",
             "min_period_threshold", "max_period_threshold", "bins", "save", "show", "phase_shift", "column_name"]  # fmt: skip
    assert keys[: len(clara)] == clara and set(keys) <= set(FoldConfig.__dataclass_fields__)


def test_candidate_without_a_file_name_and_unreadable_input_table(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx.fits\n")
    code = _main("fold", "--input_df_path", bad, "--output_dir", tmp_path / "o", "--fits_dir", tmp_path,
                 "--log_dir", tmp_path / "l")  # fmt: skip
    assert (
        code == 2
        and 'bad.csv: input table has no "filename" column (columns: name)' in capsys.readouterr().err
    )
    shutil.copy(WASP126, tmp_path / WASP126.name)
    table = tmp_path / "t.csv"
    table.write_text(f"filename,score\n{WASP126.name},1\n,2\n")
    code = _main("fold", "--input_df_path", table, "--output_dir", tmp_path / "o", "--fits_dir", tmp_path,
                 "--log_dir", tmp_path / "l", "--save", "false", "--max_workers", "1")  # fmt: skip
    assert code == 0
    assert H.read_periods(tmp_path / "o")["tic"].tolist() == [25155310]
    assert H.read_failures(tmp_path / "o")["reason"].tolist() == [
        'candidate row 2 has no file name in "filename"'
    ]
