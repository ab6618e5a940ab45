"""The ``report`` command: a static HTML report (one folder, opens offline) from any run's output files.

Inputs are the CSVs the other commands write (CLARA_SPEC §7), the newest of each kind by the timestamp in
the name; only the anomaly scores are required. Anything else that is missing is left out with a note.
Heavy imports (pandas, matplotlib) happen inside functions so that ``clara --help`` stays fast.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from clara_benchmark import products
from clara_benchmark.config import ClaraError, ReportConfig

IMG_DIR = "img"


@dataclass
class ReportResult:
    index: Path
    candidates: int
    thumbnails: int
    notes: list[tuple[str, str]] = field(default_factory=list)
    vetting_pages: int = 0


class _Quiet:
    """Stands in for a run log when build_report is called from Python without one."""

    def main(self, msg: str) -> None:
        pass

    def log(self, msg: str) -> None:
        pass


def run(config: ReportConfig, ctx) -> int:
    result = build_report(config, ctx=ctx, default_log_dir=ctx.log_dir)
    ctx.log.main(
        f"report written: {result.index} ({result.candidates} candidates, {result.thumbnails} thumbnails, "
        f"{result.vetting_pages} vetting pages, {len(result.notes)} notes); open it in a browser"
    )
    return 0


# --------------------------------------------------------------------------------------------- building


def _img_name(prefix: str, text: str) -> str:
    return f"{IMG_DIR}/{prefix}_{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}.png"


#: the names of the figures build_report writes in img/ (thumbnails, histograms, heat maps), and no others
OWN_FIGURE = re.compile(
    r"^(lc_[0-9a-f]{16}|vet_[0-9a-f]{16}|hist_(p3|p5|p9|wrss)|recall_\d+"
    r"|cl_[0-9a-f]{16}|cluster_map|cluster_comparison)\.png$"  # clustering section (issue 14)
)


def _write_png(out_dir: Path, relpath: str, data: bytes, written: set[str]) -> str:
    from clara_benchmark.utils.io import atomic_write_bytes

    atomic_write_bytes(out_dir / relpath, data)
    written.add(relpath)
    return relpath


def _find_fits(filename: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        p = Path(d) / filename
        if p.is_file():
            return p
    return None


def _rel(path: Path) -> str:
    """The path as the user would type it from here: relative when below the current folder."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(Path(path).resolve()) if rel.startswith("..") else rel


@dataclass
class _Inputs:
    scores: dict  # model -> Table
    wrss: object | None
    failures: list  # [(source label "score" | "sim", Table)]
    sim: object | None
    recall: object | None
    runs: list
    notes: list[tuple[str, str]]
    main_log: Path | None
    truth: object | None = None  # inputs.Truth
    reference: object | None = None  # DataFrame: filename or tic_id, label
    reference_path: Path | None = None
    clustering: object | None = None  # report.clustering.ClusteringView (issue 14)


def _load_scores(config: ReportConfig, notes: list) -> tuple[dict, object]:
    """(score tables by model, WRSS table or None); at least one of them is required."""
    from clara_benchmark.report import inputs as I

    score_dir = Path(config.score_dir)
    found = I.newest(score_dir, "scores")
    scores = {}
    for model in I.MODELS:
        if model in found:
            table = I.read_table(
                found[model], I.SCORE_COLUMNS, f"{model.upper()} anomaly-score", unique="filename"
            )
            I.check_range(table, "anomaly_score")
            scores[model] = table
    wrss_found = I.newest(score_dir, "wrss").get("wrss")
    wrss = I.read_table(wrss_found, I.WRSS_COLUMNS, "WRSS", unique="filename") if wrss_found else None
    if wrss is not None:
        for column in ("anomaly_score_p3", "anomaly_score_p9", products.WRSS_NORM):
            I.check_range(wrss, column)
    if not scores and wrss is None:
        raise ClaraError(
            f"{score_dir}: no anomaly_scores_<p3|p5|p9>_<YYYYMMDD_HHMMSS>.csv or wrss_p3p9_<...>.csv here; "
            "run score first, or point score_dir at its output_dir"
        )
    stamps = {t.source.timestamp for t in scores.values()} | ({wrss.source.timestamp} if wrss else set())
    if len(stamps) > 1:
        notes.append(
            (
                "warn",
                f"the score files come from different runs (timestamps {', '.join(sorted(stamps))}); "
                "each kind shows its newest file",
            )
        )
    if wrss is None:
        notes.append(("info", "no WRSS table in score_dir (score ran without calculate_wrss_p3p9)"))
    return scores, wrss


