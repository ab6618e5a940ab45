"""The report's sections, each a function from checked inputs to HTML (markup only via ``report.html``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clara_benchmark import products
from clara_benchmark.products import LABEL_GROUPS
from clara_benchmark.report.html import (
    Col,
    badge,
    cards,
    chip,
    esc,
    figure,
    fmt_int,
    fmt_num,
    fmt_seconds,
    href,
    is_missing,
    notes,
    section,
    table,
    truth_chip,
)
from clara_benchmark.report.inputs import is_planet
from clara_benchmark.report.vetting import filter_bar, flag_chips, flags_of, period_cell, snr_text

RANK_LABELS = {
    "wrss": f"WRSS ({products.WRSS_NORM}: 0.8·√P3 + 0.2·√P9, min-max scaled)",
    "p3": "P3 anomaly score",
    "p5": "P5 anomaly score",
    "p9": "P9 anomaly score",
}
GROUP_MEANING = {
    "planet_like": "matched a planet or brown dwarf (Pl, Pl?, BD*, s*b)",
    "binary_star": "matched a binary (SB*, **, EB*, LM*)",
    "stellar": "matched a star (*, PM*, Er*)",
    "outlier": "no reference similar enough (or err)",
    "unclassified": "matched another object type",
}
MAX_RUNS = 30
MAX_FAILURE_ROWS = 500
MAX_CONFIG_BYTES = 64 << 10
MAX_PLANET_ROWS = 200


def _tic_html(tic, filename: str) -> str:
    tic_text = "" if is_missing(tic) else f"TIC {int(tic)}"
    return f'<span class="tic">{esc(tic_text)}</span><span class="fname">{esc(filename)}</span>'


def _period_html(days) -> str:
    if is_missing(days):
        return "–"
    days = float(days)
    return esc(f"{days * 24:.2f} h") if days < 1 else esc(f"{days:.3f} d")


def _truth_html(record: dict, prefix: str = "true_") -> str:
    """A true class with what was injected (subtype, period, depth) when the truth says; the planets
    table of the recovery section has the rest."""
    cls = record.get(f"{prefix}class" if prefix else "class")
    if is_missing(cls):
        return '<span class="fname">not in the truth CSV</span>'
    return truth_chip(str(cls), wrap=True) + _injected_html(record, prefix)


def _injected_html(record: dict, prefix: str = "") -> str:
    def get(name):
        value = record.get(f"{prefix}{name}")
        return None if is_missing(value) else value

    parts = []
    if get("subtype"):
        parts.append(str(get("subtype")))
    if get("period_days") is not None:
        parts.append("P " + _period_html(get("period_days")))
    if get("depth_ppm") is not None:
        parts.append(f"{float(get('depth_ppm')):,.0f} ppm")
    return "".join(f'<span class="fname nowrap">{esc(p)}</span>' for p in parts)


def _label_html(record: dict, unlabelled: str = "not in the similarity output") -> str:
    """The similarity label, or why there is none (in the reference set, not labelled)."""
    group = record.get("label_group")
    if not is_missing(group):
        return f"{chip(str(group))}<span class='fname'>{esc(record.get('matched_label'))}</span>"
    ref = record.get("reference_label")
    if not is_missing(ref):
        return f"<span class='fname'>in the reference set ({esc(ref)})</span>"
    return f'<span class="fname">{esc(unlabelled)}</span>'


def _producing_run(runs, stamp_when, command: str):
    for run in reversed(runs):
        if run.command == command and run.covers(stamp_when):
            return run
    return None


# --------------------------------------------------------------------------------------------- summary


def _summary_cards(inputs, truth) -> tuple[list, bool]:
    """The summary's cards, and whether a failures file of score was found."""
    items = []
    score_failures = [t for src, t in inputs.failures if src == "score"]
    n_fail = sum(len(t.frame) for t in score_failures)  # sim's failures are not scoring attempts
    n_sim_fail = sum(len(t.frame) for src, t in inputs.failures if src == "sim")
    n_scored = max((len(t.frame) for t in inputs.scores.values()), default=0)
    if inputs.scores:
        sub = f"{n_scored + n_fail:,} attempted, {n_fail:,} failed" if score_failures else ""
        items.append(("light curves scored", f"{n_scored:,}", sub))
    for model, t in inputs.scores.items():
        scores = t.frame["anomaly_score"]
        n, k = len(scores), int((scores > 0).sum())
        pct = 100.0 * k / n if n else 0.0
        items.append((f"{model.upper()} score > 0", f"{k:,}", f"{pct:.1f}% of {n:,}"))
    if inputs.wrss is not None:
        w = inputs.wrss.frame["score_weighted_root_sum"]
        sub = f"batch WRSS {w.min():.3f} – {w.max():.3f}" if len(w) else "P3 and P9 > 0"
        items.append(("WRSS candidates", f"{len(w):,}", sub))
    if inputs.failures:
        sub = f"score {n_fail:,} · sim {n_sim_fail:,} · see Failures" if n_sim_fail else "see Failures"
        items.append(("light curves failed", f"{n_fail + n_sim_fail:,}", sub))
    if inputs.sim is not None:
        groups = inputs.sim.frame["label_group"].value_counts()
        sub = " · ".join(f"{g} {groups[g]}" for g in groups.index[:3])
        items.append(("labelled by similarity", f"{len(inputs.sim.frame):,}", sub))
    stamp_sources = [("score", t.source) for t in [*inputs.scores.values(), inputs.wrss] if t is not None]
    if inputs.sim is not None:
        stamp_sources.append(("sim", inputs.sim.source))
    timings = {}
    for command, found in stamp_sources:
        run = _producing_run(inputs.runs, found.when, command)
        if run is not None and run.seconds and command not in timings:
            timings[command] = run.seconds
    if timings:
        first, *rest = timings.items()
        subs = []
        if first[0] == "score" and n_scored + n_fail:
            subs.append(f"{(n_scored + n_fail) / first[1]:.1f} light curves/s")
        subs += [f"then {c} {fmt_seconds(s)}" for c, s in rest]
        items.append((f"{first[0]} run time", fmt_seconds(first[1]), " · ".join(subs)))
    if truth is not None and truth.matched:
        planets = truth.per_class[truth.per_class["class"].map(is_planet)]
        if len(planets):
            k, n = int(planets["top"].sum()), int(planets["in_truth"].sum())
            ranks = truth.planets["rank"].dropna()
            best = f" · best #{int(ranks.min())}" if len(ranks) else ""
            items.append((f"planets in top {truth.top_n:,}", f"{k:,}", f"of {n:,} in the truth{best}"))
    return items, bool(score_failures)


