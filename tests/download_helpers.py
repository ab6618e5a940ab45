"""What the download tests share: an archive of valid stars to serve, a script pointing at it, and the real
``download`` command run in this process with a config file like a user's."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from clara_benchmark import cli
from clara_benchmark.tess_spoc_download.localserver import LocalServer, relabelled_copy
from clara_benchmark.tess_spoc_download.verify import VerifyError, verify_lightcurve_file
from conftest import REAL_LIGHTCURVES

SECTOR = 1
FAST = {  # short backoff so that retries take no time; timeouts lenient enough for a busy machine
    "connect_timeout": 5.0,
    "read_timeout": 5.0,
    "max_retries": 2,
    "backoff_seconds": 0.01,
    "max_backoff_seconds": 2.0,
}


def spoc_name(tic: int, sector: int = SECTOR) -> str:
    return f"tess2018206045859-s{sector:04d}-{tic:016d}-0120-s_lc.fits"


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def archive_maker(root: Path, tess_dir: Path):
    """``make(n, first_tic)``: n valid light curves in ``root`` under SPOC names, each a copy of a real
    file relabelled (TICID, SECTOR, CHECKSUM) as the star its name says; returns the names."""
    reals = sorted(REAL_LIGHTCURVES)

    def make(n: int, first_tic: int = 1000, sector: int = SECTOR) -> list[str]:
        names = []
        for i in range(n):
            name = spoc_name(first_tic + i, sector)
            relabelled_copy(tess_dir / reals[i % len(reals)], root / name, first_tic + i, sector)
            os.chmod(root / name, 0o644)
            names.append(name)
        return names

    return make


def start_server(root: Path, **kwargs) -> LocalServer:
    return LocalServer(root, **{"slow_seconds": 3.0, "retry_after": 1, **kwargs})


def write_script(folder: Path, lines: list[str], sector: int = SECTOR) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tesscurl_sector_{sector}_lc.sh"
    path.write_text("#!/bin/sh\n" + "".join(line + "\n" for line in lines))
    return path


def curl_lines(srv: LocalServer, names: list[str]) -> list[str]:
    return [f"curl -C - -L -o {n} {srv.mast_url(n)}" for n in names]


def run_download(tmp_path: Path, blocks: dict | None = None, **keys) -> int:
    """The real command in this process (cli.main), with a config file like a user's."""
    block = {
        "sector_number": SECTOR,
        "catalogues_folder": str(tmp_path / "catalogues"),
        "out_dir_tess": str(tmp_path / "out"),
        "start_index": 0,
        "max_downloads": 1000,
        "log_file": str(tmp_path / "logs" / "download_tess_lc.log"),
        "num_threads": 4,
        **FAST,
        **keys,
    }
    cfg = tmp_path / "download.json"
    cfg.write_text(json.dumps(blocks or {str(SECTOR): block}))
    return cli.main(
        [
            "download",
            "--config",
            str(cfg),
            "--log_dir",
            str(tmp_path / "logs"),
            "--quiet",
            "--monitor_interval",
            "60",
        ]
    )


def manifest(tmp_path: Path, sector: int = SECTOR) -> dict[str, dict]:
    path = tmp_path / "out" / str(sector) / f"manifest_sector_{sector}.csv"
    with open(path, newline="") as fh:
        return {row["filename"]: row for row in csv.DictReader(fh)}


def assert_final_files_intact(out_dir: Path) -> None:
    """The promise: nothing under a final name is ever a damaged file."""
    for p in out_dir.glob("*.fits"):
        try:
            verify_lightcurve_file(p)
        except VerifyError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"damaged file under its final name: {p.name}: {exc.reason}")