def _load_sim(config: ReportConfig, notes: list, failures: list):
    """sim's newest table (or None), with its failures appended to ``failures``."""
    from clara_benchmark.report import inputs as I

    if config.sim_dir is None:
        notes.append(("info", "similarity section left out: no sim_dir given"))
        return None
    sim_dir = Path(config.sim_dir)
    if not sim_dir.is_dir():
        notes.append(("warn", f"similarity section left out: sim_dir {config.sim_dir} does not exist"))
        return None
    sim = None
    s = I.newest(sim_dir, "sim").get("sim")
    if s is None:
        notes.append(
            ("warn", f"similarity section left out: no cosine_similarity_scores_*.csv in {config.sim_dir}")
        )
    else:
        sim = I.read_table(s, I.SIM_COLUMNS, "cosine-similarity")
    # sim writes its failures next to its scores, with the same timestamp: take that one, else the newest
    sf = I.newest(sim_dir, "sim_failures").get("sim_failures")
    if s is not None:
        same = products.SIM_FAILURES.path(sim_dir, ts=s.timestamp)
        sf = I.Found(same, s.timestamp) if same.is_file() else sf
    if sf:
        failures.append(("sim", I.read_table(sf, I.FAILURE_COLUMNS, "sim failures")))
    return sim


def _load_recall(config: ReportConfig, notes: list):
    from clara_benchmark.report import inputs as I

    if config.evaluate_path is None:
        return None
    path = I.find_evaluate_csv(Path(config.evaluate_path))
    if path is None:
        notes.append(
            ("warn", f"injection–recovery section left out: no recall CSV at {config.evaluate_path}")
        )
        return None
    return I.read_recall_grid(path)


def _load_runs(config: ReportConfig, default_log_dir: Path | None, notes: list) -> tuple[list, Path | None]:
    from clara_benchmark.report import inputs as I

    log_dir = config.run_log_dir or default_log_dir
    if log_dir is None:
        notes.append(("info", "run history left out: no log directory given"))
        return [], None
    candidate = Path(log_dir) / "main.log"
    if not candidate.is_file():
        notes.append(("warn", f"run history left out: no main.log in {log_dir}"))
        return [], None
    return I.read_runs(candidate), candidate


def _load_inputs(config: ReportConfig, log, default_log_dir: Path | None) -> _Inputs:
    from clara_benchmark.report import inputs as I

    notes: list[tuple[str, str]] = []
    scores, wrss = _load_scores(config, notes)
    failures = []
    f = I.newest(Path(config.score_dir), "failures").get("failures")
    if f:
        failures.append(("score", I.read_table(f, I.FAILURE_COLUMNS, "failures")))
    sim = _load_sim(config, notes, failures)
    for t in [*scores.values(), wrss, sim]:
        if t is not None and t.dropped:
            notes.append(
                (
                    "warn",
                    f"{t.source.path.name}: {t.dropped} row(s) without a score were skipped "
                    "(CLARA's logging bug wrote such rows)",
                )
            )
    recall = _load_recall(config, notes)
    truth = I.read_truth(Path(config.truth_csv)) if config.truth_csv is not None else None
    reference = None
    if config.reference_labels_csv is not None:
        reference = I.read_reference_labels(Path(config.reference_labels_csv))
    runs, main_log = _load_runs(config, default_log_dir, notes)
    from clara_benchmark.report.clustering import load_clustering

    clustering = load_clustering(config, notes)
    used = (
        [f"{m}={t.source.path}" for m, t in scores.items()]
        + ([f"wrss={wrss.source.path}"] if wrss else [])
        + ([f"sim={sim.source.path}"] if sim else [])
        + ([f"recall={recall.source}"] if recall else [])
        + ([f"main.log={main_log}"] if main_log else [])
        + ([f"truth={truth.path} (joined on {truth.key})"] if truth else [])
        + ([f"reference labels={config.reference_labels_csv}"] if reference is not None else [])
        + ([f"clustering={clustering.folder} ({clustering.record.get('timestamp')})"] if clustering else [])
    )
    log.log("report inputs: " + "; ".join(used))
    reference_path = Path(config.reference_labels_csv) if reference is not None else None
    return _Inputs(
        scores,
        wrss,
        failures,
        sim,
        recall,
        runs,
        notes,
        main_log,
        truth,
        reference,
        reference_path,
        clustering,
    )


