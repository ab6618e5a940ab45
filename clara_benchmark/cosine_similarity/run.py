"""The ``sim`` command: label anomaly candidates by cosine similarity to a labelled reference set.

Candidates are rows of the WRSS table (``score_weighted_root_sumnorm >= gt_wrss_threshold``, or CLARA's
later ``input_df_sql`` query over a table named ``input_df``). Each candidate's file is found in
``fits_dir`` by its ``filename``; features are reused from a feature store or computed in batches; labels
are joined back to the candidate rows by file name (CLARA joined by position and mislabelled rows).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import ClaraError, ConfigError, SimConfig
from clara_benchmark.cosine_similarity.inputs import FitsFinder, iter_features
from clara_benchmark.cosine_similarity.match import match, project
from clara_benchmark.cosine_similarity.reference import csv_matches_model, describe, load_reference_set
from clara_benchmark.executors import get_executor
from clara_benchmark.utils.io import atomic_write_text, failure_rows, write_failures_csv

WRSS_NORM = "score_weighted_root_sumnorm"
RESULT_COLUMNS = ("matched_label", "matched_filename", "label_group", "similarity_score")


def topk_columns(k: int) -> list[str]:
    """Extra columns for the 2nd…k-th best matches (raw reference labels, no threshold)."""
    return [f"match{j}_{what}" for j in range(2, k + 1) for what in ("label", "filename", "similarity")]


# ---------------------------------------------------------------------------------------------------------
# candidates


def read_input_table(path: Path) -> pd.DataFrame:
    """The candidate table (score's WRSS CSV); it must have a ``filename`` column."""
    try:
        table = pd.read_csv(path, dtype={"filename": str})
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


def select_candidates(table: pd.DataFrame, config: SimConfig) -> pd.DataFrame:
    if config.input_df_sql is not None:
        return sql_filter(table, config.input_df_sql)
    if WRSS_NORM not in table.columns:
        raise ConfigError(
            f'{config.input_df_path}: no "{WRSS_NORM}" column for gt_wrss_threshold '
            f'(is it the WRSS CSV written by score? or select rows with "input_df_sql")'
        )
    norm = pd.to_numeric(table[WRSS_NORM], errors="coerce")
    return table[norm >= config.gt_wrss_threshold].reset_index(drop=True)


def file_key(value) -> str | None:
    """The base name that identifies a candidate's light curve (the input may hold a path)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return os.path.basename(value.strip())


# ---------------------------------------------------------------------------------------------------------
# the command


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    atomic_write_text(path, table.to_csv(index=False))


def label_candidates(config: SimConfig, ctx, ref, keys: list[str]):
    """``(results by file name, failures)``: each file's features → PCA → best reference matches."""
    k = min(config.top_k, len(ref))
    finder = FitsFinder(config.fits_dir)
    executor = get_executor(config)
    results: dict[str, tuple] = {}
    failures: list[tuple[str, str]] = []
    with ctx.progress(total=len(keys), desc="sim", unit="lc") as bar:
        for batch in iter_features(keys, finder, executor, config.batch_size, config.features_path):
            failures.extend(batch.failures)
            if batch.paths:
                m = match(
                    project(ref.pca, batch.features), ref.unit, ref.labels, config.min_similarity_threshold, k
                )
                for i, name in enumerate(batch.filenames):
                    row = [
                        m.matched_label[i],
                        ref.filenames[m.best_index[i]],
                        m.label_group[i],
                        float(m.similarity[i]),
                    ]
                    for j in range(1, k):
                        idx = m.topk_index[i, j]
                        row += [ref.labels[idx], ref.filenames[idx], float(m.topk_similarity[i, j])]
                    results[name] = tuple(row)
            bar.update(len(batch.paths) + len(batch.failures))
    for name, paths in finder.ambiguous.items():
        if name in results:
            ctx.log.main(f"{name} is in several folders under fits_dir; used {paths[0]}")
    return results, failures, k


def run(config: SimConfig, ctx) -> int:
    ref = load_reference_set(
        config.simbad_labelled_pca_model_path, config.simbad_labelled_pca_features_path, config.trust_pickles
    )
    ctx.log.main(f"reference set: {describe(ref)}")
    if csv_matches_model(ref, config.simbad_labelled_pca_features_path) is False:
        ctx.log.main(
            f"warning: {config.simbad_labelled_pca_features_path} is not the CSV written with "
            f"{config.simbad_labelled_pca_model_path} (sha256 differs); using it as given"
        )

    table = read_input_table(config.input_df_path)
    candidates = select_candidates(table, config)
    how = (
        f'input_df_sql "{config.input_df_sql}"'
        if config.input_df_sql is not None
        else f"{WRSS_NORM} >= {config.gt_wrss_threshold}"
    )
    ctx.log.main(f"{len(candidates)} of {len(table)} rows of {config.input_df_path} are candidates ({how})")

    keys = candidates["filename"].map(file_key)
    no_name = candidates.index[keys.isna()]
    wanted = list(dict.fromkeys(keys[keys.notna()]))
    if config.top_k > len(ref):
        ctx.log.main(
            f"top_k {config.top_k} is more than the {len(ref)} reference objects; reporting {len(ref)}"
        )
    results, failures, k = label_candidates(config, ctx, ref, wanted)

    failed = failure_rows(failures)
    failed += [("", "", f"candidate row {i + 1} has no filename") for i in no_name]
    for row in failed:
        ctx.log.log(f"failed: {row[1] or row[0]}: {row[2]}")

    # join by file name: a row gets exactly the result computed from its own file
    columns = list(RESULT_COLUMNS) + topk_columns(k)
    clash = [c for c in columns if c in candidates.columns]
    if clash:
        ctx.log.log(f"input columns {clash} are replaced by this run's values")
        candidates = candidates.drop(columns=clash)
    found = pd.DataFrame.from_dict(results, orient="index", columns=columns)
    found.index = pd.Index(list(results), dtype=object)  # also when empty: file names, not a RangeIndex
    labelled = (
        candidates.assign(_clara_file_key=keys)
        .merge(found, left_on="_clara_file_key", right_index=True, how="inner", sort=False)
        .drop(columns="_clara_file_key")
    )
    groups = config.save_label_groups
    saved = labelled if groups == "all" else labelled[labelled["label_group"].isin(groups)]

    config.output_dir.mkdir(parents=True, exist_ok=True)
    out_path = Path(config.output_dir) / f"cosine_similarity_scores_{ctx.timestamp}.csv"
    failures_path = Path(config.output_dir) / f"cosine_similarity_failures_{ctx.timestamp}.csv"
    _write_csv(out_path, saved)
    write_failures_csv(failures_path, failed)

    counts = labelled["label_group"].value_counts()
    summary = ", ".join(f"{g} {int(counts.get(g, 0))}" for g in sorted(counts.index))
    ctx.log.main(
        f"labelled {len(labelled)} candidate rows ({summary or 'none'}); {len(failed)} failed; "
        f"wrote {len(saved)} rows (save_label_groups {groups if groups == 'all' else list(groups)}) → {out_path}"
    )
    if failed:
        ctx.log.main(f"failures with reasons → {failures_path}")
    if len(candidates) and labelled.empty:
        raise ClaraError(
            f"none of the {len(candidates)} candidates could be labelled (see {failures_path}); "
            f"is fits_dir ({config.fits_dir}) the folder of their light curves?"
        )
    sims = labelled["similarity_score"].to_numpy()
    if len(sims):
        ctx.log.log(
            f"similarity: min {np.min(sims):.3f}, median {np.median(sims):.3f}, max {np.max(sims):.3f}; "
            f"below threshold {config.min_similarity_threshold}: {int(np.sum(sims < config.min_similarity_threshold))}"
        )
    return 0
