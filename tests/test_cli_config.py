"""Config errors and overrides through the real entry point (cli.main; a subprocess where the process matters),
as a user meets them."""

import json
import re
import sys
from pathlib import Path

import pytest

from clara_benchmark import __version__
from clara_benchmark.config import (
    ConfigError,
    DownloadBlock,
    ScoreConfig,
    config_keys,
    load_download_config,
    load_flat_config,
)


def write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    return path


def one_error_line(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_version_and_help(cli):
    proc = cli("--version")
    assert proc.returncode == 0 and __version__ in proc.stdout
    top = cli("--help")
    assert top.returncode == 0
    for name in ("download", "score", "sim"):
        assert name in top.stdout


@pytest.mark.parametrize("command, cls", [("download", DownloadBlock), ("score", ScoreConfig)])
def test_command_help_lists_every_key_with_default(cli, command, cls):
    proc = cli(command, "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for name in config_keys(cls):
        assert f"--{name}" in text
    assert "(default: 4)" in text  # num_threads / max_workers
    assert "(default: required)" in text


def test_sim_help(cli):
    proc = cli("sim", "--help")
    text = " ".join(proc.stdout.split())
    assert "--min_similarity_threshold" in text and "(default: 0.3)" in text


def test_unknown_key_suggests_closest(cli, tmp_path, score_cfg):
    score_cfg["max_worker"] = 3
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), str(cfg), '"max_worker"', 'did you mean "max_workers"')


def test_missing_required_key(cli, tmp_path, score_cfg):
    del score_cfg["output_dir"]
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), str(cfg), 'missing required key "output_dir"')


def test_wrong_type(cli, tmp_path, score_cfg):
    score_cfg["max_workers"] = "four"
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"max_workers" must be an integer', '"four"')
    score_cfg["max_workers"] = 2
    score_cfg["use_p5"] = "yes"
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"use_p5" must be true or false')


def test_path_that_does_not_exist(cli, tmp_path, score_cfg):
    score_cfg["input_dirs"] = ["./no/such/dir/"]
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"input_dirs"', '"./no/such/dir/" does not exist')


def test_invalid_json_line_and_column(cli, tmp_path):
    cfg = write(tmp_path / "c.json", '{\n  "input_dirs": ["a"],\n  "output_dir": "b"\n  "max_workers": 2\n}')
    line = one_error_line(cli("score", "--config", cfg), str(cfg), "invalid JSON")
    assert re.search(r"line 4, column 3", line), line


def test_config_file_missing(cli, tmp_path):
    one_error_line(cli("score", "--config", tmp_path / "nope.json"), "nope.json", "does not exist")


def test_wrss_needs_p3_and_p9(cli, tmp_path, score_cfg):
    score_cfg["calculate_wrss_p3p9"] = True
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"calculate_wrss_p3p9" needs both')


def test_model_path_required_when_model_enabled(cli, tmp_path, score_cfg):
    score_cfg["use_p9"] = True
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"p9model_path" is required when "use_p9" is true')


def test_command_line_overrides_config(tmp_path, score_cfg):
    cfg = write(tmp_path / "c.json", score_cfg)
    other = tmp_path / "other"
    other.mkdir()
    config = load_flat_config(ScoreConfig, cfg, {"max_workers": 8, "input_dirs": [str(other), str(tmp_path)]})
    assert config.max_workers == 8
    assert config.input_dirs == [other, tmp_path]
    assert config.use_p3 is True and config.use_p5 is False  # seed default


def test_override_is_validated_like_the_file(cli, tmp_path, score_cfg):
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(
        cli("score", "--config", cfg, "--input_dirs", str(tmp_path / "missing")),
        'command line: key "input_dirs"',
        "does not exist",
    )
    one_error_line(
        cli("score", "--config", cfg, "--max_workers", "0"), 'command line: key "max_workers" must be >= 1'
    )


