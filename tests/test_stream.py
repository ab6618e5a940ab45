"""score in stream mode: a simulated sector served on 127.0.0.1, downloaded, verified and scored as it
arrives; compared with download-then-score, interrupted three ways and resumed (on Dask:
tests/test_dask_executor.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from astropy.io import fits

import clara_benchmark as clara
from clara_benchmark import cli
from clara_benchmark.config import ConfigError, ScoreConfig, build_config
from clara_benchmark.featurestore import FeatureStore
from clara_benchmark.tess_spoc_download.localserver import LocalServer
from conftest import spawn_cli, wait_for

SECTOR = 3
FAST = {"connect_timeout": 5.0, "read_timeout": 20.0, "max_retries": 2, "backoff_seconds": 0.01}


# ------------------------------------------------------------------------------------------------ setup


@pytest.fixture(scope="module")
def sector(tmp_path_factory):
    """A served archive: 20 simulated stars (SPOC names, checksums), a constant light curve (verifies,
    cannot be scored) and a truncated one (fails verification); two tiny URFs that score the stars they
    were trained on 0 and most others above 0."""
    from clara_benchmark.executors import LocalExecutor
    from clara_benchmark.extract import clara4000_many
    from clara_benchmark.modelio import save_model
    from clara_benchmark.synthetic.sector import write_sector
    from clara_benchmark.synthetic.transits import SyntheticSetSpec
    from clara_benchmark.training.train import fit_forest, synthetic_matrix

    base = tmp_path_factory.mktemp("stream")
    archive = base / "archive"
    fractions = {"planet": 0.2, "eclipsing_binary": 0.1}
    sim = write_sector(
        archive, n_stars=20, sector=SECTOR, seed=5, n_cadences=800, class_fractions=fractions, max_workers=1
    )
    stars = sorted(sim.truth["filename"])
    (archive / sim.truth_path.name).unlink()
    real = clara4000_many([archive / n for n in stars[:10]]).features
    _, syn = synthetic_matrix(SyntheticSetSpec(10, 27.0, 90.0, 300.0), LocalExecutor(1))
    models = {}
    for key, seed in (("p3", 1), ("p9", 2)):
        forest = fit_forest(real, syn, {"n_estimators": 15, "random_state": seed, "bootstrap": False})
        models[key] = save_model(forest, base / f"tiny_{key}.skops", {"feature_spec": "clara-4000/1"})
    with fits.open(archive / stars[0]) as hdul:  # valid FITS with checksums, constant flux
        hdul[1].data["PDCSAP_FLUX"][:] = 100.0
        hdul.writeto(archive / "constant_lc.fits", checksum=True)
    raw = (archive / stars[1]).read_bytes()
    truncated = stars[1].replace("-s_lc", "-t_lc")  # its own SPOC name (same star), 2880 bytes short
    (archive / truncated).write_bytes(raw[:-2880])
    expected = clara.score([archive / n for n in stars], clara.load_models(**models)).scores
    return {
        "archive": archive,
        "stars": stars,
        "models": models,
        "expected": expected,
        "truncated": truncated,
    }


@pytest.fixture
def server(sector):
    with LocalServer(sector["archive"], slow_seconds=30.0, retry_after=1) as srv:
        yield srv


def write_script(folder: Path, srv: LocalServer, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tesscurl_sector_{SECTOR}_lc.sh"
    path.write_text("#!/bin/sh\n" + "".join(f"curl -C - -L -o {n} {srv.mast_url(n)}\n" for n in names))
    return path


def stream_config(tmp_path, sector, script: Path, **keys) -> dict:
    return {
        "tesscurl_script": str(script),
        "output_dir": str(tmp_path / "results"),
        "max_workers": 2,
        "batch_size": 3,
        "num_threads": 4,
        "use_p3": True,
        "use_p9": True,
        "calculate_wrss_p3p9": True,
        "p3model_path": str(sector["models"]["p3"]),
        "p9model_path": str(sector["models"]["p9"]),
        **FAST,
        **keys,
    }


def run(command: str, tmp_path: Path, cfg: dict, name: str) -> int:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    args = [command, "--config", str(path), "--log_dir", str(tmp_path / "logs"), "--quiet"]
    return cli.main([*args, "--monitor_interval", "60"])


def spawn(tmp_path: Path, cfg: dict, **popen) -> subprocess.Popen:
    path = tmp_path / "spawn.json"
    path.write_text(json.dumps(cfg))
    return spawn_cli("score", "--config", path, "--log_dir", tmp_path / "logs", "--quiet", **popen)


def only(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


def manifest_rows(sector_dir: Path) -> dict[str, dict]:
    with open(sector_dir / f"manifest_sector_{SECTOR}.csv", newline="") as fh:
        return {row["filename"]: row for row in csv.DictReader(fh)}


def assert_scores_expected(results: Path, sector) -> None:
    """Every star exactly once, with the scores the library computes from the archive's own files."""
    expected = sector["expected"]
    for key in ("p3", "p9"):
        got = pd.read_csv(only(results, f"anomaly_scores_{key}_*.csv"), float_precision="round_trip")
        assert got["filename"].tolist() == expected["filename"].tolist()  # none lost, none twice
        assert got["tic"].tolist() == expected["tic"].tolist()
        assert np.array_equal(got["anomaly_score"].to_numpy(), expected[key].to_numpy())


