"""What a report is made of: the newest output CSVs of each kind, checked, plus the runs told by main.log.

Everything here is read-only and tolerant of what is missing (a missing piece becomes a note in the report),
but strict about what is present: a malformed CSV raises ``ReportInputError`` naming the file and the problem.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.exceptions import ClaraError, ReportInputError  # noqa: F401 (re-exported)
from clara_benchmark.tables import first_conflict, parse_tic_ids

MODELS = products.MODELS
TIMESTAMP = rf"({products.TIMESTAMP})"
#: the outputs a report reads (names and columns owned by products.py)
PRODUCTS = {
    "scores": products.SCORES,
    "wrss": products.WRSS,
    "failures": products.FAILURES,
    "sim": products.SIM,
    "sim_failures": products.SIM_FAILURES,
    "fold": products.FOLD_PERIODS,
}
SCORE_COLUMNS = dict(zip(products.SCORE_COLUMNS, ("int", "str", "num")))
WRSS_COLUMNS = dict(zip(products.WRSS_COLUMNS, ("int", "str", "num", "int", "num", "num", "num")))
FAILURE_COLUMNS = dict.fromkeys(products.FAILURE_COLUMNS, "str")  # score's failures; sim's adds "path"
SIM_COLUMNS = {"filename": "str", "matched_label": "str", "label_group": "str", "similarity_score": "num"}
LABEL_GROUPS = products.LABEL_GROUPS
MISSING_WORDS = {"", "none", "nan", "null", "na", "n/a"}


@dataclass
class Found:
    """One output file picked for the report."""

    path: Path
    timestamp: str

    @property
    def when(self) -> _dt.datetime:
        return _dt.datetime.strptime(self.timestamp, "%Y%m%d_%H%M%S")


@dataclass
class Table:
    """A checked CSV: its rows, where it came from, and what was dropped while reading."""

    source: Found
    frame: pd.DataFrame
    dropped: int = 0  # rows without a value in a required numeric column (CLARA's "None" rows)


def newest(directory: Path, kind: str) -> dict[str, Found]:
    """The newest file of ``kind`` in ``directory`` by the timestamp in its name, keyed by model for scores.

    Hidden files (``.name.tmp`` of an atomic write in progress) never match the patterns.
    """
    best: dict[str, Found] = {}
    for path, fields in PRODUCTS[kind].find(directory):  # oldest first: the newest of each key wins
        if path.is_file():
            best[fields.get("model", kind)] = Found(path, fields["ts"])
    return best


def _line_of(index: int) -> int:
    return int(index) + 2  # 1-based, after the header line


def _read_text_csv(path: Path, what: str) -> pd.DataFrame:
    """Every cell as text (nothing guessed); unreadable files raise naming the file."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ReportInputError(f"{path}: empty file (expected a {what} CSV with a header line)") from None
    except pd.errors.ParserError as exc:
        text = " ".join(str(exc).split())
        raise ReportInputError(f"{path}: not a readable CSV ({text})") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not UTF-8 text (expected a {what} CSV)") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_table(found: Found, columns: dict[str, str], what: str, unique: str | None = None) -> Table:
    """Read a CSV and check it has ``columns`` ({name: "str" | "num" | "int"}); raise naming the file.

    A row with no value in any of ``columns`` (CLARA's logging bug wrote "None,None,None" rows) is dropped
    and counted; a row that has some values but no number in a "num" column (``nan``, empty, "None") is
    refused, naming its line: a score that is not a number is no result. With ``unique`` (a column), a value
    on two rows (a light curve scored twice, a duplicated row) is refused, naming both lines.
    """
    path = found.path
    frame = _read_text_csv(path, what)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found_cols = ", ".join(frame.columns[:12]) or "none"
        raise ReportInputError(
            f"{path}: not a {what} CSV: missing column(s) {', '.join(missing)} "
            f"(found: {found_cols}; expected: {','.join(columns)})"
        )
    raw = {name: frame[name].astype(str).str.strip() for name in columns}
    absent = {name: text.str.lower().isin(MISSING_WORDS).to_numpy() for name, text in raw.items()}
    empty_row = np.logical_and.reduce(list(absent.values()))  # CLARA's None rows
    for name, kind in columns.items():
        if kind == "str":
            frame[name] = raw[name]
            continue
        values = pd.to_numeric(raw[name].where(~absent[name]), errors="coerce")
        bad = values.isna().to_numpy() & ~absent[name]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReportInputError(
                f"{path}: line {_line_of(i)}: column {name} must be a number, got {raw[name].iloc[i]!r}"
            )
        if kind == "num":
            no_value = absent[name] & ~empty_row
            if no_value.any():
                i = int(np.flatnonzero(no_value)[0])
                raise ReportInputError(
                    f"{path}: line {_line_of(i)}: column {name} has no value ({raw[name].iloc[i]!r}); "
                    f"a row without a score is not a result ({int(no_value.sum())} such line(s))"
                )
            finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)) | absent[name]
            if not finite.all():
                i = int(np.flatnonzero(~finite)[0])
                raise ReportInputError(f"{path}: line {_line_of(i)}: column {name} is not finite")
        if kind == "int":
            whole = (values == values.round()).to_numpy() | absent[name]
            if not whole.all():
                i = int(np.flatnonzero(~whole)[0])
                raise ReportInputError(
                    f"{path}: line {_line_of(i)}: column {name} must be a whole number, got {raw[name].iloc[i]!r}"
                )
        frame[name] = values
    if unique is not None:
        _refuse_repeats(path, frame[unique], ~empty_row, unique)
    dropped = int(empty_row.sum()) if any(k == "num" for k in columns.values()) else 0
    if dropped:
        frame = frame[~empty_row].reset_index(drop=True)
    for name, kind in columns.items():
        if kind == "int":
            frame[name] = frame[name].astype("Int64")
    return Table(found, frame, dropped)