def _rank_source(config: ReportConfig, inp: _Inputs) -> str:
    if config.rank_by == "auto":
        if inp.wrss is not None:
            return "wrss"
        return next(m for m in ("p3", "p5", "p9") if m in inp.scores)
    if config.rank_by == "wrss" and inp.wrss is None:
        raise ClaraError(
            f'rank_by "wrss" but there is no wrss_p3p9_*.csv in {config.score_dir} '
            '(use "auto" or a model that was scored)'
        )
    if config.rank_by in ("p3", "p5", "p9") and config.rank_by not in inp.scores:
        raise ClaraError(
            f'rank_by "{config.rank_by}" but there is no anomaly_scores_{config.rank_by}_*.csv in '
            f"{config.score_dir} (scored: {', '.join(inp.scores) or 'none'})"
        )
    return config.rank_by


def _candidates(source: str, inp: _Inputs):
    """All ranked candidates (score > 0), best first, with every model's score and the sim label joined
    by file name (never by position)."""
    import pandas as pd

    if source == "wrss":
        w = inp.wrss.frame
        frame = pd.DataFrame(
            {
                "filename": w["filename"],
                "tic": w["tic_p3"],
                "wrss_norm": w[products.WRSS_NORM],
                "wrss": w["score_weighted_root_sum"],
                "p3": w["anomaly_score_p3"],
                "p9": w["anomaly_score_p9"],
            }
        )
        frame = frame.sort_values(["wrss_norm", "wrss", "filename"], ascending=[False, False, True])
    else:
        s = inp.scores[source].frame
        frame = pd.DataFrame({"filename": s["filename"], "tic": s["tic"], source: s["anomaly_score"]})
        frame = frame[frame[source] > 0].sort_values([source, "filename"], ascending=[False, True])
        if inp.wrss is not None:
            w = inp.wrss.frame.drop_duplicates("filename", keep="last").set_index("filename")
            frame["wrss_norm"] = frame["filename"].map(w[products.WRSS_NORM])
            frame["wrss"] = frame["filename"].map(w["score_weighted_root_sum"])
    for model, table in inp.scores.items():
        if model not in frame.columns:
            by_name = table.frame.drop_duplicates("filename", keep="last").set_index("filename")
            frame[model] = frame["filename"].map(by_name["anomaly_score"])
    if inp.sim is not None:
        sim = inp.sim.frame.drop_duplicates("filename", keep="last").set_index("filename")
        for col in ("label_group", "matched_label", "similarity_score"):
            frame[col] = frame["filename"].map(sim[col])
    frame = frame.drop_duplicates("filename", keep="first").reset_index(drop=True)
    if inp.reference is not None:
        frame["reference_label"] = _reference_label(inp.reference, frame["filename"], frame["tic"])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def _reference_label(reference, filenames, tics):
    """The reference-set label of each light curve (missing when it is not in the reference set)."""
    import pandas as pd

    if "filename" in reference.columns:
        by = reference.drop_duplicates("filename").set_index("filename")["label"]
        return filenames.map(by)
    by = reference.drop_duplicates("tic_id").set_index("tic_id")["label"]
    return pd.Series(tics, dtype="Int64").map(by)


# --------------------------------------------------------------------------------------------- truth


@dataclass
class TruthView:
    """The scored light curves joined to their true classes, and what the pipeline made of each class."""

    truth: object  # inputs.Truth
    stars: object  # DataFrame: every scored light curve with a true class (+ scores, rank, labels)
    per_class: object  # DataFrame: one row per true class, counts (see _truth_view)
    planets: object  # DataFrame: every planet of the truth, with its light curve's columns when scored
    top_by_class: dict  # true class (or "not in the truth") -> candidates of the top N
    n_scored: int  # scored light curves (any model or WRSS)
    unmatched_scored: int  # scored light curves not in the truth
    models: list
    top_n: int  # candidates actually listed (top_n or fewer)
    has_wrss: bool
    has_sim: bool
    has_reference: bool

    @property
    def matched(self) -> bool:
        return len(self.stars) > 0


