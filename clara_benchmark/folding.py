"""CLARA's phase-fold helper (``clara2_phase_fold.phase_fold``) and its ``bin_means`` feature, exactly.

Pure functions of arrays: no files, no plotting, no logging. The ``fold`` command (CLARA-compatible "ls"
mode) uses :func:`fold_lightcurve`; ``features: bin_means`` uses :func:`bin_means_vector` on top of it.

What CLARA computes for one file (read from its public code, MIT, and replayed with astropy 8.0.2 /
numpy 2.4 / scipy 1.17 on the shared real files):

* TIME and PDCSAP_FLUX through ``np.asarray(..., dtype=float)``: float64, native byte order, so unlike
  the clara-4000 z-score (features.py) no float32 or byte-order subtlety survives here. Rows where both
  are finite (no QUALITY mask); fewer than 100 rows: no fold.
* ``z = (f - nanmean(f)) / nanstd(f)`` in float64 (on finite rows ``np.mean``/``np.std`` give the same bits).
* ``LombScargle(t, z).autopower(minimum_frequency=1/max_period, maximum_frequency=1/min_period,
  samples_per_peak=10)``. autopower builds a regular grid (``autofrequency``: ``f0 + df·k``,
  ``df = 1/(10·baseline)``, about 1,400 frequencies for a 27-day sector) and, because it has more than 200
  regular frequencies, astropy's ``method="auto"`` picks ``"fast"``. In astropy >= 8 "fast" is no longer
  Press & Rybicki's extirpolation but the low-rank NUFFT approximation (``algorithm="lra"``,
  ``eps=5e-13``): it is *not* exact, but it agrees with the exact floating-mean periodogram to ~1e-14 on
  the real files (we measured 2e-14 against astropy's exact "cython" method). It is also the whole cost
  of CLARA's fold: 0.2 s per 2-minute sector here.
* best period = ``1 / freq[argmax(power)]``; skip when ``max(power) < ls_power_thresh`` (0.05);
  ``phase = ((t mod P)/P - phase_shift) mod 1``, argsort; ``scipy.stats.binned_statistic(phase, z,
  bins=bins, statistic="mean")`` (equal bins between the smallest and largest phase; an empty bin is NaN);
  bin centres. ``features_minbeans_folded`` then pads/truncates to ``desired_length`` and z-scores the bin
  means with ``(v - mean) / std``.

How clara gets the same numbers faster: the frequency grid is astropy's own (``autofrequency``, so the
period ``1/freq[i]`` is bit-identical); the power on it is the exact floating-mean Lomb–Scargle power from
one type-3 NUFFT (``features.lomb_scargle_power``, finufft, ~4 ms instead of 200 ms); the fold and the
binning are CLARA's own numpy/scipy calls. The period only depends on *which* grid index wins, and the
skip only on which side of the threshold the peak lies, so the two periodograms need only agree on those.
Both are within ~1e-13 of the exact power; when the best and second-best grid powers are closer than
``TIE_TOLERANCE`` (1e-9), or the peak is that close to the threshold, clara re-runs astropy's autopower
itself for that star, so the decision is astropy's by construction. On all 21 shared real files where
CLARA folds (and the 11 where it skips) the chosen index and the skip decision are the same, the bins
are bit-identical and ``bin_means`` equal CLARA's recorded values exactly (0.0 difference; the contract
is 1e-9). With astropy < 8 CLARA's own periodogram was the extirpolation approximation (errors ~1e-4),
so CLARA's periods could then differ from the exact peak on near-ties; clara follows the exact peak.

Measured (``bench/bench_shapes.py features``, CPU time per star, 29 real files with PDCSAP_FLUX, the
least of 3 runs): CLARA's helper + z-score 0.32 s (its figure included, as it always draws one), clara
(fitsio read included) 12.9 ms: 24.7x (median 25.3x; ~20x on skipped stars, where CLARA draws no figure).

Differences from CLARA, on purpose: CLARA crashes on a file name that is not a SPOC name (it parses the
TIC from the name), returns nothing silently, and returns an all-NaN vector when a phase bin is empty
(possible when the best period is the longest one searched); clara returns a :class:`FoldResult` whose
``reason`` says why a star was skipped, and :func:`bin_means_vector` raises ``FeatureError`` with that
reason (a failure row). Constant flux (zero standard deviation) is a skip here; CLARA would fold NaNs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clara_benchmark.exceptions import FeatureError

MIN_ROWS = 100
SAMPLES_PER_PEAK = 10
#: grid powers closer than this (best vs second best, or peak vs threshold) defer to astropy's autopower
TIE_TOLERANCE = 1e-9
DEFAULT_MIN_PERIOD = 0.2
DEFAULT_MAX_PERIOD = 20.0
DEFAULT_MIN_POWER = 0.05
DEFAULT_BINS = 100


@dataclass(frozen=True)
class FoldResult:
    """One star's fold, as CLARA's helper computes it.

    Attributes
    ----------
    period_days, power : float
        Best Lomb–Scargle period and its power (NaN when no periodogram could be computed).
    bin_centers, bin_means : numpy.ndarray or None
        The binned folded curve (raw z-scored-flux means; NaN in an empty bin); None when skipped.
    reason : str or None
        Why the star is skipped (None when folded): too few rows, constant flux, low peak power.
    n_points : int
        Finite TIME/PDCSAP_FLUX rows used.
    phase, folded_flux : numpy.ndarray or None
        The sorted phases and z-scored flux (only with ``keep_points=True``; for the fold plot).
    flux_z : numpy.ndarray or None
        The z-scored flux in time order (only with ``keep_points=True``).
    used_astropy : bool
        True when a near-tie made clara defer the period choice to astropy's own autopower.
    """

    period_days: float
    power: float
    bin_centers: np.ndarray | None
    bin_means: np.ndarray | None
    reason: str | None
    n_points: int
    phase: np.ndarray | None = None
    folded_flux: np.ndarray | None = None
    flux_z: np.ndarray | None = None
    used_astropy: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None


def clean_fold_input(time: np.ndarray, pdcsap_flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CLARA's fold input: float64 TIME and PDCSAP_FLUX, rows where both are finite."""
    t = np.asarray(time, dtype=float)
    f = np.asarray(pdcsap_flux, dtype=float)
    if t.ndim != 1 or t.shape != f.shape:
        raise FeatureError(f"time and flux must be 1-D arrays of one length, got {t.shape} and {f.shape}")
    keep = np.isfinite(t) & np.isfinite(f)
    return t[keep], f[keep]


