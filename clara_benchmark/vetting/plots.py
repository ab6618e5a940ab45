"""The figure of a vetting page: one PNG with every view an astronomer checks before calling a dip a planet.

Drawn with matplotlib's object API (``Figure``, Agg; no pyplot, no global state, safe in worker processes);
pure: arrays in, PNG bytes out. Panels: the whole light curve with its trend and the transits marked, the BLS
periodogram, the fold at the period with the box model, a zoom on the transit, odd against even transits, the
phase-0.5 window (secondary eclipse), the in/out-of-transit centroid, and the metrics with the flags and
their rules. Scatter points are thinned to at most ``MAX_POINTS`` per panel and rasterised, which keeps a
figure at ~0.3-0.4 s (``bench/bench_fold.py`` times it).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, NullLocator, ScalarFormatter

from clara_benchmark.vetting.bls import BLSResult, in_transit
from clara_benchmark.vetting.detrend import Detrended, bin_regular
from clara_benchmark.vetting.metrics import FLAG_RULES, Vetting, epochs

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
POINTS = "#9ca3af"
BLUE = "#2563eb"
ORANGE = "#d97706"
RED = "#dc2626"
GREEN = "#059669"
DPI = 100
MAX_POINTS = 6000
FONT = 8


def _style(ax, title: str) -> None:
    ax.tick_params(labelsize=FONT - 1, colors=INK, length=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=FONT + 1, loc="left", color=INK)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    formatter = ScalarFormatter(useOffset=False)
    ax.yaxis.set_major_formatter(formatter)


def _thin(*arrays, limit: int = MAX_POINTS):
    n = len(arrays[0])
    if n <= limit:
        return arrays
    step = int(np.ceil(n / limit))
    return tuple(a[::step] for a in arrays)


def _binned(x, y, width):
    if len(x) == 0:
        return np.array([]), np.array([])
    order = np.argsort(x)
    centres, values, counts = bin_regular(x[order], y[order], width, statistic="mean")
    ok = counts > 0
    return centres[ok], values[ok]


def _limits(ax, y, pad=0.15):
    y = y[np.isfinite(y)]
    if y.size:
        lo, hi = np.percentile(y, [0.5, 99.5])
        span = hi - lo or abs(hi) or 1e-3
        ax.set_ylim(lo - pad * span, hi + pad * span)


def _phase_hours(t, period, t_mid):
    """Hours from the nearest mid-time t_mid + k x period."""
    return (np.mod(t - t_mid + 0.5 * period, period) - 0.5 * period) * 24.0


def _light_curve(ax, d: Detrended, r: BLSResult) -> None:
    t, raw = _thin(d.time, d.raw)
    ax.plot(t, raw, ",", color=POINTS, rasterized=True)
    ax.plot(d.time, d.trend, "-", color=RED, linewidth=0.7)
    _limits(ax, d.raw)
    top = ax.get_ylim()[1]
    ax.plot(r.transit_times, np.full(len(r.transit_times), top), "v", color=BLUE, markersize=5)
    ax.set_xlabel("time (BTJD)", fontsize=FONT)
    ax.set_ylabel("relative flux", fontsize=FONT)
    _key(ax, [("trend", RED), ("▼ transits", BLUE)])


def _key(ax, items) -> None:
    """A legend drawn as coloured words in the top-right corner (a matplotlib legend costs ~40 ms)."""
    for i, (text, color) in enumerate(items):
        ax.text(
            0.995,
            0.97 - 0.09 * i,
            text,
            color=color,
            fontsize=FONT - 1,
            ha="right",
            va="top",
            transform=ax.transAxes,
        )


def _periodogram(ax, r: BLSResult) -> None:
    ax.plot(r.periods, r.periodogram_sde, "-", color=INK, linewidth=0.6)
    for k, style in ((1.0, "-"), (0.5, ":"), (2.0, ":")):
        ax.axvline(r.period_days * k, color=RED, linestyle=style, linewidth=0.9)
    ax.set_xscale("log")
    ax.set_xlim(r.periods.min(), r.periods.max())
    ax.xaxis.set_major_locator(_LogTicks())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("period (days)", fontsize=FONT)
    ax.set_ylabel("SDE", fontsize=FONT)


class _LogTicks(MaxNLocator):
    """Period ticks at 0.5, 1, 2, 5, 10, 20 ... within the axis (a log axis with few labels)."""

    def tick_values(self, vmin, vmax):
        lo, hi = np.floor(np.log10(vmin)), np.ceil(np.log10(vmax))
        ticks = [m * 10.0**e for e in np.arange(lo, hi + 1) for m in (1, 2, 5)]
        return np.array([x for x in ticks if vmin <= x <= vmax])


def _box(ax, x_lo, x_hi, half_width, depth_ppm):
    xs = [x_lo, -half_width, -half_width, half_width, half_width, x_hi]
    d = 1 - depth_ppm * 1e-6
    ax.plot(xs, [1, 1, d, d, 1, 1], "-", color=RED, linewidth=1.1)


def _fold(ax, d: Detrended, r: BLSResult) -> None:
    t, f = d.search_time, d.search_flux
    phase = np.mod(t - r.t0_btjd + 0.5 * r.period_days, r.period_days) / r.period_days - 0.5
    p, y = _thin(phase, f)
    ax.plot(p, y, ",", color=POINTS, rasterized=True)
    bx, by = _binned(phase, f, 1.0 / 200)
    ax.plot(bx, by, ".", color=BLUE, markersize=2)
    half = 0.5 * r.duration_hours / 24.0 / r.period_days
    _box(ax, -0.5, 0.5, half, r.depth_ppm)
    _limits(ax, by if len(by) else f)
    ax.set_xlim(-0.5, 0.5)
    ax.set_xlabel("phase", fontsize=FONT)


def _zoom(ax, t, f, period, t_mid, duration_h, depth_ppm, color=BLUE, shift=0.0):
    hours = _phase_hours(t, period, t_mid)
    near = np.abs(hours) < 3 * duration_h
    x, y = _thin(hours[near], f[near])
    ax.plot(x + shift, y, ",", color=POINTS, rasterized=True)
    bx, by = _binned(hours[near], f[near], max(duration_h / 8.0, 10 / 60))
    ax.plot(bx + shift, by, ".", color=color, markersize=3)
    if np.isfinite(depth_ppm):
        d = 1 - depth_ppm * 1e-6
        ax.plot([shift - duration_h / 2, shift + duration_h / 2], [d, d], "-", color=color, linewidth=1.2)
    ax.set_xlim(min(ax.get_xlim()[0], shift - 3 * duration_h), shift + 3 * duration_h)
    return by


def _odd_even(ax, d: Detrended, r: BLSResult, v: Vetting) -> None:
    t, f = d.search_time, d.search_flux
    odd = (epochs(t, r.period_days, r.t0_btjd) % 2).astype(bool)
    gap = 7 * r.duration_hours
    period, t0, dur = r.period_days, r.t0_btjd, r.duration_hours
    b1 = _zoom(ax, t[odd], f[odd], period, t0, dur, v.odd_depth_ppm, BLUE, 0.0)
    b2 = _zoom(ax, t[~odd], f[~odd], period, t0, dur, v.even_depth_ppm, ORANGE, gap)
    _limits(ax, np.concatenate([b1, b2]) if len(b1) + len(b2) else f)
    ax.set_xticks([0, gap], ["odd", "even"])


def _centroid(ax, d: Detrended, r: BLSResult, column, row, v: Vetting) -> None:
    rows = d.index[d.keep]
    t = d.search_time
    hours = _phase_hours(t, r.period_days, r.t0_btjd)
    near = np.abs(hours) < 3 * r.duration_hours
    for values, color in ((column, BLUE), (row, ORANGE)):
        c = np.asarray(values, float)[rows]
        ok = near & np.isfinite(c)
        if ok.sum() < 5:
            continue
        k = epochs(t[ok], r.period_days, r.t0_btjd)
        local = np.zeros(ok.sum())
        for e in np.unique(k):  # each transit relative to its own surroundings, as the metric does
            here = k == e
            local[here] = np.median(c[ok][here])
        bx, by = _binned(hours[ok], (c[ok] - local) * 1e3, max(r.duration_hours / 6.0, 10 / 60))
        ax.plot(bx, by, ".-", color=color, markersize=3, linewidth=0.6)
    ax.axvspan(-r.duration_hours / 2, r.duration_hours / 2, color=GRID, alpha=0.8)
    ax.set_xlabel("hours from mid-transit", fontsize=FONT)
    ax.set_ylabel("centroid (millipixel)", fontsize=FONT)
    _key(ax, [("column", BLUE), ("row", ORANGE)])


def _text(ax, r: BLSResult, v: Vetting, extra: list[str]) -> None:
    ax.axis("off")
    lines = [
        f"P = {r.period_days:.5f} d   T0 = {r.t0_btjd:.4f} BTJD",
        f"duration {r.duration_hours:.2f} h   depth {r.depth_ppm:.0f} ± {r.depth_err_ppm:.0f} ppm",
        f"SNR {r.snr:.1f}   SDE {r.sde:.1f}   transits observed {r.n_transits}",
        f"odd/even {v.odd_depth_ppm:.0f} / {v.even_depth_ppm:.0f} ppm ({v.odd_even_sigma:.1f} σ)",
        f"phase 0.5: {v.secondary_depth_ppm:.0f} ± {v.secondary_err_ppm:.0f} ppm ({v.secondary_sigma:.1f} σ)",
        f"centroid shift {v.centroid_shift_sigma:.1f} σ",
        *extra,
        "",
        "flags: " + (", ".join(v.flags) if v.flags else "none"),
    ]
    for flag in v.flags:
        lines.append(f"  {flag}: {FLAG_RULES.get(flag, '')}")
    ax.text(
        0, 1, "\n".join(lines), va="top", ha="left", fontsize=FONT - 0.5, color=INK, transform=ax.transAxes
    )


def vetting_figure(
    detrended: Detrended,
    bls: BLSResult,
    vetting: Vetting,
    centroid_column: np.ndarray | None = None,
    centroid_row: np.ndarray | None = None,
    title: str = "",
    notes: list[str] | None = None,
) -> bytes:
    """The vetting page's figure as PNG bytes (see the module docstring for the panels).

    ``centroid_column``/``centroid_row`` are ``MOM_CENTR1``/``MOM_CENTR2`` of the rows given to ``detrend``
    (the centroid panel says "no centroids" without them); ``notes`` adds lines to the text panel (e.g. the
    TOI cross-match).
    """
    fig = Figure(figsize=(12, 8.4))
    grid = fig.add_gridspec(3, 3, left=0.06, right=0.985, top=0.96, bottom=0.06, hspace=0.42, wspace=0.24)
    r, v, d = bls, vetting, detrended
    ax = fig.add_subplot(grid[0, :2])
    _style(ax, title or "light curve and trend")
    _light_curve(ax, d, r)
    ax = fig.add_subplot(grid[0, 2])
    _style(ax, "BLS periodogram")
    _periodogram(ax, r)
    ax = fig.add_subplot(grid[1, 0])
    _style(ax, f"folded at P = {r.period_days:.4f} d")
    _fold(ax, d, r)
    ax = fig.add_subplot(grid[1, 1])
    _style(ax, "transit")
    by = _zoom(ax, d.search_time, d.search_flux, r.period_days, r.t0_btjd, r.duration_hours, r.depth_ppm)
    _limits(ax, by)
    ax.set_xlabel("hours from mid-transit", fontsize=FONT)
    ax = fig.add_subplot(grid[1, 2])
    _style(ax, f"odd vs even ({v.odd_even_sigma:.1f} σ)")
    _odd_even(ax, d, r, v)
    ax = fig.add_subplot(grid[2, 0])
    _style(ax, f"phase 0.5 ({v.secondary_sigma:.1f} σ)")
    t_sec = r.t0_btjd + 0.5 * r.period_days
    by = _zoom(
        ax, d.search_time, d.search_flux, r.period_days, t_sec, r.duration_hours, v.secondary_depth_ppm
    )
    _limits(ax, by)
    ax.set_xlabel("hours from phase 0.5", fontsize=FONT)
    ax = fig.add_subplot(grid[2, 1])
    _style(ax, f"centroid in/out of transit ({v.centroid_shift_sigma:.1f} σ)")
    if centroid_column is not None and centroid_row is not None:
        _centroid(ax, d, r, centroid_column, centroid_row, v)
    else:
        ax.text(0.5, 0.5, "no centroids", ha="center", va="center", color=MUTED, transform=ax.transAxes)
    _text(fig.add_subplot(grid[2, 2]), r, v, notes or [])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def transit_mask(time: np.ndarray, bls: BLSResult) -> np.ndarray:
    """True for the cadences in transit (for callers marking them elsewhere)."""
    return in_transit(np.asarray(time, float), bls.period_days, bls.t0_btjd, bls.duration_hours / 24.0)
