"""Issue 11, items 10, 12-15: hostile or careless configs, SQL, special files and a full disk.

Every case goes through the real entry point where a user would meet it (``cli.main``; a subprocess of its
own where the process matters: Ctrl-C, memory and file-size limits) and must end in one error line naming
the key or file, exit 2 for config errors, no traceback, and no hang: each subprocess has a timeout, and the
ones that blew up memory before the fix run under an address-space limit.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from clara_benchmark import cli
from conftest import cli_env, spawn_cli
from conftest import run_cli_here as run_cli  # cli.main in this process; run_limited for a process of its own

POSIX = os.name == "posix"


def write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    return path


def one_error_line(proc, *needles, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.strip().splitlines() if "error" in line.lower()]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def in_process(capsys, *args):
    """``cli.main`` in this process (the entry point without a new interpreter), as a CompletedProcess."""
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)


def _limited(address_space: int | None = None, file_size: int | None = None):
    """preexec_fn for a subprocess: cap its memory (so a case that allocated without bound before the fix
    fails fast instead of eating the machine) and/or its file sizes (writes past it fail with EFBIG, as
    on a full disk)."""

    def apply():
        import resource

        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return apply


def run_limited(args, *, address_space=None, file_size=None, timeout=120, cwd=None):
    env = dict(cli_env(), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        preexec_fn=_limited(address_space, file_size),
    )


@pytest.fixture
def train_cfg(tmp_path):
    (tmp_path / "real").mkdir(exist_ok=True)
    variant = {"length_days": 5.0, "noise_ppm": 100.0, "n_curves": 10, "n_estimators": 5}
    return {
        "input_dirs": [str(tmp_path / "real")],
        "output_dir": str(tmp_path / "models"),
        "variants": {"A": variant},
    }


@pytest.fixture
def evaluate_cfg(tmp_path):
    (tmp_path / "hosts").mkdir(exist_ok=True)
    (tmp_path / "m.skops").write_bytes(b"x")
    return {
        "input_dirs": [str(tmp_path / "hosts")],
        "output_dir": str(tmp_path / "eval"),
        "model_paths": [str(tmp_path / "m.skops")],
    }


# ------------------------------------------------------------------------------------------- item 10


def test_duplicate_key_is_refused_with_file_key_and_lines(tmp_path, score_cfg):
    body = json.dumps(score_cfg, indent=1)[:-2] + ',\n "max_workers": 2,\n "max_workers": 3\n}'
    cfg = write(tmp_path / "dup.json", body)
    n = body.count("\n")
    one_error_line(
        run_cli("score", "--config", cfg, timeout=60),
        str(cfg),
        'key "max_workers" is given twice',
        f"lines {n - 1} and {n}",
    )


def test_duplicate_block_and_nested_keys_are_refused(tmp_path, train_cfg):
    cfg = write(
        tmp_path / "d.json",
        '{"1": {"sector_number": 1, "max_downloads": 1, "base_url": "http://127.0.0.1:9/"},\n'
        ' "1": {"sector_number": 2, "max_downloads": 1, "base_url": "http://127.0.0.1:9/"}}',
    )
    one_error_line(run_cli("download", "--config", cfg, timeout=60), str(cfg), 'key "1" is given twice')
    text = json.dumps(train_cfg).replace('"n_estimators": 5', '"n_estimators": 5, "n_estimators": 7')
    cfg = write(tmp_path / "t.json", text)
    one_error_line(run_cli("train", "--config", cfg, timeout=60), 'key "n_estimators" is given twice')
    # on the command line too (a dict key given as JSON)
    proc = run_cli(
        "train", "--config", write(tmp_path / "t2.json", train_cfg), "--variants", '{"A": {}, "A": {}}'
    )
    assert proc.returncode == 2 and 'key "A" is given twice' in proc.stderr and "Traceback" not in proc.stderr


def _report_dir(tmp_path: Path, rows: str) -> Path:
    scores = tmp_path / "scores"
    scores.mkdir()
    write(scores / "anomaly_scores_p3_20240101_000000.csv", "tic,filename,anomaly_score\n" + rows)
    return scores


@pytest.mark.parametrize(
    "rows, needles",
    [
        ("1,a.fits,0.5\n2,b.fits,nan\n3,c.fits,0.1\n", ["line 3", "anomaly_score", "no value"]),
        ("1,a.fits,0.5\n2,b.fits,\n", ["line 3", "anomaly_score"]),
        ("1,a.fits,0.5\n2,b.fits,0.2\n1,a.fits,0.5\n", ["filename a.fits appears on lines 2, 4"]),
        ("1,a.fits,0.5\n2,b.fits,0.2\n1,a.fits,0.7\n", ["filename a.fits appears on lines 2, 4"]),
    ],
    ids=["nan-score", "empty-score", "duplicated-row", "same-file-twice"],
)
def test_report_refuses_nan_scores_and_duplicated_rows(tmp_path, capsys, rows, needles):
    proc = _report_of(tmp_path, capsys, rows)
    one_error_line(proc, "anomaly_scores_p3_20240101_000000.csv", *needles, code=1)
    assert not (tmp_path / "r" / "index.html").exists()


def _report_of(tmp_path, capsys, rows: str):
    scores = _report_dir(tmp_path, rows)
    return in_process(
        capsys,
        "report",
        "--score_dir",
        scores,
        "--output_dir",
        tmp_path / "r",
        "--log_dir",
        tmp_path / "logs",
    )


def test_report_still_skips_claras_none_rows(tmp_path, capsys):
    proc = _report_of(tmp_path, capsys, "1,a.fits,0.5\nNone,None,None\n2,b.fits,0.2\n")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "index.html").is_file()


# ------------------------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(
    "command, args, needles",
    [
        ("score", ["--max_workers", "100000"], ['key "max_workers" must be <=', "CPU"]),
        ("score", ["--max_workers", str(10**20)], ['key "max_workers" must be <=']),
        ("score", ["--batch_size", str(10**20)], ['key "batch_size" must be <= 10000']),
        ("download", ["--num_threads", "100000000"], ['key "num_threads" must be <= 128', "downloads"]),
        ("download", ["--start_index", str(10**20)], ['key "start_index" must be <= 9223372036854775807']),
        ("demo", ["--max_workers", "100000"], ['key "max_workers" must be <=']),
        ("demo", ["--n_stars", str(10**9)], ['key "n_stars" must be <= 200000']),
    ],
)
def test_counts_that_fork_or_allocate_are_bounded(tmp_path, score_cfg, command, args, needles):
    if command == "score":
        base = ["--config", write(tmp_path / "c.json", score_cfg)]
    elif command == "download":
        base = ["--sector_number", "1", "--max_downloads", "1", "--out_dir_tess", tmp_path / "dl"]
        base += ["--catalogues_folder", tmp_path / "dl", "--base_url", "http://127.0.0.1:9/"]  # never MAST
    else:
        base = ["--output_dir", tmp_path / "demo"]
    one_error_line(run_cli(command, *base, *args, cwd=tmp_path, timeout=60), "command line", *needles)
    assert not (tmp_path / "demo").exists() and not (tmp_path / "dl").exists()


def test_monitor_interval_is_bounded(tmp_path, score_cfg):
    cfg = write(tmp_path / "c.json", score_cfg)
    proc = run_cli(
        "score", "--config", cfg, "--monitor_interval", "1e300", "--log_dir", tmp_path / "l", timeout=60
    )
    one_error_line(proc, "--monitor_interval must be at most 86400 seconds")
    assert not (tmp_path / "l").exists()


def test_a_big_machines_worker_count_is_accepted(tmp_path, score_cfg):
    from clara_benchmark.config import ScoreConfig, load_flat_config

    cfg = write(tmp_path / "c.json", score_cfg)
    assert load_flat_config(ScoreConfig, cfg, {"max_workers": 16, "batch_size": 10000}).max_workers == 16


def test_key_maximum_names_its_limit():
    from clara_benchmark.config import ConfigError, build_config, key

    @dataclasses.dataclass
    class Toy:
        n: int = key("a count", "int", 1, minimum=1, maximum=10, maximum_why="the toy's limit")

    assert build_config(Toy, {"n": 10}, "t").n == 10
    with pytest.raises(ConfigError, match=r'^t: key "n" must be <= 10 \(the toy\'s limit\), got 11$'):
        build_config(Toy, {"n": 11}, "t")


# ------------------------------------------------------------------------------------------- item 13


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_config_does_not_block(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    one_error_line(run_cli("score", "--config", fifo, timeout=30), str(fifo), "FIFO", "not a regular file")
    assert time.monotonic() - started < 30


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_as_config_is_refused_without_reading(tmp_path):
    proc = run_limited(
        ["-m", "clara_benchmark.cli", "score", "--config", "/dev/zero"], address_space=4 << 30, timeout=30
    )
    one_error_line(proc, "/dev/zero", "character device")


def test_huge_config_file_is_refused(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(2 << 20)  # sparse: 2 MiB of NUL bytes
    one_error_line(run_cli("score", "--config", big, timeout=60), str(big), "larger than 1048576 bytes")


def _sql(tmp_path: Path, query: str, **limits) -> subprocess.CompletedProcess:
    """Run ``sql_filter`` in a subprocess with a memory cap and smaller limits (module constants)."""
    code = "\n".join(
        [
            "import pandas as pd",
            "from clara_benchmark import tables",
            "from clara_benchmark.exceptions import ConfigError",
            *[f"tables.{name} = {value!r}" for name, value in limits.items()],
            "table = pd.DataFrame({'filename': ['a.fits', 'b.fits'], 'x': [1, 2]})",
            "try:",
            f"    out = tables.sql_filter(table, {query!r})",
            "    print('NO ERROR', len(out))",
            "except ConfigError as exc:",
            "    print('ConfigError:', exc)",
        ]
    )
    return run_limited(["-c", code], address_space=6 << 30, timeout=60, cwd=tmp_path)


UNBOUNDED = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS filename FROM c"


@pytest.mark.parametrize(
    "query, limits, needle",
    [
        (UNBOUNDED, {"SQL_TIME_LIMIT_SECONDS": 1.0}, "the query ran longer than 1 s"),
        (UNBOUNDED + " ORDER BY x DESC", {"SQL_TIME_LIMIT_SECONDS": 1.0}, "the query ran longer than 1 s"),
        (UNBOUNDED, {"SQL_MAX_ROWS": 50_000}, "the query returns more than 50,000 rows"),
        ("SELECT zeroblob(900000000) AS filename", {}, "a value is larger than 256 KiB"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT zeroblob(200000) AS filename FROM c",
            {"SQL_MAX_RESULT_BYTES": 64 << 20},
            "the query returns more than 64 MiB of data",
        ),
    ],
    ids=["recursive-time", "recursive-sorted", "recursive-rows", "zeroblob", "recursive-blobs"],
)
def test_input_df_sql_is_bounded(tmp_path, query, limits, needle):
    if sys.version_info < (3, 11) and "zeroblob(9" in query:
        pytest.skip("sqlite3 Connection.setlimit needs Python 3.11")
    started = time.monotonic()
    proc = _sql(tmp_path, query, **limits)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ConfigError:"), proc.stdout
    assert 'key "input_df_sql"' in proc.stdout and needle in proc.stdout, proc.stdout
    assert time.monotonic() - started < 60


def test_sim_takes_the_table_convention_from_tables():
    from clara_benchmark import tables
    from clara_benchmark.commands import sim

    assert (
        sim.select_candidates is tables.select_candidates and sim.read_input_table is tables.read_input_table
    )


# ------------------------------------------------------------------------------------------- item 14


def test_json_nested_100000_deep(tmp_path):
    cfg = write(tmp_path / "deep.json", '{"input_dirs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    one_error_line(run_cli("score", "--config", cfg, timeout=60), str(cfg), 'key "input_dirs" is nested more')


def test_integer_over_4300_digits(tmp_path, score_cfg):
    text = json.dumps(score_cfg)[:-1] + ', "max_workers": ' + "9" * 5000 + "}"
    cfg = write(tmp_path / "c.json", text)
    one_error_line(
        run_cli("score", "--config", cfg, timeout=60),
        'key "max_workers" must be an integer, got a 5000-digit',
    )
    proc = run_cli("score", "--config", cfg, "--batch_size", "9" * 5000, timeout=60)
    one_error_line(proc, "--batch_size", "expected an integer of at most 300 digits")


def test_401_digit_numbers_for_float_int_and_grid_keys(tmp_path, train_cfg, evaluate_cfg):
    big = "9" * 401
    cfg = write(
        tmp_path / "d.json",
        '{"1": {"sector_number": 1, "max_downloads": 1, "base_url": "http://127.0.0.1:9/", "read_timeout": '
        + big
        + "}}",
    )
    one_error_line(
        run_cli("download", "--config", cfg, timeout=60), 'key "read_timeout" must be a finite number'
    )
    text = json.dumps(train_cfg).replace('"n_curves": 10', '"n_curves": 10, "seed": ' + big)
    one_error_line(run_cli("train", "--config", write(tmp_path / "t.json", text), timeout=60), 'key "seed"')
    text = json.dumps({**evaluate_cfg, "grid": {"depth_ppm": [0]}}).replace("[0]", "[" + big + "]")
    one_error_line(
        run_cli("evaluate", "--config", write(tmp_path / "e.json", text), timeout=60), 'key "grid"'
    )
    # the grid given on the command line is read by the same rules
    proc = run_cli(
        "evaluate",
        "--config",
        write(tmp_path / "e2.json", evaluate_cfg),
        "--grid",
        '{"depth_ppm": [' + big + "]}",
    )
    assert proc.returncode == 2 and 'key "grid"' in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "value, needle",
    [
        ("a" * 300, 'key "output_dir": path component "aaaa'),
        ("out/" + "b" * 256 + "/x", "256 bytes long"),
        ("out\u0000dir", 'key "output_dir" must not contain a NUL character'),
    ],
    ids=["300-chars", "long-component", "nul"],
)
def test_impossible_output_dir(tmp_path, score_cfg, value, needle):
    cfg = write(tmp_path / "c.json", {**score_cfg, "output_dir": value})
    one_error_line(run_cli("score", "--config", cfg, cwd=tmp_path, timeout=60), needle)


@pytest.mark.parametrize(
    "name, needle",
    [("n" * 300, 'key "name" is too long'), ("ref\u0000x", 'key "name" must not contain a NUL character')],
)
def test_impossible_reference_name(tmp_path, name, needle):
    (tmp_path / "fits").mkdir()
    labels = write(tmp_path / "labels.csv", "filename,label\na.fits,EB*\n")
    cfg = write(
        tmp_path / "r.json",
        {"labels_path": str(labels), "fits_dir": str(tmp_path / "fits"), "output_dir": "out", "name": name},
    )
    one_error_line(run_cli("reference", "--config", cfg, cwd=tmp_path, timeout=60), needle)


@pytest.mark.parametrize(
    "command, change, needle",
    [
        ("train", {"random_state": 2**32}, 'key "random_state" must be <= 4294967295'),
        ("train", {"seed": -1}, 'key "seed" must be >= 0'),
        ("evaluate", {"seed": 2**40}, 'key "seed" must be <= 4294967295'),
        ("demo", {"seed": -5}, 'key "seed" must be >= 0'),
    ],
)
def test_seeds_out_of_range_found_at_config_time(tmp_path, train_cfg, evaluate_cfg, command, change, needle):
    if command == "train":
        raw = {**train_cfg, "variants": {"A": {**train_cfg["variants"]["A"], **change}}}
    elif command == "evaluate":
        raw = {**evaluate_cfg, **change}
    else:
        raw = {"output_dir": str(tmp_path / "demo"), **change}
    cfg = write(tmp_path / "c.json", raw)
    one_error_line(run_cli(command, "--config", cfg, timeout=60), needle)
    assert not (tmp_path / "demo").exists()


def test_train_that_needs_too_much_memory_is_refused_with_the_estimate(tmp_path, train_cfg):
    # 10^8 synthetic curves x 3,600 cadences of float64: some 2.9 PB before any feature
    raw = {**train_cfg, "variants": {"A": {**train_cfg["variants"]["A"], "n_curves": 10**8}}}
    cfg = write(tmp_path / "t.json", raw)
    line = one_error_line(
        run_cli("train", "--config", cfg, timeout=60), 'key "variants"', "100,000,000 synthetic curves"
    )
    assert "GB of memory" in line and "would need at least" in line
    assert not (tmp_path / "models").exists()


def test_evaluate_grid_too_large_is_refused(tmp_path, evaluate_cfg):
    grid = {"depth_ppm": list(range(100, 30100, 10)), "period_days": [float(p) for p in range(5, 105)]}
    cfg = write(tmp_path / "e.json", {**evaluate_cfg, "grid": grid})
    one_error_line(run_cli("evaluate", "--config", cfg, timeout=60), 'key "grid" has 300,000 cells')


# ------------------------------------------------------------------------------------------- item 15


def test_atomic_writers_turn_a_full_disk_into_output_error(tmp_path, monkeypatch):
    from clara_benchmark.exceptions import ClaraError, OutputError
    from clara_benchmark.utils import io as io_mod

    path = tmp_path / "out.csv"
    path.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_mod.os, "fsync", full)
    with pytest.raises(OutputError) as err:
        io_mod.atomic_write_text(path, "new")
    assert isinstance(err.value, ClaraError) and isinstance(err.value, OSError)
    assert err.value.errno == errno.ENOSPC and str(path) in str(err.value)
    assert "No space left on device" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.undo()
    # a write in the body that finds the disk full, and a read-only file system
    for code in (errno.ENOSPC, errno.EROFS):
        with pytest.raises(OutputError):
            with io_mod.atomic_open(path) as fh:
                fh.write("half")
                raise OSError(code, os.strerror(code))
    # a permission error raised by the caller's own code in the body is the caller's, not a write error
    with pytest.raises(PermissionError):
        with io_mod.atomic_open(path) as fh:
            raise PermissionError(errno.EACCES, "Permission denied", "some-input.csv")
    assert path.read_text() == "old"  # never damaged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left


def test_output_error_survives_a_process_boundary():
    import pickle

    from clara_benchmark.exceptions import OutputError

    err = OutputError(
        "x.csv: cannot write: No space left on device", errno.ENOSPC, "No space left on device", "x.csv"
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is OutputError and str(back) == str(err)
    assert (back.errno, back.strerror, back.filename) == (errno.ENOSPC, "No space left on device", "x.csv")


class _FullDisk:
    """A log file's stream on a full disk."""

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        pass