def _file_row(kind: str, path, when: str, rows: int) -> dict:
    return {
        "kind": kind,
        "file": str(path),
        "file__html": f"<code>{esc(path)}</code>",
        "when": when,
        "rows": rows,
    }


def _input_files_table(inputs) -> str:
    rows = []
    for kind, t in [(f"scores {m.upper()}", t) for m, t in inputs.scores.items()] + [
        ("WRSS", inputs.wrss),
        ("similarity", inputs.sim),
        *[(f"failures ({src})", t) for src, t in inputs.failures],
    ]:
        if t is None:
            continue
        rows.append(_file_row(kind, t.source.path, t.source.when.strftime("%Y-%m-%d %H:%M:%S"), len(t.frame)))
    for kind, path, n in (
        ("truth", inputs.truth.path if inputs.truth is not None else None, 0),
        ("reference labels", inputs.reference_path, 0),
    ):
        if path is None:
            continue
        n = len(inputs.truth.frame) if kind == "truth" else len(inputs.reference)
        rows.append(_file_row(kind, path, "", n))
    if inputs.recall is not None:
        n = sum(g.size for g in inputs.recall.grids.values())
        rows.append(_file_row("injection–recovery", inputs.recall.source, "", n))
    return "<h3>Input files</h3>" + table(
        [
            Col("kind", "kind", "text"),
            Col("file", "file", "text"),
            Col("when", "run timestamp", "text"),
            Col("rows", "rows", fmt=fmt_int, css="num"),
        ],
        rows,
        table_id="inputs",
    )


def summary_section(inputs, ranked, notes_list, truth=None) -> str:
    items, have_failures = _summary_cards(inputs, truth)
    body = cards(items) + notes(notes_list)
    if not have_failures:
        body += notes([("info", "no failures file found next to the scores")])
    body += _input_files_table(inputs)
    return section("summary", "Run summary", body)


