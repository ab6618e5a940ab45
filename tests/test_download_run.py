"""The download command against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from clara_benchmark.tess_spoc_download.fetch import FetchOptions, backoff_delay, parse_retry_after
from clara_benchmark.tess_spoc_download.run import LOCK_NAME
from conftest import cli_env, spawn_cli, wait_for
from download_helpers import (
    FAST,
    SECTOR,
    assert_final_files_intact,
    curl_lines,
    manifest,
    run_download,
    sha,
    spoc_name,
    write_script,
)

# ------------------------------------------------------------------------------------------------ faults


def test_every_fault_ends_verified_or_failed_with_reason(tmp_path, served, server):
    root, make = served
    names = make(15)
    recover = {  # one-shot faults: the file must end downloaded and identical to the archive's
        names[0]: ("drop",),
        names[1]: ("500",),
        names[2]: ("503", "502"),
        names[3]: ("429",),
        names[4]: ("short",),
        names[5]: ("slow",),
        names[6]: ("stall",),
        names[7]: ("corrupt",),
        names[8]: ("redirect",),
    }
    for name, faults in recover.items():
        server.add_faults(name, *faults)
    server.add_faults(names[9], "403", always=True)
    server.add_faults(names[10], "500", always=True)
    server.add_faults(names[11], "corrupt", always=True)
    raw = (root / names[12]).read_bytes()
    (root / names[12]).write_bytes(raw[: len(raw) - 2 * 2880])  # the archive's own copy is truncated
    (root / names[13]).write_bytes(b"<html>maintenance</html>\n")  # an error page served with 200
    (root / names[14]).unlink()  # 404
    sums = {n: sha(root / n) for n in names if (root / n).exists()}
    write_script(tmp_path / "catalogues", curl_lines(server, names))

    code = run_download(tmp_path, read_timeout=1.0)  # "slow" and "stall" keep silent for 3 s

    assert code == 1  # some files failed
    rows = manifest(tmp_path)
    out = tmp_path / "out" / str(SECTOR)
    assert set(rows) == set(names)
    for name in recover:
        row = rows[name]
        assert row["status"] == "downloaded", (name, row)
        assert row["sha256"] == sums[name] == sha(out / name)
        assert int(row["bytes"]) == (out / name).stat().st_size
        assert row["tic_id"] == str(int(name.split("-")[2]))
    assert int(rows[names[0]]["attempts"]) == 2
    assert int(rows[names[2]]["attempts"]) == 3
    expected_failures = {
        names[9]: "HTTP 403",
        names[10]: "HTTP 500",
        names[11]: "failed verification",
        names[12]: "truncated",
        names[13]: "not a FITS file",
        names[14]: "HTTP 404",
    }
    for name, reason in expected_failures.items():
        row = rows[name]
        assert row["status"] == "failed" and reason in row["error"], (name, row)
        assert not (out / name).exists()
        assert row["sha256"] == "" and row["bytes"] == ""
    assert int(rows[names[9]]["attempts"]) == 1  # 4xx is final
    assert int(rows[names[14]]["attempts"]) == 1
    assert int(rows[names[10]]["attempts"]) == 3  # max_retries 2
    assert "gave up after 3 attempts" in rows[names[10]]["error"]
    assert_final_files_intact(out)
    assert not list(out.glob("*.part")) or all(
        p.name[: -len(".part")] in expected_failures for p in out.glob("*.part")
    )

    # resumed where a partial body had arrived; Retry-After honoured
    short = server.requests_for(names[4])
    assert short[0].fault == "short" and short[1].range and short[1].status == 206
    stall = server.requests_for(names[6])
    assert stall[1].range and stall[1].status == 206
    r429 = server.requests_for(names[3])
    assert r429[0].status == 429 and r429[1].time - r429[0].time >= 0.95

    # each file's outcome in the download log, and a summary line
    log = (tmp_path / "logs" / "download_tess_lc.log").read_text()
    for name in names:
        assert f"downloaded {name}" in log or f"failed {name}" in log
    assert "9 downloaded, 0 already present, 6 failed" in log
    main_log = (tmp_path / "logs" / "main.log").read_text()
    assert "6 failed" in main_log and "files/s" in main_log and "MB/s" in main_log


def test_resume_range_unsupported_existing_and_damaged_files(tmp_path, served, server):
    root, make = served
    names = make(6)
    out = tmp_path / "out" / str(SECTOR)
    out.mkdir(parents=True)
    raw = {n: (root / n).read_bytes() for n in names}
    (out / (names[0] + ".part")).write_bytes(raw[names[0]][:1_000_000])  # resumable
    (out / (names[1] + ".part")).write_bytes(raw[names[1]][:700_000])  # server will ignore Range
    server.add_faults(names[1], "norange", always=True)
    (out / (names[2] + ".part")).write_bytes(raw[names[2]])  # complete .part, never renamed
    shutil.copy(root / names[3], out / names[3])  # intact: kept, not fetched
    (out / names[4]).write_bytes(raw[names[4]][: len(raw[names[4]]) // 2])  # damaged final file
    (out / (names[5] + ".part")).write_bytes(b"garbage" * 1000)  # wrong bytes: resume then fail, restart
    write_script(tmp_path / "catalogues", curl_lines(server, names))

    assert run_download(tmp_path) == 0

    rows = manifest(tmp_path)
    for n in names:
        assert sha(out / n) == hashlib.sha256(raw[n]).hexdigest()
        assert not (out / (n + ".part")).exists()
    assert [(r.range, r.status) for r in server.requests_for(names[0])] == [("bytes=1000000-", 206)]
    assert [(r.range, r.status) for r in server.requests_for(names[1])] == [("bytes=700000-", 200)]
    assert [(r.range, r.status) for r in server.requests_for(names[2])] == [
        (f"bytes={len(raw[names[2]])}-", 416)
    ]
    assert server.requests_for(names[3]) == []
    assert rows[names[3]]["status"] == "already-present" and rows[names[3]]["attempts"] == "0"
    assert rows[names[4]]["status"] == "downloaded"
    assert (out / (names[4] + ".damaged")).read_bytes() == raw[names[4]][: len(raw[names[4]]) // 2]
    assert rows[names[5]]["status"] == "downloaded" and int(rows[names[5]]["attempts"]) == 2

    # a second run fetches nothing and keeps every row
    before = len(server.requests)
    assert run_download(tmp_path) == 0
    assert len(server.requests) == before
    assert {r["status"] for r in manifest(tmp_path).values()} == {"already-present"}


def test_slice_and_manifest_accumulate(tmp_path, served, server):
    _, make = served
    names = make(7)
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    assert run_download(tmp_path, start_index=2, max_downloads=3) == 0
    out = tmp_path / "out" / str(SECTOR)
    assert sorted(p.name for p in out.glob("*.fits")) == sorted(names[2:5])
    assert run_download(tmp_path, start_index=5, max_downloads=100) == 0
    assert list(manifest(tmp_path)) == names[2:7]  # script order, both runs


def test_many_failures_do_not_flood_the_console(tmp_path, served, server):
    names = [spoc_name(5000 + i) for i in range(25)]  # none of them exists on the server
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    assert run_download(tmp_path) == 1
    main_log = (tmp_path / "logs" / "main.log").read_text()
    assert main_log.count("[ERROR] failed ") == 20
    assert "more failed files are listed only in" in main_log
    log = (tmp_path / "logs" / "download_tess_lc.log").read_text()
    assert all(f"failed {n} after 1 attempt(s): HTTP 404" in log for n in names)
    assert {r["status"] for r in manifest(tmp_path).values()} == {"failed"}
    assert len(manifest(tmp_path)) == 25


# ------------------------------------------------------------------------------------------------ hostile


def test_hostile_lines_write_nothing_outside_the_output_dir(tmp_path, served, server):
    _, make = served
    (good,) = make(1)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    outside = tmp_path / "abs_target.fits"
    hostile = [
        f"curl -o ../escaped.fits {server.mast_url(good)}",
        f"curl -o ../../escaped2.fits {server.mast_url(good)}",
        f"curl -o {outside} {server.mast_url(good)}",
        f"curl -o sub/nested.fits {server.mast_url(good)}",
        f"curl -o stolen.fits file://{secret}",
        f"wget -O ../w.fits {server.mast_url(good)}",
        f"curl -o x.fits {server.mast_url(good)}; cp {secret} {tmp_path}/pwned",
    ]
    write_script(tmp_path / "catalogues", hostile[:4] + curl_lines(server, [good]) + hostile[4:])
    before = {p for p in tmp_path.rglob("*")}

    code = run_download(tmp_path)

    assert code == 1  # refused lines make the run incomplete
    out = tmp_path / "out"
    logs = tmp_path / "logs"
    created = {p for p in tmp_path.rglob("*")} - before
    for p in created:
        assert out in p.parents or logs in p.parents or p in (out, logs, tmp_path / "download.json"), p
    assert sorted(p.name for p in (out / str(SECTOR)).glob("*.fits")) == [good]
    assert not outside.exists() and not (tmp_path / "pwned").exists()
    refused = [line for line in (logs / "main.log").read_text().splitlines() if "refused line" in line]
    assert len(refused) == len(hostile)


# ------------------------------------------------------------------------------------------------ script


def test_script_fetched_when_missing(tmp_path, served, server):
    root, make = served
    names = make(2)
    scripts = root / "scripts"
    body = "#!/bin/sh\r\n" + "".join(line + "\r\n" for line in curl_lines(server, names))
    scripts.mkdir()
    (scripts / "tesscurl_sector_1_lc.sh").write_text(body, newline="")
    server.add_faults("tesscurl_sector_1_lc.sh", "503")

    assert run_download(tmp_path, base_url=server.url("scripts")) == 0

    saved = tmp_path / "catalogues" / "tesscurl_sector_1_lc.sh"
    assert saved.read_bytes() == body.encode()
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temporary file left
    assert sorted(p.name for p in (tmp_path / "out" / "1").glob("*.fits")) == sorted(names)


@pytest.mark.parametrize("content", [None, b"<html>Not here</html>"])
def test_script_unavailable_is_one_clear_error(tmp_path, served, server, content, capsys):
    root, _ = served
    if content is not None:
        (root / "tesscurl_sector_1_lc.sh").write_bytes(content)
    code = run_download(tmp_path, base_url=server.base_url)
    assert code == 1
    assert not (tmp_path / "catalogues" / "tesscurl_sector_1_lc.sh").exists()
    main_log = (tmp_path / "logs" / "main.log").read_text()
    assert ("HTTP 404" in main_log) if content is None else ("not a download script" in main_log)
    assert "Traceback" not in main_log


def test_blocks_run_in_order_with_their_own_logs(tmp_path, served, server):
    _, make = served
    names1 = make(2, first_tic=10)
    names5 = make(3, first_tic=50)
    write_script(tmp_path / "catalogues", curl_lines(server, names1), sector=1)
    write_script(tmp_path / "catalogues", curl_lines(server, names5), sector=5)
    common = {
        "catalogues_folder": str(tmp_path / "catalogues"),
        "out_dir_tess": str(tmp_path / "out"),
        **FAST,
    }
    blocks = {
        "1": {
            "sector_number": 1,
            "max_downloads": 10,
            "log_file": str(tmp_path / "logs" / "s1.log"),
            **common,
        },
        "5": {
            "sector_number": 5,
            "max_downloads": 10,
            "log_file": str(tmp_path / "logs" / "s5.log"),
            **common,
        },
    }
    assert run_download(tmp_path, blocks=blocks) == 0
    s1 = (tmp_path / "logs" / "s1.log").read_text()
    s5 = (tmp_path / "logs" / "s5.log").read_text()
    assert all(f"downloaded {n}" in s1 and n not in s5 for n in names1)
    assert all(f"downloaded {n}" in s5 and n not in s1 for n in names5)
    assert sorted(p.name for p in (tmp_path / "out" / "5").glob("*.fits")) == sorted(names5)
    assert list(manifest(tmp_path, 5)) == names5


def test_second_writer_on_a_sector_is_refused(tmp_path, served, server):
    fcntl = pytest.importorskip("fcntl")
    _, make = served
    write_script(tmp_path / "catalogues", curl_lines(server, make(1)))
    sector_dir = tmp_path / "out" / str(SECTOR)
    sector_dir.mkdir(parents=True)
    with open(sector_dir / LOCK_NAME, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert run_download(tmp_path) == 1
    assert "another clara download" in (tmp_path / "logs" / "main.log").read_text()
    assert not list(sector_dir.glob("*.fits"))


# ------------------------------------------------------------------------------------------------ kill


def _spawn(tmp_path: Path, cfg: dict) -> subprocess.Popen:
    path = tmp_path / "spawn.json"
    path.write_text(json.dumps({str(SECTOR): cfg}))
    return spawn_cli("download", "--config", path, "--log_dir", tmp_path / "logs")


def _kill_setup(tmp_path, served, server):
    root, make = served
    names = make(12)
    for n in names[::3]:  # these hang half-way through their body, so the kill lands mid-transfer
        server.add_faults(n, "stall")
    server._server.slow_seconds = 30
    server.latency = 0.05
    write_script(tmp_path / "catalogues", curl_lines(server, names))
    cfg = {
        "sector_number": SECTOR,
        "catalogues_folder": str(tmp_path / "catalogues"),
        "out_dir_tess": str(tmp_path / "out"),
        "max_downloads": 100,
        "log_file": str(tmp_path / "logs" / "download_tess_lc.log"),
        "num_threads": 4,
        **FAST,
        "read_timeout": 20.0,
    }
    out = tmp_path / "out" / str(SECTOR)

    def mid_run():
        parts = [p for p in out.glob("*.part") if p.stat().st_size > 0]
        return len(parts) >= 2 and len(list(out.glob("*.fits"))) >= 2

    return root, names, cfg, out, mid_run


def _rerun_and_check(tmp_path, root, names, out, server):
    server.clear_faults()
    server.latency = 0.0
    first_new = len(server.requests)
    assert run_download(tmp_path) == 0
    rows = manifest(tmp_path)
    for n in names:
        assert sha(out / n) == sha(root / n)
        assert rows[n]["status"] in ("downloaded", "already-present")
        assert rows[n]["sha256"] == sha(root / n)
    assert not list(out.glob("*.part"))
    assert any(r.range for r in server.requests[first_new:])  # at least one .part was resumed


def test_sigkill_mid_run_then_rerun_completes(tmp_path, served, server):
    root, names, cfg, out, mid_run = _kill_setup(tmp_path, served, server)
    proc = _spawn(tmp_path, cfg)
    try:
        assert wait_for(mid_run, 20.0, poll=0.02), proc.communicate(timeout=5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(list(out.glob("*.fits"))) < len(names)
    assert_final_files_intact(out)
    _rerun_and_check(tmp_path, root, names, out, server)


def test_ctrl_c_stops_cleanly_and_keeps_part_files(tmp_path, served, server):
    root, names, cfg, out, mid_run = _kill_setup(tmp_path, served, server)
    proc = _spawn(tmp_path, cfg)
    try:
        assert wait_for(mid_run, 20.0, poll=0.02), proc.communicate(timeout=5)
        parts = {p.name: p.stat().st_size for p in out.glob("*.part")}
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)  # well before the 20 s read timeout: abort() unblocks reads
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = {p.name: p.stat().st_size for p in out.glob("*.part")}
    assert set(parts) <= set(kept) and all(kept[n] >= parts[n] > 0 for n in parts)
    assert_final_files_intact(out)
    done = manifest(tmp_path)  # written on the way out, listing what finished
    assert all(r["status"] == "downloaded" for r in done.values())
    assert {n for n in done} == {p.name for p in out.glob("*.fits")}
    _rerun_and_check(tmp_path, root, names, out, server)


# ------------------------------------------------------------------------------------------------ units


def test_localserver_runs_standalone(served):
    """The demo and the benchmark start the server as its own process."""
    from clara_benchmark.tess_spoc_download.localserver import spawn

    root, make = served
    (name,) = make(1)
    proc, base = spawn(root, latency=0.01, env=cli_env())
    try:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}api/v0.1/Download/file/?uri=mast:TESS/product/{name}") as resp:
            assert resp.read() == (root / name).read_bytes()
        req = urllib.request.Request(base + name, headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 206 and resp.read() == (root / name).read_bytes()[10:20]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_retry_after_and_backoff():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    opts = FetchOptions(backoff_seconds=1.0, max_backoff_seconds=10.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [backoff_delay(attempt, opts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not constant