def _refuse_repeats(path: Path, column: pd.Series, rows: np.ndarray, name: str) -> None:
    """Refuse a value of ``column`` found on two of ``rows``, naming its lines."""
    values = column[rows]
    repeated = values.duplicated(keep=False)
    if not repeated.any():
        return
    first = values[repeated].iloc[0]
    lines = [_line_of(i) for i in np.flatnonzero((column == first).to_numpy() & rows)]
    n = int(values[repeated].nunique())
    raise ReportInputError(
        f"{path}: {name} {first} appears on lines {', '.join(map(str, lines[:5]))} (one row per light "
        f"curve; {n} such {name}(s))"
    )


#: how far outside [low, high] a value may lie and still count as inside: ``score`` min-max scales WRSS with
#: scikit-learn MinMaxScaler's arithmetic (as CLARA did), which can give 1.0000000000000002 for the maximum
RANGE_TOLERANCE = 1e-9


def check_range(
    table: Table, column: str, low: float = 0.0, high: float = 1.0, tolerance: float = RANGE_TOLERANCE
) -> None:
    values = table.frame[column].to_numpy(dtype=float)
    bad = (values < low - tolerance) | (values > high + tolerance)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ReportInputError(
            f"{table.source.path}: column {column} must lie in [{low:g}, {high:g}], got {float(values[i])!r} "
            f"(row {i + 1})"
        )


# --------------------------------------------------------------------------------------------- truth

#: optional truth columns shown next to the class (as a simulated sector's truth CSV names them)
TRUTH_NUMBERS = ("period_days", "depth_ppm", "duration_hours", "snr")
PLANET_CLASSES = {"planet", "planets", "pl", "exoplanet", "transiting_planet"}


def is_planet(cls) -> bool:
    return isinstance(cls, str) and cls.strip().lower() in PLANET_CLASSES


@dataclass
class Truth:
    """The known class of each star, joined to the scored light curves by file name or else by TIC id."""

    path: Path
    key: str  # "filename" or "tic_id"
    frame: pd.DataFrame  # one row per star: the key, class, and any of subtype / TRUTH_NUMBERS present
    extras: list[str]  # the optional columns present, in display order

    def lookup(self, filenames: pd.Series, tics: pd.Series) -> pd.DataFrame:
        """The truth row of each light curve (all-missing when the star is not in the truth), aligned."""
        by_key = self.frame.set_index(self.key)[["class", *self.extras]]
        keys = filenames if self.key == "filename" else pd.Series(tics, dtype="Int64")
        found = by_key.reindex(keys.to_numpy())
        found.index = filenames.index
        return found


