"""The report's vetting: each top candidate's transit (box least squares, ``folds.vet_lightcurve``), its metrics
and flags, its page (``vetting/v_<digest>.html``), the TOI cross-match, and a fold run's results reused.

The thumbnail workers (``plots.render_candidate``) search and vet each candidate while they draw its
thumbnail, so the vetting runs in parallel with them. A candidate is taken from a fold run instead (key
``fold_dir``: its newest ``fold_periods_*.csv``) when the run found it with the box least squares method and,
with vetting pages on, saved its vetting figure; its thumbnail is then folded at the run's ephemeris with no
search. Pages are static HTML next to ``index.html`` (no network needed); only their links to ExoFOP and
MAST go out, when clicked.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from clara_benchmark import products
from clara_benchmark.report.html import Col, esc, fmt_num, href, is_missing, notes, section, subpage, table
from clara_benchmark.vetting.metrics import FLAG_RULES

VET_DIR = "vetting"
#: the pages build_report writes in vetting/, and no others (stale ones are removed, the user's files stay)
OWN_PAGE = re.compile(r"^v_[0-9a-f]{16}\.html$")
EXOFOP = "https://exofop.ipac.caltech.edu/tess/target.php?id={tic}"
MAST = "https://mast.stsci.edu/portal/Mashup/Clients/Mast/Portal.html?searchQuery=TIC%20{tic}"
#: flag names in the order the filter lists them
FLAGS = tuple(FLAG_RULES)


def _digest(filename: str) -> str:
    return hashlib.sha1(filename.encode("utf-8")).hexdigest()[:16]


def page_name(filename: str) -> str:
    """The vetting page of a light curve, relative to the report folder."""
    return f"{VET_DIR}/v_{_digest(filename)}.html"


def flags_of(details: dict | None) -> list[str]:
    if not details:
        return []
    text = details.get("flags")
    return [f for f in str(text).split(";") if f] if not is_missing(text) else []


# --------------------------------------------------------------------------------------------- inputs


@dataclass
class FoldOutput:
    """A fold run's results the report can use: box least squares rows and saved vetting figures."""

    path: Path
    rows: dict[str, dict] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)


def load_fold(config, notes_list: list) -> FoldOutput | None:
    """The newest fold_periods CSV of ``fold_dir`` (None, with a note, when there is none)."""
    from clara_benchmark.report import inputs as I

    if config.fold_dir is None:
        return None
    found = I.newest(Path(config.fold_dir), "fold").get("fold")
    if found is None:
        notes_list.append(
            ("warn", f"fold_dir {config.fold_dir}: no fold_periods_*.csv; vetting computed here")
        )
        return None
    frame = I.read_fold_table(found).frame
    run = FoldOutput(found.path)
    for record in frame.to_dict("records"):
        if record["method"] != "bls":
            continue
        name = str(record["filename"])
        run.rows[name] = record
        png = Path(config.fold_dir) / products.VETTING_PNG.name(name=products.file_stem(name))
        if png.is_file():
            run.figures[name] = png
    return run


def load_toi(config, log):
    if config.toi_catalogue is None:
        return None
    from clara_benchmark.tess_spoc_download.toi_table import load_toi_catalogue

    return load_toi_catalogue(config.toi_catalogue, cache_dir=config.output_dir, log=log.main)


def star_catalogue(catalogue, tic):
    """The TOIs of one star as a catalogue of their own (what a worker task needs), or None."""
    from clara_benchmark.vetting.toi import TOICatalogue

    if catalogue is None or is_missing(tic):
        return None
    entries = catalogue.lookup(int(tic))
    return TOICatalogue({int(tic): entries}, catalogue.source) if entries else None


def with_toi(record: dict, catalogue, tic) -> dict:
    """A fold run's row with this report's TOI cross-match (columns and the ``known TOI`` flag)."""
    from clara_benchmark.folds import toi_columns
    from clara_benchmark.vetting.metrics import FLAG_TOI
    from clara_benchmark.vetting.toi import cross_match

    if catalogue is None:
        return record
    period = record.get("period_days")
    match = None
    if not is_missing(tic):
        match = cross_match(catalogue, int(tic), None if is_missing(period) else float(period))
    flags = [f for f in flags_of(record) if f != FLAG_TOI] + ([FLAG_TOI] if match else [])
    out = {**record, **toi_columns(match), "flags": ";".join(flags)}
    out["toi_note"] = match.note if match else ""
    return out