def _class_order(counts) -> list[str]:
    """Planets first, then the other classes by how many stars they have (then by name)."""
    from clara_benchmark.report.inputs import is_planet

    return sorted(counts.index, key=lambda c: (not is_planet(c), -int(counts[c]), str(c)))


def _scored_stars(inp: _Inputs, ranked, top):
    """Every scored light curve once, with each model's score, WRSS, rank, top-N flag and sim labels."""
    import pandas as pd

    parts = [t.frame[["filename", "tic"]] for t in inp.scores.values()]
    if inp.wrss is not None:
        parts.append(inp.wrss.frame[["filename", "tic_p3"]].rename(columns={"tic_p3": "tic"}))
    stars = pd.concat(parts, ignore_index=True).drop_duplicates("filename", keep="first")
    stars = stars.reset_index(drop=True)
    for model, table in inp.scores.items():
        by = table.frame.drop_duplicates("filename", keep="last").set_index("filename")["anomaly_score"]
        stars[model] = stars["filename"].map(by)
    if inp.wrss is not None:
        by = inp.wrss.frame.drop_duplicates("filename", keep="last").set_index("filename")
        stars["wrss_norm"] = stars["filename"].map(by[products.WRSS_NORM])
    stars["rank"] = stars["filename"].map(ranked.set_index("filename")["rank"])
    stars["in_top"] = stars["filename"].isin(top["filename"])
    if inp.sim is not None:
        sim = inp.sim.frame.drop_duplicates("filename", keep="last").set_index("filename")
        for col in ("label_group", "matched_label", "similarity_score"):
            stars[col] = stars["filename"].map(sim[col])
    if inp.reference is not None:
        stars["reference_label"] = _reference_label(inp.reference, stars["filename"], stars["tic"])
    return stars


