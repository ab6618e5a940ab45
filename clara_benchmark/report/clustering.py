"""The report's clustering section (``clustering_dir``): the newest run of ``clustering`` shown as its
metadata, its 2-D map (and comparison plot), and the members of each cluster, the most typical ones (nearest
the cluster's centre on the map) with the same thumbnails as the candidates.

A clustering run names what it wrote in ``clustering_<ts>.json``; the files are read with the report's
checks (a malformed results CSV is a ``ReportInputError`` naming the file). A missing folder or run is a
note, not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.exceptions import ReportInputError
from clara_benchmark.report.html import (
    Col,
    esc,
    figure,
    fmt_int,
    fmt_num,
    href,
    is_missing,
    notes,
    section,
    table,
)

#: the longest metadata text shown (CLARA's is a few hundred bytes)
MAX_METADATA_BYTES = 64 << 10
RESULT_COLUMNS = {"filename": "str", "cluster_label": "int"}
MAP_COLUMNS = {"filename": "str", "tic_id": "int", "x": "num", "y": "num"}
#: the report's own copies of the run's figures (report/command.py removes stale ones by these names)
MAP_FIGURE = "img/cluster_map.png"
COMPARISON_FIGURE = "img/cluster_comparison.png"


@dataclass
class ClusteringView:
    """One clustering run as the report shows it."""

    folder: Path
    record: dict
    members: pd.DataFrame  # filename, tic, cluster_label, x, y (x, y NaN without a map), typical_rank
    metadata: str
    comparison: pd.DataFrame | None
    map_png: Path | None
    comparison_png: Path | None
    thumbs: dict = field(default_factory=dict)  # filename -> render_candidate result
    figures: list = field(default_factory=list)  # (relpath, alt) copied into the report

    @property
    def algorithm(self) -> str:
        return str(self.record.get("algorithm"))


def _record(folder: Path, notes_list: list) -> tuple[dict, Path] | None:
    newest = products.CLUSTER_RECORD.newest(folder)
    if newest is None:
        notes_list.append(("warn", f"clustering section left out: no clustering_<ts>.json in {folder}"))
        return None
    try:
        record = json.loads(newest.read_text(encoding="utf-8"))
        assert isinstance(record, dict) and isinstance(record.get("algorithms"), dict)
        assert record.get("algorithm") in record["algorithms"]
    except (ValueError, AssertionError, OSError):
        raise ReportInputError(f"{newest}: not a record written by clara's clustering") from None
    return record, newest


def _file(folder: Path, record: dict, key: str, *sub: str) -> Path | None:
    """A file the record names (a plain name in ``folder``), or None."""
    value = record
    for k in (key, *sub):
        value = value.get(k) if isinstance(value, dict) else None
    if not isinstance(value, str) or Path(value).name != value:
        return None
    return folder / value


def _members(folder: Path, record: dict) -> pd.DataFrame:
    from clara_benchmark.report.inputs import Found, read_table

    ts = str(record.get("timestamp"))
    results = _file(folder, record, "algorithms", record["algorithm"], "results")
    if results is None or not results.is_file():
        raise ReportInputError(f"{folder}: the results CSV of clustering run {ts} is missing")
    frame = read_table(Found(results, ts), RESULT_COLUMNS, "clustering results", unique="filename").frame
    frame = frame.assign(tic=pd.array([pd.NA] * len(frame), dtype="Int64"), x=np.nan, y=np.nan)
    map_csv = _file(folder, record, "map_csv")
    if map_csv is not None and map_csv.is_file():
        coords = read_table(Found(map_csv, ts), MAP_COLUMNS, "clustering map", unique="filename").frame
        by = coords.set_index("filename")
        frame["tic"] = frame["filename"].map(by["tic_id"]).astype("Int64")
        frame["x"] = frame["filename"].map(by["x"])
        frame["y"] = frame["filename"].map(by["y"])
    frame.loc[(frame["tic"] < 0).fillna(False).astype(bool), "tic"] = pd.NA  # -1: no TIC id known
    return _typical_first(frame)


def _typical_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rank members within each cluster by distance to the cluster's median map position (file order
    without a map)."""
    rank = pd.Series(0, index=frame.index, dtype=int)
    for _, part in frame.groupby("cluster_label", sort=False):
        if part["x"].notna().all():
            d = np.hypot(part["x"] - part["x"].median(), part["y"] - part["y"].median())
            order = part.assign(d=d).sort_values(["d", "filename"]).index
        else:
            order = part.index
        rank[order] = np.arange(1, len(order) + 1)
    return frame.assign(typical_rank=rank)


