import os

import pytest

from clara_benchmark.utils.io import atomic_open, atomic_write_text, sha256_file


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
