import dataclasses
import hashlib
import json
import re

import pytest

from clara_benchmark import __version__, cli

LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(MAIN|SYSTEM|ERROR|LOG)\] .+")


@pytest.fixture
def fake_score(monkeypatch, tmp_path):
    monkeypatch.setitem(
        cli.COMMANDS, "score", dataclasses.replace(cli.COMMANDS["score"], runner="pool_helpers:fake_score")
    )
    (tmp_path / "fits").mkdir()
    model = tmp_path / "p3.skops"
    model.write_bytes(b"x")
    cfg = tmp_path / "score.json"
    cfg.write_text(
        json.dumps(
            {
                "input_dirs": [str(tmp_path / "fits")],
                "output_dir": str(tmp_path / "out"),
                "use_p3": True,
                "p3model_path": str(model),
            }
        )
    )
    return cfg


def test_run_writes_header_logs_and_monitor(tmp_path, fake_score, capsys):
    logs = tmp_path / "logs" / "nested"  # created on demand
    code = cli.main(
        [
            "score",
            "--config",
            str(fake_score),
            "--meta_message",
            "first try",
            "--log_dir",
            str(logs),
            "--monitor_interval",
            "0.1",
        ]
    )
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
    code = cli.main(
        ["score", "--config", str(fake_score), "--log_dir", str(tmp_path / "logs"), "--max_workers", "13"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "boom" in err and "Traceback" not in err
    assert "Traceback" in (tmp_path / "logs" / "anomaly_scoring.log").read_text()


def test_quiet_keeps_errors_on_the_console(tmp_path, fake_score, capsys):
    code = cli.main(
        [
            "score",
            "--config",
            str(fake_score),
            "--log_dir",
            str(tmp_path / "logs"),
            "--quiet",
            "--max_workers",
            "7",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "a clear run-level problem" in err and "scoring 1 directories" not in err


def test_clara_error_exit_code(tmp_path, fake_score, capsys):
    code = cli.main(
        ["score", "--config", str(fake_score), "--log_dir", str(tmp_path / "logs"), "--max_workers", "7"]
    )
    assert code == 1
    assert "a clear run-level problem" in capsys.readouterr().err


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
