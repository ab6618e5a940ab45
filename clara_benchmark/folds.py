"""Periods and vetting of many light curves: the pipeline with one star's fold as its stage (the ``fold``
command's library layer, also used by the report's vetting pages).

Three methods (``period_method``):

* ``"bls"``: ``vetting.bls.find_transit`` (detrend, box least squares, refine) and ``vetting.metrics.vet``
  (odd/even, phase 0.5, centroid shift from MOM_CENTR1/2, flags); the vetting figure is
  ``vetting.plots.vetting_figure``.
* ``"ls"``: CLARA's fold helper, exactly (``folding.fold_lightcurve`` on the untouched PDCSAP flux: the same
  period, power and bins as CLARA's ``phase_fold``); a star whose peak power is below
  ``min_power_threshold`` is a failure row with that reason, as CLARA skips it. Its figure is CLARA's
  (``folding.fold_plot_png``). No vetting metrics: the Lomb–Scargle period of a transit is rarely its own.
* ``"auto"``: both, then ``vetting.periodicity.choose_period`` (its ``AUTO_RULE``: the BLS period when it is a
  detection a box fits better than a sinusoid, else the Lomb–Scargle period when its power reaches
  ``min_power_threshold``, else BLS); ``method`` says which, ``method_reason`` why.

A star with a TIC id found in the TOI catalogue gets the ``known TOI`` flag and its TOI, catalogue period,
disposition and how the found period relates to the catalogue's (``vetting.toi.cross_match``).

Every light curve is read with its centroids (``ReadOptions(centroids=True)``) and computed with one BLAS
thread (``threadpoolctl``): its small matrix products are 2-3x slower with threads on a busy machine.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from clara_benchmark.exceptions import ConfigError, FeatureError
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import LightCurve, ReadOptions
from clara_benchmark.pipeline import Batch, item_key, map_lightcurves, resolve_inputs
from clara_benchmark.vetting.toi import TOICatalogue

METHODS = ("bls", "ls", "auto")


@dataclass(frozen=True)
class FoldSpec:
    """What one star's fold computes (the ``fold`` config's science keys); checked when made."""

    method: str = "bls"
    min_period_days: float = 0.5
    max_period_days: float = 20.0
    min_power_threshold: float = 0.05
    bins: int = 100
    phase_shift: float = 0.0
    figure: bool = False  # also draw each star's figure (PNG bytes in ``StarFold.png``)
    toi: TOICatalogue | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"period_method must be one of {list(METHODS)}, got {self.method!r}")
        if not 0 < self.min_period_days < self.max_period_days:
            raise ConfigError(
                f"need 0 < min_period < max_period, got {self.min_period_days!r} and {self.max_period_days!r}"
            )
        if not (isinstance(self.bins, (int, np.integer)) and self.bins >= 2):
            raise ConfigError(f"bins must be an integer >= 2, got {self.bins!r}")
        if not 0 <= self.min_power_threshold <= 1:
            raise ConfigError(f"min_power_threshold must be within [0, 1], got {self.min_power_threshold!r}")
        if self.method != "ls":
            try:
                self.grid()
            except ValueError as exc:
                raise ConfigError(f"no box least squares search over this period range: {exc}") from None

    def grid(self):
        from clara_benchmark.vetting.bls import SearchGrid

        return SearchGrid(self.min_period_days, self.max_period_days)


@dataclass
class StarFold:
    """One star's fold: its periods-table row, CLARA's bins, its figure, or why it could not be folded."""

    row: dict = field(default_factory=dict)
    bin_means: np.ndarray | None = None  # CLARA's raw bin means ("ls" and "auto", when CLARA folds)
    ls_period_days: float = float("nan")
    ls_power: float = float("nan")
    png: bytes | None = None
    png_kind: str | None = None  # "clara" (CLARA's fold figure) or "vetting"
    failure: str | None = None


def toi_columns(match) -> dict:
    """The TOI columns of a periods row for a ``toi.cross_match`` result (empty when None)."""
    if match is None:
        return {"toi": "", "toi_period_days": float("nan"), "toi_disposition": "", "toi_relation": ""}
    e = match.entry
    return {
        "toi": e.toi,
        "toi_period_days": float("nan") if e.period_days is None else float(e.period_days),
        "toi_disposition": e.disposition or "",
        "toi_relation": match.relation or "",
    }


def _toi_match(spec: FoldSpec, tic_id, period_days: float):
    from clara_benchmark.vetting.toi import cross_match

    if spec.toi is None or tic_id is None:
        return None
    return cross_match(spec.toi, int(tic_id), period_days if np.isfinite(period_days) else None)


def _clara_fold(lc: LightCurve, spec: FoldSpec, keep_points: bool):
    from clara_benchmark.folding import fold_lightcurve

    return fold_lightcurve(
        lc.time,
        lc.flux,
        min_period=spec.min_period_days,
        max_period=spec.max_period_days,
        min_power_threshold=spec.min_power_threshold,
        bins=spec.bins,
        phase_shift=spec.phase_shift,
        keep_points=keep_points,
    )


@dataclass
class Vetted:
    """One star's box least squares candidate and its vetting, with what its figure draws."""

    detrended: object  # vetting.detrend.Detrended
    result: object  # vetting.bls.BLSResult
    vetting: object  # vetting.metrics.Vetting
    centroids: tuple  # (MOM_CENTR1, MOM_CENTR2) of the rows searched, or (None, None)
    match: object | None  # vetting.toi.TOIMatch

    def row(self) -> dict:
        """The periods-table columns of the star (after filename and tic)."""
        r, v = self.result, self.vetting
        row = {**r.as_row(), **v.as_row(), **toi_columns(self.match)}
        row["secondary_sigma"] = v.secondary_sigma
        row["aliases"] = ";".join(f"{a:.6g}" for a in r.aliases)
        return row

    def details(self) -> dict:
        """Every metric of the vetting page: ``row()`` plus the depths' errors, odd and even depths, the
        centroid shift in pixels and the implied offset of the source, box vs sine, the TOI note."""
        r, v = self.result, self.vetting
        return {
            **self.row(),
            "depth_err_ppm": r.depth_err_ppm,
            "odd_depth_ppm": v.odd_depth_ppm,
            "odd_err_ppm": v.odd_err_ppm,
            "even_depth_ppm": v.even_depth_ppm,
            "even_err_ppm": v.even_err_ppm,
            "secondary_err_ppm": v.secondary_err_ppm,
            "centroid_shift_column_px": v.centroid_shift_pixels[0],
            "centroid_shift_row_px": v.centroid_shift_pixels[1],
            "centroid_offset_px": v.centroid_offset_pixels,
            "box_vs_sine": v.box_vs_sine,
            "single_event_ratio": r.single_event_ratio,
            "transit_times": [float(x) for x in r.transit_times],
            "toi_note": self.match.note if self.match is not None else "",
        }

    def figure(self, lc: LightCurve, notes: list[str] = ()) -> bytes:
        """The vetting figure (``vetting.plots.vetting_figure``) with the TOI note and ``notes``."""
        from clara_benchmark.vetting.plots import vetting_figure

        tic = f"TIC {lc.tic_id} · " if lc.tic_id is not None else ""
        lines = ([self.match.note] if self.match is not None else []) + list(notes)
        return vetting_figure(
            self.detrended,
            self.result,
            self.vetting,
            *self.centroids,
            title=f"{tic}{lc.filename}",
            notes=lines,
        )