def read_truth(path: Path) -> Truth:
    """Read a CSV of true classes: ``class`` and ``filename`` (or ``tic_id``); errors name the file.

    File names are compared without their folder. With ``tic_id`` only, a star may appear once per sector,
    but never with two different classes.
    """
    path = Path(path)
    raw = _read_text_csv(path, "truth")
    by_lower = {c.lower(): c for c in raw.columns}
    cls_col = by_lower.get("class")
    name_col = by_lower.get("filename")
    tic_col = by_lower.get("tic_id") or by_lower.get("tic")
    if cls_col is None or (name_col is None and tic_col is None):
        found_cols = ", ".join(raw.columns[:12]) or "none"
        raise ReportInputError(
            f"{path}: not a truth CSV: need a class column and a filename or tic_id column (found: {found_cols})"
        )
    if raw.empty:
        raise ReportInputError(f"{path}: truth CSV has a header but no stars")
    key = "filename" if name_col is not None else "tic_id"
    key_col = name_col if key == "filename" else tic_col
    frame = pd.DataFrame(
        {key: raw[key_col].astype(str).str.strip(), "class": raw[cls_col].astype(str).str.strip()}
    )
    for col in (key, "class"):
        empty = np.flatnonzero((frame[col] == "").to_numpy())
        if len(empty):
            raise ReportInputError(
                f"{path}: line {_line_of(empty[0])}: empty {col} ({len(empty)} such line(s))"
            )
    if key == "filename":
        frame["filename"] = frame["filename"].map(lambda f: Path(f.replace("\\", "/")).name)
    else:
        ids, bad = parse_tic_ids(frame["tic_id"])
        if len(bad):
            i = int(bad[0])
            raise ReportInputError(
                f"{path}: line {_line_of(i)}: tic_id must be a positive whole number, got "
                f"{frame['tic_id'].iloc[i]!r}"
            )
        frame["tic_id"] = ids.astype("Int64")
    extras = []
    if "subtype" in by_lower:
        frame["subtype"] = raw[by_lower["subtype"]].astype(str).str.strip()
        frame.loc[frame["subtype"].str.lower().isin(MISSING_WORDS), "subtype"] = None
        extras.append("subtype")
    for name in TRUTH_NUMBERS:
        if name not in by_lower:
            continue
        text = raw[by_lower[name]].astype(str).str.strip()
        absent = text.str.lower().isin(MISSING_WORDS).to_numpy()
        values = pd.to_numeric(text.where(~absent), errors="coerce")
        bad = (values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float))) & ~absent
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReportInputError(
                f"{path}: line {_line_of(i)}: column {name} must be a finite number, got {text.iloc[i]!r}"
            )
        frame[name] = values.astype(float)
        extras.append(name)
    dup = frame[key].duplicated(keep=False)
    if dup.any():
        if key == "filename":
            first = frame.loc[dup, key].iloc[0]
            lines = [_line_of(i) for i in np.flatnonzero((frame[key] == first).to_numpy())]
            raise ReportInputError(
                f"{path}: filename {first} appears on lines {', '.join(map(str, lines[:5]))} "
                f"(one line per light curve)"
            )
        conflict = first_conflict(frame, key, "class")
        if conflict is not None:
            first, seen, n = conflict
            raise ReportInputError(
                f"{path}: tic_id {first} has conflicting classes {seen} ({n} such star(s))"
            )
        frame = frame.drop_duplicates(key, keep="first")
    return Truth(path, key, frame.reset_index(drop=True), extras)


def read_reference_labels(path: Path) -> pd.DataFrame:
    """The reference set's labels CSV (``filename,label`` or ``tic_id,label``), read as ``reference`` reads
    it; a malformed file is a report input error naming it."""
    from clara_benchmark.config import ConfigError
    from clara_benchmark.cosine_similarity.reference import read_labels

    try:
        return read_labels(Path(path))
    except ConfigError as exc:
        raise ReportInputError(str(exc)) from None


# ------------------------------------------------------------------------------------ injection–recovery

RECALL_NAMES = ("recall", "recovery_rate", "recovered_fraction", "fraction_recovered", "recovery_fraction")
RECOVERED_NAMES = ("recovered", "detected", "is_recovered", "found")
EVALUATE_NAME = re.compile(r"(recall|recover|injection|evaluat)", re.IGNORECASE)


