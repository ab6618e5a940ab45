"""Typed configs for every command, loaded from the seed's JSON files and overridable on the command line.

Each config is a dataclass whose fields carry their help text, default and checks in ``metadata``.
``load_config`` turns JSON (+ command-line overrides) into an instance or raises ``ConfigError`` with a
message that names the file, the key and what is wrong; the CLI prints it as one line and exits 2.

Commands outside the seed (train, reference, ...) declare their config dataclass in their own module with
the same ``key()`` helper and the same loader.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_benchmark.exceptions import ClaraError, ConfigError  # noqa: F401 (re-exported)

# ---------------------------------------------------------------------------------------------------------
# machinery


KINDS = ("str", "int", "float", "bool", "path", "list[path]", "list[str]", "str|list[str]", "dict")


def key(
    help: str,
    kind: str,
    default: Any = dataclasses.MISSING,
    *,
    required: bool = False,
    exists: str | None = None,
    choices: tuple | None = None,
    minimum: float | None = None,
    nullable: bool = False,
):
    """Declare a config key. ``exists`` is "file" or "dir" when the path must already exist, "input" for
    light-curve inputs (a folder, a file or a glob pattern that matches something; ``~`` expanded)."""
    assert kind in KINDS, kind
    meta = dict(
        help=help,
        kind=kind,
        required=required,
        exists=exists,
        choices=choices,
        minimum=minimum,
        nullable=nullable or (default is None),
    )
    if required:
        return field(default=None, metadata=meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def describe_default(f: dataclasses.Field) -> str:
    if f.metadata["required"]:
        return "required"
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return json.dumps(f.default_factory())  # type: ignore[misc]
    return json.dumps(f.default)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":  # JSON's NaN/Infinity are no number a key can mean
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in ("str", "path"):
        return isinstance(value, str) and value != ""
    if kind in ("list[path]", "list[str]"):
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    if kind == "str|list[str]":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if kind == "dict":
        return isinstance(value, dict)
    raise AssertionError(kind)


_KIND_WORDS = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a finite number",
    "str": "a non-empty string",
    "path": "a path (string)",
    "list[path]": "a non-empty list of paths",
    "list[str]": "a non-empty list of strings",
    "str|list[str]": "a string or a list of strings",
    "dict": "a JSON object",
}


def _convert(kind: str, value: Any) -> Any:
    if kind == "path":
        return Path(value)
    if kind == "list[path]":
        return [Path(v) for v in value]
    if kind == "float":
        return float(value)
    return value


def config_keys(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def build_config(cls, raw: dict, source: str, cli_keys=()):
    """Validate ``raw`` (a dict from JSON and/or the command line) against ``cls`` and build it.

    Relative paths are taken relative to the current directory, as the seed's users expect.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object of keys, got {type(raw).__name__}")
    fields = config_keys(cls)
    for name in raw:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else f" (valid keys: {', '.join(fields)})"
            raise ConfigError(f'{source}: unknown key "{name}"{hint}')
    values = {}
    for name, f in fields.items():
        meta = f.metadata
        where = "command line" if name in cli_keys else source  # a bad value is blamed where it was given
        if name not in raw or (raw[name] is None and meta["required"]):
            if meta["required"]:
                raise ConfigError(f'{source}: missing required key "{name}" ({meta["help"]})')
            if f.default is not dataclasses.MISSING and f.default is not None:
                values[name] = _convert(meta["kind"], f.default)  # "./logs/" default → Path like given ones
            continue
        value = raw[name]
        if value is None:
            if not meta["nullable"]:
                raise ConfigError(f'{where}: key "{name}" must be {_KIND_WORDS[meta["kind"]]}, got null')
            values[name] = None
            continue
        if not _type_ok(meta["kind"], value):
            raise ConfigError(
                f'{where}: key "{name}" must be {_KIND_WORDS[meta["kind"]]}, got {json.dumps(value)}'
            )
        if meta["choices"] is not None and value not in meta["choices"]:
            raise ConfigError(
                f'{where}: key "{name}" must be one of {list(meta["choices"])}, got {json.dumps(value)}'
            )
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise ConfigError(f'{where}: key "{name}" must be >= {meta["minimum"]}, got {json.dumps(value)}')
        if meta["exists"]:
            for p in value if isinstance(value, list) else [value]:
                _check_exists(where, name, p, meta["exists"])
        values[name] = _convert(meta["kind"], value)
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        problem = check()
        if problem:
            raise ConfigError(f"{source}: {problem}")
    return config