def load_clustering(config, notes_list: list) -> ClusteringView | None:
    """The newest clustering run in ``config.clustering_dir``, or None (with a note) when there is none."""
    if config.clustering_dir is None:
        return None
    folder = Path(config.clustering_dir)
    if not folder.is_dir():
        notes_list.append(("warn", f"clustering section left out: clustering_dir {folder} does not exist"))
        return None
    found = _record(folder, notes_list)
    if found is None:
        return None
    record, _ = found
    members = _members(folder, record)
    metadata_path = _file(folder, record, "algorithms", record["algorithm"], "metadata")
    metadata = ""
    if metadata_path is not None and metadata_path.is_file():
        metadata = metadata_path.read_bytes()[:MAX_METADATA_BYTES].decode("utf-8", errors="replace")
    comparison = None
    comparison_csv = _file(folder, record, "comparison_csv")
    if comparison_csv is not None and comparison_csv.is_file():
        comparison = pd.read_csv(comparison_csv, keep_default_na=False, na_values=[""])
    pngs = [_file(folder, record, k) for k in ("map_png", "comparison_png")]
    pngs = [p if p is not None and p.is_file() else None for p in pngs]
    return ClusteringView(folder, record, members, metadata, comparison, pngs[0], pngs[1])


def thumbnail_rows(view: ClusteringView, per_cluster: int) -> pd.DataFrame:
    """The members to draw: the ``per_cluster`` most typical of each cluster (with a title for each)."""
    chosen = view.members[view.members["typical_rank"] <= per_cluster]
    titles = [
        ("" if is_missing(t) else f"TIC {int(t)} · ") + ("noise" if c == -1 else f"cluster {c}")
        for t, c in zip(chosen["tic"], chosen["cluster_label"])
    ]
    return chosen.assign(title=titles, rank=chosen["typical_rank"])


def _cluster_table(view: ClusteringView, label: int, part: pd.DataFrame, max_rows: int) -> str:
    from clara_benchmark.report.sections import _tic_html

    has_map = part["x"].notna().any()
    cols = [Col("typical_rank", "#", title="nearest the cluster's centre on the map first")]
    cols.append(Col("tic", "star", "num", title="TIC id and file name", css="file"))
    if has_map:
        cols += [
            Col("x", "map x", fmt=lambda v: fmt_num(v, 3)),
            Col("y", "map y", fmt=lambda v: fmt_num(v, 3)),
        ]
    cols.append(Col("thumb", "light curve · folded · periodogram", "html", sortable=False, css="thumb"))
    rows = []
    for r in part.sort_values("typical_rank").head(max_rows).to_dict("records"):
        row = dict(r, tic__html=_tic_html(r.get("tic"), r["filename"]))
        if is_missing(r.get("tic")):
            row["tic"] = None
        t = view.thumbs.get(r["filename"], {})
        if t.get("relpath"):
            src = href(t["relpath"])
            row["thumb"] = f'<a href="{src}" target="_blank"><img src="{src}" alt="{esc(r["filename"])}"></a>'
        elif t.get("error"):
            row["thumb"] = f'<span class="missing-thumb">{esc(t["error"])}</span>'
        rows.append(row)
    name = "Noise" if label == -1 else f"Cluster {label}"
    more = f", the first {max_rows:,} listed" if len(part) > max_rows else ""
    head = f'<h3>{esc(name)} <span class="lead">{len(part):,} stars{esc(more)}</span></h3>'
    return head + table(cols, rows, table_id=f"cluster-{'noise' if label == -1 else label}")


def _comparison_col(name: str) -> Col:
    if name in ("algorithm", "skipped"):
        return Col(name, name, "text")
    if name in ("n_clusters", "n_noise"):
        return Col(name, name, fmt=fmt_int)
    return Col(name, name, fmt=lambda v: fmt_num(v, 4))


def clustering_section(view: ClusteringView, max_rows: int) -> str:
    r = view.record
    sizes = view.members["cluster_label"].value_counts()
    k = int((sizes.index != -1).sum())
    lead = (
        f"The newest clustering run in {view.folder} ({r.get('timestamp')}): {view.algorithm} on "
        f"{len(view.members):,} stars of {r.get('features_path')} ({r.get('matrix', 'features')}), "
        f"{k} clusters and {int(sizes.get(-1, 0)):,} noise points. Each cluster lists its members nearest "
        "its centre on the map first, the first ones with their light curve, fold and periodogram."
    )
    figs = "".join(figure(rel, alt, "") for rel, alt in view.figures)
    body = (
        f'<div class="figs wide">{figs}</div>' if figs else notes([("info", "no map was drawn for this run")])
    )
    if view.comparison is not None:
        cols = [
            Col(c, c, "text" if c in ("algorithm", "skipped") else "num") for c in view.comparison.columns
        ]
        body += "<h3>Algorithms compared</h3>" + table(
            cols, view.comparison.to_dict("records"), table_id="cluster-comparison"
        )
    if view.metadata:
        body += f"<h3>Metadata</h3><pre>{esc(view.metadata)}</pre>"
    labels = sorted(sizes.index, key=lambda v: (v == -1, v))
    for label in labels:
        part = view.members[view.members["cluster_label"] == label]
        body += _cluster_table(view, int(label), part, max_rows)
    return section("clustering", "Clustering", body, lead)