def test_download_blocks_and_overrides(tmp_path):
    cfg = write(
        tmp_path / "d.json",
        {
            "1": {"sector_number": 1, "max_downloads": 10},
            "5": {"sector_number": 5, "max_downloads": 20, "num_threads": 2},
        },
    )
    blocks = load_download_config(cfg, {"num_threads": 16})
    assert [b.sector_number for b in blocks] == [1, 5]
    assert [b.num_threads for b in blocks] == [16, 16]
    assert blocks[0].start_index == 0 and str(blocks[0].out_dir_tess) == "data/fits_files"
    only = load_download_config(None, {"sector_number": 3, "max_downloads": 5})
    assert len(only) == 1 and only[0].sector_number == 3


def test_download_block_errors(cli, tmp_path):
    cfg = write(tmp_path / "d.json", {"1": {"sector_number": 1, "max_downloads": 10, "num_thread": 3}})
    one_error_line(cli("download", "--config", cfg), 'block "1"', 'did you mean "num_threads"')
    cfg = write(tmp_path / "d.json", {"sector_number": 1, "max_downloads": 10})
    one_error_line(cli("download", "--config", cfg), "belongs inside a block")
    cfg = write(tmp_path / "d.json", {"1": {"max_downloads": 10}})
    one_error_line(cli("download", "--config", cfg), 'missing required key "sector_number"')


@pytest.fixture
def sim_raw(tmp_path):
    """A valid sim config (placeholder files: sim is not run, only its config is loaded)."""
    (tmp_path / "fits").mkdir()
    for name in ("in.csv", "pca.skops", "ref.csv"):
        (tmp_path / name).write_text("x")
    return {
        "fits_dir": str(tmp_path / "fits"),
        "input_df_path": str(tmp_path / "in.csv"),
        "output_dir": "o",
        "gt_wrss_threshold": 0.5,
        "save_label_groups": "all",
        "simbad_labelled_pca_model_path": str(tmp_path / "pca.skops"),
        "simbad_labelled_pca_features_path": str(tmp_path / "ref.csv"),
    }


def test_sim_label_groups_checked(tmp_path, sim_raw):
    raw = {**sim_raw, "save_label_groups": ["planet_lik"]}
    cfg = write(tmp_path / "s.json", raw)
    from clara_benchmark.config import SimConfig

    with pytest.raises(ConfigError, match='did you mean "planet_like"'):
        load_flat_config(SimConfig, cfg, {})
    assert load_flat_config(SimConfig, cfg, {"save_label_groups": "all"}).save_label_groups == "all"
    raw["save_label_groups"] = ["stellar"]
    del raw["gt_wrss_threshold"]
    with pytest.raises(ConfigError, match="gt_wrss_threshold"):
        load_flat_config(SimConfig, write(tmp_path / "s.json", raw), {})
    raw["input_df_sql"] = "SELECT * FROM input_df"
    assert load_flat_config(SimConfig, write(tmp_path / "s.json", raw), {}).input_df_sql


def test_shipped_example_configs_parse(tmp_path):
    root = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(root.glob("*.json")):
        assert isinstance(json.loads(path.read_text()), dict), path


def test_console_script_installed():
    script = Path(sys.executable).parent / ("clara.exe" if sys.platform == "win32" else "clara")
    if not script.exists():
        pytest.skip("package not installed in this interpreter (dev run with PYTHONPATH)")
    import subprocess

    out = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


@pytest.mark.parametrize(
    "change, needles",
    [
        ({"input_dirs": []}, ['"input_dirs" must be a non-empty list of paths']),
        ({"max_workers": 2, "batch_size": 3, "use_p3": True}, []),  # control: valid
    ],
)
def test_empty_list_is_a_config_error(cli, tmp_path, score_cfg, change, needles):
    score_cfg.update(change)
    cfg = write(tmp_path / "c.json", score_cfg)
    proc = cli("score", "--config", cfg, "--log_dir", tmp_path / "logs")
    if needles:
        one_error_line(proc, *needles)
    else:
        assert "must be" not in proc.stderr


