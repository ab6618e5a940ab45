import dataclasses
import hashlib
import json
import re

import pytest

from clara_benchmark import __version__, cli

LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(MAIN|SYSTEM|ERROR|LOG)\] .+")


@pytest.fixture
def fake_score(monkeypatch, tmp_path, score_cfg):
    """score's config file, with score's runner replaced by pool_helpers.fake_score."""
    monkeypatch.setitem(
        cli.COMMANDS, "score", dataclasses.replace(cli.COMMANDS["score"], runner="pool_helpers:fake_score")
    )
    cfg = tmp_path / "score.json"
    cfg.write_text(json.dumps(score_cfg))
    return cfg


def run_score(fake_score, logs, *options: str) -> int:
    return cli.main(["score", "--config", str(fake_score), "--log_dir", str(logs), *options])


def test_run_writes_header_logs_and_monitor(tmp_path, fake_score, capsys):
    logs = tmp_path / "logs" / "nested"  # created on demand
    code = run_score(fake_score, logs, "--meta_message", "first try", "--monitor_interval", "0.1")
    assert code == 0
    main_log = (logs / "main.log").read_text().splitlines()
    cmd_log = (logs / "anomaly_scoring.log").read_text().splitlines()
    sys_log = (logs / "system_status.log").read_text().splitlines()
    for line in main_log + cmd_log + sys_log:
        assert LINE.match(line), line
    header = main_log[0]
    digest = hashlib.sha256(fake_score.read_bytes()).hexdigest()
    assert f"clara {__version__}" in header and "command score" in header
    assert digest in header and '"first try"' in header
    assert any("detail line" in line for line in cmd_log)
    assert not any("detail line" in line for line in main_log)  # main.log keeps the run-level story
    assert "finished" in main_log[-1] and "exit code 0" in main_log[-1]
    assert "[SYSTEM] start" in sys_log[0] and "[SYSTEM] stop" in sys_log[-1]
    assert sum("[SYSTEM] status" in line for line in sys_log) >= 2
    err = capsys.readouterr().err
    assert "scoring 1 directories" in err and "detail line" not in err


def test_unexpected_failure_is_one_line_with_traceback_in_log(tmp_path, fake_score, capsys):
    assert run_score(fake_score, tmp_path / "logs", "--max_workers", "13") == 1
    err = capsys.readouterr().err
    assert "boom" in err and "Traceback" not in err
    assert "Traceback" in (tmp_path / "logs" / "anomaly_scoring.log").read_text()


@pytest.mark.parametrize("quiet", [False, True])
def test_clara_error_is_exit_1_and_stays_on_the_console_when_quiet(tmp_path, fake_score, capsys, quiet):
    options = ["--quiet"] if quiet else []
    assert run_score(fake_score, tmp_path / "logs", *options, "--max_workers", "7") == 1
    err = capsys.readouterr().err
    assert "a clear run-level problem" in err
    assert ("scoring 1 directories" in err) is not quiet  # --quiet drops the progress, not the error


def test_unbuilt_command_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "score", dataclasses.replace(cli.COMMANDS["score"], runner=None))
    (tmp_path / "fits").mkdir()
    code = cli.main(
        [
            "score",
            "--input_dirs",
            str(tmp_path / "fits"),
            "--output_dir",
            str(tmp_path / "o"),
            "--use_p5",
            "--p5model_path",
            __file__,
            "--log_dir",
            str(tmp_path / "logs"),
        ]
    )
    assert code == 3
    assert "not available yet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