def _check_exists(source: str, name: str, text: str, what: str) -> None:
    """``text`` is the path as the user wrote it, so the message shows it unchanged.

    ``what`` "outdir": an output directory, created later, must not be an existing file (found now,
    not after hours of work).
    """
    path = Path(text)
    if what == "input":
        full = os.path.expanduser(text)
        if not os.path.lexists(full) and not (set("*?[") & set(full) and glob.glob(full, recursive=True)):
            raise ConfigError(
                f'{source}: key "{name}": "{text}" does not exist (no such file or folder, and no file '
                "matches it as a pattern)"
            )
        return
    if what == "outdir":
        if path.exists() and not path.is_dir():
            raise ConfigError(f'{source}: key "{name}": "{text}" is a file, not a directory')
        return
    noun = "directory" if what == "dir" else "file"
    if not path.exists():
        raise ConfigError(f'{source}: key "{name}": {noun} "{text}" does not exist')
    if what == "dir" and not path.is_dir():
        raise ConfigError(f'{source}: key "{name}": "{text}" is not a directory')
    if what == "file" and not path.is_file():
        raise ConfigError(f'{source}: key "{name}": "{text}" is not a file')


def read_json(path: Path) -> Any:
    """Read a JSON config; errors name the file and, for bad JSON, the line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors may add a byte-order mark
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: config path is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def check_model_path(enabled: bool, path: Path | None, name: str, flag: str) -> str | None:
    """A model path is required only when its model is switched on; then it must exist."""
    if not enabled:
        return None
    if path is None:
        return f'key "{name}" is required when "{flag}" is true'
    if not Path(path).is_file():
        return f'key "{name}": file "{path}" does not exist'
    return None


# ---------------------------------------------------------------------------------------------------------
# the seed's three commands

EXECUTOR_KEYS_HELP = 'Where work runs: "local" (processes on this machine) or "dask"'


# The keys ``executors.get_executor`` reads, declared once so that every command gives them the same help,
# choices and checks. Where a command's default or wording differs (batch_size, train's max_workers) the
# caller says so at the field.


def max_workers_key(help: str = "Number of worker processes", default: int = 4):
    return key(help, "int", default, minimum=1)


def batch_size_key(default: int, help: str = "Light curves per task sent to a worker"):
    return key(help, "int", default, minimum=1)


def executor_key():
    return key(EXECUTOR_KEYS_HELP, "str", "local", choices=("local", "dask"))


def scheduler_address_key():
    return key('Dask scheduler address (executor "dask"); none = a local cluster', "str", None)


# How light curves are read (lightcurve.ReadOptions), the same three keys for score, sim and reference.

QUALITY_MASK_NAMES = ("none", "default", "hard", "hardest")
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,67}$")


def flux_column_key():
    return key(
        'Flux column the features use: "pdcsap_flux" (CLARA\'s), "sap_flux", QLP\'s "kspsap_flux", '
        'lightkurve files\' "flux", ...; files without it are failures',
        "str",
        "pdcsap_flux",
    )


def quality_bitmask_key():
    return key(
        'Drop cadences by QUALITY flags: "none" (CLARA\'s), lightkurve\'s "default", "hard", "hardest", '
        'or an integer bit mask as text, e.g. "175"; any mask changes CLARA\'s scores',
        "str",
        "none",
    )


def bin_20s_key():
    return key("Bin 20-second light curves to 2 minutes before the features", "bool", False)


def check_read_keys(config) -> str | None:
    """The read-option keys' values (types are checked by the loader)."""
    if not _COLUMN_NAME.match(config.flux_column):
        return f'key "flux_column" must be a column name such as "pdcsap_flux", got "{config.flux_column}"'
    mask = config.quality_bitmask.strip().lower()
    if mask not in QUALITY_MASK_NAMES and not (mask.isdigit() and int(mask) < 2**31):
        return (
            f'key "quality_bitmask" must be one of {list(QUALITY_MASK_NAMES)} or an integer bit mask '
            f'(as text, e.g. "175"), got "{config.quality_bitmask}"'
        )
    return None