# --------------------------------------------------------------------------------------------- scores


def distributions_section(histograms) -> str:
    figs = "".join(figure(rel, f"{name.upper()} score histogram", "") for name, rel in histograms)
    lead = (
        "Anomaly score = 1 − P(real) from each Unsupervised Random Forest. Most stars score exactly 0; "
        "the histograms show the scores above 0 and count the zeros in the corner."
    )
    return section("distributions", "Anomaly-score distributions", f'<div class="figs">{figs}</div>', lead)


def candidates_section(rank_source, ranked, top, thumbs, inputs) -> str:
    has = set(top.columns)
    cols = [
        Col("rank", "#", css="num", fmt=fmt_int, title="rank by " + rank_source),
        Col("tic", "star", "num", title="TIC id (sorts by TIC) and file name", css="file"),
    ]
    for key, label, title in (
        ("wrss_norm", "WRSS norm", products.WRSS_NORM),
        ("wrss", "WRSS", "score_weighted_root_sum = 0.8·√P3 + 0.2·√P9"),
        ("p3", "P3", "P3 anomaly score"),
        ("p5", "P5", "P5 anomaly score"),
        ("p9", "P9", "P9 anomaly score"),
    ):
        if key in has:
            cols.append(Col(key, label, fmt=fmt_num, title=title, css="num"))
    vetted = any((thumbs.get(f) or {}).get("details") for f in top["filename"])
    cols += [
        Col(
            "bls_period",
            "BLS period",
            title="box least squares period (the thumbnail's fold), and the transit's SNR (depth / its error)",
            css="num",
        ),
        Col(
            "flags",
            "flags",
            "text",
            title="vetting flags, and the vetting page with their rules",
            css="flags",
        ),
    ]
    if any(str(((thumbs.get(f) or {}).get("details") or {}).get("toi") or "") for f in top["filename"]):
        cols.append(Col("toi", "TOI", "text", title="TOI number in the TOI catalogue, and its period"))
    if "true_class" in has:
        cols.append(
            Col("true_class", "true class", "text", title="from the truth CSV, with what was injected")
        )
    if inputs.sim is not None:
        cols += [
            Col("label_group", "label", "text", title="label group and best-matching reference label"),
            Col("similarity_score", "similarity", fmt=lambda v: fmt_num(v, 3), css="num"),
        ]
    cols.append(Col("thumb", "light curve · folded · transit", "html", sortable=False, css="thumb"))
    rows = []
    for r in top.to_dict("records"):
        t = thumbs.get(r["filename"], {})
        row = dict(r)
        row["__id"] = f"cand-{r['rank']}"
        row["tic__html"] = _tic_html(r.get("tic"), r["filename"])
        if is_missing(r.get("tic")):
            row["tic"] = None
        _vetting_cells(row, t)
        if "true_class" in has:
            row["true_class__html"] = _truth_html(r)
        if inputs.sim is not None:
            row["label_group__html"] = _label_html(r)
        if t.get("relpath"):
            alt = f"light curve, folded curve and periodogram of {r['filename']}"
            row["thumb"] = (
                f'<a href="{href(t["relpath"])}" target="_blank"><img src="{href(t["relpath"])}" '
                f'alt="{esc(alt)}"></a>'
            )
        else:
            reason = t.get("error") or "no thumbnail (fits_dirs not given)"
            row["thumb"] = f'<span class="missing-thumb">{esc(reason)}</span>'
        rows.append(row)
    label = RANK_LABELS[rank_source]
    if top.empty:
        lead = f"No candidate: no light curve has {label} above 0."
        return section("candidates", "Top candidates", notes([("warn", lead)]))
    lead = (
        f"The {len(top):,} highest of {len(ranked):,} candidates ranked by {label}. Click a column header to "
        "sort; click a thumbnail to open it full size. Each thumbnail shows the PDCSAP light curve (grey: "
        "2-minute cadences, blue: binned, pink marks: the transits), the curve folded at the box least "
        "squares period with the transit at phase 0 (purple: binned), and a zoom on the transit."
    )
    if any((thumbs.get(f) or {}).get("page") for f in top["filename"]):
        lead += " Each vetting page has the full vetting figure, the metrics and the rules of the flags."
    bar = filter_bar(rows, "candidates-table") if vetted else ""
    return section("candidates", "Top candidates", bar + table(cols, rows, table_id="candidates-table"), lead)