def vet_lightcurve(lc: LightCurve, spec: FoldSpec | None = None) -> Vetted:
    """Box least squares search and vetting of one light curve (``FeatureError`` when it cannot be
    searched: too short, constant). Centroids are taken from ``lc.columns`` (``mom_centr1/2``) when present;
    the TOI cross-match from ``spec.toi``."""
    from clara_benchmark.vetting.bls import find_transit
    from clara_benchmark.vetting.metrics import vet

    spec = spec or FoldSpec()
    detrended, result = find_transit(lc.time, lc.flux, lc.quality, grid=spec.grid())
    col, row = lc.columns.get("mom_centr1"), lc.columns.get("mom_centr2")
    if col is None or row is None or not (np.isfinite(col).any() and np.isfinite(row).any()):
        col = row = None
    match = _toi_match(spec, lc.tic_id, result.period_days)
    vetting = vet(detrended, result, col, row, known_toi=match is not None)
    return Vetted(detrended, result, vetting, (col, row), match)


def _ls_row(fold, match) -> dict:
    flags = "known TOI" if match is not None else ""
    return {
        "method": "ls",
        "period_days": fold.period_days,
        "power": fold.power,
        "flags": flags,
        **toi_columns(match),
    }


def fold_star(lc: LightCurve, spec: FoldSpec) -> StarFold:
    """The stage function: one light curve's fold (see the module docstring); never raises for a star that
    cannot be folded (``StarFold.failure`` says why)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        if spec.method == "ls":
            return _fold_ls(lc, spec)
        if spec.method == "bls":
            return _fold_bls(lc, spec)
        return _fold_auto(lc, spec)


def _fold_ls(lc: LightCurve, spec: FoldSpec) -> StarFold:
    from clara_benchmark.folding import fold_plot_png

    fold = _clara_fold(lc, spec, keep_points=spec.figure)
    if not fold.ok:
        return StarFold(failure=fold.reason, ls_period_days=fold.period_days, ls_power=fold.power)
    match = _toi_match(spec, lc.tic_id, fold.period_days)
    row = _ls_row(fold, match)
    out = StarFold(row, fold.bin_means, fold.period_days, fold.power)
    if spec.figure:
        out.png, out.png_kind = fold_plot_png(fold, lc.tic_id), "clara"
    return out


def _fold_bls(lc: LightCurve, spec: FoldSpec) -> StarFold:
    try:
        vetted = vet_lightcurve(lc, spec)
    except FeatureError as exc:
        return StarFold(failure=f"box least squares: {exc}")
    out = StarFold(vetted.row())
    if spec.figure:
        out.png, out.png_kind = vetted.figure(lc), "vetting"
    return out


def _fold_auto(lc: LightCurve, spec: FoldSpec) -> StarFold:
    from clara_benchmark.folding import fold_plot_png
    from clara_benchmark.vetting.periodicity import LSResult, choose_period

    fold = _clara_fold(lc, spec, keep_points=spec.figure)
    ls = LSResult(fold.period_days, fold.power, np.array([]), np.array([]))
    vetted, method = None, "ls"
    try:
        vetted = vet_lightcurve(lc, spec)
    except FeatureError as exc:
        if not fold.ok:
            return StarFold(failure=f"box least squares: {exc}; Lomb–Scargle: {fold.reason}")
        why = f"box least squares failed ({exc}); Lomb–Scargle power {fold.power:.3f}"
    if vetted is not None:
        choice = choose_period(
            vetted.result, ls, vetted.vetting.box_vs_sine, min_power=spec.min_power_threshold
        )
        method, why = choice.method, choice.reason
        if method == "ls" and not fold.ok:  # e.g. an empty phase bin: keep the BLS period
            method, why = "bls", f"{why}; but {fold.reason}"
    out = StarFold(ls_period_days=fold.period_days, ls_power=fold.power)
    if fold.ok:
        out.bin_means = fold.bin_means
    if method == "bls":
        out.row = vetted.row()
        if spec.figure:
            out.png, out.png_kind = vetted.figure(lc, [f"auto: {why}"]), "vetting"
    else:
        ls_match = _toi_match(spec, lc.tic_id, fold.period_days)
        out.row = _ls_row(fold, ls_match)
        if spec.figure:
            out.png, out.png_kind = fold_plot_png(fold, lc.tic_id), "clara"
    out.row["method_reason"] = why
    return out


# ------------------------------------------------------------------------------------------ many stars


@dataclass
class FoldBatch(Batch):
    """A ``Batch`` of ``StarFold`` values; ``not_folded`` are the failures of light curves that were read
    but could not be folded (also in ``failures``, which holds the unreadable ones too)."""

    not_folded: list[Failure] = field(default_factory=list)


def iter_folds(
    items: Iterable,
    spec: FoldSpec,
    *,
    executor=None,
    batch_size: int = 16,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> Iterator[FoldBatch]:
    """``FoldBatch``es of ``StarFold`` values (in ``values``) for ``items`` (paths or ``LightCurve``), in
    input order; a star that cannot be folded is in the batch's ``failures`` with its reason."""
    options = dataclasses.replace(ReadOptions.of(read_options), centroids=True)
    stage = partial(fold_star, spec=spec)
    for batch in map_lightcurves(
        items, stage, executor=executor, batch_size=batch_size, progress=progress, load=options.load
    ):
        kept = FoldBatch(failures=list(batch.failures), reused=batch.reused)
        for i, value in enumerate(batch.values):
            name, path = batch.filenames[i], batch.paths[i]
            if value.failure is not None:
                kept.failures.append(Failure(name, path, value.failure))
                kept.not_folded.append(kept.failures[-1])
                continue
            kept.filenames.append(name)
            kept.paths.append(path)
            kept.tic_ids.append(batch.tic_ids[i])
            kept.infos.append(batch.infos[i])
            kept.values.append(value)
        yield kept


