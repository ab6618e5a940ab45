"""The command line: ``python -m clara_benchmark.cli <command> --config F.json [--meta_message "..."]``.

This module only parses arguments, loads configs, writes the run header and runs the command inside a
log + system monitor. Commands live in their stage modules as ``run(config, ctx) -> exit code``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from clara_benchmark import __version__
from clara_benchmark.config import (
    MAX_NUMBER_DIGITS,
    ClaraError,
    ConfigError,
    DownloadBlock,
    JSONRefused,
    config_keys,
    config_sha256,
    decode_json,
    describe_default,
    load_download_config,
    load_flat_config,
)
from clara_benchmark.utils.context import RunContext
from clara_benchmark.utils.io import OUTPUT_ERRNOS
from clara_benchmark.utils.logs import RunLog
from clara_benchmark.utils.monitor import SystemMonitor

MAX_MONITOR_INTERVAL = 86_400


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    config: str  # "module:Class" of the config dataclass
    runner: str | None  # "module:function", None while the command is not built yet
    log_name: str  # the command's own log file under the log directory
    example: str  # example config in configs/
    blocks: bool = False  # config is an object of blocks keyed by sector (download)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "download",
            "Download a TESS sector's SPOC light curves from MAST's scripts (resumable, verified)",
            "clara_benchmark.config:DownloadBlock",
            "clara_benchmark.tess_spoc_download.run:run",
            "download_tess_lc.log",
            "configs/download_config.json",
            blocks=True,
        ),
        Command(
            "score",
            "Anomaly scores from the P3/P5/P9 Unsupervised Random Forests, and WRSS",
            "clara_benchmark.config:ScoreConfig",
            "clara_benchmark.commands.score:run",
            "anomaly_scoring.log",
            "configs/urf_anomaly_scoring_config.json",
        ),
        Command(
            "sim",
            "Label candidates by cosine similarity to a labelled reference set",
            "clara_benchmark.config:SimConfig",
            "clara_benchmark.commands.sim:run",
            "cosine_sim.log",
            "configs/cosine_similarity_config.json",
        ),
        Command(
            "reference",
            "Build a reference set for sim: labelled light curves → PCA model + reference CSV",
            "clara_benchmark.config:ReferenceConfig",
            "clara_benchmark.commands.reference:run",
            "reference.log",
            "configs/reference_config.json",
        ),
        Command(
            "report",
            "A static HTML report (one folder, opens offline) from the outputs of score, sim and evaluate",
            "clara_benchmark.config:ReportConfig",
            "clara_benchmark.report.command:run",
            "report.log",
            "configs/report_config.json",
        ),
        Command(
            "train",
            "Train clara's own URF models (real vs CLARA synthetic transits) and rank them by CLARA's α",
            "clara_benchmark.config:TrainConfig",
            "clara_benchmark.commands.train:run",
            "train.log",
            "configs/train_config.json",
        ),
        Command(
            "evaluate",
            "Injection-recovery: recall of models over a depth x period x duration grid of injected transits",
            "clara_benchmark.config:EvaluateConfig",
            "clara_benchmark.commands.evaluate:run",
            "evaluate.log",
            "configs/evaluate_config.json",
        ),
        # features and clustering (issue 14)
        Command(
            "features",
            "CLARA's feature sets of candidates: fluxpowerstack (clara-4000), bin_means (+ DTW), advanced_10",
            "clara_benchmark.config:FeaturesConfig",
            "clara_benchmark.commands.features:run",
            "feature_extraction.log",
            "configs/feature_extraction_config.json",
        ),
        Command(
            "clustering",
            "Cluster a feature matrix or DTW distances (kmeans, dbscan, hdbscan, gmm, bgmm, or compare them)",
            "clara_benchmark.config:ClusteringConfig",
            "clara_benchmark.commands.clustering:run",
            "clustering.log",
            "configs/clustering_config.json",
        ),
        Command(
            "fold",
            "Period and vetting of each candidate: box least squares (default), CLARA's Lomb–Scargle fold "
            "or both; flags, TOI cross-match, figures",
            "clara_benchmark.config:FoldConfig",
            "clara_benchmark.commands.fold:run",
            "phase_folding.log",
            "configs/phase_folding_config.json",
        ),
        Command(
            "demo",
            "The whole pipeline offline on a simulated sector: download, train, score, reference, sim, "
            "evaluate, report",
            "clara_benchmark.demo:DemoConfig",
            "clara_benchmark.demo:run",
            "demo.log",
            "configs/demo_config.json",
        ),
    )
}


def _load_object(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# --------------------------------------------------------------------------------------------- arguments


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_json(text: str):
    try:
        return decode_json(text)  # the config file's rules: no duplicated key, bounded depth and numbers
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc.msg}") from None
    except JSONRefused as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _nullable(parse, nullable: bool):
    """``--key null`` sets a nullable key to null (e.g. to switch from gt_wrss_threshold to input_df_sql)."""
    if not nullable:
        return parse

    def parse_or_null(text: str):
        return None if text.strip().lower() in ("null", "none") else parse(text)

    parse_or_null.__name__ = getattr(parse, "__name__", "value")
    return parse_or_null


def _number(kind):
    def parse(text: str):
        if kind is int and len(text.strip().lstrip("+-")) > MAX_NUMBER_DIGITS:
            raise argparse.ArgumentTypeError(f"expected an integer of at most {MAX_NUMBER_DIGITS} digits")
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return value

    return parse


def _add_key_option(group, f: dataclasses.Field) -> None:
    meta = f.metadata
    nullable = meta["nullable"]
    # argparse %-formats help strings: a literal "%" in a key's help would break --help
    help_text = f"{meta['help']} (default: {describe_default(f)})".replace("%", "%%")
    kind = meta["kind"]
    opts = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
    if kind in ("bool", "clara_bool"):
        group.add_argument(
            f"--{f.name}", nargs="?", const=True, type=_parse_bool, metavar="true|false", **opts
        )
    elif kind == "int":
        group.add_argument(f"--{f.name}", type=_nullable(_number(int), nullable), metavar="N", **opts)
    elif kind == "float":
        group.add_argument(f"--{f.name}", type=_nullable(_number(float), nullable), metavar="X", **opts)
    elif kind in ("list[path]", "list[str]", "str|list[str]"):
        group.add_argument(f"--{f.name}", nargs="+", metavar="VALUE", **opts)
    elif kind == "dict":
        group.add_argument(f"--{f.name}", type=_parse_json, metavar="JSON", **opts)
    else:
        group.add_argument(
            f"--{f.name}", type=_nullable(str, nullable), metavar="PATH" if kind == "path" else "TEXT", **opts
        )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, config keys are added for that command alone, so a run imports just its
    own config module (train's, evaluate's and demo's pull in pandas: ~0.2 s on every start otherwise)."""
    parser = argparse.ArgumentParser(
        prog="clara",
        description="clara: find unusual stars in TESS light curves. Each command reads a JSON config "
        "(--config) whose keys can also be given, or overridden, on the command line.",
        epilog="Run 'clara <command> --help' for the keys of each command.",
    )
    parser.add_argument("--version", action="version", version=f"clara {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for cmd in COMMANDS.values():
        shape = (
            "an object of blocks keyed by sector, each with the keys below (command-line values apply "
            "to every block)"
            if cmd.blocks
            else "an object with the keys below"
        )
        p = sub.add_parser(
            cmd.name,
            help=cmd.summary,
            description=f"{cmd.summary}. The config file is {shape}.",
            epilog=f"Example config: {cmd.example}. Log: <log_dir>/{cmd.log_name}.",
        )
        run = p.add_argument_group("run options")
        run.add_argument("--config", type=Path, metavar="FILE.json", help="JSON config file")
        run.add_argument(
            "--meta_message", metavar="TEXT", help="A note recorded in the run header of the logs"
        )
        run.add_argument(
            "--log_dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="Directory for main.log, system_status.log and the command log (default: ./logs; demo: <output_dir>/logs)",
        )
        run.add_argument(
            "--monitor_interval",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="Seconds between system-status entries (default: 5)",
        )
        run.add_argument(
            "--quiet", action="store_true", help="No progress bars and only errors on the console"
        )
        if only is not None and cmd.name != only:
            continue
        keys = p.add_argument_group("config keys (override the config file)")
        for f in config_keys(_load_object(cmd.config)).values():
            _add_key_option(keys, f)
    return parser


def _overrides(args: argparse.Namespace, cls) -> dict:
    values = {}
    for name, f in config_keys(cls).items():
        if hasattr(args, name):
            value = getattr(args, name)
            if f.metadata["kind"] == "str|list[str]" and isinstance(value, list) and value == ["all"]:
                value = "all"
            values[name] = value
    return values


def load_command_config(cmd: Command, config_path: Path | None, overrides: dict):
    if cmd.blocks:
        return load_download_config(config_path, overrides)
    return load_flat_config(_load_object(cmd.config), config_path, overrides)


# --------------------------------------------------------------------------------------------- running


def _monitor_path(config) -> Path:
    first = config[0] if isinstance(config, list) else config
    getter = getattr(first, "monitor_path", None)
    return Path(getter()) if getter else Path(".")


def _command_log(cmd: Command, config, log_dir: Path) -> Path:
    if cmd.blocks and isinstance(config, list) and isinstance(config[0], DownloadBlock):
        return Path(config[0].log_file)
    return log_dir / cmd.log_name


def _header(cmd: Command, config_path: Path | None, meta_message: str | None, argv: list[str]) -> str:
    if config_path is not None:
        try:
            digest = config_sha256(config_path)
        except ConfigError:  # gone or replaced since it was loaded
            digest = "unreadable"
        cfg = f"config {config_path} sha256 {digest}"
    else:
        cfg = "config none (command-line keys only)"
    return (
        f"clara {__version__} | command {cmd.name} | {cfg} | meta_message "
        f"{json.dumps(meta_message or '')} | argv {json.dumps(argv)}"
    )


def run_command(cmd: Command, config, ctx: RunContext) -> int:
    runner = _load_object(cmd.runner)
    code = runner(config, ctx)
    return int(code or 0)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the run's log exists (loading the config, importing the command)
        print("clara: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a cp1252 console must not turn "→" in a help text into a crash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    cmd = COMMANDS[args.command]
    cls = _load_object(cmd.config)
    try:
        config = load_command_config(cmd, args.config, _overrides(args, cls))
    except ConfigError as exc:
        print(f"clara {cmd.name}: error: {exc}", file=sys.stderr)
        return 2
    if cmd.runner is None:
        print(
            f"clara {cmd.name}: the '{cmd.name}' command is not available yet in clara {__version__}; "
            "nothing was run",
            file=sys.stderr,
        )
        return 3
    if not (math.isfinite(args.monitor_interval) and args.monitor_interval > 0):
        print(
            f"clara {cmd.name}: error: --monitor_interval must be a positive number of seconds",
            file=sys.stderr,
        )
        return 2
    if args.monitor_interval > MAX_MONITOR_INTERVAL:  # a thread cannot wait longer than time_t allows
        print(
            f"clara {cmd.name}: error: --monitor_interval must be at most {MAX_MONITOR_INTERVAL} seconds "
            "(a day)",
            file=sys.stderr,
        )
        return 2
    log_dir = args.log_dir
    if log_dir is None:  # the demo keeps its logs inside its own folder; every other command uses ./logs
        default = getattr(config, "default_log_dir", None)
        log_dir = Path(default()) if default else Path("./logs")
    return execute(
        cmd,
        config,
        config_path=args.config,
        argv=argv,
        log_dir=log_dir,
        meta_message=args.meta_message,
        quiet=args.quiet,
        monitor_interval=args.monitor_interval,
    )


def execute(
    cmd: Command,
    config,
    *,
    config_path: Path | None,
    argv: list[str],
    log_dir: Path,
    meta_message: str | None = None,
    quiet: bool = False,
    monitor_interval: float | None = 5.0,
) -> int:
    """Run one command inside its logs (header, summary) and the system monitor; return the exit code.

    ``monitor_interval=None`` runs without a monitor of its own: the demo runs its stages this way, inside
    the one monitor of the demo run, so every stage keeps its own log exactly as when run by hand.
    """
    try:
        log = RunLog(cmd.name, log_dir, _command_log(cmd, config, log_dir), quiet=quiet)
    except OSError as exc:
        print(
            f"clara {cmd.name}: error: cannot write logs in {log_dir}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    ctx = RunContext(command=cmd.name, log=log, log_dir=Path(log_dir), quiet=quiet, meta_message=meta_message)
    log.main(_header(cmd, config_path, meta_message, argv))
    monitor = None
    started = time.perf_counter()
    code = 1
    try:
        if monitor_interval:
            monitor = SystemMonitor(log.system, _monitor_path(config), monitor_interval)
            monitor.start()
        code = run_command(cmd, config, ctx)
    except ClaraError as exc:
        log.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted (Ctrl-C); finished outputs are kept, rerun to continue")
        code = 130
    except OSError as exc:
        code = _os_error(cmd, exc, log)
    except Exception as exc:  # a bug: one line on the console, the traceback in the command log
        log.exception(f"{cmd.name} failed: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        if monitor:
            monitor.stop()
        if log.write_failures and code == 0:
            code = 1  # the outputs are written, but the run's record is not
        log.main(f"{cmd.name} finished in {time.perf_counter() - started:.1f} s with exit code {code}")
        log.close()
    return code


def _os_error(cmd: Command, exc: OSError, log: RunLog) -> int:
    """A write that failed outside the atomic writers (a worker's, a library's): disk full, read-only, no
    permission is one line naming the file; any other OSError is a bug, logged with its traceback."""
    if exc.errno in OUTPUT_ERRNOS:
        where = f"{exc.filename}: " if exc.filename else ""
        log.error(f"{cmd.name}: {where}{exc.strerror or exc}")
        log.traceback()
        return 1
    log.exception(f"{cmd.name} failed: {type(exc).__name__}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