def _per_class(inp: _Inputs, stars, matched):
    """One row per true class: how many were in the truth, scored, above 0 per model, ranked, in the top."""
    import pandas as pd

    tframe = inp.truth.frame
    if inp.truth.key == "filename":
        scored_key = tframe["filename"].isin(stars["filename"])
    else:
        scored_key = tframe["tic_id"].isin(stars["tic"].dropna())
    in_truth = tframe["class"].value_counts()
    rows = []
    for cls in _class_order(in_truth):
        part = matched[matched["class"] == cls]
        row = {
            "class": cls,
            "in_truth": int(in_truth[cls]),
            "not_scored": int((~scored_key & (tframe["class"] == cls)).sum()),
            "scored": len(part),
        }
        for model in inp.scores:
            row[f"{model}_pos"] = int((part[model] > 0).sum())
        row["ranked"] = int(part["rank"].notna().sum())
        row["top"] = int(part["in_top"].sum())
        if inp.sim is not None:
            row["in_sim"] = int(part["label_group"].notna().sum())
            for group, n in part["label_group"].value_counts().items():
                row[f"sim_{group}"] = int(n)
        if inp.reference is not None:
            row["in_reference"] = int(part["reference_label"].notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _truth_planets(inp: _Inputs, matched):
    """Every planet of the truth with its light curve's columns when scored, ranked first (best first)."""
    from clara_benchmark.report.inputs import is_planet

    truth, tframe = inp.truth, inp.truth.frame
    reasons = {}  # why a light curve of the truth was never scored
    for source, table in inp.failures:
        if source == "score":
            reasons.update(zip(table.frame["filename"], table.frame["reason"]))
    planet_rows = tframe[tframe["class"].map(is_planet)]
    on = dict(left_on="tic_id", right_on="tic") if truth.key == "tic_id" else dict(on="filename")
    planets = planet_rows.merge(matched.drop(columns=["class"]).assign(scored=True), how="left", **on)
    planets["scored"] = planets["scored"].astype("boolean").fillna(False).astype(bool)
    planets["in_top"] = planets["in_top"].astype("boolean").fillna(False).astype(bool)
    planets["failure"] = planets["filename"].map(reasons) if truth.key == "filename" else None
    order, ascending = ["rank"], [True]  # ranked first (best first), then the easiest to detect
    if "snr" in planets.columns:
        order.append("snr")
        ascending.append(False)
    order.append(truth.key)
    ascending.append(True)
    return planets.sort_values(order, ascending=ascending, na_position="last").reset_index(drop=True)


def _truth_view(inp: _Inputs, ranked, top) -> TruthView:
    """Join every scored light curve to the truth (by file name or TIC id) and count, per true class, how
    many scored above 0 in each model, were ranked, made the top N, and got which similarity label."""
    stars = _scored_stars(inp, ranked, top)
    stars["class"] = inp.truth.lookup(stars["filename"], stars["tic"])["class"]
    matched = stars[stars["class"].notna()].reset_index(drop=True)
    top_classes = inp.truth.lookup(top["filename"], top["tic"])["class"].fillna("not in the truth")
    counts = top_classes.value_counts()
    return TruthView(
        truth=inp.truth,
        stars=matched,
        per_class=_per_class(inp, stars, matched),
        planets=_truth_planets(inp, matched),
        top_by_class={c: int(counts[c]) for c in _class_order(counts)},
        n_scored=len(stars),
        unmatched_scored=len(stars) - len(matched),
        models=list(inp.scores),
        top_n=len(top),
        has_wrss=inp.wrss is not None,
        has_sim=inp.sim is not None,
        has_reference=inp.reference is not None,
    )


def _with_truth(frame, truth):
    """``frame`` (with filename and tic) plus ``true_class`` and ``true_<extra>`` columns."""
    found = truth.lookup(frame["filename"], frame["tic"])
    frame = frame.copy()
    frame["true_class"] = found["class"]
    for col in truth.extras:
        frame[f"true_{col}"] = found[col]
    return frame


def _candidate_task(
    config, row, path: Path, out_dir: Path, fold, toi, prefix: str = "lc", vetting: bool = True
) -> tuple[dict, dict]:
    """(worker task, result so far) of one candidate: a fold run's row when it has one (see
    report/vetting.py), else a search in the worker; with vetting (``vetting`` and the config's) its
    figure too."""
    from clara_benchmark.report import vetting as V
    from clara_benchmark.report.html import is_missing

    tic = "" if is_missing(row.tic) else f"TIC {int(row.tic)} · "
    relpath = _img_name(prefix, row.filename)
    vetting = vetting and config.vetting
    task = {
        "filename": row.filename,
        "path": str(path),
        "png": str(out_dir / relpath),
        "relpath": relpath,
        "title": getattr(row, "title", None) or f"{tic}#{row.rank}",
        "ephemeris": None,
        "vet_png": None,
        "toi": V.star_catalogue(toi, row.tic),
    }
    result: dict = {}
    taken = V.task_source(row.filename, fold, vetting)
    vet_relpath = _img_name("vet", row.filename)
    if taken is not None:
        task["ephemeris"] = taken
        result["details"] = V.with_toi(dict(taken), toi, row.tic)
        result["source"] = f"from the fold run {fold.path.name}"
        if vetting:
            V.copy_figure(fold, row.filename, out_dir, vet_relpath)
            result["vet_relpath"] = vet_relpath
    elif vetting:
        task["vet_png"] = str(out_dir / vet_relpath)
        task["vet_relpath"] = vet_relpath
    return task, result


def _thumbnails(
    config,
    top,
    out_dir: Path,
    written: set[str],
    ctx,
    notes,
    fold=None,
    toi=None,
    prefix: str = "lc",
    what: str = "candidate",
    vetting: bool = True,
) -> dict[str, dict]:
    """Each light curve's thumbnail (folded at its box least squares period) and, for candidates, its
    vetting, drawn by ``max_workers`` processes: {filename: {relpath, vet_relpath, details, source, error}}.
    ``top``: filename, tic, rank (a ``title`` column when given)."""
    from clara_benchmark.executors import LocalExecutor
    from clara_benchmark.report.plots import render_candidate

    if top.empty:
        return {}
    dirs = [Path(d) for d in config.fits_dirs]
    if not dirs:
        notes.append(("info", f"{what} thumbnails left out: no fits_dirs given"))
        return {}
    absent = [d for d in dirs if not d.is_dir()]
    for d in absent:
        notes.append(("warn", f"fits_dirs: {d} does not exist"))
    tasks, results = [], {}
    for row in top.itertuples(index=False):
        path = _find_fits(row.filename, dirs)
        if path is None:
            results[row.filename] = {"error": "FITS file not found in fits_dirs"}
            continue
        task, results[row.filename] = _candidate_task(config, row, path, out_dir, fold, toi, prefix, vetting)
        if results[row.filename].get("vet_relpath"):
            written.add(results[row.filename]["vet_relpath"])
        tasks.append(task)
    not_found = sum(1 for r in results.values() if r.get("error"))
    if not_found:
        notes.append(("warn", f"{not_found} {what} light curve(s) not found in fits_dirs: no thumbnail"))
    if tasks:
        executor = LocalExecutor(max_workers=min(config.max_workers, len(tasks)))
        bar = _progress(ctx, len(tasks))
        for task, result in zip(tasks, executor.imap(render_candidate, tasks)):
            merged = results[task["filename"]]
            if result.get("png"):
                merged["relpath"] = task["relpath"]
                written.add(task["relpath"])
            if result.get("vet_png"):
                merged["vet_relpath"] = task["vet_relpath"]
                written.add(task["vet_relpath"])
            if result.get("details") is not None:
                merged["details"] = result["details"]
            merged["error"] = result.get("error")
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    bad = [r for r in results.values() if r.get("error") and r["error"] != "FITS file not found in fits_dirs"]
    if bad:
        notes.append(("warn", f"{len(bad)} {what} light curve(s) could not be drawn (reason in the table)"))
    return results


def _vetting_pages(config, top, thumbs, out_dir: Path, has_toi: bool, footer: str) -> set[str]:
    """One page per top candidate that has a vetting (``report/vetting.py``); returns their paths."""
    from clara_benchmark.report import vetting as V
    from clara_benchmark.utils.io import atomic_write_text

    pages: set[str] = set()
    if not config.vetting:
        return pages
    for record in top.to_dict("records"):
        result = thumbs.get(record["filename"], {})
        if not result.get("details"):
            continue
        relpath = V.page_name(record["filename"])
        (out_dir / V.VET_DIR).mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / relpath, V.vetting_page(record, result, config.title, has_toi, footer))
        result["page"] = relpath
        pages.add(relpath)
    return pages


