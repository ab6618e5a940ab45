"""Inputs: one finder for every command (folders at any depth, a lightkurve cache, files, globs, ``~``,
``.fits.gz``), and compressed files inflated by clara, bounded, never by cfitsio."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

import clara_benchmark as clara
from clara_benchmark import fitsfile, products
from clara_benchmark.cosine_similarity.inputs import FitsFinder
from clara_benchmark.inputs import FileIndex, find_lightcurves
from clara_benchmark.lightcurve import LightCurveError, read_lightcurve
from conftest import REAL_LIGHTCURVES, SHARED

NAMES = sorted(REAL_LIGHTCURVES)
REAL = SHARED / "data" / "tess_real"
MODELS = {
    "p3": "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl",
    "p9": "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl",
}


def _layout(root: Path, tess_dir: Path, kind: str) -> Path:
    """The three real files in one of the layouts users have."""
    for i, name in enumerate(NAMES):
        if kind == "flat":
            target = root / name
        elif kind == "sectors":
            target = root / f"sector_{i + 1:02d}" / "lc" / name
        elif kind == "lightkurve-cache":  # lightkurve's download cache
            target = root / "mastDownload" / "TESS" / name.removesuffix("_lc.fits") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tess_dir / name, target)
    return root


@pytest.mark.parametrize("kind", ["flat", "sectors", "lightkurve-cache"])
def test_every_layout_finds_the_same_files(tmp_path, tess_dir, kind):
    root = _layout(tmp_path / kind, tess_dir, kind)
    found = find_lightcurves(root)
    assert [p.name for p in found.files] == NAMES and found.failures == []
    index = FileIndex(root)  # sim and reference look files up by name below fits_dir
    for name in NAMES:
        assert index.find(name) is not None and index.find(name).name == name
    assert isinstance(FitsFinder(root), FileIndex)


def test_files_globs_and_home(tmp_path, tess_dir, monkeypatch):
    root = _layout(tmp_path / "data", tess_dir, "sectors")
    one = next(root.rglob(NAMES[0]))
    assert [p.name for p in find_lightcurves(one).files] == [NAMES[0]]  # a single file
    assert [p.name for p in find_lightcurves(str(root / "**" / "hlsp_*.fits")).files] == NAMES[:2]
    assert [p.name for p in find_lightcurves(str(root / "sector_0[23]")).files] == NAMES[1:]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert [p.name for p in find_lightcurves("~/data").files] == NAMES
    missing = find_lightcurves(str(tmp_path / "nothing_here"))
    assert missing.files == [] and missing.failures[0].reason == "does not exist"


def test_gzip_files_read_like_the_originals(tmp_path, tess_dir):
    name = "tic55525572_lc.fits"
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress((tess_dir / name).read_bytes()))
    assert [p.name for p in find_lightcurves(tmp_path).files] == [gz.name]
    a, b = read_lightcurve(tess_dir / name), read_lightcurve(gz)
    assert a.flux.tobytes() == b.flux.tobytes() and a.time.tobytes() == b.time.tobytes()
    assert (b.product, b.tic_id) == ("spoc-2min", 55525572)
    features = clara.clara4000_many([tess_dir / name, gz])
    np.testing.assert_array_equal(features.features[0], features.features[1])


def test_damaged_gzip_checksums_are_verified_after_inflating(tmp_path, tess_dir):
    raw = bytearray((tess_dir / "tic55525572_lc.fits").read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit in the table: the checksums must notice, compressed or not
    gz = tmp_path / "flipped.fits.gz"
    gz.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(LightCurveError, match="HDU 1 fails its FITS CHECKSUM"):
        read_lightcurve(gz)


def _gz(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda real: gzip.compress(real)[:-4000], "truncated gzip file"),
        (lambda real: gzip.compress(real) + b"junk", "bytes after the end of the compressed data"),
        (lambda real: gzip.compress(real)[:400] + b"x" * 600 + gzip.compress(real)[1000:], "damaged gzip"),
        (lambda real: gzip.compress(gzip.compress(real)), "a gzip file inside a gzip file"),
        (lambda real: gzip.compress(b""), "holds nothing"),
        (lambda real: gzip.compress(b"hello" * 1000), "not a FITS file"),
    ],
)
def test_bad_gzip_files_are_failures_with_a_reason(tmp_path, tess_dir, make, reason):
    real = (tess_dir / "tic55525572_lc.fits").read_bytes()
    with pytest.raises(LightCurveError, match=reason):
        read_lightcurve(_gz(tmp_path / "bad.fits.gz", make(real)))


def test_concatenated_members_and_zero_padding_are_accepted(tmp_path, tess_dir):
    real = (tess_dir / "tic55525572_lc.fits").read_bytes()
    cut = 2880 * 200
    path = _gz(tmp_path / "two.fits.gz", gzip.compress(real[:cut]) + gzip.compress(real[cut:]) + b"\0" * 64)
    assert (
        read_lightcurve(path).flux.tobytes()
        == read_lightcurve(tess_dir / "tic55525572_lc.fits").flux.tobytes()
    )


def test_gzip_bomb_stops_at_the_cap_without_inflating_it(tmp_path, monkeypatch):
    limit = 8 * 2**20
    monkeypatch.setattr(fitsfile, "MAX_INFLATED_BYTES", limit)
    # 64 MiB of zeros compress to ~64 kB: the reader must stop after the cap, not inflate it all
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = b"".join(deflater.compress(b"\0" * 2**20) for _ in range(64)) + deflater.flush()
    bomb = _gz(tmp_path / "bomb.fits.gz", blob)
    assert bomb.stat().st_size < 200_000
    written = []
    real_write = os.write

    def counting_write(fd, data):
        written.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(fitsfile.os, "write", counting_write)
    with pytest.raises(LightCurveError, match="inflates to more than 8 MiB"):
        read_lightcurve(bomb)
    assert sum(written) <= limit and max(written) <= 2**20  # never more than the cap, 1 MiB at a time
    written.clear()
    with pytest.raises(fitsfile.FitsOpenError, match="inflates to more than 1 MiB"):
        with fitsfile.open_fits_bytes(bomb, max_inflated=2**20):
            pass
    assert sum(written) <= 2**20


def test_cfitsio_never_sees_the_compressed_bytes(tmp_path, tess_dir, monkeypatch):
    """The descriptor handed to fitsio holds plain FITS bytes (cfitsio would inflate a gzip in memory)."""
    gz = _gz(tmp_path / "x.fits.gz", gzip.compress((tess_dir / "tic55525572_lc.fits").read_bytes()))
    seen = []
    real = fitsfile.fits_of_descriptor

    def spy(fd, path):
        seen.append(os.pread(fd, 9, 0))
        return real(fd, path)

    monkeypatch.setattr("clara_benchmark.lightcurve.fits_of_descriptor", spy)
    read_lightcurve(gz)
    assert seen == [b"SIMPLE  ="]


# ------------------------------------------------------------------------------------------ CLI runs


def _score_config(tmp_path, published_dir, inputs, **more) -> Path:
    cfg = {
        "input_dirs": [str(i) for i in inputs],
        "output_dir": str(tmp_path / "out"),
        "max_workers": 1,
        "use_p3": True,
        "p3model_path": str(published_dir / MODELS["p3"]),
        **more,
    }
    path = tmp_path / "score.json"
    path.write_text(json.dumps(cfg))
    return path


def test_cli_score_takes_a_glob_a_single_gz_file_and_home(
    cli, tmp_path, tess_dir, published_dir, monkeypatch
):
    root = _layout(tmp_path / "home" / "lc", tess_dir, "lightkurve-cache")
    gz = tmp_path / "home" / "tic55525572_lc.fits.gz"
    gz.write_bytes(gzip.compress((tess_dir / "tic55525572_lc.fits").read_bytes()))
    pattern = str(root / "mastDownload" / "TESS" / "*" / "hlsp_*.fits")
    cfg = _score_config(tmp_path, published_dir, [pattern, "~/tic55525572_lc.fits.gz"])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the CLI's environment is this one's
    result = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs")
    assert result.returncode == 0, result.stderr
    table = products.read_scores(next((tmp_path / "out").glob("anomaly_scores_p3_*.csv")))
    assert list(table.columns) == ["tic", "filename", "anomaly_score"]  # all SPOC 2-min: the seed's layout
    assert table["filename"].tolist() == NAMES[:2] + [gz.name]
    direct = clara.score([tess_dir / n for n in NAMES], clara.load_models(p3=published_dir / MODELS["p3"]))
    assert table["anomaly_score"].tolist() == direct.scores["p3"].tolist()


def test_cli_score_refuses_an_input_that_matches_nothing(cli, tmp_path, published_dir):
    cfg = _score_config(tmp_path, published_dir, [tmp_path / "nope" / "*.fits"])
    result = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs")
    assert result.returncode == 2
    assert '"input_dirs"' in result.stderr and "does not exist" in result.stderr


def test_sim_and_reference_find_files_in_sector_folders(tmp_path, tess_dir):
    """sim's and reference's FitsFinder is the one finder: the same files below any layout."""
    root = _layout(tmp_path / "fits", tess_dir, "sectors")
    finder = FitsFinder(root)
    assert sorted(p.name for p in finder.all_files()) == NAMES
    assert finder.find("nope.fits") is None


def test_real_products_folder_is_found_recursively():
    found = find_lightcurves(REAL)
    assert len(found.files) == 32 and found.failures == []
