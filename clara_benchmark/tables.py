"""CLARA's input-table convention: a CSV (``input_df_path``) whose rows can be selected by an SQL query
(``input_df_sql``) run against the table loaded as ``input_df``.

``sim``, ``fold`` and ``features`` use it for their candidates; a column of the result (``filename``) names
FITS files found by base name below ``fits_dir``. The query runs in a
private in-memory SQLite database holding only that table, and is bounded so that a mistaken or hostile
query cannot hang the run or exhaust memory:

* time: ``SQL_TIME_LIMIT_SECONDS`` (60 s) through SQLite's progress handler; a filter over a million rows
  takes about a second;
* one value: ``SQL_MAX_VALUE_BYTES`` (256 KiB; a file name is at most 4 KiB) through ``SQLITE_LIMIT_LENGTH``, and result columns through
  ``SQLITE_LIMIT_COLUMN`` (twice the table's, at least 64), so that ``zeroblob(900000000)`` fails inside
  SQLite instead of allocating 900 MB (Python 3.11+; on 3.10 only the result limits below apply);
* the result: ``SQL_MAX_ROWS`` rows (5 million, some 250 sectors of 2-minute targets) and
  ``SQL_MAX_RESULT_BYTES`` (512 MiB of values, measured as their pickled size), checked chunk by chunk
  while the rows are fetched, so an unbounded ``WITH RECURSIVE`` stops there. ``bench/bench_sql_filter.py``
  (1,000,000 rows x 7 columns, all selected) measured the bounded filter at 0.93x the time of the unbounded
  one it replaced (9.5 s against 10.2 s, best of 3 on a shared 2-core machine): the checks cost nothing
  measurable.

Every failure is a ``ConfigError`` naming the key ``input_df_sql``.

Also here, the checks two CSVs of stars share (a reference's labels, read by ``sim`` and ``reference``, and
the report's truth): ``parse_tic_ids`` and ``first_conflict``; each reader words its own error.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.exceptions import ConfigError

SQL_TIME_LIMIT_SECONDS = 60.0
SQL_MAX_VALUE_BYTES = 256 << 10
SQL_MAX_ROWS = 5_000_000
SQL_MAX_RESULT_BYTES = 512 << 20
#: most bytes one fetched chunk of rows may hold (its row count follows from the column and value limits)
_CHUNK_BYTES = 128 << 20
#: SQLite virtual-machine steps between two looks at the clock
_PROGRESS_STEPS = 10_000


def read_input_table(path: Path, column: str = "filename") -> pd.DataFrame:
    """The candidate table (score's WRSS CSV); it must have the ``column`` of file names (``filename``;
    ``features`` takes CLARA's ``filename_column_in_df``)."""
    try:
        table = pd.read_csv(path, dtype={column: str}, float_precision="round_trip")
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path}: input table is empty (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read input table ({' '.join(str(exc).split())})") from None
    if column not in table.columns:
        raise ConfigError(
            f'{path}: input table has no "{column}" column (columns: {", ".join(map(str, table.columns))})'
        )
    return table


_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


class _Deadline:
    """SQLite progress handler: a non-zero return interrupts the running statement."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False

    def __call__(self) -> int:
        if time.monotonic() > self.end:
            self.expired = True
            return 1
        return 0


def _fetch_bounded(cursor: sqlite3.Cursor, query: str, max_rows: int, max_bytes: int) -> list[tuple]:
    """All rows of ``cursor``, fetched in chunks small enough that one chunk (each value at most
    ``SQL_MAX_VALUE_BYTES``) cannot pass the byte limit by more than ``_CHUNK_BYTES``; a chunk's size is
    its pickled length (C-fast, about the bytes its values hold)."""
    n_columns = max(1, len(cursor.description or ()))
    chunk_rows = max(1, min(1000, _CHUNK_BYTES // (n_columns * SQL_MAX_VALUE_BYTES)))
    rows: list[tuple] = []
    total = 0
    while chunk := cursor.fetchmany(chunk_rows):
        rows.extend(chunk)
        total += len(pickle.dumps(chunk, protocol=5))
        if total > max_bytes:
            raise ConfigError(
                f'key "input_df_sql": the query returns more than {max_bytes / (1 << 20):g} MiB of data, '
                f"clara's limit (query: {query})"
            )
        if len(rows) > max_rows:
            raise ConfigError(
                f'key "input_df_sql": the query returns more than {max_rows:,} rows, clara\'s limit '
                f"(query: {query})"
            )
    return rows


def _failed(exc: Exception, deadline: _Deadline, query: str) -> ConfigError:
    if deadline.expired:
        return ConfigError(
            f'key "input_df_sql": the query ran longer than {deadline.seconds:g} s, clara\'s limit, and was '
            f"stopped (query: {query})"
        )
    if "too big" in str(exc):
        return ConfigError(
            f'key "input_df_sql": a value is larger than {SQL_MAX_VALUE_BYTES >> 10} KiB, clara\'s limit '
            f"(query: {query})"
        )
    return ConfigError(f'key "input_df_sql": query failed: {exc} (query: {query})')


#: what a query may do: read and compute (functions, recursive CTEs); never attach a database file, run a
#: pragma, or write (SQLite's authorizer is asked for every step of the statement)
_ALLOWED_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in ("SQLITE_SELECT", "SQLITE_READ", "SQLITE_FUNCTION", "SQLITE_RECURSIVE")
    if hasattr(sqlite3, name)
)


def _authorize(action, *_args) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def sql_filter(
    table: pd.DataFrame,
    sql: str,
    *,
    time_limit: float | None = None,
    max_rows: int | None = None,
    max_bytes: int | None = None,
    column: str = "filename",
) -> pd.DataFrame:
    """Run ``sql`` against ``table`` loaded as ``input_df`` in an in-memory SQLite database.

    ``sql`` is a full query (``SELECT … FROM input_df WHERE …``, as CLARA's configs) or just the condition
    after WHERE. The query's columns and row order are the candidates'. The query is bounded in time and
    result size (see the module docstring; ``None`` takes the module's limit) and may only read: attaching a
    database file, a pragma or a write is refused by SQLite's authorizer. Every failure is a ``ConfigError``
    naming ``input_df_sql``. The result must have ``column`` (the file names).

    >>> table = pd.DataFrame({"filename": ["a.fits", "b.fits"], "score": [0.1, 0.9]})
    >>> sql_filter(table, "score > 0.5")["filename"].tolist()
    ['b.fits']
    """
    query = sql if _QUERY_START.match(sql) else f"SELECT * FROM input_df WHERE {sql}"
    max_rows = SQL_MAX_ROWS if max_rows is None else max_rows
    max_bytes = SQL_MAX_RESULT_BYTES if max_bytes is None else max_bytes
    deadline = _Deadline(SQL_TIME_LIMIT_SECONDS if time_limit is None else time_limit)
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        if hasattr(conn, "setlimit"):  # Python 3.11+
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQL_MAX_VALUE_BYTES)
            # result columns: what the table has, twice over (a row is then at most that many values)
            conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, max(64, 2 * len(table.columns)))
        try:
            table.to_sql("input_df", conn, index=False)
        except (sqlite3.Error, ValueError) as exc:
            raise ConfigError(f'key "input_df_sql": cannot load the input table into SQLite: {exc}') from None
        conn.set_progress_handler(deadline, _PROGRESS_STEPS)
        conn.set_authorizer(_authorize)
        try:
            cursor = conn.execute(query)
            columns = [d[0] for d in cursor.description or ()]
            rows = _fetch_bounded(cursor, query, max_rows, max_bytes) if columns else []
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
            raise _failed(exc, deadline, query) from None
        finally:
            conn.set_progress_handler(None, 0)
            conn.set_authorizer(None)
    if not columns:
        raise ConfigError(
            f'key "input_df_sql": the statement returns no rows; give a SELECT (query: {query})'
        )
    result = pd.DataFrame.from_records(rows, columns=columns)
    if column not in result.columns:
        raise ConfigError(
            f'key "input_df_sql": the query must return a "{column}" column '
            f"(it returned: {', '.join(map(str, result.columns)) or 'no columns'})"
        )
    return result


def select_candidates(table: pd.DataFrame, config) -> pd.DataFrame:
    """The candidate rows: ``input_df_sql`` when the config has one, else ``score_weighted_root_sumnorm >=
    gt_wrss_threshold`` (sim's seed key)."""
    if config.input_df_sql is not None:
        return sql_filter(table, config.input_df_sql)
    if products.WRSS_NORM not in table.columns:
        raise ConfigError(
            f'{config.input_df_path}: no "{products.WRSS_NORM}" column for gt_wrss_threshold '
            f'(is it the WRSS CSV written by score? or select rows with "input_df_sql")'
        )
    norm = pd.to_numeric(table[products.WRSS_NORM], errors="coerce")
    return table[norm >= config.gt_wrss_threshold].reset_index(drop=True)


def candidate_keys(path: Path, sql: str | None, column: str, log: Callable[[str], None]) -> pd.Series:
    """The file key of each candidate row of CLARA's input table (``fold`` and ``features``).

    Parameters
    ----------
    path : Path
        ``input_df_path``, read with ``read_input_table``.
    sql : str or None
        ``input_df_sql`` (see ``sql_filter``); None takes every row.
    column : str
        The column of file names.
    log : callable
        Told how many rows are candidates and why.

    Returns
    -------
    pandas.Series
        ``file_key`` of each candidate's file name (None where it has none), indexed by the candidate's
        position (0 for the first), in table order.

    Examples
    --------
    >>> keys = candidate_keys(Path("wrss.csv"), "score > 0.5", "filename", print)  # doctest: +SKIP
    2 of 5 rows of wrss.csv are candidates (input_df_sql "score > 0.5")
    """
    table = read_input_table(path, column)
    if sql is not None:
        candidates = sql_filter(table, sql, column=column)
        how = f'input_df_sql "{sql}"'
    else:
        candidates, how = table, "no input_df_sql: every row"
    log(f"{len(candidates)} of {len(table)} rows of {path} are candidates ({how})")
    return candidates[column].map(file_key)


def file_key(value) -> str | None:
    """The base name that identifies a candidate's light curve (the input may hold a path)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return os.path.basename(value.strip())


# ------------------------------------------------------------------------------------------ tables of stars


def parse_tic_ids(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column of TIC ids read as numbers, and where it holds something else.

    Parameters
    ----------
    text : pandas.Series
        The ``tic_id`` cells as text (a labels or truth CSV).

    Returns
    -------
    ids : pandas.Series
        The values as float64 (NaN where not a number).
    bad : numpy.ndarray
        Positions of the cells that are not positive whole numbers (empty when all are).

    Examples
    --------
    >>> ids, bad = parse_tic_ids(pd.Series(["55525572", "1.5", "x", "-3"]))
    >>> bad.tolist()
    [1, 2, 3]
    """
    ids = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero((ids.isna() | (ids != ids.round()) | (ids <= 0)).to_numpy())
    return ids, bad


def first_conflict(frame: pd.DataFrame, key: str, column: str) -> tuple[object, list, int] | None:
    """The first ``key`` (in sorted order) given more than one ``column`` value, as a message names it.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per line of a labels or truth CSV.
    key : str
        What names a star (``filename`` or ``tic_id``).
    column : str
        What must be the same on all of its lines (``label``, ``class``).

    Returns
    -------
    tuple of (key value, sorted list of its values, number of such keys), or None
        None when every key has a single value.

    Examples
    --------
    >>> frame = pd.DataFrame({"filename": list("aabcc"), "label": ["EB", "planet", "EB", "x", "y"]})
    >>> first_conflict(frame, "filename", "label")
    ('a', ['EB', 'planet'], 2)
    """
    counts = frame.groupby(key)[column].nunique()
    conflicts = counts[counts > 1]
    if not len(conflicts):
        return None
    first = conflicts.index[0]
    return first, sorted(frame.loc[frame[key] == first, column].unique()), len(conflicts)