@dataclass
class FoldRun:
    """The folds of many light curves.

    ``periods``: one row per star (``products.FOLD_PERIODS.columns``: filename, tic, method, period_days,
    t0_btjd, duration_hours, depth_ppm, snr, power, odd_even_sigma, secondary_depth_ppm,
    centroid_shift_sigma, flags (";"-separated), then sde, n_transits, secondary_sigma, aliases, toi,
    toi_period_days, toi_disposition, toi_relation, method_reason). ``failures``: filename, path, reason.
    ``bins``: CLARA's raw bin means per star ("ls" and "auto"; None for "bls"). ``figure(filename)`` draws
    one star's figure again (the vetting figure, or CLARA's fold figure for a star folded by "ls").
    """

    periods: object  # pandas.DataFrame
    failures: object  # pandas.DataFrame
    bins: object | None  # pandas.DataFrame
    spec: FoldSpec
    read_options: ReadOptions
    items: dict = field(default_factory=dict, repr=False)  # filename -> input, for figure()

    def figure(self, filename: str) -> bytes:
        """PNG bytes of one star's figure (computed again, in this process)."""
        item = self.items.get(filename)
        if item is None:
            raise KeyError(f"{filename} is not one of the light curves folded")
        lc = self.read_options.load(item)
        star = fold_star(lc, dataclasses.replace(self.spec, figure=True))
        if star.failure is not None:
            raise FeatureError(star.failure)
        return star.png