def test_log_on_a_full_disk_is_one_line_not_logging_error_blocks(tmp_path, capsys):
    from clara_benchmark.utils.logs import RunLog

    log = RunLog("score", tmp_path / "logs", None)
    for _, handler in log._handlers:
        if hasattr(handler, "baseFilename"):
            handler.stream.close()
            handler.stream = _FullDisk()
    for i in range(5):
        log.main(f"line {i}")
        log.log("detail")
        log.system("status")
        log.error("a problem")
    log.close()  # the final flush must not raise either
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    told = [line for line in err.splitlines() if "cannot write the log" in line]
    assert len(told) == 1 and "No space left on device" in told[0], err
    assert err.count("error: a problem") == 5  # the console still gets the run's errors


def _fail_with_enospc(config, ctx):
    raise OSError(errno.ENOSPC, "No space left on device", "results/part-00001.npz")


def test_cli_reports_a_raw_full_disk_error_in_one_line(tmp_path, monkeypatch, capsys, score_cfg):
    monkeypatch.setitem(
        cli.COMMANDS,
        "score",
        dataclasses.replace(cli.COMMANDS["score"], runner=f"{__name__}:_fail_with_enospc"),
    )
    cfg = write(tmp_path / "c.json", score_cfg)
    code = cli.main(["score", "--config", str(cfg), "--log_dir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == ["error: score: results/part-00001.npz: No space left on device"], err


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX")
def test_full_log_file_fails_the_run_in_one_line(tmp_path):
    """Writes past RLIMIT_FSIZE fail with EFBIG like a full disk: here main.log is already at the limit."""
    scores = _report_dir(tmp_path, "1,a.fits,0.5\n2,b.fits,0.2\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    limit = 4 << 20
    with open(logs / "main.log", "wb") as fh:
        fh.truncate(limit)
    proc = run_limited(
        ["-m", "clara_benchmark.cli", "report", "--score_dir", scores, "--output_dir", tmp_path / "r"],
        file_size=limit,
        cwd=tmp_path,
    )
    line = one_error_line(proc, "cannot write the log", "main.log", "File too large", code=1)
    assert "logging to files stopped" in line
    assert "Logging error" not in proc.stderr
    assert (tmp_path / "r" / "index.html").is_file()  # the report itself was written


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX")
def test_demo_on_a_full_disk_is_one_clear_error_not_attribute_error(tmp_path):
    out = tmp_path / "demo"
    proc = run_limited(
        [
            "-m",
            "clara_benchmark.cli",
            "demo",
            "--output_dir",
            out,
            "--n_stars",
            "20",
            "--n_cadences",
            "1000",
            "--max_workers",
            "1",
            "--quiet",
        ],
        file_size=48 << 10,  # a 1,000-cadence SPOC file is larger: the first light curve cannot be written
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "AttributeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cannot write" in lines[0] and "File too large" in lines[0] and ".fits" in lines[0]
    archive = out / "mast_archive"
    assert not [p for p in archive.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written left
    for fits_file in archive.rglob("*.fits"):  # any light curve that is there is whole
        from clara_benchmark.lightcurve import read_lightcurve

        read_lightcurve(fits_file)


@pytest.mark.skipif(not POSIX, reason="process groups and SIGINT are POSIX")
def test_ctrl_c_during_demo_exits_130(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--output_dir", out, "--n_stars", "20", "--n_cadences", "1000"]
    args += ["--synthetic_curves", "10", "--max_workers", "2"]
    # its own process group: the terminal's Ctrl-C reaches the workers too
    proc = spawn_cli(*args, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        main_log = out / "logs" / "main.log"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if main_log.is_file() and "command train |" in main_log.read_text():
                break  # the train stage has started: interrupt it
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted (Ctrl-C)" in err, err
    assert "failed with exit code 130" not in err


@pytest.mark.parametrize(
    "sql",
    [
        "WITH x AS (SELECT 1) SELECT * FROM input_df, pragma_table_info('input_df')",
        "filename IN (SELECT name FROM pragma_database_list)",
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 3) "
        "SELECT input_df.* FROM input_df, c; ATTACH DATABASE 'evil.db' AS evil",
    ],
)
def test_input_df_sql_can_only_read(tmp_path, monkeypatch, sql):
    """A query may select and compute; pragmas and attaching database files are refused by SQLite's
    authorizer, and a second statement is never run."""
    import pandas as pd

    from clara_benchmark import tables
    from clara_benchmark.exceptions import ConfigError

    monkeypatch.chdir(tmp_path)
    table = pd.DataFrame({"filename": ["a.fits", "b.fits"], "x": [1, 2]})
    with pytest.raises(ConfigError, match='key "input_df_sql"'):
        tables.sql_filter(table, sql)
    assert not (tmp_path / "evil.db").exists()
    assert tables.sql_filter(table, "x > 1")["filename"].tolist() == ["b.fits"]