def task_source(filename: str, fold: FoldOutput | None, vetting: bool) -> dict | None:
    """The fold run's row to use for a candidate (see the module docstring), or None: compute it."""
    if fold is None or filename not in fold.rows:
        return None
    if vetting and filename not in fold.figures:
        return None
    return fold.rows[filename]


def copy_figure(fold: FoldOutput, filename: str, out_dir: Path, relpath: str) -> None:
    from clara_benchmark.utils.io import atomic_write_bytes

    target = out_dir / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, fold.figures[filename].read_bytes())


def remove_stale_pages(out_dir: Path, written: set[str]) -> None:
    """Pages of an earlier report that this one did not write (only names this module gives)."""
    folder = out_dir / VET_DIR
    if not folder.is_dir():
        return
    for old in folder.glob("*.html"):
        if OWN_PAGE.match(old.name) and f"{VET_DIR}/{old.name}" not in written:
            old.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------- markup


def flag_chips(flags: list[str]) -> str:
    if not flags:
        return '<span class="fname">none</span>'
    return "".join(f'<span class="flag">{esc(f)}</span>' for f in flags)


def filter_bar(rows: list[dict], table_id: str) -> str:
    """Buttons that show only the rows with a flag (or with none); the table's rows carry ``data-flags``."""
    counts = {f: 0 for f in FLAGS}
    unflagged = 0
    for r in rows:
        data = r.get("__data", {})
        flags = [f for f in data.get("flags", "").split(";") if f]
        unflagged += not flags and data.get("vetted") == "yes"
        for f in flags:
            counts[f] = counts.get(f, 0) + 1
    buttons = [("", f"all ({len(rows)})", FLAG_RULES.get("", "every candidate"))]
    buttons += [(f, f"{f} ({n})", FLAG_RULES.get(f, "")) for f, n in counts.items()]
    buttons.append(("none", f"no flag ({unflagged})", "candidates that raised no flag"))
    html = "".join(
        f'<button type="button" data-flag="{esc(key)}" title="{esc(rule)}" '
        f'aria-pressed="{"true" if not key else "false"}">{esc(label)}</button>'
        for key, label, rule in buttons
    )
    return (
        f'<div class="flag-filter" data-table="{esc(table_id)}" role="group" aria-label="show candidates '
        f'by vetting flag"><span class="lead">vetting flags:</span>{html}'
        f'<span class="filter-count" aria-live="polite"></span></div>'
    )


def _num(value, digits: int = 1, unit: str = "", group: bool = True) -> str:
    if is_missing(value) or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):{',' if group else ''}.{digits}f}{unit}"


def _pm(value, err, digits: int = 0, unit: str = " ppm") -> str:
    if is_missing(err) or not math.isfinite(float(err)):
        return _num(value, digits, unit)
    return f"{_num(value, digits)} ± {_num(err, digits)}{unit}"


def _metrics_rows(d: dict) -> list[dict]:
    shift = "–"
    if not is_missing(d.get("centroid_shift_column_px")):
        shift = (
            f"column {_num(1e3 * d['centroid_shift_column_px'], 2)}, row "
            f"{_num(1e3 * d['centroid_shift_row_px'], 2)} millipixel"
        )
    items = [
        ("period", _num(d.get("period_days"), 5, " d", group=False), "box least squares period"),
        ("mid-transit time", _num(d.get("t0_btjd"), 4, " BTJD", group=False), "first observed transit"),
        ("duration", _num(d.get("duration_hours"), 2, " h"), ""),
        ("depth", _pm(d.get("depth_ppm"), d.get("depth_err_ppm")), "red-noise-aware error"),
        ("SNR", _num(d.get("snr"), 1), "depth / its error (SPOC's threshold: 7.1)"),
        ("SDE", _num(d.get("sde"), 1), "signal detection efficiency of the periodogram peak"),
        ("transits observed", _num(d.get("n_transits"), 0), "with at least half of their cadences"),
        ("odd depth", _pm(d.get("odd_depth_ppm"), d.get("odd_err_ppm")), ""),
        ("even depth", _pm(d.get("even_depth_ppm"), d.get("even_err_ppm")), ""),
        ("odd vs even", _num(d.get("odd_even_sigma"), 1, " σ"), ""),
        (
            "phase-0.5 depth",
            _pm(d.get("secondary_depth_ppm"), d.get("secondary_err_ppm")),
            "secondary eclipse",
        ),
        ("phase-0.5 significance", _num(d.get("secondary_sigma"), 1, " σ"), ""),
        ("centroid shift in transit", shift, "MOM_CENTR1/2, in minus out of transit"),
        ("centroid shift significance", _num(d.get("centroid_shift_sigma"), 1, " σ"), ""),
        ("implied source offset", _num(d.get("centroid_offset_px"), 2, " px"), "shift / depth"),
        ("box vs sinusoid", _num(d.get("box_vs_sine"), 1), "log-likelihood difference (> 0: box)"),
        ("period aliases", d.get("aliases") or "–", "shorter periods fitting the same transits"),
    ]
    return [{"metric": a, "value": b, "note": c} for a, b, c in items]