def periods_frame(rows: list[dict]):
    """The periods table from ``(filename, tic, StarFold.row)`` dicts, in ``FOLD_PERIODS`` column order."""
    import pandas as pd

    from clara_benchmark import products

    frame = pd.DataFrame(rows, columns=list(products.FOLD_PERIODS.columns))
    for col in ("flags", "aliases", "toi", "toi_disposition", "toi_relation", "method_reason"):
        frame[col] = frame[col].fillna("").astype(str)
    frame["tic"] = frame["tic"].astype("Int64")
    return frame


def bins_frame(rows: list[tuple[str, int | None, StarFold]], n_bins: int):
    """CLARA's bins table: filename, tic, ls_period_days, ls_power, bin_1 ... bin_<n_bins>."""
    import pandas as pd

    from clara_benchmark import products

    columns = list(products.FOLD_BINS_COLUMNS) + [f"bin_{i}" for i in range(1, n_bins + 1)]
    data = [
        [name, tic, star.ls_period_days, star.ls_power, *np.asarray(star.bin_means, float)]
        for name, tic, star in rows
        if star.bin_means is not None
    ]
    frame = pd.DataFrame(data, columns=columns)
    frame["tic"] = frame["tic"].astype("Int64")
    return frame


def collect(batches: Iterable[FoldBatch], failures: list) -> tuple[list[dict], list[tuple], list]:
    """(periods rows, (filename, tic, StarFold) for the bins, failures) of every batch."""
    rows, bin_rows = [], []
    for batch in batches:
        failures += batch.failures
        for name, tic, star in zip(batch.filenames, batch.tic_ids, batch.values):
            rows.append(row_of(name, tic, star))
            bin_rows.append((name, rows[-1]["tic"], star))
    return rows, bin_rows, failures


