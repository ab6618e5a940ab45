"""Cost of the bounds on ``input_df_sql``: ``tables.sql_filter`` against the unbounded filter it replaced.

    PYTHONPATH=. python bench/bench_sql_filter.py [--rows 1000000] [--repeats 3]

Workload: a WRSS-like table (file name, 5 numbers, one short text column) of ``rows`` rows and the filter
``score > 0`` (every row selected: the most rows to fetch). ``baseline`` is the previous code: ``to_sql``,
``execute``, ``fetchall``, ``DataFrame.from_records``; ``bounded`` is ``sql_filter`` (value and column
limits, progress handler, rows fetched in chunks whose pickled size is counted). Best of ``repeats``,
alternating; the ratio bounded / baseline is the overhead.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import time

import numpy as np
import pandas as pd

from clara_benchmark.tables import sql_filter


def baseline(table: pd.DataFrame, sql: str) -> pd.DataFrame:
    query = f"SELECT * FROM input_df WHERE {sql}"
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        table.to_sql("input_df", conn, index=False)
        cursor = conn.execute(query)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    table = pd.DataFrame(
        {
            "filename": [f"tess2018206045859-s0001-{i:016d}-0120-s_lc.fits" for i in range(n)],
            "tic_p3": rng.integers(1, 10**9, n),
            "anomaly_score_p3": rng.random(n),
            "anomaly_score_p9": rng.random(n),
            "score": rng.random(n) + 0.01,
            "score_weighted_root_sumnorm": rng.random(n),
            "note": "candidate",
        }
    )
    best = {"baseline": float("inf"), "bounded": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("baseline", baseline), ("bounded", sql_filter)):
            started = time.perf_counter()
            out = fn(table, "score > 0")
            best[name] = min(best[name], time.perf_counter() - started)
            assert len(out) == n
    for name, seconds in best.items():
        print(f"{name:9s} {seconds:6.2f} s  ({n / seconds:,.0f} rows/s)")
    print(f"ratio bounded / baseline: {best['bounded'] / best['baseline']:.2f}")


if __name__ == "__main__":
    main()
