"""HTML building blocks for the report: one self-contained page, inline CSS and a little inline JS.

Every piece of text that comes from data (file names, labels, log lines, config values) goes through
``esc``; only the helpers here produce markup. Nothing is fetched from the network, so the page works from
``file://`` on a machine with no connection.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(relpath: str) -> str:
    """A relative URL for a file in the report folder (names are ours, but quote them anyway)."""
    return esc(quote(relpath))


def is_missing(value) -> bool:
    """None, NaN and pandas' NA are all shown as a dash and sort last."""
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_num(value, digits: int = 4) -> str:
    if is_missing(value):
        return "–"
    v = float(value)
    if v == 0:
        return f"{0:.{digits}f}"
    if abs(v) >= 1e5 or abs(v) < 10 ** (-digits):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}f}"


def fmt_int(value) -> str:
    return "–" if is_missing(value) else f"{int(value):,}"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {sec:02.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes):02d} min"


@dataclass
class Col:
    """A table column: ``kind`` "num" sorts numerically, "text" alphabetically, "html" is raw markup."""

    key: str
    label: str
    kind: str = "num"
    fmt: Callable | None = None
    title: str = ""
    sortable: bool = True
    css: str = ""


def table(columns: list[Col], rows: Iterable[dict], table_id: str = "", caption: str = "") -> str:
    """A table whose header cells sort it when clicked (numbers sort on the raw value in ``data-v``)."""
    head = []
    for c in columns:
        cls = [c.css] if c.css else []
        attrs = ""
        if c.sortable and c.kind != "html":
            cls.append("sortable")
            attrs = f' data-type="{"num" if c.kind == "num" else "text"}" tabindex="0" aria-sort="none"'
        title = f' title="{esc(c.title)}"' if c.title else ""
        head.append(f'<th class="{" ".join(cls)}"{attrs}{title} scope="col">{esc(c.label)}</th>')
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.key)
            cls = f' class="{c.css}"' if c.css else ""
            if c.kind == "html":
                cells.append(f"<td{cls}>{value or ''}</td>")
                continue
            shown = row.get(f"{c.key}__html")
            if shown is None:
                shown = esc(c.fmt(value) if c.fmt else ("–" if is_missing(value) else value))
            if c.kind == "num":
                sort = "" if is_missing(value) else repr(float(value))
            else:
                sort = "" if is_missing(value) else str(value)
            cells.append(f'<td{cls} data-v="{esc(sort)}">{shown}</td>')
        row_id = f' id="{esc(row["__id"])}"' if row.get("__id") else ""
        row_id += "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in row.get("__data", {}).items())
        body.append(f"<tr{row_id}>{''.join(cells)}</tr>")
    tid = f' id="{esc(table_id)}"' if table_id else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table class="data"{tid}>{cap}<thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def cards(items: list[tuple[str, str, str]]) -> str:
    """Stat tiles: (label, big value, small print)."""
    tiles = "".join(
        f'<div class="card"><div class="card-value">{esc(value)}</div>'
        f'<div class="card-label">{esc(label)}</div>'
        + (f'<div class="card-sub">{esc(sub)}</div>' if sub else "")
        + "</div>"
        for label, value, sub in items
    )
    return f'<div class="cards">{tiles}</div>'


def notes(items: list[tuple[str, str]]) -> str:
    """Call-outs: (level "warn" | "info", text)."""
    if not items:
        return ""
    return "".join(f'<p class="note note-{esc(level)}">{esc(text)}</p>' for level, text in items)


