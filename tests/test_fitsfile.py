"""A file name is only a file name: cfitsio's extended-name syntax must never be reached (issue 11, item 1)."""

import os
import shutil
import subprocess
import sys

import pytest

from clara_benchmark.exceptions import LightCurveError
from clara_benchmark.fitsfile import FitsOpenError, open_fits, open_regular_file
from clara_benchmark.lightcurve import read_lightcurve
from conftest import ROOT

HOSTILE_NAMES = [
    "a(numpy.py)",
    "a.part(numpy.py)",
    "star[1].fits",
    "star[PDCSAP_FLUX > 0].fits",
    "!clobber.fits",
    "|echo pwned.fits",
    "mem:x.fits",
    "ftp:x.fits",
    "x#1.fits",
    "~tilde.fits",
    "star*.fits",
    "with space.fits",
    "-",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_read_as_plain_files(tmp_path, tess_dir, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = tess_dir / "tic55525572_lc.fits"
    shutil.copy(real, tmp_path / name)
    before = sorted(os.listdir(tmp_path))
    lc = read_lightcurve(tmp_path / name)
    assert lc.tic_id == 55525572 and len(lc) == 18944
    assert sorted(os.listdir(tmp_path)) == before  # nothing copied, created or overwritten


def test_copy_syntax_writes_no_canary(tmp_path, tess_dir, monkeypatch):
    """``a(numpy.py)`` means "copy a to numpy.py" to cfitsio; with only ``a`` on disk nothing may appear."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(tess_dir / "tic55525572_lc.fits", tmp_path / "a")
    with pytest.raises(LightCurveError, match="does not exist"):
        read_lightcurve("a(numpy.py)")
    assert not (tmp_path / "numpy.py").exists()
    # and the next Python started here imports the real numpy
    out = subprocess.run(
        [sys.executable, "-c", "import numpy; print(numpy.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert str(tmp_path) not in out.stdout


def test_symlink_refused_when_not_following(tmp_path, tess_dir):
    target = tmp_path / "target.fits"
    shutil.copy(tess_dir / "tic55525572_lc.fits", target)
    link = tmp_path / "link.fits"
    link.symlink_to(target)
    with open_fits(link) as fits:  # followed by default
        assert len(fits) == 3
    with pytest.raises(FitsOpenError, match="symbolic link"):
        open_regular_file(link, follow_symlinks=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.fits"
    os.mkfifo(fifo)
    with pytest.raises(LightCurveError, match="FIFO"):
        read_lightcurve(fifo)


def test_directory_and_dangling_link(tmp_path):
    (tmp_path / "d.fits").mkdir()
    with pytest.raises(LightCurveError, match="is a directory"):
        read_lightcurve(tmp_path / "d.fits")
    (tmp_path / "dangling.fits").symlink_to(tmp_path / "nowhere")
    with pytest.raises(LightCurveError, match="broken symbolic link"):
        read_lightcurve(tmp_path / "dangling.fits")
    loop = tmp_path / "loop.fits"
    loop.symlink_to(loop)
    with pytest.raises(LightCurveError, match="loop"):
        read_lightcurve(loop)


def test_gzip_file_reads_the_same(tmp_path, tess_dir):
    import gzip

    real = tess_dir / "tic55525572_lc.fits"
    gz = tmp_path / "tic55525572_lc.fits.gz"
    gz.write_bytes(gzip.compress(real.read_bytes()))
    a, b = read_lightcurve(real), read_lightcurve(gz)
    assert (a.tic_id, len(a)) == (b.tic_id, len(b))
    assert (a.pdcsap_flux.tobytes(), a.time.tobytes()) == (b.pdcsap_flux.tobytes(), b.time.tobytes())


def test_source_never_passes_names_to_fitsio():
    """Every ``fitsio.FITS(`` call in the package goes through fitsfile.open_fits."""
    offenders = []
    for path in (ROOT / "clara_benchmark").rglob("*.py"):
        if path.name == "fitsfile.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if "fitsio.FITS(" in line or "fitsio.read(" in line or "fitsio.read_header(" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert not offenders, offenders