def test_output_dir_that_is_a_file_stops_before_the_run(cli, tmp_path, score_cfg):
    (tmp_path / "afile").write_text("x")
    score_cfg["output_dir"] = str(tmp_path / "afile")
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg), '"output_dir"', "is a file, not a directory")
    assert not (tmp_path / "logs").exists()


def test_non_finite_numbers_refused(cli, tmp_path, score_cfg):
    cfg = write(tmp_path / "c.json", score_cfg)
    for bad in ("nan", "inf"):
        one_error_line(cli("score", "--config", cfg, "--monitor_interval", bad), "--monitor_interval")
    (tmp_path / "d.json").write_text(
        '{"1": {"sector_number": 1, "max_downloads": 1, "connect_timeout": NaN}}'
    )
    one_error_line(
        cli("download", "--config", tmp_path / "d.json"), '"connect_timeout" must be a finite number'
    )


def test_log_dir_that_is_a_file(cli, tmp_path, score_cfg):
    (tmp_path / "logs").write_text("x")
    cfg = write(tmp_path / "c.json", score_cfg)
    one_error_line(cli("score", "--config", cfg, "--log_dir", tmp_path / "logs"), "cannot write logs in")


def test_config_with_byte_order_mark(tmp_path, score_cfg):
    cfg = tmp_path / "bom.json"
    cfg.write_bytes(b"\xef\xbb\xbf" + json.dumps(score_cfg).encode())
    assert load_flat_config(ScoreConfig, cfg, {}).use_p3 is True


def test_null_from_the_command_line(tmp_path, sim_raw):
    raw = sim_raw
    cfg = write(tmp_path / "s.json", raw)
    from clara_benchmark import cli as cli_module
    from clara_benchmark.config import SimConfig

    args = cli_module.build_parser().parse_args(
        [
            "sim",
            "--config",
            str(cfg),
            "--gt_wrss_threshold",
            "null",
            "--input_df_sql",
            "score_weighted_root_sum > 0.1",
        ]
    )
    config = load_flat_config(SimConfig, cfg, cli_module._overrides(args, SimConfig))
    assert config.gt_wrss_threshold is None and config.input_df_sql


def test_help_survives_a_cp1252_console(cli):
    import os
    import subprocess
    import sys

    from conftest import cli_env

    env = dict(cli_env(), PYTHONIOENCODING="cp1252")
    for command in ("reference", "train"):
        out = subprocess.run(
            [sys.executable, "-m", "clara_benchmark.cli", command, "--help"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert os.environ.get("PYTHONIOENCODING") != "cp1252"


def test_download_base_url_must_be_http(cli, tmp_path):
    cfg = write(tmp_path / "d.json", {"1": {"sector_number": 1, "max_downloads": 1, "base_url": "ftp://x/"}})
    one_error_line(cli("download", "--config", cfg), '"base_url" must be an http(s) URL')


def test_a_command_imports_only_its_own_config_module():
    """Start-up cost: `clara score` must not import train's, evaluate's or the demo's modules (pandas)."""
    import subprocess
    import sys

    from conftest import cli_env

    code = (
        "import sys; from clara_benchmark import cli; cli.build_parser(only='score');"
        "print(sorted(m for m in ('pandas', 'clara_benchmark.demo', 'clara_benchmark.training.train') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_sim_empty_save_label_groups_is_a_config_error(cli, tmp_path, sim_raw):
    """Issue 11 item 10: ``save_label_groups: []`` wrote an empty file with exit code 0."""
    cfg = write(tmp_path / "s.json", {**sim_raw, "save_label_groups": []})
    one_error_line(
        cli("sim", "--config", cfg, "--log_dir", tmp_path / "logs", cwd=tmp_path),
        str(cfg),
        'key "save_label_groups" is an empty list',
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "logs").exists()