def _clustering_figures(config, view, out_dir: Path, written: set[str], ctx, notes) -> None:
    """The clustering section's figures: the run's map and comparison plot copied into img/, and the
    thumbnails of each cluster's most typical members (issue 14)."""
    from clara_benchmark.report.clustering import COMPARISON_FIGURE, MAP_FIGURE, thumbnail_rows

    for source, relpath, alt in (
        (view.map_png, MAP_FIGURE, f"2-D map of the {view.algorithm} clusters"),
        (view.comparison_png, COMPARISON_FIGURE, "the clustering algorithms compared"),
    ):
        if source is not None:
            view.figures.append((_write_png(out_dir, relpath, source.read_bytes(), written), alt))
    rows = thumbnail_rows(view, config.cluster_thumbnails)
    view.thumbs = _thumbnails(  # members: thumbnails only (no fold-run reuse, no vetting page)
        config, rows, out_dir, written, ctx, notes, prefix="cl", what="cluster member", vetting=False
    )


def _progress(ctx, total: int):
    if ctx is None:
        return None
    return ctx.progress(total=total, desc="thumbnails", unit="lc")


def _histograms(inp: _Inputs, out_dir: Path, written: set[str]) -> list[tuple[str, str]]:
    from clara_benchmark.report import plots

    histograms = []
    for model, table in inp.scores.items():
        png = plots.score_histogram(
            table.frame["anomaly_score"].to_numpy(dtype=float),
            f"{model.upper()} anomaly scores",
            plots.COLORS[model],
        )
        histograms.append((model, _write_png(out_dir, f"{IMG_DIR}/hist_{model}.png", png, written)))
    if inp.wrss is not None:
        png = plots.score_histogram(
            inp.wrss.frame[products.WRSS_NORM].to_numpy(dtype=float),
            "WRSS (normalised), P3 & P9 > 0",
            plots.COLORS["wrss"],
            xlabel=products.WRSS_NORM,
        )
        histograms.append(("wrss", _write_png(out_dir, f"{IMG_DIR}/hist_wrss.png", png, written)))
    return histograms


