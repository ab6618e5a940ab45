"""``download`` against hostile scripts, folders and servers (issue 11): names are only names, links in the
output folder are never followed, a file must be the star its name says, and nothing hangs. Every server
here is a real HTTP server on 127.0.0.1 (``localserver``)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clara_benchmark.tess_spoc_download.fetch import Fetcher, FetchOptions
from clara_benchmark.tess_spoc_download.localserver import relabelled_copy
from clara_benchmark.tess_spoc_download.run import LOCK_NAME
from clara_benchmark.tess_spoc_download.verify import verify_lightcurve_file
from conftest import REAL_LIGHTCURVES, cli_env
from download_helpers import FAST, SECTOR, curl_lines, manifest, run_download, sha, spoc_name, write_script


def tree(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# ------------------------------------------------------------------------------------------------ item 1

#: target names cfitsio would read as commands, filters or other files; for clara each is one plain file
CFITSIO_NAMES = [
    "a.part(numpy.py)",
    "star[1].fits",
    "x.fits[1:2]",
    "!x.fits",
    "|cmd.fits",
    "x#1.fits",
    "b c.fits",
    "mem:x.fits",
    "ftp:x.fits",
    "~x.fits",
    "*.fits",
    "-x.fits",
    "x.fits+1",
    "x(copy).fits",
    "étoile.fits",
]
PAYLOAD = (  # what a numpy.py copied out of 'a.part' would run when the next run imports numpy
    "import pathlib\npathlib.Path(__file__).with_name('PWNED').write_text('code ran')\n"
    + "#" * 300_000
    + "\n"
)


def test_names_cfitsio_would_interpret_stay_plain_names_over_three_runs(
    tmp_path, tess_dir, served, server, monkeypatch
):
    """The issue's attack: 'a' leaves attacker bytes in a.part, 'a.part(numpy.py)' is a valid light curve.
    Over three runs (the second verifies the existing files, the third starts a fresh Python in the folder
    a copy would land in) nothing may appear outside the sector folder, no numpy.py anywhere, no code run,
    and every valid file with an odd name is downloaded, then kept as already present."""
    root, _ = served
    (root / "payload").write_text(PAYLOAD)
    server.add_faults("payload", "short", always=True)  # a.part keeps the attacker's bytes
    reals = sorted(REAL_LIGHTCURVES)
    source = {}
    for i, name in enumerate(CFITSIO_NAMES):
        shutil.copy(tess_dir / reals[i % len(reals)], root / f"src{i}.fits")
        source[name] = root / f"src{i}.fits"
    lines = [f"curl -L -o a {server.mast_url('payload')}"]
    lines += [f"curl -L -o {shlex.quote(n)} {server.mast_url(source[n].name)}" for n in CFITSIO_NAMES]
    write_script(tmp_path / "catalogues", lines)
    cwd = tmp_path / "cwd"  # where cfitsio would write a relative output name
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out" / str(SECTOR)
    before = tree(tmp_path)
    logs = tmp_path / "logs"
    allowed = {tmp_path / "download.json", tmp_path / "out"}  # the config, and the sector folder's parent
    expected_in_sector = set(CFITSIO_NAMES) | {"a.part", f"manifest_sector_{SECTOR}.csv", LOCK_NAME}

    for run, status in [(1, "downloaded"), (2, "already-present")]:
        assert run_download(tmp_path, max_retries=0) == 1, run  # 'a' fails: its body is always short
        rows = manifest(tmp_path)
        for name in CFITSIO_NAMES:
            assert rows[name]["status"] == status, (run, name, rows[name])
            assert rows[name]["sha256"] == sha(source[name]) == sha(out / name)
        assert rows["a"]["status"] == "failed" and "1000 more expected" in rows["a"]["error"]
        assert {p.name for p in out.iterdir()} == expected_in_sector, run
        new = tree(tmp_path) - before
        outside = [p for p in new if not ({out, logs} & ({p} | set(p.parents))) and p not in allowed]
        assert outside == [], outside
        assert not list(tmp_path.rglob("numpy.py")) and not list(tmp_path.rglob("PWNED"))

    third = subprocess.run(  # a fresh interpreter started in cwd: a numpy.py there would be imported
        [sys.executable, "-m", "clara_benchmark.cli", "download", "--config", str(tmp_path / "download.json")]
        + ["--log_dir", str(tmp_path / "logs"), "--quiet"],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert third.returncode == 1, third.stderr
    assert "Traceback" not in third.stderr
    assert all(manifest(tmp_path)[n]["status"] == "already-present" for n in CFITSIO_NAMES)
    assert not list(tmp_path.rglob("numpy.py")) and not list(tmp_path.rglob("PWNED"))
    assert (out / "a.part").read_text().startswith("import pathlib")  # the bytes are there, never run


def test_names_clara_uses_itself_are_refused_and_never_clobbered(tmp_path, served, server):
    """'x.part', 'x.damaged' and the manifest's name would collide with clara's own files in the folder."""
    _, make = served
    (good,) = make(1)
    url = server.mast_url(good)
    reserved = [f"{good}.part", f"{good}.DAMAGED", f"manifest_sector_{SECTOR}.csv", "a.Part"]
    write_script(
        tmp_path / "catalogues", [f"curl -o {good} {url}"] + [f"curl -o {n} {url}" for n in reserved]
    )
    assert run_download(tmp_path) == 1
    out = tmp_path / "out" / str(SECTOR)
    assert sorted(p.name for p in out.iterdir()) == sorted([good, f"manifest_sector_{SECTOR}.csv", LOCK_NAME])
    assert list(manifest(tmp_path)) == [good]
    main_log = (tmp_path / "logs" / "main.log").read_text()
    assert main_log.count("is reserved") == len(reserved)


# ------------------------------------------------------------------------------------------------ item 3


@pytest.mark.parametrize("fault", [None, "norange"])
def test_part_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, served, server, fault):
    """A <name>.part symlink (or hard link) to a file outside: neither appended to (the server honours
    Range) nor overwritten (it ignores Range); the file fails with a row saying why."""
    _, make = served
    names = make(3)
    if fault:
        for n in names:
            server.add_faults(n, fault, always=True)
    out = tmp_path / "out" / str(SECTOR)
    out.mkdir(parents=True)
    victim = tmp_path / "outside" / "victim.bin"
    victim.parent.mkdir()
    victim.write_bytes(b"precious bytes, not a light curve\n" * 100)
    original = victim.read_bytes()
    (out / (names[0] + ".part")).symlink_to(victim)
    os.link(victim, out / (names[1] + ".part"))
    write_script(tmp_path / "catalogues", curl_lines(server, names))

    assert run_download(tmp_path) == 1

    assert victim.read_bytes() == original
    assert (out / (names[0] + ".part")).is_symlink()
    rows = manifest(tmp_path)
    assert rows[names[0]]["status"] == "failed" and "is a symbolic link" in rows[names[0]]["error"]
    assert str(victim) in rows[names[0]]["error"] and "refused" in rows[names[0]]["error"]
    assert rows[names[1]]["status"] == "failed" and "hard link" in rows[names[1]]["error"]
    assert server.requests_for(names[0]) == [] and server.requests_for(names[1]) == []
    assert rows[names[2]]["status"] == "downloaded"  # the rest of the run goes on
    assert not (out / names[0]).exists() and not (out / names[1]).exists()


def test_final_name_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, tess_dir, served, server):
    """<name> a symlink to a valid light curve outside (would be 'already present'), to garbage (would be
    moved aside), or dangling (would be created): each is a failure row; link and target stay as they were."""
    _, make = served
    names = make(4)
    outside = tmp_path / "outside"
    outside.mkdir()
    valid = relabelled_copy(tess_dir / "tic55525572_lc.fits", outside / "valid.fits", 1000, SECTOR)
    garbage = outside / "garbage.fits"
    garbage.write_bytes(b"not fits" * 500)
    dangling = outside / "created_by_clara.fits"
    out = tmp_path / "out" / str(SECTOR)
    out.mkdir(parents=True)
    targets = {names[0]: valid, names[1]: garbage, names[2]: dangling}
    before = {p: p.read_bytes() for p in (valid, garbage)}
    for name, target in targets.items():
        (out / name).symlink_to(target)
    write_script(tmp_path / "catalogues", curl_lines(server, names))

    assert run_download(tmp_path) == 1

    rows = manifest(tmp_path)
    for name, target in targets.items():
        assert rows[name]["status"] == "failed", (name, rows[name])
        assert "is a symbolic link" in rows[name]["error"] and "refused" in rows[name]["error"]
        assert (out / name).is_symlink() and os.readlink(out / name) == str(target)
        assert not (out / (name + ".damaged")).exists()
    assert {p: p.read_bytes() for p in (valid, garbage)} == before
    assert not dangling.exists()
    assert rows[names[3]]["status"] == "downloaded"
    assert all(server.requests_for(n) == [] for n in targets)


@pytest.mark.parametrize("target_exists", [False, True])
def test_lock_file_that_is_a_link_is_refused(tmp_path, served, server, target_exists):
    _, make = served
    write_script(tmp_path / "catalogues", curl_lines(server, make(1)))
    out = tmp_path / "out" / str(SECTOR)
    out.mkdir(parents=True)
    target = tmp_path / "outside" / "made_by_lock"
    target.parent.mkdir()
    if target_exists:
        target.write_bytes(b"keep")
    (out / LOCK_NAME).symlink_to(target)

    assert run_download(tmp_path) == 1

    assert target.exists() == target_exists and (not target_exists or target.read_bytes() == b"keep")
    main_log = (tmp_path / "logs" / "main.log").read_text()
    assert f"{LOCK_NAME} is a symbolic link; refused" in main_log and "Traceback" not in main_log
    assert not list(out.glob("*.fits")) and server.requests == []


def test_part_swapped_for_a_link_during_verification_never_gets_the_final_name(tmp_path, served, server):
    """A race: the verified .part is replaced by a symlink before the rename. What got the final name is
    checked against the file that was verified, so the link is removed and the file fails."""
    _, make = served
    (name,) = make(1)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()

    def verify_then_swap(path, expected, **kw):
        verified = verify_lightcurve_file(path, expected, **kw)
        os.unlink(path)
        os.symlink(victim, path)
        return verified

    fetcher = Fetcher(FetchOptions(max_retries=0), verify=verify_then_swap)
    result = fetcher.fetch_file(server.mast_url(name), dest_dir / name)
    assert result.status == "failed" and "replaced while being verified" in result.error
    assert victim.read_bytes() == b"keep me"
    assert not os.path.lexists(dest_dir / name)


# ------------------------------------------------------------------------------------------------ item 8


def test_a_different_stars_light_curve_under_this_name_fails(tmp_path, tess_dir, served, server):
    root, make = served
    names = make(3)
    src = tess_dir / "tic55525572_lc.fits"
    relabelled_copy(src, root / names[0], 2000, SECTOR)  # valid, but TIC 2000 served as TIC 1000
    relabelled_copy(src, root / names[1], 1001, 5)  # valid, TIC 1001 but sector 5
    out = tmp_path / "out" / str(SECTOR)
    out.mkdir(parents=True)
    relabelled_copy(src, out / names[2], 3000, SECTOR)  # a wrong star already on disk
    write_script(tmp_path / "catalogues", curl_lines(server, names))

    assert run_download(tmp_path) == 1

    rows = manifest(tmp_path)
    for name, words in [(names[0], ("TICID = 2000", "TIC 1000")), (names[1], ("SECTOR = 5", "sector 1"))]:
        row = rows[name]
        assert row["status"] == "failed" and all(w in row["error"] for w in words), row
        assert row["attempts"] == "1"  # another star is not a transient fault: no retry
        assert not (out / name).exists() and not (out / (name + ".part")).exists()
    assert rows[names[2]]["status"] == "downloaded"  # the wrong star on disk was moved aside, refetched
    assert sha(out / names[2]) == sha(root / names[2])
    assert "TICID = 3000" in (tmp_path / "logs" / "download_tess_lc.log").read_text()
    assert (out / (names[2] + ".damaged")).exists()


# ------------------------------------------------------------------------------------------------ item 11


def test_trickling_server_hits_the_deadline_and_the_retry_resumes(tmp_path, served, server):
    """4 KiB every 0.5 s: alive, never done. The attempt ends at file_deadline_seconds, the .part is kept,
    and the retry resumes it; a file that always trickles fails after its retries, in bounded time."""
    _, make = served
    names = make(2)
    server.set_trickle(4096, 0.5)
    server.add_faults(names[0], "trickle")
    server.add_faults(names[1], "trickle", always=True)
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    started = time.monotonic()

    code = run_download(tmp_path, file_deadline_seconds=1.2, max_retries=1, min_rate_bytes_per_second=0)

    assert time.monotonic() - started < 20
    assert code == 1
    rows = manifest(tmp_path)
    assert rows[names[0]]["status"] == "downloaded" and rows[names[0]]["attempts"] == "2"
    first, second = server.requests_for(names[0])
    assert first.fault == "trickle" and second.status == 206
    resumed_at = int(second.range.split("=")[1].rstrip("-"))
    assert resumed_at >= 4096 and resumed_at % 4096 == 0
    assert rows[names[1]]["status"] == "failed"
    assert (
        "file_deadline_seconds" in rows[names[1]]["error"]
        and "gave up after 2 attempts" in rows[names[1]]["error"]
    )
    out = tmp_path / "out" / str(SECTOR)
    assert (out / (names[1] + ".part")).stat().st_size >= 2 * 4096  # kept and resumed, for the next run


def test_transfer_below_the_minimum_rate_is_retried(tmp_path, served, server):
    _, make = served
    (name,) = make(1)
    server.set_trickle(4096, 0.25)  # 16 KiB/s
    server.add_faults(name, "trickle")
    write_script(tmp_path / "catalogues", curl_lines(server, [name]))

    code = run_download(tmp_path, min_rate_bytes_per_second=65536, min_rate_seconds=0.6, max_retries=1)

    assert code == 0
    row = manifest(tmp_path)[name]
    assert row["status"] == "downloaded" and row["attempts"] == "2"
    log = (tmp_path / "logs" / "download_tess_lc.log").read_text()
    assert "slower than min_rate_bytes_per_second 65536" in log
    assert server.requests_for(name)[1].range  # resumed


# ------------------------------------------------------------------------------------------------ manners


def test_requests_to_one_host_are_spaced_by_max_requests_per_second(tmp_path, server):
    """Server-side arrival times. The files do not exist (404 in about a millisecond), so without the limit
    the requests would arrive far closer together than the limit allows."""
    names = [spoc_name(7000 + i) for i in range(12)]
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    rate = 20.0
    assert run_download(tmp_path, max_requests_per_second=rate, num_threads=4) == 1
    times = sorted(r.arrived for r in server.requests)
    assert len(times) == len(names) and {r.status for r in server.requests} == {404}
    k = 4  # any k + 1 consecutive requests span at least k intervals (less scheduling jitter)
    spans = [times[i + k] - times[i] for i in range(len(times) - k)]
    assert min(spans) >= k / rate - 0.04, spans


def test_retry_after_pauses_every_thread_on_that_host(tmp_path, served, server):
    """A 429 with Retry-After: 1 for one file holds back the other threads' next requests too."""
    _, make = served
    names = make(6)
    server.latency = 0.2  # so that other requests are in flight when the 429 arrives
    server.add_faults(names[0], "429")
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    assert run_download(tmp_path, num_threads=3) == 0
    t429 = next(r.time for r in server.requests if r.status == 429)
    # requests sent before the client had read the 429 may arrive just after it; none later than that
    held = [r.arrived - t429 for r in server.requests if 0.1 < r.arrived - t429 < 0.9]
    assert held == [], held
    assert {r["status"] for r in manifest(tmp_path).values()} == {"downloaded"}