def requests_by_name(srv: LocalServer, since: int = 0) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in srv.requests[since:]:
        out.setdefault(r.name, []).append(r)
    return out


# ------------------------------------------------------------------------------------------------ same outputs


def test_stream_outputs_equal_download_then_score(tmp_path, sector, server):
    stars = sector["stars"]
    names = [*stars, "constant_lc.fits", sector["truncated"], "missing_lc.fits"]
    script = write_script(tmp_path / "catalogues", server, names)

    def faults():  # the same trouble for both runs: a 500 and a 429 (Retry-After: 1) that retries fix
        server.add_faults(stars[2], "500")
        server.add_faults(stars[5], "429")

    # (a) download, then score the downloaded folder
    faults()
    first = len(server.requests)
    block = {
        "sector_number": SECTOR,
        "catalogues_folder": str(script.parent),
        "out_dir_tess": str(tmp_path / "fits"),
        "max_downloads": 1000,
        "log_file": str(tmp_path / "logs" / "download_tess_lc.log"),
        "num_threads": 4,
        **FAST,
    }
    assert run("download", tmp_path, {str(SECTOR): block}, "download") == 1  # two files failed
    downloaded = tmp_path / "fits" / str(SECTOR)
    score_a = stream_config(tmp_path, sector, script, output_dir=str(tmp_path / "a"), save_features=True)
    del score_a["tesscurl_script"]
    assert run("score", tmp_path, {**score_a, "input_dirs": [str(downloaded)]}, "score_a") == 0
    requests_a = requests_by_name(server, first)

    # (b) stream mode, files into <output_dir>/<sector>/, the candidates kept
    faults()
    first = len(server.requests)
    cfg = stream_config(tmp_path, sector, script, output_dir=str(tmp_path / "b"), save_features=True)
    assert run("score", tmp_path, cfg, "score_b") == 0
    requests_b = requests_by_name(server, first)
    a, b, kept = tmp_path / "a", tmp_path / "b", tmp_path / "b" / str(SECTOR)

    for pattern in ("anomaly_scores_p3_*.csv", "anomaly_scores_p9_*.csv", "wrss_p3p9_*.csv"):
        assert only(b, pattern).read_text() == only(a, pattern).read_text(), pattern
    record_a = json.loads(only(a, "wrss_p3p9_*.json").read_text())
    record_b = json.loads(only(b, "wrss_p3p9_*.json").read_text())
    assert {**record_b, "wrss_csv": ""} == {**record_a, "wrss_csv": ""}
    assert_scores_expected(b, sector)
    # the manifest is download's, byte for byte: statuses, sizes, sha256, attempts, errors
    assert (kept / f"manifest_sector_{SECTOR}.csv").read_text() == (
        downloaded / f"manifest_sector_{SECTOR}.csv"
    ).read_text()
    rows = manifest_rows(kept)
    assert rows[stars[2]]["attempts"] == rows[stars[5]]["attempts"] == "2"
    assert (
        rows[sector["truncated"]]["status"] == "failed"
        and "verification" in rows[sector["truncated"]]["error"]
    )
    # failures: score's own, plus each failed download with the download's reason
    failures_a = pd.read_csv(only(a, "failures_*.csv"))
    failures_b = pd.read_csv(only(b, "failures_*.csv"))
    download_failures = pd.DataFrame(
        [(n, f"download failed: {r['error']}") for n, r in rows.items() if r["status"] == "failed"],
        columns=["filename", "reason"],
    )
    assert sorted(download_failures["filename"]) == sorted(["missing_lc.fits", sector["truncated"]])
    combined = pd.concat([failures_a, download_failures]).sort_values("filename").reset_index(drop=True)
    pd.testing.assert_frame_equal(failures_b, combined)
    assert failures_a["filename"].tolist() == ["constant_lc.fits"]
    # the same requests reached the server, file by file
    assert {n: len(r) for n, r in requests_b.items()} == {n: len(r) for n, r in requests_a.items()}
    # the same feature rows
    store_a, store_b = FeatureStore(only(a, "features_*")), FeatureStore(only(b, "features_*"))
    rows_a, rows_b = store_a.lookup(stars), store_b.lookup(stars)
    assert sorted(rows_b) == sorted(rows_a) == stars
    assert all(rows_b[n][0] == rows_a[n][0] and np.array_equal(rows_b[n][1], rows_a[n][1]) for n in stars)
    # keep_fits "candidates": exactly the stars scoring above 0 in P3 or P9, byte-identical to download's
    expected = sector["expected"]
    candidates = set(expected.loc[(expected["p3"] > 0) | (expected["p9"] > 0), "filename"])
    assert 0 < len(candidates) < len(stars)
    assert {p.name for p in kept.glob("*.fits")} == candidates
    assert all((kept / n).read_bytes() == (downloaded / n).read_bytes() for n in candidates)
    # the truncated file gave up after its retries: outputs written, the run's record kept for a resume
    assert len(list(b.glob(".score_*.work"))) == 1
    assert "retry exactly these files" in (tmp_path / "logs" / "anomaly_scoring.log").read_text()


