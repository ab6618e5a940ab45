"""``score`` against hostile or careless inputs (issue 11 items 5, 6, 7, 9 and the input side of 13): every
case is a failure row with its reason, or one clear refusal, never a silently dropped star, a crash or a
silently wrong score. All through the command line, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from conftest import PUBLISHED_DIR, TESS_DIR

P3 = PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl"
REAL = TESS_DIR / "tic55525572_lc.fits"


def score(cli, tmp_path, inputs, out=None, **keys):
    out = out or tmp_path / "out"
    cfg = tmp_path / f"score_{len(list(tmp_path.glob('score_*.json')))}.json"
    raw = {
        "input_dirs": [str(p) for p in inputs],
        "output_dir": str(out),
        "use_p3": True,
        "p3model_path": str(P3),
        "max_workers": 1,
        **keys,
    }
    cfg.write_text(json.dumps(raw))
    res = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs", "--quiet", cwd=tmp_path)
    assert "Traceback" not in res.stderr, res.stderr
    return res, out


def tables(out):
    (scores,) = out.glob("anomaly_scores_p3_*.csv")
    (failures,) = out.glob("failures_*.csv")
    return (
        pd.read_csv(scores, dtype={"filename": str}),
        pd.read_csv(failures, dtype=str, keep_default_na=False, encoding="utf-8"),
    )


def edited_copy(path, dest, edit):
    """A copy of a real light curve whose HDUs ``edit`` changes (checksums recomputed: a valid file)."""
    with fits.open(path) as h:
        hdus = fits.HDUList([hdu.copy() for hdu in h])
    edit(hdus)
    hdus.writeto(dest, checksum=True)
    return dest


# ------------------------------------------------------------------------------------------------ item 5


def test_two_runs_of_one_output_cannot_work_at_once(cli, tmp_path):
    """A second run resuming the same work folder while the first holds it is refused, naming it."""
    from clara_benchmark.resume import WorkDir

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL, data / REAL.name)
    out = tmp_path / "out"
    out.mkdir()
    # the first run, in this process: it started a work folder and holds its lock
    from clara_benchmark.commands.score import run_identity
    from clara_benchmark.config import ScoreConfig, build_config
    from clara_benchmark.urf_scoring.models import load_models

    config = build_config(
        ScoreConfig,
        {"input_dirs": [str(data)], "output_dir": str(out), "use_p3": True, "p3model_path": str(P3)},
        "test",
    )
    first = WorkDir.start(out, "20250101_000000", run_identity(config, load_models(p3=P3)))
    try:
        res, _ = score(cli, tmp_path, [data], out=out, resume=True)
        assert res.returncode != 0
        assert "in use by another clara run" in res.stderr and first.path.name in res.stderr
        assert not list(out.glob("anomaly_scores_*"))
    finally:
        first.close()
    res, _ = score(cli, tmp_path, [data], out=out, resume=True)  # once released, it resumes and finishes
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(next(out.glob("anomaly_scores_p3_20250101_000000.csv")))) == 1


def test_a_damaged_part_is_redone_not_fatal(cli, tmp_path):
    from clara_benchmark.commands import score as score_cmd
    from clara_benchmark.config import ScoreConfig, build_config
    from clara_benchmark.resume import WorkDir
    from clara_benchmark.urf_scoring.models import load_models

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        shutil.copy(REAL, data / f"copy{i}.fits")
    out = tmp_path / "out"
    config = build_config(
        ScoreConfig,
        {"input_dirs": [str(data)], "output_dir": str(out), "use_p3": True, "p3model_path": str(P3)},
        "test",
    )
    work = WorkDir.start(out, "20250101_000001", score_cmd.run_identity(config, load_models(p3=P3)))
    (work.path / "part-00000.npz").write_bytes(b"PK\x03\x04 this is not a part")
    work.close()
    res, _ = score(cli, tmp_path, [data], out=out, resume=True)
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert sorted(scores["filename"]) == ["copy0.fits", "copy1.fits", "copy2.fits"] and failures.empty


# ------------------------------------------------------------------------------------------------ item 6


def test_same_file_name_in_two_input_dirs_is_a_failure_row_naming_both(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        shutil.copy(REAL, d / "star.fits")
    res, out = score(cli, tmp_path, [a, b])
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert scores["filename"].tolist() == ["star.fits"]
    (row,) = failures.to_dict("records")
    assert row["filename"] == "star.fits"
    assert str(a / "star.fits") in row["reason"] or str(b / "star.fits") in row["reason"]


# ------------------------------------------------------------------------------------------------ item 7


@pytest.mark.parametrize("ticid", [1e30, 2**63])
def test_absurd_ticid_is_one_failure_row_and_the_run_goes_on(cli, tmp_path, ticid):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL, data / "good.fits")

    def edit(h):
        h[0].header["TICID"] = ticid

    edited_copy(REAL, data / "bad_tic.fits", edit)
    res, out = score(cli, tmp_path, [data])
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert scores["filename"].tolist() == ["good.fits"]
    assert failures["filename"].tolist() == ["bad_tic.fits"] and "TICID" in failures["reason"][0]


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_non_utf8_file_name_does_not_kill_the_outputs(cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL, data / "good.fits")
    with open(os.path.join(os.fsencode(data), b"bad\xff.fits"), "wb") as fh:
        fh.write(b"not fits at all" * 200)
    shutil.copy(REAL, os.path.join(os.fsencode(data), b"also\xfe.fits"))
    res, out = score(cli, tmp_path, [data])
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert sorted(scores["filename"]) == ["also\\udcfe.fits", "good.fits"]  # escaped, not lost
    assert failures["filename"].tolist() == ["bad\\udcff.fits"]
    assert "not a FITS file" in failures["reason"][0]


# ------------------------------------------------------------------------------------------------ item 9


def _flip_data_bytes(src, dest, n=200):
    raw = bytearray(src.read_bytes())
    with fits.open(src) as h:
        start = h[1].fileinfo()["datLoc"]
    for i in range(n):
        raw[start + 1000 + 7 * i] ^= 0x5A
    dest.write_bytes(bytes(raw))
    return dest


def _time_edit(kind):
    def edit(h):
        t = h[1].data["TIME"]
        if kind == "decreasing":
            t[100], t[101] = t[101], t[100]
        elif kind == "duplicated":
            t[101] = t[100]
        elif kind == "absurd":
            t[50] = 1e297

    return edit


def _complex_flux(h):
    cols = [c for c in h[1].columns if c.name != "PDCSAP_FLUX"]
    flux = h[1].data["PDCSAP_FLUX"].astype(np.complex64)
    cols.append(fits.Column(name="PDCSAP_FLUX", format="C", array=flux))
    h[1] = fits.BinTableHDU.from_columns(cols, header=h[1].header)


def _logical_flux(h):
    cols = [c for c in h[1].columns if c.name != "PDCSAP_FLUX"]
    cols.append(fits.Column(name="PDCSAP_FLUX", format="L", array=np.isfinite(h[1].data["PDCSAP_FLUX"])))
    h[1] = fits.BinTableHDU.from_columns(cols, header=h[1].header)


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("checksum.fits", lambda d: _flip_data_bytes(REAL, d), "CHECKSUM"),
        (
            "decreasing.fits",
            lambda d: edited_copy(REAL, d, _time_edit("decreasing")),
            "not strictly increasing",
        ),
        (
            "duplicated.fits",
            lambda d: edited_copy(REAL, d, _time_edit("duplicated")),
            "not strictly increasing",
        ),
        ("absurd_time.fits", lambda d: edited_copy(REAL, d, _time_edit("absurd")), "not BTJD"),
        ("complex.fits", lambda d: edited_copy(REAL, d, _complex_flux), "real number"),
        ("logical.fits", lambda d: edited_copy(REAL, d, _logical_flux), "real number"),
    ],
)
def test_files_no_spoc_product_is_are_never_scored(cli, tmp_path, name, make, reason):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL, data / "good.fits")
    make(data / name)
    res, out = score(cli, tmp_path, [data])
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert scores["filename"].tolist() == ["good.fits"]
    assert failures["filename"].tolist() == [name]
    assert reason in failures["reason"][0], failures["reason"][0]


# ----------------------------------------------------------------------------------- item 13 (inputs)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_entries_named_fits_are_failure_rows_not_skipped(cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL, data / "good.fits")
    os.mkfifo(data / "pipe.fits")
    (data / "folder.fits").mkdir()
    (data / "dangling.fits").symlink_to(tmp_path / "nowhere.fits")
    (data / "loop.fits").symlink_to(data / "loop.fits")
    res, out = score(cli, tmp_path, [data])
    assert res.returncode == 0, res.stderr
    scores, failures = tables(out)
    assert scores["filename"].tolist() == ["good.fits"]
    reasons = dict(zip(failures["filename"], failures["reason"]))
    assert sorted(reasons) == ["dangling.fits", "folder.fits", "loop.fits", "pipe.fits"]
    assert "FIFO" in reasons["pipe.fits"] and "directory" in reasons["folder.fits"]
    assert "broken symbolic link" in reasons["dangling.fits"] and "loop" in reasons["loop.fits"]