@dataclass
class RecallGrid:
    """Recall per (depth, period) cell, one grid per model (key "" when the CSV has no model column)."""

    source: Path
    depth_column: str
    period_column: str
    grids: dict[str, pd.DataFrame]  # index: depth values, columns: period values, cells: recall in [0, 1]
    notes: list[str] = field(default_factory=list)
    anomaly_rate: dict[str, float] = field(default_factory=dict)


def find_evaluate_csv(path: Path) -> Path | None:
    """``path`` itself when it is a file, else the newest recall-like CSV in the directory."""
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    candidates = [p for p in path.iterdir() if p.suffix == ".csv" and EVALUATE_NAME.search(p.name)]
    if not candidates:
        return None

    def order(p: Path):
        m = re.search(TIMESTAMP, p.name)
        return (m.group(1) if m else "", p.stat().st_mtime)

    return max(candidates, key=order)


def _pick(columns: list[str], exact: tuple[str, ...], contains: str | None = None) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in exact:
        if name in lowered:
            return lowered[name]
    if contains:
        for c in columns:
            if contains in c.lower():
                return c
    return None


def read_recall_grid(path: Path) -> RecallGrid:
    """Read an injection–recovery CSV, whatever its exact layout.

    Accepted: one row per grid cell with a recall column (``recall``, ``recovery_rate``, ...), or one row per
    injection with a boolean ``recovered`` column (averaged per cell). The depth and period columns are found
    by name (``depth``, ``depth_ppm``, ``period_days``, ...). An optional ``model`` column gives one grid per
    model; other axes (e.g. duration) are averaged over, with a note.
    """
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ReportInputError(f"{path}: empty file (expected an injection–recovery CSV)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise ReportInputError(f"{path}: not a readable CSV ({text})") from None
    cols = [str(c).strip() for c in frame.columns]
    frame.columns = cols
    depth = _pick(cols, ("depth", "depth_ppm", "injected_depth"), "depth")
    period = _pick(cols, ("period", "period_days", "period_d", "injected_period"), "period")
    recall = _pick(cols, RECALL_NAMES, "recall")
    recovered = None if recall else _pick(cols, RECOVERED_NAMES)
    if depth is None or period is None or (recall is None and recovered is None):
        raise ReportInputError(
            f"{path}: not an injection–recovery CSV: need a depth column, a period column and a recall "
            f"(or per-injection 'recovered') column; found: {', '.join(cols[:15])}"
        )
    value = recall or recovered
    frame = frame.copy()
    if recovered:
        text = frame[value].astype(str).str.strip().str.lower()
        mapped = text.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0})
        if mapped.isna().any():
            i = int(np.flatnonzero(mapped.isna().to_numpy())[0])
            raise ReportInputError(
                f"{path}: line {_line_of(i)}: column {value} must be true/false, got {frame[value].iloc[i]!r}"
            )
        frame[value] = mapped
    for name in (depth, period, value):
        numeric = pd.to_numeric(frame[name], errors="coerce")
        if numeric.isna().any():
            i = int(np.flatnonzero(numeric.isna().to_numpy())[0])
            raise ReportInputError(
                f"{path}: line {_line_of(i)}: column {name} must be a number, got {frame[name].iloc[i]!r}"
            )
        frame[name] = numeric.astype(float)
    if ((frame[value] < 0) | (frame[value] > 1)).any():
        raise ReportInputError(f"{path}: column {value} must lie in [0, 1] (a fraction of injections)")
    if frame.empty:
        raise ReportInputError(f"{path}: no rows")
    notes = []
    model = _pick(cols, ("model", "model_name"))
    axes = [depth, period] + ([model] if model else [])
    others = [
        c
        for c in cols
        if c not in axes and c != value and ("duration" in c.lower()) and frame[c].nunique() > 1
    ]
    if others:
        notes.append(f"recall averaged over {', '.join(others)}")
    if recovered:
        notes.append(f"recall = fraction of injections with {value} true per cell")
    anomaly_rate = {}
    rate_col = _pick(cols, ("anomaly_rate", "false_positive_rate", "anomaly_rate_uninjected"))
    grids = {}
    groups = frame.groupby(model, sort=True) if model else [("", frame)]
    for key, part in groups:
        key = str(key[0] if isinstance(key, tuple) else key)
        grids[key] = part.pivot_table(index=depth, columns=period, values=value, aggfunc="mean").sort_index(
            axis=0
        )
        grids[key] = grids[key].sort_index(axis=1)
        if rate_col:
            rates = pd.to_numeric(part[rate_col], errors="coerce").dropna()
            if len(rates):
                anomaly_rate[key] = float(rates.mean())
    return RecallGrid(path, depth, period, grids, notes, anomaly_rate)


