"""Products detected from headers (every real file, synthetic Kepler/K2 and 20-s files), the flux column
option, quality masks equal to lightkurve's, 20-s → 2-min binning, and the flag on what CLARA was not
trained on (warning line, product columns)."""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import clara_benchmark as clara
from clara_benchmark import cadences
from clara_benchmark.extract import clara4000_many
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.lightcurve import (
    LightCurve,
    LightCurveError,
    ReadOptions,
    detect_product,
    read_lightcurve,
)
from conftest import SHARED

REAL = SHARED / "data" / "tess_real"
PUBLISHED = SHARED / "data" / "clara_published"
P3 = "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"
#: SOURCES.tsv's product words → clara's product names
SOURCE_PRODUCT = {
    "SPOC 2-min": "spoc-2min",
    "TESS-SPOC FFI 30-min": "tess-spoc",
    "TESS-SPOC FFI 10-min": "tess-spoc",
    "QLP FFI 30-min": "qlp",
    "lightkurve-written derived LC": "lightkurve",
}
QLP = REAL / "lightkurve-ext" / "hlsp_qlp_tess_ffi_s0024-0000000188589164_tess_v01_llc.fits"
LK_FILE = REAL / "exovetter" / "wasp18b.fits"
TESS_SPOC = REAL / "lightkurve-ext" / "hlsp_tess-spoc_tess_phot_0000001925740387-s0027_tess_v1_lc.fits"