def row_of(name: str, tic: int, star: StarFold) -> dict:
    """The periods-table row of one folded star."""
    return {"filename": name, "tic": None if tic is None or tic < 0 else int(tic), **star.row}


def _toi_table(toi_catalogue) -> TOICatalogue | None:
    """A TOI table as given, or loaded from its path or URL (cached in the current folder)."""
    if toi_catalogue is None or isinstance(toi_catalogue, TOICatalogue):
        return toi_catalogue
    from clara_benchmark.tess_spoc_download.toi_table import load_toi_catalogue

    return load_toi_catalogue(toi_catalogue, cache_dir=".")


def fold(
    inputs,
    period_method: str = "bls",
    *,
    min_period: float = 0.5,
    max_period: float = 20.0,
    min_power_threshold: float = 0.05,
    bins: int = 100,
    phase_shift: float = 0.0,
    toi_catalogue: TOICatalogue | str | os.PathLike | None = None,
    executor=None,
    batch_size: int = 16,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> FoldRun:
    """The period and vetting of every light curve: BLS, CLARA's Lomb–Scargle fold, or both.

    Parameters
    ----------
    inputs : paths, folders, globs, LightCurve objects (or lightkurve's)
        The light curves; files are read (with their centroids) in the workers.
    period_method : {"bls", "ls", "auto"}
        See the module docstring: "bls" for transits and eclipses, "ls" for CLARA's own fold (same period,
        power and bins), "auto" for both and the documented rule.
    min_period, max_period : float
        Period range searched, days (CLARA's fold config: 0.5 and 20).
    min_power_threshold : float
        CLARA's Lomb–Scargle power threshold ("ls": below it a star is a failure row; "auto": below it the
        Lomb–Scargle period is not taken).
    bins, phase_shift
        CLARA's fold: phase bins, and the phase offset subtracted before wrapping.
    toi_catalogue : TOICatalogue, path or URL, optional
        ExoFOP's TOI table (``vetting.toi``): known TOIs get the ``known TOI`` flag and their TOI columns.
        A URL is fetched into the current folder's cache; use ``load_toi_catalogue`` to choose where.
    executor, batch_size, progress, read_options
        As for ``clara4000_many`` (``open_executor``; light curves per task; a callable given the count
        of each finished batch; flux column, quality mask, 20-s binning).

    Returns
    -------
    FoldRun
        ``periods`` (one row per star), ``failures`` (filename, path, reason), ``bins`` (CLARA's bins for
        "ls"/"auto"), ``figure(filename)`` (one star's figure as PNG bytes).

    Examples
    --------
    >>> import clara_benchmark as clara
    >>> result = clara.fold(TESS_REAL_DIR / "stsci-notebooks")
    >>> wasp126 = result.periods[result.periods.tic == 25155310].iloc[0]
    >>> f"{wasp126.period_days:.3f} d, {wasp126.n_transits} transits, flags: {wasp126['flags'] or 'none'}"
    '3.288 d, 8 transits, flags: none'
    >>> result.figure(wasp126.filename)[:4]
    b'\\x89PNG'
    """
    import pandas as pd

    toi = _toi_table(toi_catalogue)
    spec = FoldSpec(period_method, min_period, max_period, min_power_threshold, bins, phase_shift, False, toi)
    resolved = resolve_inputs(inputs)
    options = dataclasses.replace(ReadOptions.of(read_options), centroids=True)
    run = dict(executor=executor, batch_size=batch_size, progress=progress, read_options=options)
    rows, bin_rows, failures = collect(iter_folds(resolved.items, spec, **run), list(resolved.failures))
    items = {item_key(item)[0]: item for item in resolved.items}
    return FoldRun(
        periods=periods_frame(rows),
        failures=pd.DataFrame(failures, columns=["filename", "path", "reason"]),
        bins=bins_frame(bin_rows, bins) if period_method != "bls" else None,
        spec=spec,
        read_options=options,
        items=items,
    )