def figure(src: str, alt: str, caption: str = "", width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (
        f'<figure><a href="{href(src)}" target="_blank"><img src="{href(src)}" alt="{esc(alt)}"'
        f"{w}></a>{cap}</figure>"
    )


GROUP_CLASS = {
    "planet_like": "g-planet",
    "binary_star": "g-binary",
    "stellar": "g-stellar",
    "outlier": "g-outlier",
    "unclassified": "g-unclassified",
}


def chip(group: str, text: str | None = None) -> str:
    cls = GROUP_CLASS.get(group, "g-unclassified")
    return f'<span class="chip {cls}">{esc(text if text is not None else group)}</span>'


def truth_chip(cls: str, text: str | None = None, wrap: bool = False) -> str:
    """A true class: outlined, so it is not mistaken for a similarity label group. ``wrap`` lets a long
    name break after its underscores (eclipsing_ binary) in a narrow column."""
    from clara_benchmark.report.inputs import is_planet

    lowered = str(cls).lower()
    kind = "t-planet" if is_planet(cls) else ("t-binary" if "binary" in lowered else "t-other")
    shown = esc(text if text is not None else cls)
    if wrap:
        shown = shown.replace("_", "_<wbr>")
    return f'<span class="chip truth {kind}{" wrap" if wrap else ""}">{shown}</span>'


def badge(ok: bool | None, text: str) -> str:
    cls = "ok" if ok else ("bad" if ok is False else "unknown")
    return f'<span class="badge {cls}">{esc(text)}</span>'


def section(section_id: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{esc(lead)}</p>' if lead else ""
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{lead_html}{body}</section>'


def page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str, footer: str) -> str:
    """The report's main page; ``nav`` (section id, label) become in-page links in the header."""
    links = "".join(f'<a href="#{esc(i)}">{esc(label)}</a>' for i, label in nav)
    return _document(title, subtitle, links, body, footer)


def subpage(title: str, subtitle: str, links: list[tuple[str, str]], body: str, footer: str) -> str:
    """A page of its own (a vetting page) with the report's look; ``links`` (href, label) replace the
    navigation: relative ones stay in the folder, absolute ones (ExoFOP, MAST) open a new tab."""
    parts = []
    for url, label in links:
        external = url.startswith(("https://", "http://"))
        extra = ' target="_blank" rel="noopener noreferrer" class="external"' if external else ""
        parts.append(f'<a href="{esc(url)}"{extra}>{esc(label)}</a>')
    return _document(title, subtitle, "".join(parts), body, footer)


def _document(title: str, subtitle: str, nav_html: str, body: str, footer: str) -> str:
    """The whole self-contained HTML document that `page` and `subpage` share.

    Parameters
    ----------
    title, subtitle, footer : str
        Plain text, escaped here.
    nav_html : str
        The header's links, already markup (built from escaped parts by the caller).
    body : str
        The page's markup.

    Returns
    -------
    str
        The document, with the inline CSS and JS.
    """
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="clara report">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header class="top"><div class="wrap">
<h1>{esc(title)}</h1>
<p class="subtitle">{esc(subtitle)}</p>
<nav>{nav_html}</nav>
</div></header>
<main class="wrap">
{body}
</main>
<footer class="wrap">{esc(footer)}</footer>
<script>{JS}</script>
</body>
</html>
"""


CSS = """
:root {
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f3f5f9; --card: #ffffff;
  --accent: #4338ca; --accent-soft: #eef2ff;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.wrap { max-width: 1480px; margin: 0 auto; padding: 0 24px; }
header.top { background: linear-gradient(120deg, #0f172a 0%, #1e3a8a 60%, #4338ca 100%); color: #fff;
  padding: 26px 0 0; margin-bottom: 24px; }
header.top h1 { margin: 0; font-size: 26px; letter-spacing: .2px; }
header.top .subtitle { margin: 4px 0 16px; color: #c7d2fe; font-size: 13px; }
header.top nav { display: flex; flex-wrap: wrap; gap: 4px; }
header.top nav a { color: #e0e7ff; text-decoration: none; padding: 8px 14px; border-radius: 8px 8px 0 0;
  font-size: 13px; font-weight: 500; }
header.top nav a:hover { background: rgba(255,255,255,.12); color: #fff; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 20px 24px;
  margin: 0 0 22px; box-shadow: 0 1px 2px rgba(15,23,42,.04); }
section h2 { margin: 0 0 6px; font-size: 19px; }
section h3 { margin: 22px 0 8px; font-size: 15px; display: flex; align-items: center; gap: 8px; }
.lead { margin: 0 0 14px; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(148px, 1fr)); gap: 12px; margin: 10px 0 14px; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; background: #fbfcfe; }
.card-value { font-size: 24px; font-weight: 650; color: var(--accent); font-variant-numeric: tabular-nums; }
.card-label { font-size: 12.5px; font-weight: 600; }
.card-sub { font-size: 12px; color: var(--muted); }
.note { margin: 8px 0; padding: 8px 12px; border-radius: 8px; border-left: 4px solid; font-size: 13px; }
.note-warn { background: #fffbeb; border-color: #f59e0b; }
.note-info { background: #eff6ff; border-color: #3b82f6; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 10px; margin: 8px 0 4px; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
table.data caption { text-align: left; padding: 8px 12px; color: var(--muted); caption-side: bottom; }
table.data th { position: sticky; top: 0; background: #f8fafc; text-align: left; font-weight: 600;
  padding: 9px 9px; border-bottom: 1px solid var(--line); vertical-align: bottom; z-index: 1; }
table.data th.sortable { cursor: pointer; user-select: none; }
table.data th.sortable:hover { background: var(--accent-soft); }
table.data th.sortable::after { content: "\\2195"; color: #c0c6d0; margin-left: 5px; font-size: 11px; }
table.data th[aria-sort="ascending"]::after { content: "\\25B2"; color: var(--accent); }
table.data th[aria-sort="descending"]::after { content: "\\25BC"; color: var(--accent); }
table.data td { padding: 7px 9px; border-bottom: 1px solid #f0f2f5; vertical-align: middle; }
table.data tbody tr:nth-child(even) { background: #fafbfd; }
table.data tbody tr:hover { background: var(--accent-soft); }
table.data tbody tr:target { outline: 2px solid var(--accent); outline-offset: -2px; }
td.num, th.num { text-align: right; }
td.file { max-width: 210px; min-width: 150px; }
#candidates th, #candidates td { padding-left: 5px; padding-right: 5px; }
#candidates td.file { min-width: 140px; }
.fname { display: block; font-size: 11.5px; color: var(--muted); word-break: break-all; }
.tic { font-weight: 600; }
.fname.nowrap { white-space: nowrap; word-break: normal; }
td.thumb, th.thumb { width: 42%; padding: 4px 8px; }
td.thumb img { display: block; width: 100%; min-width: 340px; max-width: 620px; height: auto;
  border-radius: 6px; border: 1px solid var(--line); background: #fff; }
.missing-thumb { display: block; min-width: 340px; padding: 18px; text-align: center; color: var(--muted);
  border: 1px dashed #cbd5e1; border-radius: 6px; font-size: 12px; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.figs.wide { grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); }
.figs.wide figure { justify-self: start; }
.figs.wide img { width: auto; max-width: 100%; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
.chip { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.g-planet { background: #dcfce7; color: #166534; }
.g-binary { background: #e0e7ff; color: #3730a3; }
.g-stellar { background: #fef3c7; color: #92400e; }
.g-outlier { background: #fee2e2; color: #991b1b; }
.g-unclassified { background: #f3f4f6; color: #374151; }
.chip.truth { background: #fff; border: 1.5px solid #94a3b8; color: #334155; padding: 0 8px; }
.chip.truth.wrap { white-space: normal; border-radius: 10px; }
.chip.t-planet { border-color: #16a34a; color: #166534; }
.chip.t-binary { border-color: #4f46e5; color: #3730a3; }
.pct { display: block; color: var(--muted); font-size: 11px; line-height: 1.2; }
.zero { color: #c0c6d0; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 6px; font-size: 12px; font-weight: 600; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.bad { background: #fee2e2; color: #991b1b; }
.badge.unknown { background: #f3f4f6; color: #4b5563; }
details summary { cursor: pointer; color: var(--accent); font-size: 12.5px; }
pre { background: #0f172a; color: #e2e8f0; padding: 10px 12px; border-radius: 8px; overflow-x: auto;
  font-size: 12px; line-height: 1.45; max-height: 360px; }
code { font-size: 12px; background: #f1f5f9; padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; font-size: 13px; margin: 6px 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; }
a { color: var(--accent); }
footer { color: var(--muted); font-size: 12px; padding: 4px 24px 28px; }
.flag { display: inline-block; margin: 1px 3px 1px 0; padding: 0 7px; border-radius: 6px; font-size: 11.5px;
  font-weight: 600; background: #fff7ed; color: #9a3412; border: 1px solid #fed7aa; white-space: nowrap; }
.flag-filter { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 6px 0 8px; }
.flag-filter .lead { margin: 0 4px 0 0; }
.flag-filter button { font: inherit; font-size: 12.5px; padding: 3px 10px; border-radius: 999px; cursor: pointer;
  border: 1px solid var(--line); background: #fff; color: var(--ink); }
.flag-filter button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
.filter-count { color: var(--muted); font-size: 12px; }
td.flags { min-width: 120px; }
a.vet-link { display: block; font-size: 12px; margin-top: 3px; white-space: nowrap; }
tr[hidden] { display: none; }
figure.vetting img { max-width: 1200px; }
a.external::after { content: " \\2197"; font-size: 11px; }
@media print { header.top nav { display: none; } section { break-inside: avoid; } }
"""

JS = """
(function () {
  "use strict";
  function key(cell, type) {
    var v = cell ? cell.getAttribute("data-v") : "";
    if (v === null || v === "") { return null; }
    return type === "num" ? parseFloat(v) : v.toLowerCase();
  }
  function sortTable(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute("data-type");
    var current = th.getAttribute("aria-sort");
    var dir;
    if (current === "descending") { dir = "ascending"; }
    else if (current === "ascending") { dir = "descending"; }
    else { dir = type === "num" ? "descending" : "ascending"; }
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = key(a.cells[index], type), y = key(b.cells[index], type);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      if (h.hasAttribute("aria-sort")) { h.setAttribute("aria-sort", "none"); }
    });
    th.setAttribute("aria-sort", dir);
  }
  function filterRows(bar, button) {
    var table = document.getElementById(bar.getAttribute("data-table"));
    if (!table) { return; }
    var want = button.getAttribute("data-flag");
    var shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var flags = (r.getAttribute("data-flags") || "").split(";").filter(function (f) { return f; });
      var none = flags.length === 0 && r.getAttribute("data-vetted") === "yes";
      var ok = want === "" || (want === "none" ? none : flags.indexOf(want) >= 0);
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    bar.querySelectorAll("button").forEach(function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    bar.querySelector(".filter-count").textContent = want === "" ? "" : shown + " of " + rows.length + " shown";
  }
  document.querySelectorAll(".flag-filter").forEach(function (bar) {
    bar.querySelectorAll("button").forEach(function (b) {
      b.addEventListener("click", function () { filterRows(bar, b); });
    });
  });
  document.querySelectorAll("table.data th.sortable").forEach(function (th) {
    th.addEventListener("click", function () { sortTable(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(th); }
    });
  });
})();
"""