def _vetting_cells(row: dict, t: dict) -> None:
    """The candidates table's vetting columns of one row (from its thumbnail worker or a fold run)."""
    details = t.get("details")
    days, text = period_cell(details)
    row["bls_period"], row["bls_period__html"] = days, esc(text)
    if details and not is_missing(details.get("snr")):
        row["bls_period__html"] += f'<span class="fname nowrap">SNR {esc(snr_text(details))}</span>'
    flags = flags_of(details)
    row["flags"] = ";".join(flags) if details else None
    row["flags__html"] = flag_chips(flags) if details else "–"
    row["__data"] = {"flags": ";".join(flags), "vetted": "yes" if details else "no"}
    toi = str(details.get("toi") or "") if details else ""
    row["toi"] = toi or None
    if toi:
        period = details.get("toi_period_days")
        extra = "" if is_missing(period) else f'<span class="fname">P {float(period):g} d</span>'
        row["toi__html"] = f"{esc(toi)}{extra}"
    if t.get("page"):
        link = href(t["page"])
        row["flags__html"] += f'<a href="{link}" class="vet-link">vetting page</a>'


# --------------------------------------------------------------------------------------------- truth


def _count_html(k: int, of: int) -> str:
    if not k:
        return '<span class="zero">0</span>'
    pct = f'<span class="pct">{100.0 * k / of:.0f}%</span>' if of else ""
    return f"{k:,}{pct}"


def _truth_class_table(truth, rank_source: str) -> str:
    pc = truth.per_class
    ranked_label = "WRSS candidates" if rank_source == "wrss" else f"ranked ({rank_source.upper()} > 0)"
    cols = [
        Col("class", "true class", "text"),
        Col("in_truth", "in truth", fmt=fmt_int, css="num", title="stars of this class in the truth CSV"),
        Col("scored", "scored", fmt=fmt_int, css="num", title="light curves with an anomaly score"),
    ]
    for model in truth.models:
        cols.append(
            Col(f"{model}_pos", f"{model.upper()} > 0", css="num", title=f"{model.upper()} score > 0")
        )
    cols.append(Col("ranked", ranked_label, css="num", title=RANK_LABELS[rank_source] + " above 0"))
    cols.append(Col("top", f"top {truth.top_n:,}", css="num", title="listed in Top candidates"))
    groups = []
    if truth.has_sim:
        cols.append(Col("in_sim", "in sim output", css="num", title="labelled by similarity"))
        present = [c[4:] for c in pc.columns if c.startswith("sim_")]
        groups = [g for g in LABEL_GROUPS if g in present] + [g for g in present if g not in LABEL_GROUPS]
        for g in groups:
            cols.append(Col(f"sim_{g}", g, css="num", title=f"sim label group {g}"))
    if truth.has_reference:
        cols.append(Col("in_reference", "in reference set", css="num", title="part of the reference set"))
    rows = []
    for r in pc.to_dict("records"):
        row = dict(r)
        row["class__html"] = truth_chip(r["class"])
        for c in cols[3:]:
            value = 0 if is_missing(r.get(c.key)) else int(r[c.key])
            row[c.key] = value
            row[f"{c.key}__html"] = _count_html(value, r["scored"])
        rows.append(row)
    return "<h3>Per true class</h3>" + table(cols, rows, table_id="truth-classes")


