"""The report's figures, drawn with matplotlib's object API (no pyplot: no global state, safe in workers).

Figure functions take arrays and return PNG bytes; ``render_candidate`` is the worker-side task that reads
one light curve, computes its periodogram exactly as the clara-4000 features do, and writes its thumbnail.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

COLORS = {"p3": "#2563eb", "p5": "#d97706", "p9": "#059669", "wrss": "#7c3aed", "sim": "#db2777"}
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
POINTS = "#9ca3af"
DPI = 120
THUMB_DPI = 140  # thumbnails: 1064 x 294 px, shown at half size in the table (sharp on high-DPI screens)
FONT = 9


def _style(ax) -> None:
    ax.tick_params(labelsize=8, colors=INK, length=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ histograms


def score_histogram(scores: np.ndarray, title: str, color: str, xlabel: str = "anomaly score") -> bytes:
    """Histogram of the non-zero scores on [0, 1]; the (usually dominant) exact zeros are counted in a note."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    zero = int(np.sum(scores == 0))
    positive = scores[scores > 0]
    fig = Figure(figsize=(4.0, 2.7), layout="constrained")
    ax = fig.add_subplot()
    _style(ax)
    bins = np.linspace(0, 1, 41)
    if len(positive):
        ax.hist(positive, bins=bins, color=color, alpha=0.85, edgecolor="white", linewidth=0.4)
        counts, _ = np.histogram(positive, bins=bins)
        if counts.max() >= 50 * max(1, np.median(counts[counts > 0])):
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no score above 0", ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel, fontsize=9, color=INK)
    ax.set_ylabel("light curves", fontsize=9, color=INK)
    ax.set_title(title, fontsize=10, color=INK, loc="left", fontweight="bold")
    pct = 100.0 * zero / n if n else 0.0
    note = f"n = {n:,}\nscore = 0: {zero:,} ({pct:.1f}%)\nscore > 0: {len(positive):,}"
    ax.text(
        0.98,
        0.95,
        note,
        ha="right",
        va="top",
        fontsize=8,
        color=INK,
        transform=ax.transAxes,
        bbox=dict(boxstyle="round,pad=0.35", fc="white", ec=GRID),
    )
    return to_png(fig)


# ------------------------------------------------------------------------------------------ heat map


def _tick(value: float) -> str:
    """Grid values as people write them: 3000, 0.01, 2.5, 1e-05."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e7:
        return f"{int(value)}"
    return f"{value:.3g}"


def recall_heatmap(grid, depth_label: str, period_label: str, title: str) -> bytes:
    """Recall per (depth, period) cell as a heat map with the value written in each cell."""
    values = grid.to_numpy(dtype=float)
    rows, cols = values.shape
    fig = Figure(figsize=(max(4.2, 0.75 * cols + 2.2), max(3.0, 0.45 * rows + 1.6)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), [_tick(v) for v in grid.columns], fontsize=8)
    ax.set_yticks(range(rows), [_tick(v) for v in grid.index], fontsize=8)
    ax.set_xlabel(period_label, fontsize=9)
    ax.set_ylabel(depth_label, fontsize=9)
    ax.set_title(title, fontsize=10, loc="left", fontweight="bold", color=INK)
    if rows * cols <= 400:
        for i in range(rows):
            for j in range(cols):
                v = values[i, j]
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if v > 0.6 else "white",
                    )
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label("recall", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    return to_png(fig)


# ------------------------------------------------------------------------------------------ candidates


@dataclass
class Periodicity:
    """What the thumbnail shows about one light curve."""

    time: np.ndarray  # finite rows, BTJD
    relative_flux: np.ndarray  # PDCSAP flux / median
    frequencies: np.ndarray
    power: np.ndarray
    best_period: float
    best_power: float


def periodicity(time: np.ndarray, pdcsap_flux: np.ndarray) -> Periodicity:
    """The light curve's clara-4000 periodogram and its best period (the strongest peak on the grid)."""
    from clara_benchmark.features import FREQUENCIES, clean_and_standardise, lomb_scargle_power

    t, z = clean_and_standardise(time, pdcsap_flux)
    flux = np.asarray(pdcsap_flux, dtype=np.float64)
    keep = np.isfinite(np.asarray(time, dtype=np.float64)) & np.isfinite(flux)
    raw = flux[keep]
    median = np.median(raw)
    relative = raw / median if median != 0 else raw
    power = np.asarray(lomb_scargle_power(t, z, FREQUENCIES), dtype=float)
    best = int(np.nanargmax(power))
    return Periodicity(t, relative, FREQUENCIES, power, float(1.0 / FREQUENCIES[best]), float(power[best]))