def _heatmaps(inp: _Inputs, out_dir: Path, written: set[str]) -> list:
    from clara_benchmark.report import plots

    heatmaps = []
    if inp.recall is not None:
        r = inp.recall
        for i, (model, grid) in enumerate(r.grids.items()):
            title = f"Recall, {model.upper()}" if model else "Recall per grid cell"
            png = plots.recall_heatmap(grid, r.depth_column, r.period_column, title)
            heatmaps.append((model, _write_png(out_dir, f"{IMG_DIR}/recall_{i}.png", png, written), grid))
    return heatmaps


def _remove_stale_figures(out_dir: Path, written: set[str]) -> None:
    """Figures of an earlier report in the same folder would only confuse: remove them, but only files
    named as this command names its figures; anything else in img/ is the user's and stays."""
    for old in (out_dir / IMG_DIR).glob("*.png"):
        if OWN_FIGURE.match(old.name) and f"{IMG_DIR}/{old.name}" not in written:
            old.unlink(missing_ok=True)


def build_report(config: ReportConfig, ctx=None, default_log_dir: Path | None = None) -> ReportResult:
    """Read the run's outputs, draw the figures and write ``<output_dir>/index.html`` (atomically, last)."""
    from clara_benchmark import __version__
    from clara_benchmark.report import sections
    from clara_benchmark.report.html import page
    from clara_benchmark.utils.io import atomic_write_text

    log = ctx.log if ctx is not None else _Quiet()
    out_dir = Path(config.output_dir)
    inp = _load_inputs(config, log, default_log_dir)
    notes = inp.notes
    written: set[str] = set()
    (out_dir / IMG_DIR).mkdir(parents=True, exist_ok=True)

    source = _rank_source(config, inp)
    ranked = _candidates(source, inp)
    top = ranked.head(config.top_n)
    truth_view = None
    if inp.truth is not None:
        truth_view = _truth_view(inp, ranked, top)
        if truth_view.matched:
            ranked = _with_truth(ranked, inp.truth)
            top = ranked.head(config.top_n)
        else:
            notes.append(
                (
                    "warn",
                    f"truth_csv {inp.truth.path} matches none of the {truth_view.n_scored:,} scored light "
                    f"curves (joined on {inp.truth.key}): no true classes shown",
                )
            )
    log.log(f"ranked {len(ranked)} candidates by {source}; drawing {len(top)}")
    from clara_benchmark.report import vetting as V

    fold = V.load_fold(config, notes)
    toi = V.load_toi(config, log)
    started = time.perf_counter()
    thumbs = _thumbnails(config, top, out_dir, written, ctx, notes, fold, toi)
    log.log(f"thumbnails and vetting of {len(thumbs)} candidates in {time.perf_counter() - started:.1f} s")
    if inp.clustering is not None:
        _clustering_figures(config, inp.clustering, out_dir, written, ctx, notes)

    histograms = _histograms(inp, out_dir, written)
    heatmaps = _heatmaps(inp, out_dir, written)
    _remove_stale_figures(out_dir, written)

    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    footer = (
        f"clara {__version__} · report generated {now} · static page, no network needed · "
        f"{len(written)} figures in {IMG_DIR}/"
    )
    pages = _vetting_pages(config, top, thumbs, out_dir, toi is not None, footer)
    V.remove_stale_pages(out_dir, pages)
    body, nav = sections.render_all(
        config=config,
        inputs=inp,
        rank_source=source,
        ranked=ranked,
        top=top,
        thumbs=thumbs,
        histograms=histograms,
        heatmaps=heatmaps,
        notes_list=notes,
        truth=truth_view,
    )
    subtitle = f"Generated {now} by clara {__version__} from {_rel(Path(config.score_dir))}"
    index = out_dir / "index.html"
    atomic_write_text(index, page(config.title, subtitle, nav, body, footer))
    n_thumbs = sum(1 for t in thumbs.values() if t.get("relpath"))
    log.log(f"wrote {index} with {len(written)} figures; notes: {json.dumps(notes)}")
    return ReportResult(
        index=index, candidates=len(top), thumbnails=n_thumbs, notes=list(notes), vetting_pages=len(pages)
    )