def _planet_table(truth, rank_source: str) -> str:
    planets = truth.planets
    if not len(planets):
        return ""
    shown = planets.head(MAX_PLANET_ROWS)
    extras = [c for c in ("depth_ppm", "period_days", "duration_hours", "snr") if c in planets.columns]
    pcols = [Col("tic", "star", "num", css="file")]
    labels = {
        "depth_ppm": ("depth (ppm)", lambda v: "–" if is_missing(v) else f"{round(float(v)):,}"),
        "period_days": ("period", None),
        "duration_hours": ("duration (h)", lambda v: fmt_num(v, 2)),
        "snr": ("SNR", lambda v: fmt_num(v, 1)),
    }
    for c in extras:
        label, fmt = labels[c]
        pcols.append(Col(c, label, fmt=fmt, css="num", title=f"injected {c}"))
    pcols.append(Col("rank", "rank", fmt=fmt_int, css="num", title="rank by " + rank_source))
    score_cols = (["wrss_norm"] if truth.has_wrss else []) + truth.models
    for c in score_cols:
        title = products.WRSS_NORM if c == "wrss_norm" else f"{c.upper()} anomaly score"
        pcols.append(
            Col(c, "WRSS norm" if c == "wrss_norm" else c.upper(), fmt=fmt_num, css="num", title=title)
        )
    pcols.append(Col("label_group", "label", "text", title="similarity label, or why there is none"))
    prow = []
    for r in shown.to_dict("records"):
        row = dict(r)
        tic = r.get("tic") if not is_missing(r.get("tic")) else r.get("tic_id")
        row["tic"] = None if is_missing(tic) else tic
        name = r.get("filename")
        row["tic__html"] = _tic_html(tic, "" if is_missing(name) else name)
        if "period_days" in r:
            row["period_days__html"] = _period_html(r["period_days"])
        rank = r.get("rank")
        if not is_missing(rank) and bool(r.get("in_top")):
            row["rank__html"] = f'<a href="#cand-{int(rank)}">#{int(rank)}</a>'
        if not bool(r.get("scored")):
            why = r.get("failure")
            text = f"not scored: {why}" if not is_missing(why) else "not scored"
            row["label_group__html"] = f'<span class="fname">{esc(text)}</span>'
        elif truth.has_sim or truth.has_reference:
            ranked = not is_missing(rank)
            unranked = f"not ranked ({'P3 or P9' if rank_source == 'wrss' else rank_source.upper()} = 0)"
            why = "not in the similarity output" if ranked else unranked
            row["label_group__html"] = _label_html(r, why)
        else:
            row["label_group__html"] = '<span class="fname">no similarity run</span>'
        prow.append(row)
    in_top = int(planets["in_top"].sum())
    caption = f"showing {len(shown):,} of {len(planets):,}" if len(planets) > len(shown) else ""
    html = (
        f'<h3>Injected planets <span class="lead">{in_top:,} of {len(planets):,} in the top '
        f"{truth.top_n:,}; ranked first, then by SNR</span></h3>"
    )
    return html + table(pcols, prow, table_id="truth-planets", caption=caption)


def recovery_section(truth, rank_source: str) -> str:
    t = truth.truth
    source = "filename" if t.key == "filename" else "TIC id"
    lead = (
        f"The stars' true classes from {Path(t.path).name} (joined to the scored light curves by {source}) "
        f"against what the pipeline made of them. Percentages are of the scored light curves of each class."
    )
    if not truth.matched:
        text = (
            f"{t.path} matches none of the {truth.n_scored:,} scored light curves (joined on {t.key}): "
            "is it the truth of another sector or run?"
        )
        return section("truth", "Recovery against the truth", notes([("warn", text)]), lead)
    extra = []
    if truth.unmatched_scored:
        extra.append(
            ("info", f"{truth.unmatched_scored:,} scored light curve(s) are not in the truth CSV (left out)")
        )
    not_scored = int(truth.per_class["not_scored"].sum())
    if not_scored:
        extra.append(("info", f"{not_scored:,} star(s) of the truth CSV have no score (failed or not run)"))
    body = notes(extra)

    chips = "".join(truth_chip(c, f"{c}: {n:,}") for c, n in truth.top_by_class.items())
    body += (
        f'<h3>The top {truth.top_n:,} candidates by true class</h3><div class="chips">{chips or "none"}</div>'
    )

    body += _truth_class_table(truth, rank_source)
    body += _planet_table(truth, rank_source)
    return section("truth", "Recovery against the truth", body, lead)


# --------------------------------------------------------------------------------------------- sim


def _first_column(frame, names):
    for n in names:
        if n in frame.columns:
            return n
    return None