def binned(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``y`` in bins of ``x`` (empty bins dropped)."""
    from scipy.stats import binned_statistic

    medians, _, _ = binned_statistic(x, y, statistic="median", bins=edges)
    centres = 0.5 * (edges[:-1] + edges[1:])
    keep = np.isfinite(medians)
    return centres[keep], medians[keep]


def fold(time: np.ndarray, flux: np.ndarray, period: float, nbins: int = 60) -> np.ndarray:
    """Phases in [-0.5, 0.5) with the faintest binned phase at 0, so dips (transits, eclipses) sit centred."""
    phase = np.mod(time - time[0], period) / period
    edges = np.linspace(0, 1, nbins + 1)
    centres, medians = binned(phase, flux, edges)
    zero = centres[int(np.argmin(medians))] if len(medians) else 0.0
    return np.mod(phase - zero + 0.5, 1.0) - 0.5


def _limits(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [0.2, 99.8])
    pad = 0.08 * (high - low or abs(high) or 1.0)
    return float(low - pad), float(high + pad)


def candidate_figure(p: Periodicity, title: str) -> bytes:
    """Three panels: the light curve, the curve folded at the best period, and the periodogram."""
    fig = Figure(figsize=(7.6, 2.1), layout="constrained")
    axes = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[1.35, 1.0, 1.0]))
    ylow, yhigh = _limits(p.relative_flux)

    ax = axes[0]
    _style(ax)
    ax.plot(p.time, p.relative_flux, ",", color=POINTS, alpha=0.7, rasterized=True)
    span = p.time[-1] - p.time[0]
    edges = np.arange(p.time[0], p.time[-1] + 1 / 24, max(1 / 24, span / 600))
    bx, by = binned(p.time, p.relative_flux, edges)
    ax.plot(bx, by, ".", color=COLORS["p3"], markersize=1.6)
    ax.set_ylim(ylow, yhigh)
    ax.set_xlabel("time (BTJD)", fontsize=FONT)
    ax.set_ylabel("relative flux", fontsize=FONT)
    ax.set_title(title, fontsize=FONT + 0.5, loc="left", color=INK)

    ax = axes[1]
    _style(ax)
    phase = fold(p.time, p.relative_flux, p.best_period)
    ax.plot(phase, p.relative_flux, ",", color=POINTS, alpha=0.6, rasterized=True)
    bx, by = binned(phase, p.relative_flux, np.linspace(-0.5, 0.5, 81))
    ax.plot(bx, by, "-", color=COLORS["wrss"], linewidth=1.4)
    ax.set_xlim(-0.5, 0.5)
    ax.set_ylim(ylow, yhigh)
    ax.set_xlabel("phase", fontsize=FONT)
    ax.set_title(f"folded at P = {_period_text(p.best_period)}", fontsize=FONT + 0.5, loc="left", color=INK)

    ax = axes[2]
    _style(ax)
    periods = 1.0 / p.frequencies
    ax.plot(periods, p.power, "-", color=INK, linewidth=0.8)
    ax.axvline(p.best_period, color=COLORS["sim"], linestyle="--", linewidth=0.9)
    ax.set_xscale("log")
    ax.set_xlim(periods.min(), periods.max())
    ax.set_ylim(0, max(0.05, 1.1 * float(np.nanmax(p.power))))
    ax.set_xlabel("period (days)", fontsize=FONT)
    ax.set_ylabel("LS power", fontsize=FONT)
    ax.set_title(f"Lomb–Scargle, peak {p.best_power:.3f}", fontsize=FONT + 0.5, loc="left", color=INK)
    for ax in axes:
        ax.tick_params(labelsize=FONT - 1)
    axes[2].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    return to_png(fig, dpi=THUMB_DPI)


def _period_text(days: float) -> str:
    if days < 1:
        return f"{days * 24:.2f} h"
    return f"{days:.3f} d"


def render_candidate(task: dict) -> dict:
    """Worker task: ``task`` = {filename, path, png, title}; writes the PNG and returns what it found.

    A light curve that cannot be read or has no usable flux gives ``{"error": reason}``, never an exception.
    """
    from clara_benchmark.features import FeatureError
    from clara_benchmark.lightcurve import LightCurveError, read_lightcurve
    from clara_benchmark.utils.io import atomic_write_bytes

    out = {"filename": task["filename"], "png": None, "best_period": None, "best_power": None, "error": None}
    try:
        lc = read_lightcurve(task["path"])
        p = periodicity(lc.time, lc.pdcsap_flux)
        atomic_write_bytes(task["png"], candidate_figure(p, task["title"]))
    except LightCurveError as exc:
        out["error"] = exc.reason
        return out
    except (FeatureError, ValueError, OSError, MemoryError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out.update(png=task["png"], best_period=p.best_period, best_power=p.best_power)
    if not math.isfinite(p.best_power):
        out["best_power"] = None
    return out