@dataclass
class DownloadBlock:
    """One block of a download config (the seed keys them by sector: {"1": {...}, "5": {...}})."""

    sector_number: int = key("TESS sector to download", "int", required=True, minimum=1)
    catalogues_folder: Path = key(
        "Folder holding MAST's tesscurl_sector_<N>_lc.sh scripts (fetched when missing)",
        "path",
        "./data/catalogues/",
        exists="outdir",
    )
    out_dir_tess: Path = key(
        "Output directory; files go to <out_dir_tess>/<sector>/",
        "path",
        "./data/fits_files/",
        exists="outdir",
    )
    start_index: int = key("Index of the first script line to download", "int", 0, minimum=0)
    max_downloads: int = key(
        "Maximum number of files to download from start_index", "int", required=True, minimum=0
    )
    log_file: Path = key("Download log file", "path", "./logs/download_tess_lc.log")
    num_threads: int = key("Number of concurrent download threads", "int", 4, minimum=1)
    base_url: str = key(
        "Where MAST publishes the per-sector download scripts",
        "str",
        "https://archive.stsci.edu/missions/tess/download_scripts/sector/",
    )
    connect_timeout: float = key("Seconds to wait for a connection", "float", 15.0, minimum=0.1)
    read_timeout: float = key("Seconds to wait for data before retrying", "float", 60.0, minimum=0.1)
    max_retries: int = key(
        "Retries per file on connection errors, timeouts, 429 and 5xx", "int", 5, minimum=0
    )
    backoff_seconds: float = key(
        "Wait before the first retry; doubles with each retry (with random jitter)", "float", 1.0, minimum=0.0
    )
    max_backoff_seconds: float = key(
        "Longest wait between retries, a server's Retry-After included", "float", 60.0, minimum=0.0
    )
    file_deadline_seconds: float = key(
        "Longest one attempt at one file may take (request to last byte) before it is retried",
        "float",
        600.0,
        minimum=0.1,
    )
    min_rate_bytes_per_second: float = key(
        "An attempt slower than this over min_rate_seconds is retried (0: no minimum)",
        "float",
        1024.0,
        minimum=0.0,
    )
    min_rate_seconds: float = key(
        "Window over which min_rate_bytes_per_second is measured", "float", 30.0, minimum=0.1
    )
    max_requests_per_second: float = key(
        "Most requests started per second to one host (null: no limit beyond num_threads)",
        "float",
        None,
        minimum=0.01,
    )

    def check(self) -> str | None:
        if not self.base_url.lower().startswith(("http://", "https://")):
            return f'key "base_url" must be an http(s) URL, got "{self.base_url}"'
        return None

    def monitor_path(self) -> Path:
        return self.out_dir_tess


@dataclass
class ScoreConfig:
    """Config of ``score`` (the seed's urf_anomaly_scoring_config.json)."""

    input_dirs: list[Path] = key(
        "Light curves: folders (searched recursively), files or glob patterns; ~ and .fits.gz accepted",
        "list[path]",
        required=True,
        exists="input",
    )
    output_dir: Path = key(
        "Directory for the score CSVs (created when missing)", "path", required=True, exists="outdir"
    )
    max_workers: int = max_workers_key()
    use_p3: bool = key("Score with the P3 model", "bool", False)
    use_p5: bool = key("Score with the P5 model", "bool", False)
    use_p9: bool = key("Score with the P9 model", "bool", False)
    calculate_wrss_p3p9: bool = key(
        "Combine P3 and P9 into the WRSS table (needs use_p3 and use_p9)", "bool", False
    )
    p3model_path: Path | None = key("P3 model file (.skops, or a published CLARA .pkl)", "path", None)
    p5model_path: Path | None = key("P5 model file (.skops, or a published CLARA .pkl)", "path", None)
    p9model_path: Path | None = key("P9 model file (.skops, or a published CLARA .pkl)", "path", None)
    trust_pickles: bool = key(
        "Load .pkl models whose sha256 is not a known CLARA release (runs their code!)", "bool", False
    )
    resume: bool = key(
        "Continue an interrupted run in output_dir instead of starting a new one", "bool", False
    )
    save_features: bool = key(
        "Also save the clara-4000 feature matrix for reuse by sim and train", "bool", False
    )
    flux_column: str = flux_column_key()
    quality_bitmask: str = quality_bitmask_key()
    bin_20s_to_2min: bool = bin_20s_key()
    batch_size: int = batch_size_key(64)
    executor: str = executor_key()
    scheduler_address: str | None = scheduler_address_key()

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if self.calculate_wrss_p3p9 and not (self.use_p3 and self.use_p9):
            return 'key "calculate_wrss_p3p9" needs both "use_p3" and "use_p9" set to true'
        if not (self.use_p3 or self.use_p5 or self.use_p9):
            return 'no model enabled: set at least one of "use_p3", "use_p5", "use_p9" to true'
        for n in ("3", "5", "9"):
            problem = check_model_path(
                getattr(self, f"use_p{n}"), getattr(self, f"p{n}model_path"), f"p{n}model_path", f"use_p{n}"
            )
            if problem:
                return problem
        return None

    def monitor_path(self) -> Path:
        return self.input_dirs[0]


