import csv
import os

import pandas as pd
import pytest

from clara_benchmark.utils.io import (
    atomic_open,
    atomic_write_text,
    failure_rows,
    sha256_file,
    write_failures_csv,
)

AWKWARD = [
    ('/data/bad,"quoted" name.fits', "truncated FITS file (5000 bytes)"),
    ("/data/ünïcode.fits", 'reason with "quotes", commas\nand a newline'),
    ("TIC 504", ""),
]


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "out.csv"
    atomic_write_text(path, "a,b\n1,2\n")
    assert path.read_text() == "a,b\n1,2\n"
    assert oct(path.stat().st_mode & 0o777) != oct(0o600) or os.name == "nt"


def test_failed_write_keeps_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as fh:
            fh.write("new half")
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_sha256(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_failures_csv_reads_back_and_matches_pandas_bytes(tmp_path):
    path = tmp_path / "failures.csv"
    rows = failure_rows(AWKWARD) + [("", "", "candidate row 6 has no filename")]
    write_failures_csv(path, rows)
    with open(path, newline="", encoding="utf-8") as fh:
        back = list(csv.reader(fh))
    assert back[0] == ["filename", "path", "reason"]
    assert [tuple(r) for r in back[1:]] == rows
    assert back[1][0] == 'bad,"quoted" name.fits' and back[3][0] == "TIC 504"
    # the bytes the commands wrote with pandas before this helper (on this platform)
    expected = pd.DataFrame(rows, columns=["filename", "path", "reason"]).to_csv(index=False)
    assert path.read_bytes() == expected.encode("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failures.csv"]  # no temporary left behind


def test_failures_csv_keeps_each_commands_columns(tmp_path):
    path = tmp_path / "failures.csv"
    write_failures_csv(path, [("a.fits", "not a FITS file")], ["filename", "reason"])
    assert path.read_text() == "filename,reason\na.fits,not a FITS file\n"
    write_failures_csv(path, [], ["filename", "reason"])
    assert path.read_text() == "filename,reason\n"