# ------------------------------------------------------------------------------------------------ keep_fits


def test_keep_none_and_all_never_remove_earlier_files(tmp_path, sector, server):
    stars = sector["stars"]
    catalogues = tmp_path / "catalogues"
    write_script(catalogues, server, stars)
    server_script = tmp_path / "served_scripts"
    shutil.copytree(catalogues, server_script)
    results = tmp_path / "results"
    sector_dir = tmp_path / "fits" / str(SECTOR)
    sector_dir.mkdir(parents=True)
    shutil.copy(sector["archive"] / stars[0], sector_dir / stars[0])  # from an earlier download
    # sector_number + an empty catalogues folder: the script is fetched from base_url, as download does
    with LocalServer(server_script) as script_server:
        cfg = stream_config(
            tmp_path, sector, catalogues, keep_fits="none", out_dir_tess=str(tmp_path / "fits")
        )
        del cfg["tesscurl_script"]
        (catalogues / f"tesscurl_sector_{SECTOR}_lc.sh").unlink()
        cfg.update(sector_number=SECTOR, catalogues_folder=str(catalogues), base_url=script_server.base_url)
        first = len(server.requests)
        assert run("score", tmp_path, cfg, "none") == 0
        assert [r.name for r in script_server.requests] == [f"tesscurl_sector_{SECTOR}_lc.sh"]
    assert (catalogues / f"tesscurl_sector_{SECTOR}_lc.sh").is_file()
    assert_scores_expected(results, sector)
    assert sorted(p.name for p in sector_dir.glob("*.fits")) == [stars[0]]  # only the earlier file
    assert stars[0] not in requests_by_name(server, first)  # verified on disk, not fetched
    rows = manifest_rows(sector_dir)
    assert rows[stars[0]]["status"] == "already-present"
    assert all(rows[n]["status"] == "downloaded" for n in stars[1:])
    assert not list(results.glob(".score_*"))  # nothing left to retry: the work folder is gone

    all_out = tmp_path / "all"
    cfg = stream_config(tmp_path, sector, catalogues / f"tesscurl_sector_{SECTOR}_lc.sh", keep_fits="all")
    assert run("score", tmp_path, {**cfg, "output_dir": str(all_out)}, "all") == 0
    kept = all_out / str(SECTOR)
    assert sorted(p.name for p in kept.glob("*.fits")) == stars
    assert all((kept / n).read_bytes() == (sector["archive"] / n).read_bytes() for n in stars)