LABEL_GROUPS = ("planet_like", "binary_star", "stellar", "outlier", "unclassified")


@dataclass
class SimConfig:
    """Config of ``sim`` (the seed's cosine_similarity_config.json)."""

    fits_dir: Path = key(
        "Directory of the candidates' FITS files (sub-folders are searched too)",
        "path",
        required=True,
        exists="dir",
    )
    input_df_path: Path = key(
        "Candidate table: the WRSS CSV written by score", "path", required=True, exists="file"
    )
    output_dir: Path = key(
        "Directory for the similarity CSV (created when missing)", "path", required=True, exists="outdir"
    )
    min_similarity_threshold: float = key(
        "Best matches below this cosine similarity are labelled outlier", "float", 0.3, minimum=-1.0
    )
    gt_wrss_threshold: float | None = key(
        "Keep candidates with score_weighted_root_sumnorm >= this", "float", None
    )
    input_df_sql: str | None = key(
        "SQL filter over a table named input_df (instead of gt_wrss_threshold)", "str", None
    )
    save_label_groups: str | list[str] = key(
        f'Label groups to write: a list from {list(LABEL_GROUPS)}, or "all"', "str|list[str]", required=True
    )
    simbad_labelled_pca_model_path: Path = key(
        "PCA model of the reference set (.skops, or CLARA's published .pkl)",
        "path",
        required=True,
        exists="file",
    )
    simbad_labelled_pca_features_path: Path = key(
        "Reference CSV (0..N-1, label, filename)", "path", required=True, exists="file"
    )
    max_workers: int = max_workers_key()
    trust_pickles: bool = key(
        "Load a .pkl PCA whose sha256 is not a known CLARA release (runs its code!)", "bool", False
    )
    top_k: int = key("Also report the k best matches per candidate", "int", 1, minimum=1)
    features_path: Path | None = key(
        "Feature directory written by score (save_features) to reuse; missing files are computed",
        "path",
        None,
        exists="dir",
    )
    flux_column: str = flux_column_key()
    quality_bitmask: str = quality_bitmask_key()
    bin_20s_to_2min: bool = bin_20s_key()
    batch_size: int = batch_size_key(64)
    executor: str = executor_key()
    scheduler_address: str | None = scheduler_address_key()

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if self.gt_wrss_threshold is None and self.input_df_sql is None:
            return 'missing required key "gt_wrss_threshold" (or give "input_df_sql")'
        if self.gt_wrss_threshold is not None and self.input_df_sql is not None:
            return 'give either "gt_wrss_threshold" or "input_df_sql", not both'
        groups = self.save_label_groups
        if isinstance(groups, str):
            if groups != "all":
                return f'key "save_label_groups" must be a list of label groups or "all", got "{groups}"'
        else:
            for g in groups:
                if g not in LABEL_GROUPS:
                    close = difflib.get_close_matches(g, LABEL_GROUPS, n=1)
                    hint = f' (did you mean "{close[0]}"?)' if close else f" (valid: {list(LABEL_GROUPS)})"
                    return f'key "save_label_groups": unknown label group "{g}"{hint}'
        return None

    def monitor_path(self) -> Path:
        return self.fits_dir


def load_flat_config(cls, path: Path | None, overrides: dict) -> Any:
    raw = read_json(path) if path is not None else {}
    source = str(path) if path is not None else "command line"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object of keys, got {type(raw).__name__}")
    raw = {**raw, **overrides}
    return build_config(cls, raw, source, cli_keys=set(overrides))


def load_download_config(path: Path | None, overrides: dict) -> list[DownloadBlock]:
    """The seed's download config: an object of blocks keyed by a label (the sector), run in order.

    Command-line overrides apply to every block; with no config file they form the only block.
    """
    if path is None:
        return [build_config(DownloadBlock, dict(overrides), "command line")]
    raw = read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f'{path}: expected a JSON object of blocks keyed by sector, e.g. {{"1": {{"sector_number": 1, ...}}}}'
        )
    blocks = []
    for label, block in raw.items():
        if not isinstance(block, dict):
            if label in config_keys(DownloadBlock):
                raise ConfigError(
                    f'{path}: key "{label}" belongs inside a block keyed by sector, '
                    f'e.g. {{"1": {{"{label}": ...}}}}'
                )
            raise ConfigError(f'{path}: block "{label}" must be a JSON object, got {json.dumps(block)}')
        blocks.append(
            build_config(
                DownloadBlock, {**block, **overrides}, f'{path} [block "{label}"]', cli_keys=set(overrides)
            )
        )
    return blocks