# --------------------------------------------------------------------------------------------- main.log

LOG_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \[([A-Z]+)\] (.*)$")
HEADER = re.compile(r"^clara (\S+) \| command (\S+) \| config (.*?) \| meta_message (.*?) \| argv (.*)$")
CONFIG_SHA = re.compile(r"^(.*) sha256 ([0-9a-f]{64})$")
FINISHED = re.compile(r"^(\S+) finished in ([0-9.]+) s with exit code (-?\d+)$")
MAX_LOG_BYTES = 4 << 20  # main.log holds only run-level lines; read at most its last 4 MB


@dataclass
class Run:
    """One command run as main.log tells it."""

    command: str
    started: _dt.datetime
    version: str = ""
    config_path: str | None = None
    config_sha256: str | None = None
    meta_message: str = ""
    argv: list[str] = field(default_factory=list)
    seconds: float | None = None
    exit_code: int | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)  # (level, text) between header and end

    @property
    def finished(self) -> _dt.datetime | None:
        if self.seconds is None:
            return None
        return self.started + _dt.timedelta(seconds=self.seconds)

    def covers(self, stamp: _dt.datetime) -> bool:
        """Did this run write an output stamped ``stamp`` (the run timestamp is taken just after the header)?"""
        start = self.started - _dt.timedelta(seconds=2)
        end = (self.finished or self.started) + _dt.timedelta(seconds=2)
        return start <= stamp <= end


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_runs(main_log: Path, skip_commands: tuple[str, ...] = ("report",)) -> list[Run]:
    """The runs recorded in ``main.log``, oldest first; unknown lines are ignored, never an error."""
    with open(main_log, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - MAX_LOG_BYTES))
        data = fh.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > MAX_LOG_BYTES:
        lines = lines[1:]  # the first line is probably cut
    runs: list[Run] = []
    open_runs: dict[str, Run] = {}
    for line in lines:
        m = LOG_LINE.match(line)
        if not m:
            continue
        stamp, level, text = m.groups()
        try:
            when = _dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
        h = HEADER.match(text)
        if h and level == "MAIN":
            version, command, config, meta, argv = h.groups()
            run = Run(command=command, started=when, version=version)
            c = CONFIG_SHA.match(config)
            if c:
                run.config_path, run.config_sha256 = c.group(1), c.group(2)
            meta_value = _json_or_text(meta)
            run.meta_message = meta_value if isinstance(meta_value, str) else str(meta_value)
            argv_value = _json_or_text(argv)
            run.argv = [str(a) for a in argv_value] if isinstance(argv_value, list) else [str(argv_value)]
            open_runs[command] = run
            runs.append(run)
            continue
        f = FINISHED.match(text)
        if f and f.group(1) in open_runs:
            run = open_runs.pop(f.group(1))
            run.seconds = float(f.group(2))
            run.exit_code = int(f.group(3))
            continue
        if len(open_runs) == 1:
            (run,) = open_runs.values()
            if len(run.messages) < 50:
                run.messages.append((level, text))
    return [r for r in runs if r.command not in skip_commands]


def read_fold_table(found: Found) -> Table:
    """A fold run's ``fold_periods_*.csv``: its columns checked, numbers exact, text columns as text; a file
    name on two rows is refused naming both lines."""
    path = found.path
    try:
        frame = products.read_fold_periods(path)
    except pd.errors.EmptyDataError:
        raise ReportInputError(
            f"{path}: empty file (expected a fold_periods CSV with a header line)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        text = " ".join(str(exc).split())
        raise ReportInputError(f"{path}: not a readable fold_periods CSV ({text})") from None
    missing = [c for c in products.FOLD_COLUMNS if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{path}: not a fold_periods CSV: missing column(s) {', '.join(missing)}")
    _refuse_repeats(path, frame["filename"], np.ones(len(frame), dtype=bool), "filename")
    for name in products.FOLD_COLUMNS[3:12]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return Table(found, frame)