def ls_best_period(
    t: np.ndarray, z: np.ndarray, min_period: float, max_period: float
) -> tuple[float, float, bool]:
    """Best period and peak power of CLARA's autopower call (see the module docstring).

    Returns ``(period_days, power, used_astropy)``. The exact NUFFT power decides, unless the best two grid
    powers are within ``TIE_TOLERANCE`` of each other: then astropy's own autopower decides.
    """
    from astropy.timeseries import LombScargle

    from clara_benchmark.features import lomb_scargle_power

    ls = LombScargle(t, z)
    freq = ls.autofrequency(
        samples_per_peak=SAMPLES_PER_PEAK,
        minimum_frequency=1 / max_period,
        maximum_frequency=1 / min_period,
    )
    power = lomb_scargle_power(t, z, freq)
    if len(power) > 1 and np.all(np.isfinite(power)):
        best = int(np.argmax(power))
        second = np.partition(power, -2)[-2]
        if power[best] - second > TIE_TOLERANCE:
            return float(1 / freq[best]), float(power[best]), False
    freq, power = ls.autopower(
        minimum_frequency=1 / max_period, maximum_frequency=1 / min_period, samples_per_peak=SAMPLES_PER_PEAK
    )
    best = int(np.argmax(power))
    return float(1 / freq[best]), float(power[best]), True