def sources() -> list[dict]:
    with open(REAL / "SOURCES.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _flux_for(product: str) -> str:
    return {"qlp": "sap_flux", "lightkurve": "flux"}.get(product, "pdcsap_flux")


@pytest.mark.parametrize("row", sources(), ids=lambda r: r["file"].split("/")[-1][:40])
def test_every_real_file_is_the_product_its_source_says(row):
    want = SOURCE_PRODUCT[row["product"]]
    lc = read_lightcurve(REAL / row["file"], flux_column=_flux_for(want))
    assert lc.product == want
    assert (lc.tic_id, lc.id_kind) == (int(row["TICID"]), "tic")
    assert len(lc) == int(row["rows"]) and lc.sector == int(row["SECTOR"])
    minutes = re.search(r"(\d+)-min", row["product"])
    if minutes:  # the lightkurve-written file has no TIMEDEL: its cadence is the median TIME step
        assert lc.cadence_s == 60 * int(minutes.group(1))


def test_detection_uses_headers_not_names(tmp_path):
    """A TESS-SPOC file renamed like a SPOC 2-min one is still TESS-SPOC (lightkurve goes by the name)."""
    fake_name = tmp_path / "tess2020186164531-s0027-0000001925740387-0189-s_lc.fits"
    shutil.copy(TESS_SPOC, fake_name)
    assert read_lightcurve(fake_name).product == "tess-spoc"


def test_detect_product_rules():
    spoc = {"ORIGIN": "NASA/Ames", "CREATOR": "1 LightCurveExporterPipelineModule", "TELESCOP": "TESS"}
    cols = ["TIME", "PDCSAP_FLUX", "SAP_FLUX"]
    assert detect_product({**spoc, "PXTABLE": 200}, {"TIMEDEL": 20 / 86400}, cols) == "spoc-20s"
    assert detect_product({**spoc, "PXTABLE": 200}, {"TIMEDEL": 120 / 86400}, cols) == "spoc-2min"
    assert detect_product({**spoc, "PXTABLE": -10000}, {"TIMEDEL": 200 / 86400}, cols) == "tess-spoc"
    assert detect_product({**spoc, "PXTABLE": 200}, {"TIMEDEL": 700 / 86400}, cols) == "tess"
    assert detect_product({"TELESCOP": "Kepler", "CREATOR": "FluxExporter2"}, {}, cols) == "kepler"
    assert detect_product({"TELESCOP": "Kepler", "MISSION": "K2"}, {}, cols) == "k2"
    assert detect_product({"TELESCOP": "Kepler", "CAMPAIGN": 5}, {}, cols) == "k2"
    assert detect_product({"ORIGIN": "TASOC/Aarhus", "TELESCOP": "TESS"}, {}, ["TIME", "FLUX_CORR"]) == "tess"
    assert detect_product({}, {}, ["TIME", "FLUX"]) == "unknown"


# ------------------------------------------------------------------------------------------ Kepler / K2


def write_kepler(path: Path, mission: str = "Kepler", short: bool = False, n: int = 3000) -> Path:
    """A Kepler/K2-shaped light curve (Ames FluxExporter2 layout: KEPLERID, SAP_QUALITY, BKJD times)."""
    rng = np.random.default_rng(7)
    cadence = (58.84876 if short else 1765.4629) / 86400
    time = 352.37 + np.arange(n) * cadence
    flux = (1000 + 5 * np.sin(2 * np.pi * time / 3.1) + rng.normal(0, 1, n)).astype(np.float32)
    quality = np.zeros(n, np.int32)
    quality[10] = 1  # attitude tweak: in Kepler's default mask
    quality[20] = 2048  # impulsive outlier (Kepler bit 12): only in "hardest"
    quality[30] = 512  # unused by Kepler: in no named mask
    primary = fits.PrimaryHDU()
    cards = {
        "ORIGIN": "NASA/Ames",
        "CREATOR": "917482 FluxExporter2PipelineModule",
        "TELESCOP": "Kepler",
        "INSTRUME": "Kepler Photometer",
        "OBJECT": ("EPIC 211089792" if mission == "K2" else "KIC 11904151"),
        "KEPLERID": 211089792 if mission == "K2" else 11904151,
        "MISSION": mission,
    }
    cards.update({"CAMPAIGN": 4} if mission == "K2" else {"QUARTER": 4})
    for k, v in cards.items():
        primary.header[k] = v
    cols = [
        fits.Column("TIME", "D", unit="BJD - 2454833", array=time),
        fits.Column("SAP_FLUX", "E", unit="e-/s", array=flux * 1.01),
        fits.Column("SAP_FLUX_ERR", "E", unit="e-/s", array=np.ones(n, np.float32)),
        fits.Column("PDCSAP_FLUX", "E", unit="e-/s", array=flux),
        fits.Column("PDCSAP_FLUX_ERR", "E", unit="e-/s", array=np.ones(n, np.float32)),
        fits.Column("SAP_QUALITY", "J", array=quality),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    table.header["TIMEDEL"] = cadence
    table.header["BJDREFI"] = 2454833
    table.header["BJDREFF"] = 0.0
    table.header["OBSMODE"] = "short cadence" if short else "long cadence"
    fits.HDUList([primary, table, fits.ImageHDU(np.ones((5, 5), np.int32), name="APERTURE")]).writeto(path)
    return path


@pytest.mark.parametrize(
    "mission, short, product, id_kind, ident",
    [
        ("Kepler", False, "kepler", "kic", 11904151),
        ("Kepler", True, "kepler", "kic", 11904151),
        ("K2", False, "k2", "epic", 211089792),
    ],
)
def test_kepler_and_k2_files(tmp_path, mission, short, product, id_kind, ident):
    path = write_kepler(tmp_path / "kplr.fits", mission, short)
    lc = read_lightcurve(path)
    assert (lc.product, lc.id_kind, lc.tic_id, lc.time_format) == (product, id_kind, ident, "bkjd")
    assert lc.cadence_s == pytest.approx(58.84876 if short else 1765.4629)
    assert lc.quality[[10, 20, 30]].tolist() == [1, 2048, 512]  # SAP_QUALITY is the quality column
    # Kepler's own flags for the named masks, as lightkurve applies them to SAP_QUALITY
    from lightkurve.utils import KeplerQualityFlags

    for mask, dropped in (("default", 1), ("hard", 1), ("hardest", 2), (512, 1)):
        keep = KeplerQualityFlags.create_quality_mask(lc.quality, mask)
        assert (~keep).sum() == dropped
        np.testing.assert_array_equal(read_lightcurve(path, quality_bitmask=mask).time, lc.time[keep])
    lk_lc = lc.to_lightkurve()
    assert lk_lc.time.format == "bkjd" and lk_lc.meta["KEPLERID"] == ident
    back = LightCurve.from_lightkurve(lk_lc)
    assert (back.tic_id, back.id_kind, back.product) == (ident, id_kind, product)
    np.testing.assert_array_equal(back.time, lc.time)


def test_kepler_ids_are_named_in_score_outputs(tmp_path):
    write_kepler(tmp_path / "kplr011904151-2010009091648_llc.fits")
    models = clara.load_models(p3=PUBLISHED / P3)
    scores, failures = clara.score(tmp_path, models)
    assert failures.empty
    row = scores.iloc[0]
    assert (row["tic"], row["id_kind"], row["product"]) == (11904151, "kic", "kepler")


# ------------------------------------------------------------------------------------------ flux column


def test_flux_column_option_reads_other_columns():
    sap = read_lightcurve(
        REAL / "lightkurve-ext" / "tess2020106103520-s0024-0000000188589164-0180-s_lc.fits",
        flux_column="SAP_FLUX",
    )
    with fits.open(sap.path) as h:
        np.testing.assert_array_equal(sap.flux, h[1].data["SAP_FLUX"])
        np.testing.assert_array_equal(sap.flux_err, h[1].data["SAP_FLUX_ERR"])
        np.testing.assert_array_equal(sap.pdcsap_flux, h[1].data["PDCSAP_FLUX"])
    assert sap.flux_column == "sap_flux" and not sap.like_training
    ksp = read_lightcurve(QLP, flux_column="kspsap_flux")
    with fits.open(QLP) as h:
        np.testing.assert_array_equal(ksp.flux, h[1].data["KSPSAP_FLUX"])
        np.testing.assert_array_equal(ksp.flux_err, h[1].data["KSPSAP_FLUX_ERR"])
    assert read_lightcurve(LK_FILE, flux_column="flux").tic_id == 100100827  # TARGETID of a TESS file


def test_products_without_the_column_are_failure_rows_naming_their_columns():
    matrix = clara4000_many([QLP, LK_FILE, TESS_SPOC])
    reasons = {f.filename: f.reason for f in matrix.failures}
    assert "HDU 1 has no column PDCSAP_FLUX" in reasons[QLP.name]
    assert "KSPSAP_FLUX" in reasons[QLP.name] and "sap_flux or kspsap_flux" in reasons[QLP.name]
    assert "FLUX_ERR" in reasons[LK_FILE.name] and "flux_column" in reasons[LK_FILE.name]
    assert matrix.filenames == [TESS_SPOC.name]
    by_ksp = clara4000_many([QLP, TESS_SPOC], read_options={"flux_column": "kspsap_flux"})
    assert by_ksp.filenames == [QLP.name]
    assert "no column KSPSAP_FLUX" in by_ksp.failures[0].reason and "PDCSAP_FLUX" in by_ksp.failures[0].reason


def test_in_memory_light_curves_follow_the_flux_column_too():
    lc = read_lightcurve(TESS_SPOC)
    sap = ReadOptions(flux_column="sap_flux").apply(lc)
    np.testing.assert_array_equal(sap.flux, lc.sap_flux)
    np.testing.assert_array_equal(ReadOptions().apply(sap).flux, lc.flux)  # and back
    arrays = LightCurve(lc.time, lc.flux, flux_column="kspsap_flux", name="x")
    with pytest.raises(LightCurveError, match="no column PDCSAP_FLUX"):
        ReadOptions().apply(arrays)


def test_bad_read_options_are_config_errors():
    for bad in (
        {"flux_column": "sap flux"},
        {"quality_bitmask": "soft"},
        {"quality_bitmask": -1},
        {"colour": 1},
    ):
        with pytest.raises(clara.ConfigError):
            ReadOptions.of(bad)


def test_config_keys(tmp_path, cli, published_dir):
    cfg = {
        "input_dirs": [str(REAL / "exovetter")],
        "output_dir": str(tmp_path / "out"),
        "use_p3": True,
        "p3model_path": str(published_dir / P3),
        "quality_bitmask": "soft",
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    result = cli("score", "--config", path, "--log_dir", tmp_path / "logs")
    assert result.returncode == 2 and '"quality_bitmask" must be one of' in result.stderr


# ------------------------------------------------------------------------------------------ feature store


def test_a_store_made_with_other_read_options_is_refused(tmp_path):
    files = [REAL / "lightkurve-ext" / "tess2020106103520-s0024-0000000188589164-0180-s_lc.fits"]
    sap = ReadOptions(flux_column="sap_flux")
    matrix = clara4000_many(files, read_options=sap)
    FeatureStoreWriter(tmp_path / "store", sap).write(matrix.as_batch())
    again = clara4000_many(files, features_path=tmp_path / "store", read_options=sap)
    assert again.reused == 1 and again.infos[0].flux_column == "sap_flux"
    with pytest.raises(
        clara.FeatureStoreError, match="flux_column 'sap_flux'.*reads flux_column 'pdcsap_flux'"
    ):
        clara4000_many(files, features_path=tmp_path / "store")
    masked = ReadOptions(flux_column="sap_flux", quality_bitmask="default")
    with pytest.raises(clara.FeatureStoreError, match="quality_bitmask"):
        clara4000_many(files, features_path=tmp_path / "store", read_options=masked)


# ------------------------------------------------------------------------------------------ quality masks


def test_named_masks_equal_lightkurves():
    from lightkurve.utils import KeplerQualityFlags, TessQualityFlags

    assert cadences.TESS_QUALITY_MASKS == TessQualityFlags.OPTIONS
    assert cadences.KEPLER_QUALITY_MASKS == KeplerQualityFlags.OPTIONS


@pytest.mark.parametrize("mask", ["default", "hard", "hardest", 175])
@pytest.mark.parametrize(
    "path, flux",
    [
        (
            SHARED / "data" / "tess" / "hlsp_tess-data-alerts_tess_phot_00055652896-s01_tess_v1_lc.fits",
            "pdcsap_flux",
        ),
        (QLP, "sap_flux"),
    ],
    ids=["spoc", "qlp"],
)
def test_masked_cadences_equal_lightkurves(path, flux, mask):
    import lightkurve as lk

    ours = read_lightcurve(path, flux_column=flux, quality_bitmask=mask)
    theirs = lk.read(path, quality_bitmask=mask, flux_column=flux)
    finite = np.isfinite(ours.time)  # lightkurve also drops rows with a NaN TIME
    np.testing.assert_array_equal(ours.time[finite], theirs.time.value)
    np.testing.assert_array_equal(ours.flux[finite], np.asarray(theirs.flux.value))


def test_a_quality_mask_changes_claras_scores():
    """The figure in docs/score.md: TIC 55652896 P3 0.0542 (CLARA, no mask) → 0.0422 with "default"."""
    models = clara.load_models(p3=PUBLISHED / P3)
    path = SHARED / "data" / "tess" / "hlsp_tess-data-alerts_tess_phot_00055652896-s01_tess_v1_lc.fits"
    plain = clara.score(path, models).scores["p3"].iloc[0]
    masked = clara.score(path, models, read_options={"quality_bitmask": "default"}).scores["p3"].iloc[0]
    assert round(plain, 4) == 0.0542 and round(masked, 4) == 0.0422


# ------------------------------------------------------------------------------------------ 20-s data


def write_20s_from_2min(source: Path, path: Path, n_2min: int = 4000) -> Path:
    """A 20-second-shaped SPOC file: each 2-minute cadence of ``source`` becomes six 20-s cadences with
    the same flux, at TIME ± 10, 30, 50 s; header cards as the source's, TIMEDEL 20 s."""
    with fits.open(source) as h:
        primary = h[0].header.copy()
        table = h[1].data[:n_2min]
        header = h[1].header
        time, flux = table["TIME"].astype(np.float64), table["PDCSAP_FLUX"].astype(np.float32)
        quality = table["QUALITY"].astype(np.int32)
        offsets = (np.arange(6) - 2.5) * 20 / 86400
        t20 = (time[:, None] + offsets[None, :]).ravel()
        number = (6 * table["CADENCENO"].astype(np.int64)[:, None] + np.arange(6)[None, :]).ravel()
        f20 = np.repeat(flux, 6)
        q20 = np.repeat(np.zeros_like(quality), 6)
        q20[6 * 100 + 3] = 32  # one flagged 20-s cadence: its bin carries the flag
        cols = [
            fits.Column("TIME", "D", unit="BJD - 2457000, days", array=t20),
            fits.Column("CADENCENO", "J", array=number),
            fits.Column("PDCSAP_FLUX", "E", unit="e-/s", array=f20),
            fits.Column("PDCSAP_FLUX_ERR", "E", unit="e-/s", array=np.full(len(t20), 6.0, np.float32)),
            fits.Column("SAP_FLUX", "E", unit="e-/s", array=f20),
            fits.Column("QUALITY", "J", array=q20),
        ]
        new = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
        for key in ("TIMEREF", "TIMESYS", "BJDREFI", "BJDREFF", "TIMEUNIT"):
            new.header[key] = header[key]
        new.header["TIMEDEL"] = 20 / 86400
        aperture = fits.ImageHDU(h[2].data, header=h[2].header)
        fits.HDUList([fits.PrimaryHDU(header=primary), new, aperture]).writeto(path, checksum=True)
    return path


def test_20s_file_is_flagged_and_binned_to_2min(tmp_path):
    source = SHARED / "data" / "tess" / "tic55525572_lc.fits"
    path = write_20s_from_2min(source, tmp_path / "tess2019-s0005-0000000055525572-0000-a_fast-lc.fits")
    raw = read_lightcurve(path)
    assert (raw.product, raw.cadence_s) == ("spoc-20s", 20.0)
    t = raw.time[np.isfinite(raw.time) & np.isfinite(raw.flux)][:3000]
    assert (t[-1] - t[0]) * 24 == pytest.approx(16.7, abs=0.1)  # CLARA's 3000 samples: 17 hours, not 4 days
    binned = read_lightcurve(path, bin_20s_to_2min=True)
    two_min = read_lightcurve(source)
    keep = np.isfinite(two_min.time[:4000])
    assert (binned.product, binned.cadence_s, len(binned)) == ("spoc-20s", 120.0, int(keep.sum()))
    np.testing.assert_array_equal(binned.flux, two_min.flux[:4000][keep])  # six equal samples: the 2-min flux
    np.testing.assert_allclose(binned.time, two_min.time[:4000][keep], rtol=0, atol=1e-9)  # mean of six
    assert binned.quality[100] == 32 and binned.flux.dtype == np.float32
    a = clara4000_many(LightCurve(binned.time, binned.flux, name="b")).features[0]
    b = clara4000_many(LightCurve(two_min.time[:4000], two_min.flux[:4000], name="t")).features[0]
    np.testing.assert_array_equal(a[:3000], b[:3000])  # the flux part: the same samples
    np.testing.assert_allclose(a[3000:], b[3000:], atol=1e-9)  # periodogram: times equal to 1e-9 d


def test_bin_cadences_rules():
    t = 2000.0 + np.arange(18) * 20 / 86400
    f = np.arange(18, dtype=np.float32)
    f[6:10] = np.nan  # second bin: 2 finite of 6 → NaN
    f[12] = np.nan  # third bin: 5 of 6 → their mean
    q = np.zeros(18, np.int32)
    q[13] = 4
    bt, bf, be, bq = cadences.bin_cadences(t, f, np.ones(18, np.float32), q)  # numbered from the times
    assert np.isnan(bf[1]) and bf[0] == 2.5 and bf[2] == pytest.approx(np.mean([13, 14, 15, 16, 17]))
    assert bq.tolist() == [0, 0, 4] and be[0] == pytest.approx(np.sqrt(6) / 6)
    np.testing.assert_allclose((bt - t[0]) * 86400, [50, 170, 290], atol=1e-4)
    gap = np.concatenate([t[:6], t[:6] + 1.0])  # a one-day gap: no empty bins in between
    assert len(cadences.bin_cadences(gap, np.ones(12), None, np.zeros(12, int))[0]) == 2
    # by CADENCENO: a missing row or a NaN TIME leaves the other cadences in their bins
    number = np.arange(100, 118)
    t_nan = t.copy()
    t_nan[2] = np.nan
    keep = np.arange(18) != 7
    bt, bf, _, _ = cadences.bin_cadences(t_nan[keep], f[keep], None, q[keep], number[keep])
    assert len(bt) == 3 and bf[0] == np.float32(2.6) and np.isnan(bf[1]) and bf[2] == 15.0
    assert bt[0] == pytest.approx(np.mean(t[[0, 1, 3, 4, 5]]), abs=1e-12)


def test_other_cadences_are_not_binned():
    lc = read_lightcurve(SHARED / "data" / "tess" / "tic55525572_lc.fits", bin_20s_to_2min=True)
    assert len(lc) == 18944


# ------------------------------------------------------------------------------------------ the flag


def test_scoring_other_products_warns_with_the_count(caplog):
    models = clara.load_models(p3=PUBLISHED / P3)
    files = [TESS_SPOC, SHARED / "data" / "tess" / "tic55525572_lc.fits", QLP]
    with caplog.at_level(logging.WARNING, logger="clara"):
        scores, failures = clara.score(files, models)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("1 of 2 light curves are not SPOC 2-minute PDCSAP")
    assert "TESS-SPOC FFI 1" in warnings[0]
    assert scores.set_index("filename").loc[TESS_SPOC.name, ["product", "cadence_s"]].tolist() == [
        "tess-spoc",
        600.0,
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clara"):
        clara.score(SHARED / "data" / "tess", models)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_cli_score_adds_product_columns_only_for_other_products(cli, tmp_path, published_dir):
    spoc = SHARED / "data" / "tess" / "tic55525572_lc.fits"
    cfg = {
        "input_dirs": [str(spoc), str(TESS_SPOC)],
        "output_dir": str(tmp_path / "out"),
        "max_workers": 1,
        "use_p3": True,
        "p3model_path": str(published_dir / P3),
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    result = cli("score", "--config", path, "--log_dir", tmp_path / "logs")
    assert result.returncode == 0, result.stderr
    assert "warning: 1 of 2 light curves are not SPOC 2-minute PDCSAP flux" in result.stderr
    lines = next((tmp_path / "out").glob("anomaly_scores_p3_*.csv")).read_text().splitlines()
    assert lines[0] == "tic,filename,anomaly_score,product,cadence_s,id_kind"
    assert lines[1].endswith(",tess-spoc,600.0,tic") and lines[2].endswith(",spoc-2min,120.0,tic")
    assert "warning: 1 of 2" in (tmp_path / "logs" / "main.log").read_text()


def test_a_run_is_resumed_only_with_the_same_read_options(tmp_path):
    from clara_benchmark.commands.score import run_identity
    from clara_benchmark.config import ScoreConfig, build_config
    from clara_benchmark.resume import WorkDir

    raw = {
        "input_dirs": [str(TESS_SPOC)],
        "output_dir": str(tmp_path),
        "use_p3": True,
        "p3model_path": str(PUBLISHED / P3),
    }
    models = clara.load_models(p3=PUBLISHED / P3)
    plain = run_identity(build_config(ScoreConfig, raw, "test"), models)
    assert "read_options" not in plain  # CLARA's reading: the identity of runs started before the option
    sap = run_identity(build_config(ScoreConfig, {**raw, "flux_column": "sap_flux"}, "test"), models)
    work = WorkDir.start(tmp_path, "20250101_000000", sap)
    work.close()
    for other in (plain, {**sap, "read_options": ReadOptions(quality_bitmask="hard").identity()}):
        with pytest.raises(clara.ConfigError, match="used different read_options"):
            WorkDir.resume(work.path, other)
    WorkDir.resume(work.path, sap).close()