def similarity_section(inputs, top, max_rows: int) -> str:
    frame = inputs.sim.frame
    counts = frame["label_group"].value_counts()
    order = [g for g in LABEL_GROUPS if g in counts.index] + [
        g for g in counts.index if g not in LABEL_GROUPS
    ]
    chips = '<div class="chips">' + "".join(chip(g, f"{g}: {counts[g]:,}") for g in order) + "</div>"
    rank_of = dict(zip(top["filename"], top["rank"]))
    tic_col = _first_column(frame, ("tic", "tic_p3", "tic_id"))
    wrss_col = _first_column(frame, (products.WRSS_NORM,))
    body = chips
    if frame.empty:
        body += notes([("info", "the similarity output has no rows")])
    for group in order:
        part = frame[frame["label_group"] == group].sort_values(
            ["similarity_score", "filename"], ascending=[False, True]
        )
        shown = part.head(max_rows)
        cols = [
            Col("tic", "star", "num", css="file"),
            Col("matched_label", "matched label", "text"),
        ]
        if "matched_filename" in frame.columns:
            cols.append(Col("matched_filename", "matched reference", "text", css="file"))
        cols.append(Col("similarity_score", "similarity", fmt=lambda v: fmt_num(v, 3), css="num"))
        if wrss_col:
            cols.append(Col(wrss_col, "WRSS norm", fmt=fmt_num, css="num"))
        cols.append(Col("rank", "top rank", fmt=fmt_int, css="num", title="rank in Top candidates"))
        rows = []
        for r in shown.to_dict("records"):
            tic = r.get(tic_col) if tic_col else None
            row = dict(r)
            row["tic"] = None if is_missing(tic) else tic
            row["tic__html"] = _tic_html(tic, r["filename"])
            if "matched_filename" in r:
                row["matched_filename__html"] = f'<span class="fname">{esc(r["matched_filename"])}</span>'
            rank = rank_of.get(r["filename"])
            row["rank"] = rank
            if rank is not None:
                row["rank__html"] = f'<a href="#cand-{int(rank)}">#{int(rank)}</a>'
            rows.append(row)
        more = f"showing the {len(shown):,} best of {len(part):,}" if len(part) > len(shown) else ""
        meaning = GROUP_MEANING.get(group, "")
        body += (
            f'<h3>{chip(group)} <span class="lead">{len(part):,} candidate(s)'
            f"{(': ' + esc(meaning)) if meaning else ''}</span></h3>"
        )
        body += table(cols, rows, table_id=f"sim-{group}", caption=more)
    lead = (
        "Each candidate's clara-4000 vector, projected with the reference PCA, matched to the most similar "
        "labelled reference light curve (cosine similarity); below the threshold the label is outlier."
    )
    return section("similarity", "Similarity labels", body, lead)


# --------------------------------------------------------------------------------------------- evaluate


def recall_section(inputs, heatmaps) -> str:
    r = inputs.recall
    figs = "".join(figure(rel, f"recall heat map {model}".strip(), "") for model, rel, _ in heatmaps)
    extra = []
    for model, rate in r.anomaly_rate.items():
        extra.append(
            ("info", f"anomaly rate of un-injected stars{(' (' + model + ')') if model else ''}: {rate:.2%}")
        )
    extra += [("info", n) for n in r.notes]
    lead = (
        f"Fraction of injected transits recovered per {r.depth_column} × {r.period_column} cell "
        f"(from {Path(r.source).name})."
    )
    return section(
        "recall", "Injection–recovery", notes(extra) + f'<div class="figs wide">{figs}</div>', lead
    )


# --------------------------------------------------------------------------------------------- failures


def failures_section(inputs) -> str:
    body = ""
    for source, t in inputs.failures:
        frame = t.frame
        counts = frame["reason"].value_counts()
        body += (
            f"<h3>{esc(source)}: {len(frame):,} light curve(s) <code>{esc(t.source.path.name)}</code></h3>"
        )
        if frame.empty:
            body += notes([("info", "no failures")])
            continue
        body += table(
            [Col("reason", "reason", "text"), Col("count", "light curves", fmt=fmt_int, css="num")],
            [{"reason": reason, "count": int(n)} for reason, n in counts.items()],
            table_id=f"fail-reasons-{source}",
        )
        shown = frame.head(MAX_FAILURE_ROWS)
        rows = [{"filename": r["filename"], "reason": r["reason"]} for r in shown.to_dict("records")]
        body += (
            f"<details><summary>every file ({len(shown):,} of {len(frame):,})</summary>"
            + table([Col("filename", "file", "text"), Col("reason", "reason", "text")], rows)
            + "</details>"
        )
    lead = "Light curves that could not be scored or labelled, with the reason; the run went on without them."
    return section("failures", "Failures", body, lead)