def fold_at_period(
    t: np.ndarray, z: np.ndarray, period_days: float, bins: int = DEFAULT_BINS, phase_shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CLARA's fold and binning: ``(phase, folded_flux, bin_centers, bin_means)``, phase sorted."""
    from scipy.stats import binned_statistic

    phase = (t % period_days) / period_days
    phase = (phase - phase_shift) % 1.0
    order = np.argsort(phase)
    phase = phase[order]
    folded = z[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        means, edges, _ = binned_statistic(phase, folded, bins=bins, statistic="mean")
    centers = (edges[:-1] + edges[1:]) / 2
    return phase, folded, centers, means


def fold_lightcurve(
    time: np.ndarray,
    pdcsap_flux: np.ndarray,
    *,
    min_period: float = DEFAULT_MIN_PERIOD,
    max_period: float = DEFAULT_MAX_PERIOD,
    min_power_threshold: float = DEFAULT_MIN_POWER,
    bins: int = DEFAULT_BINS,
    phase_shift: float = 0.0,
    keep_points: bool = False,
) -> FoldResult:
    """Fold one light curve at its Lomb–Scargle period, as CLARA's ``phase_fold`` does.

    Parameters
    ----------
    time, pdcsap_flux : numpy.ndarray
        TIME (BTJD days) and PDCSAP_FLUX as stored (any float dtype; NaNs allowed).
    min_period, max_period : float
        Period range searched, days (CLARA's helper defaults 0.2 and 20).
    min_power_threshold : float
        Skip the star when the peak power is below this (CLARA's ``ls_power_thresh``, 0.05).
    bins : int
        Number of equal phase bins.
    phase_shift : float
        Subtracted from the phase before wrapping into [0, 1).
    keep_points : bool
        Also return the folded points (for a plot); off by default to keep results small.

    Returns
    -------
    FoldResult
        ``reason`` is None when folded, else why the star is skipped. Never raises for a skip.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 27, 2 / 1440)
    >>> f = 1000 + np.sin(2 * np.pi * t / 3.1)
    >>> r = fold_lightcurve(t, f)
    >>> r.ok, abs(r.period_days - 3.1) < 0.05, len(r.bin_means)
    (True, True, 100)
    """
    if not (0 < min_period < max_period):
        raise ValueError(f"need 0 < min_period < max_period, got {min_period} and {max_period}")
    t, f = clean_fold_input(time, pdcsap_flux)
    n = len(t)
    if n < MIN_ROWS:
        return FoldResult(
            np.nan, np.nan, None, None, f"only {n} finite TIME/PDCSAP_FLUX rows (need {MIN_ROWS})", n
        )
    # CLARA calls nanmean/nanstd; on these finite rows np.mean/np.std give the same bits (the same pairwise
    # sums; checked on every real file and 200 random series) without nan*'s copies (2 ms per star)
    with np.errstate(invalid="ignore", over="ignore"):
        std = np.std(f)
    if not np.isfinite(std) or std == 0:
        return FoldResult(np.nan, np.nan, None, None, "constant flux (standard deviation is zero)", n)
    if t.max() == t.min():
        return FoldResult(np.nan, np.nan, None, None, "all finite rows share one TIME (no periodogram)", n)
    z = (f - np.mean(f)) / std
    period, power, used_astropy = ls_best_period(t, z, min_period, max_period)
    if not used_astropy and abs(power - min_power_threshold) <= TIE_TOLERANCE:
        period, power, used_astropy = _astropy_autopower(t, z, min_period, max_period)
    if not power >= min_power_threshold:
        reason = f"Lomb–Scargle peak power {power:.3g} < min_power_threshold {min_power_threshold:g}"
        return FoldResult(period, power, None, None, reason, n, used_astropy=used_astropy)
    phase, folded, centers, means = fold_at_period(t, z, period, bins, phase_shift)
    if keep_points:
        return FoldResult(period, power, centers, means, None, n, phase, folded, z, used_astropy)
    return FoldResult(period, power, centers, means, None, n, used_astropy=used_astropy)


def _astropy_autopower(t, z, min_period, max_period) -> tuple[float, float, bool]:
    from astropy.timeseries import LombScargle

    freq, power = LombScargle(t, z).autopower(
        minimum_frequency=1 / max_period, maximum_frequency=1 / min_period, samples_per_peak=SAMPLES_PER_PEAK
    )
    best = int(np.argmax(power))
    return float(1 / freq[best]), float(power[best]), True


def zscore_bin_means(bin_means: np.ndarray, desired_length: int | None = None) -> np.ndarray:
    """``features_minbeans_folded``: pad with zeros / truncate to ``desired_length``, then ``(v-mean)/std``.

    Raises ``FeatureError`` when a bin is empty (CLARA would return an all-NaN vector) or the bins are
    constant.
    """
    vec = np.array(bin_means, dtype=float)
    n_empty = int(np.isnan(vec).sum())
    if n_empty:
        raise FeatureError(
            f"{n_empty} of {len(vec)} phase bins are empty (CLARA would write an all-NaN vector)"
        )
    if desired_length is not None:
        if desired_length < 1:
            raise ValueError(f"desired_length must be a positive integer, got {desired_length}")
        vec = (
            vec[:desired_length]
            if len(vec) >= desired_length
            else np.pad(vec, (0, desired_length - len(vec)))
        )
    std = np.std(vec)
    if not std > 0:
        raise FeatureError("binned folded curve is constant (standard deviation is zero)")
    return (vec - np.mean(vec)) / std


def bin_means_vector(
    time: np.ndarray,
    pdcsap_flux: np.ndarray,
    *,
    fold: FoldResult | None = None,
    desired_length: int | None = None,
    **fold_options,
) -> np.ndarray:
    """CLARA's ``bin_means`` feature vector of one light curve (z-scored bin means, float64).

    ``fold`` reuses a fold already computed (e.g. by the advanced-10 features). Raises ``FeatureError``
    with the skip reason when the star cannot be folded.
    """
    if fold is None:
        fold = fold_lightcurve(time, pdcsap_flux, **fold_options)
    if not fold.ok:
        raise FeatureError(fold.reason)
    return zscore_bin_means(fold.bin_means, desired_length)


def fold_plot_png(fold: FoldResult, tic_id: int | str | None = None) -> bytes:
    """CLARA's fold figure as PNG bytes: folded points + binned curve (title: period, LS power, TIC) above
    the first 8000 z-scored flux points. Needs a fold made with ``keep_points=True``; the file name CLARA
    gives it is ``<name>_period_<period_days>_days.png``.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if not fold.ok or fold.phase is None:
        raise ValueError("fold_plot_png needs a successful fold made with keep_points=True")
    fig = Figure(figsize=(10, 5), dpi=100)
    top, bottom = fig.subplots(2, 1)
    bottom.plot(fold.flux_z[:8000], lw=1, color="navy")
    bottom.set_title("Normalized Flux Vector - First 8000 Data Points")
    bottom.set_ylabel("Flux (normalized)")
    bottom.grid(True)
    top.plot(fold.phase, fold.folded_flux, ".", alpha=0.2, label="Raw folded flux")
    top.plot(fold.bin_centers, fold.bin_means, "r-", lw=2, label="Binned")
    top.set_title(
        f"Phase Folded Light Curve\nPeriod = {fold.period_days:.4f} d | LS Power = {fold.power:.4f} | TIC: {tic_id}"
    )
    top.set_xlabel("Phase")
    top.set_ylabel("Normalized Flux")
    top.grid(True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