# ------------------------------------------------------------------------------------------------ interrupted


def _interrupt_setup(tmp_path, sector, server):
    """20 stars in batches of 3; three files in the 3rd and 4th batches hang half-way, so that parts land
    while transfers are in flight."""
    stars = sector["stars"]
    for n in (stars[7], stars[10], stars[13]):
        server.add_faults(n, "stall")
    server.latency = 0.02
    script = write_script(tmp_path / "catalogues", server, stars)
    cfg = stream_config(tmp_path, sector, script, save_features=True)
    results = tmp_path / "results"
    sector_dir = results / str(SECTOR)

    def mid_run() -> bool:
        parts = list(results.glob(".score_*.work/part-*.npz"))
        partial = [p for p in sector_dir.glob("*.part") if p.stat().st_size > 0]
        return len(parts) >= 1 and len(partial) >= 1

    return stars, cfg, results, sector_dir, mid_run


def _snapshot(results: Path, sector_dir: Path) -> tuple[set[str], dict[str, int]]:
    """(files verified before the stop: under their final name, or finished in a part; .part sizes)."""
    from clara_benchmark.utils.io import load_npz

    done = set()
    for part in results.glob(".score_*.work/part-*.npz"):
        z = load_npz(part)
        ok = np.isin(z["manifest_status"].astype(str), ["downloaded", "already-present"])
        done |= set(z["manifest_filename"][ok].astype(str))
    finals = {p.name for p in sector_dir.glob("*.fits")}
    return done | finals, {p.name[: -len(".part")]: p.stat().st_size for p in sector_dir.glob("*.part")}


def _resume_and_check(tmp_path, sector, server, cfg, results, sector_dir) -> None:
    server.clear_faults()
    server.latency = 0.0
    verified, partial = _snapshot(results, sector_dir)
    assert partial and verified
    first = len(server.requests)
    assert run("score", tmp_path, {**cfg, "resume": True}, "resume") == 0
    again = requests_by_name(server, first)
    assert not verified & set(again), "a verified file was downloaded again"
    for name, size in partial.items():  # partial downloads continue where they stopped
        if size and name not in verified:
            assert again[name][0].range == f"bytes={size}-" and again[name][0].status == 206
    assert_scores_expected(results, sector)
    stars = sector["stars"]
    store = FeatureStore(only(results, "features_*"))
    stored = [n for b in store.iter_batches() for n in b.filenames]
    assert sorted(stored) == stars  # each star's features exactly once
    rows = manifest_rows(sector_dir)
    assert sorted(rows) == stars and all(
        rows[n]["status"] in ("downloaded", "already-present") for n in stars
    )
    assert not list(results.glob(".score_*")) and not list(sector_dir.glob("*.part"))


def test_kill_9_then_resume(tmp_path, sector, server):
    stars, cfg, results, sector_dir, mid_run = _interrupt_setup(tmp_path, sector, server)
    proc = spawn(tmp_path, cfg)
    try:
        assert wait_for(mid_run, 60.0), proc.communicate(timeout=5)
        workers = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    _, alive = psutil.wait_procs(workers, timeout=15)  # orphaned workers leave within a second or so
    assert not alive
    assert not list(results.glob("anomaly_scores_*"))
    _resume_and_check(tmp_path, sector, server, cfg, results, sector_dir)