def _flag_rows(flags: list[str]) -> list[dict]:
    rows = []
    for flag, rule in FLAG_RULES.items():
        raised = flag in flags
        rows.append(
            {
                "flag": flag,
                "raised": "raised" if raised else "no",
                "raised__html": f'<span class="badge {"bad" if raised else "ok"}">{"raised" if raised else "no"}</span>',
                "rule": rule,
            }
        )
    return rows


def _toi_html(d: dict, has_catalogue: bool) -> str:
    toi = d.get("toi")
    if not is_missing(toi) and str(toi):
        parts = [f"TOI {toi}"]
        if not is_missing(d.get("toi_period_days")):
            parts.append(f"catalogue period {float(d['toi_period_days']):g} d")
        if d.get("toi_disposition"):
            parts.append(f"TFOPWG disposition {d['toi_disposition']}")
        relation = d.get("toi_relation") or "does not match"
        parts.append(f"found period vs catalogue: {relation}")
        return f"<p>{esc(' · '.join(parts))}</p>"
    if has_catalogue:
        return "<p>not in the TOI catalogue</p>"
    return '<p class="fname">no TOI catalogue given (report key toi_catalogue)</p>'


def vetting_page(record: dict, result: dict, report_title: str, has_catalogue: bool, footer: str) -> str:
    """One candidate's vetting page (``record``: its candidates-table row; ``result``: its vetting)."""
    d = result.get("details") or {}
    tic = record.get("tic")
    name = record["filename"]
    who = f"TIC {int(tic)}" if not is_missing(tic) else name
    links = [(f"../index.html#cand-{record['rank']}", f"← {report_title}")]
    if not is_missing(tic):
        links += [(EXOFOP.format(tic=int(tic)), "ExoFOP"), (MAST.format(tic=int(tic)), "MAST")]
    body = ""
    if result.get("vet_relpath"):
        src = "../" + result["vet_relpath"]
        body += (
            f'<figure class="vetting"><a href="{href(src)}" target="_blank"><img src="{href(src)}" '
            f'alt="vetting figure of {esc(name)}"></a></figure>'
        )
    else:
        body += notes([("info", "no vetting figure (vetting is off, or the figure could not be drawn)")])
    flags = flags_of(d)
    body += "<h3>Flags</h3>" + table(
        [Col("flag", "flag", "text"), Col("raised", "raised", "text"), Col("rule", "rule", "text")],
        _flag_rows(flags),
        table_id="flags",
    )
    body += "<h3>Known object</h3>" + _toi_html(d, has_catalogue)
    body += "<h3>Metrics</h3>" + table(
        [Col("metric", "metric", "text"), Col("value", "value", "text"), Col("note", "", "text")],
        _metrics_rows(d),
        table_id="metrics",
    )
    source = (
        result.get("source") or "computed by this report (box least squares, 0.5–20 d, vetting.bls defaults)"
    )
    lead = f"{name} · rank #{record['rank']} · {source}"
    html = section("vetting", f"Vetting of {who}", body, lead)
    return subpage(f"{who} · vetting", f"{report_title} · rank #{record['rank']}", links, html, footer)


def period_cell(details: dict | None) -> tuple[float | None, str]:
    if not details or is_missing(details.get("period_days")):
        return None, "–"
    days = float(details["period_days"])
    return days, (f"{days * 24:.2f} h" if days < 1 else f"{days:.3f} d")


def snr_text(details: dict | None) -> str:
    return fmt_num(details.get("snr"), 1) if details else "–"