def test_rate_limit_key_is_checked(tmp_path, served, server):
    _, make = served
    write_script(tmp_path / "catalogues", curl_lines(server, make(1)))
    assert run_download(tmp_path, max_requests_per_second=0) == 2
    assert run_download(tmp_path, max_requests_per_second=None) == 0


# ------------------------------------------------------------------------------------------------ API


def test_fetcher_fetches_one_file_at_a_time_from_worker_threads(tmp_path, served, server):
    """What a stream mode does: one Fetcher, fetch_file(url, dest) per file from its own threads."""
    _, make = served
    names = make(6)
    server.add_faults(names[1], "drop")
    server.add_faults(names[2], "404", always=True)
    dest = tmp_path / "stream"
    dest.mkdir()
    fetcher = Fetcher(FetchOptions(**FAST), num_threads=3, stop=threading.Event())
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda n: fetcher.fetch_file(server.mast_url(n), dest / n), names))
    fetcher.close()
    assert [r.filename for r in results] == names
    assert [r.status for r in results] == ["downloaded", "downloaded", "failed"] + ["downloaded"] * 3
    assert results[1].attempts == 2 and "HTTP 404" in results[2].error
    for r in results:
        if r.status == "downloaded":
            assert r.sha256 == sha(dest / r.filename) == sha(served[0] / r.filename)
    again = fetcher.fetch_file(server.mast_url(names[0]), dest / names[0], results[0].sha256)
    assert again.status == "already-present" and again.attempts == 0
    assert spoc_name(1000) == names[0]