def test_ctrl_c_stops_at_once_then_resume(tmp_path, sector, server):
    stars, cfg, results, sector_dir, mid_run = _interrupt_setup(tmp_path, sector, server)
    proc = spawn(tmp_path, cfg, start_new_session=True)  # its own group: Ctrl-C reaches the workers too
    try:
        assert wait_for(mid_run, 60.0), proc.communicate(timeout=5)
        stopped = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert took < 10, f"took {took:.1f} s: the stalled transfers (30 s) were waited for"
    assert "resume" in err and "Traceback" not in err
    _resume_and_check(tmp_path, sector, server, cfg, results, sector_dir)


def test_network_loss_then_resume(tmp_path, sector, server):
    # a subprocess: workers forked from this process would hold the server's listening socket open
    stars, cfg, results, sector_dir, mid_run = _interrupt_setup(tmp_path, sector, server)
    proc = spawn(tmp_path, cfg)
    try:
        assert wait_for(mid_run, 60.0), proc.communicate(timeout=5)
        server.stop()  # the archive goes away mid-run: transfers cut, connections refused
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # stopped as unreachable, or (when fewer files were left than the stop needs) finished without the
    # failed downloads and kept its record: either way resume is the way on
    assert (proc.returncode, "looks unreachable" in err) in ((1, True), (0, False)), err
    assert '"resume": true' in err and "cannot connect" in err
    with LocalServer(sector["archive"], port=server.port) as back:  # the network is back
        _resume_and_check(tmp_path, sector, back, cfg, results, sector_dir)


# ------------------------------------------------------------------------------------------------ manners


def test_rate_limit_is_shared_by_the_worker_processes(tmp_path, sector, server):
    stars = sector["stars"][:12]
    script = write_script(tmp_path / "catalogues", server, stars)
    cfg = stream_config(tmp_path, sector, script, max_requests_per_second=8.0, keep_fits="none")
    first = len(server.requests)
    assert run("score", tmp_path, cfg, "rate") == 0
    arrivals = sorted(r.arrived for r in server.requests[first:])
    assert len(arrivals) == 12
    # 2 processes x 4 requests/s: 12 requests take at least (12 - 2) / 8 s; unlimited they take ~0.1 s
    assert arrivals[-1] - arrivals[0] >= 10 / 8 - 0.05
    assert "4 requests/s each" in (tmp_path / "logs" / "anomaly_scoring.log").read_text()


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, 'missing required key "input_dirs"'),
        ({"input_dirs": ["."], "sector_number": 3}, 'give either "input_dirs" or a download script'),
        ({"tesscurl_script": "SCRIPT_ODD"}, 'cannot tell the sector from the name "odd.sh"'),
        ({"sector_number": 3, "base_url": "ftp://x/"}, 'key "base_url" must be an http(s) URL'),
        ({"sector_number": 3, "keep_fits": "some"}, 'key "keep_fits" must be one of'),
        ({"sector_number": 3, "num_threads": 0}, 'key "num_threads" must be >= 1'),
    ],
)
def test_config_input_modes(tmp_path, sector, keys, message):
    odd = tmp_path / "odd.sh"
    odd.write_text("")
    keys = {k: (str(odd) if v == "SCRIPT_ODD" else v) for k, v in keys.items()}
    raw = {**stream_config(tmp_path, sector, odd), **keys}
    if "tesscurl_script" not in keys:
        del raw["tesscurl_script"]
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(ScoreConfig, raw, "test")


def test_config_sector_from_the_script_name(tmp_path, sector):
    script = tmp_path / "tesscurl_sector_17_lc.sh"
    script.write_text("")
    config = build_config(ScoreConfig, stream_config(tmp_path, sector, script), "test")
    assert config.stream and config.stream_sector() == 17
    block = config.download_block()
    assert block.out_dir_tess == tmp_path / "results" and block.sector_number == 17