# --------------------------------------------------------------------------------------------- runs


def _config_html(run) -> str:
    if not run.config_path:
        return "<p class='fname'>config from the command line only</p>"
    path = Path(run.config_path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return f"<p class='fname'>{esc(path)}: too large to show</p>"
        data = path.read_bytes()
    except OSError:
        return f"<p class='fname'>{esc(path)} is not readable from here (relative to the run's folder?)</p>"
    same = hashlib.sha256(data).hexdigest() == run.config_sha256
    state = "unchanged since the run" if same else "changed since the run (sha256 differs)"
    text = data.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        pass
    return f"<p class='fname'>{esc(path)}: {esc(state)}</p><pre>{esc(text)}</pre>"


def runs_section(inputs) -> str:
    runs = inputs.runs[-MAX_RUNS:]
    used = set()
    for t in [*inputs.scores.values(), inputs.wrss, inputs.sim]:
        if t is None:
            continue
        command = "sim" if t is inputs.sim else "score"
        run = _producing_run(inputs.runs, t.source.when, command)
        if run is not None:
            used.add(id(run))
    rows = []
    for run in reversed(runs):
        code = run.exit_code
        status = badge(
            code == 0 if code is not None else None, "running or killed" if code is None else f"exit {code}"
        )
        details = _config_html(run)
        if run.argv:
            details += f"<p class='fname'>argv: {esc(' '.join(run.argv))}</p>"
        if run.messages:
            lines = "\n".join(f"[{level}] {text}" for level, text in run.messages)
            details += f"<pre>{esc(lines)}</pre>"
        rows.append(
            {
                "command": run.command,
                "command__html": f"<b>{esc(run.command)}</b>"
                + (' <span class="chip g-planet">outputs shown here</span>' if id(run) in used else ""),
                "started": run.started.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": run.seconds,
                "seconds__html": esc(fmt_seconds(run.seconds)),
                "exit": code,
                "exit__html": status,
                "meta": run.meta_message,
                "details": f"<details><summary>config and messages</summary>{details}</details>",
            }
        )
    lead = (
        f"The last {len(runs)} runs recorded in {inputs.main_log} (newest first), with their timings, exit "
        "codes and configs."
    )
    cols = [
        Col("command", "command", "text"),
        Col("started", "started", "text"),
        Col("seconds", "duration", css="num"),
        Col("exit", "exit code"),
        Col("meta", "meta message", "text"),
        Col("details", "details", "html", sortable=False),
    ]
    body = table(cols, rows, table_id="runs") if rows else notes([("info", "main.log has no runs yet")])
    return section("runs", "Runs and configs", body, lead)


# --------------------------------------------------------------------------------------------- page


def render_all(
    config, inputs, rank_source, ranked, top, thumbs, histograms, heatmaps, notes_list, truth=None
) -> tuple[str, list]:
    """All sections in page order, and the navigation links to them; absent inputs leave sections out."""
    parts = [("summary", "Summary", summary_section(inputs, ranked, notes_list, truth))]
    parts.append(("distributions", "Score distributions", distributions_section(histograms)))
    parts.append(
        ("candidates", "Top candidates", candidates_section(rank_source, ranked, top, thumbs, inputs))
    )
    if truth is not None:
        parts.append(("truth", "Recovery", recovery_section(truth, rank_source)))
    if inputs.sim is not None:
        parts.append(("similarity", "Similarity", similarity_section(inputs, top, config.max_rows_per_group)))
    if getattr(inputs, "clustering", None) is not None:  # issue 14
        from clara_benchmark.report.clustering import clustering_section

        parts.append(
            ("clustering", "Clustering", clustering_section(inputs.clustering, config.max_rows_per_group))
        )
    if heatmaps:
        parts.append(("recall", "Injection–recovery", recall_section(inputs, heatmaps)))
    if inputs.failures:
        parts.append(("failures", "Failures", failures_section(inputs)))
    if inputs.main_log is not None:
        parts.append(("runs", "Runs", runs_section(inputs)))
    body = "\n".join(html for _, _, html in parts)
    nav = [(i, label) for i, label, _ in parts]
    return body, nav
