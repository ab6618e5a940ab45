"""CLARA's input convention for candidate tables, shared by ``sim``, ``fold``, ``features``: a CSV
(``input_df_path``) whose rows are selected by an SQL query (``input_df_sql``, run against a table named
``input_df`` in an in-memory SQLite database) or, for ``sim``, by a WRSS threshold; a column of the result
names FITS files (``filename``) that are found by base name below ``fits_dir``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path

import pandas as pd

from clara_benchmark import products
from clara_benchmark.exceptions import ConfigError


def read_input_table(path: Path) -> pd.DataFrame:
    """The candidate table (score's WRSS CSV); it must have a ``filename`` column."""
    try:
        table = pd.read_csv(path, dtype={"filename": str}, float_precision="round_trip")
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path}: input table is empty (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read input table ({' '.join(str(exc).split())})") from None
    if "filename" not in table.columns:
        raise ConfigError(
            f'{path}: input table has no "filename" column (columns: {", ".join(map(str, table.columns))})'
        )
    return table


_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def sql_filter(table: pd.DataFrame, sql: str) -> pd.DataFrame:
    """Run ``sql`` against ``table`` loaded as ``input_df`` in an in-memory SQLite database.

    ``sql`` is a full query (``SELECT … FROM input_df WHERE …``, as CLARA's configs) or just the condition
    after WHERE. The query's columns and row order are the candidates'.
    """
    query = sql if _QUERY_START.match(sql) else f"SELECT * FROM input_df WHERE {sql}"
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        table.to_sql("input_df", conn, index=False)
        try:
            cursor = conn.execute(query)
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall() if columns else []
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise ConfigError(f'key "input_df_sql": query failed: {exc} (query: {query})') from None
    if not columns:
        raise ConfigError(
            f'key "input_df_sql": the statement returns no rows; give a SELECT (query: {query})'
        )
    result = pd.DataFrame.from_records(rows, columns=columns)
    if "filename" not in result.columns:
        raise ConfigError(
            f'key "input_df_sql": the query must return a "filename" column '
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


def file_key(value) -> str | None:
    """The base name that identifies a candidate's light curve (the input may hold a path)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return os.path.basename(value.strip())
