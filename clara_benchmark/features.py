"""The clara-4000 feature vector (CLARA_SPEC §3): 3000 z-scored flux samples + 1000 Lomb–Scargle powers.

Pure functions of arrays: no files, no logging. ``FeatureError`` says why a light curve cannot be used.

What CLARA actually computes (read from its public code, MIT, and replayed with lightkurve 2.6 /
astropy 8 / numpy 2.4 on the three real light curves in shared/data/tess):

* Reading: ``astropy.table.Table.read(path, hdu=1)`` then ``lightkurve.LightCurve(time=TIME,
  flux=PDCSAP_FLUX)``, then ``flux.value``. No QUALITY mask. Table.read masks NaNs, lightkurve turns TIME
  into a masked ``Time(format="jd")``; ``.value`` gives back the stored TIME doubles bit for bit, and the
  finite mask ``isfinite(time) & isfinite(flux)`` keeps exactly the rows where both are finite.
* z-score in **float32**: PDCSAP_FLUX stays the file's big-endian float32 (``>f4``) through astropy and
  lightkurve, so ``(f - np.mean(f)) / np.std(f)`` runs in float32 arithmetic on a byte-swapped array. Both
  details change the numbers: the float32 mean is off the float64 one by up to an ulp of the flux (2e-4 at
  3700 e-/s), which moves *every* z-score by ~2e-5 (float64 z-scores rounded to float32 differ from
  CLARA's in all 18k samples of each real file); and numpy (>= 2.3) sums a byte-swapped array in buffered
  chunks but a native one in a single pairwise pass, so the float32 mean of the native array differs by
  an ulp in ~30% of random series. We therefore compute the mean and std with numpy on a big-endian copy
  of the stored dtype, exactly as CLARA's code ran. These 3000 values reach the forest as float32 (scikit-
  learn trees compare float32 features), where one ulp can flip a split.
  Caveat: numpy <= 2.2 also chunked the native second pass of ``np.std`` (sum of squares); numpy >= 2.3
  does not, so the float32 std can differ by one ulp between those numpy versions. CLARA's models were
  pickled with scikit-learn 1.7.0 under numpy 2.x (``numpy._core`` in the pickles), i.e. between June and
  July 2025, straddling numpy 2.3.0 (7 June 2025), so its exact numpy minor version is not recorded; we
  follow the installed numpy. The float32 mean of the byte-swapped flux is the same on numpy 1.26–2.4.
* Flux part: the first 3000 z-scores, zero-padded at the end.
* Periodogram: ``astropy.timeseries.LombScargle(time, z).power(FREQUENCIES)`` with defaults (``dy=None``,
  ``fit_mean=True``, ``center_data=True``, "standard" normalisation). With a non-uniform frequency grid
  astropy picks its "cython" method: z is widened to float64, centred by its mean (``dot(w, y)/sum(w)``
  with ``w = 1``), and the generalised (floating-mean) Lomb–Scargle power of Zechmeister & Kürster (2009)
  is returned, written with a per-frequency phase ``tau``. Without ``tau`` the same quantity is
  ``(SS·YC² + CC·YS² − 2·CS·YC·YS) / (YY·(CC·SS − CS²))`` with the mean-subtracted, 1/N-weighted sums
  below, which is what ``lomb_scargle_power`` evaluates. Its trigonometric sums Σe^{iωt}, Σe^{2iωt} and
  Σy·e^{iωt} over 1000 frequencies come from one type-3 non-uniform FFT (finufft) instead of O(N·M)
  sin/cos: a few ms instead of ~1.3 s, equal to astropy within ~1e-13 (tests require 1e-9).
  The power reaches the forest as float32 too, so a 1e-13 difference could only matter for a value within
  1e-13 of a float32 rounding boundary that is also adjacent to a split threshold.

Differences from CLARA, on purpose: a light curve with fewer than ``MIN_POINTS`` finite samples, constant
flux, or a non-finite periodogram raises ``FeatureError`` (CLARA would have written NaN features or a
``None`` row).
"""

from __future__ import annotations

import numpy as np

from clara_benchmark.exceptions import FeatureError

FEATURE_SPEC_VERSION = "clara-4000/1"
N_FLUX = 3000
N_FREQ = 1000
N_FEATURES = N_FLUX + N_FREQ
#: cycles/day: periods from 27 d down to 4 h
FREQUENCIES = np.logspace(np.log10(1 / 27), np.log10(6), N_FREQ)
MIN_POINTS = 10
#: finufft tolerance; the sums are exact to ~1e-14 relative to N, far inside the 1e-9 contract
NUFFT_EPS = 1e-14
#: above this (max |t − centre|) × (max angular frequency) the NUFFT grid would be huge: sum directly
MAX_NUFFT_SPAN_BAND = 1e6


def _stored_float(flux: np.ndarray) -> np.ndarray:
    """The flux in the precision the file stores it (float32 for SPOC; other types widen to float64)."""
    flux = np.asarray(flux)
    if flux.dtype.kind != "f" or flux.dtype.itemsize < 4:
        return flux.astype(np.float64)
    return flux


def clara_zscore(flux: np.ndarray) -> np.ndarray:
    """CLARA's z-score: ``(f − mean) / std`` (ddof=0) in the stored precision, on a big-endian copy.

    Big-endian because that is how astropy hands FITS columns to CLARA, and numpy's float sums depend on
    the byte order (see the module docstring). Returns an array of the stored dtype (native order).
    """
    f = _stored_float(flux)
    big = f.astype(f.dtype.newbyteorder(">"))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, not as a warning
        mean = np.mean(big)
        std = np.std(big)
    if not np.isfinite(std):
        raise FeatureError("flux values too large for their precision (mean/standard deviation overflow)")
    if std == 0:
        raise FeatureError("constant flux (standard deviation is zero)")
    z = (big - mean) / std
    return np.ascontiguousarray(z, dtype=f.dtype.newbyteorder("="))


def clean_and_standardise(time: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep rows where both time and flux are finite, then z-score the flux as CLARA did.

    Returns (time float64, z-scores in the flux's stored precision).
    """
    time = np.asarray(time, dtype=np.float64)
    flux = _stored_float(flux)
    if time.shape != flux.shape or time.ndim != 1:
        raise FeatureError(
            f"time and flux must be 1-D arrays of one length, got {time.shape} and {flux.shape}"
        )
    keep = np.isfinite(time) & np.isfinite(flux)
    n = int(keep.sum())
    if n == 0:
        raise FeatureError("no finite TIME/PDCSAP_FLUX samples")
    if n < MIN_POINTS:
        raise FeatureError(f"only {n} finite samples (need at least {MIN_POINTS})")
    t, f = time[keep], flux[keep]
    if t.min() == t.max():
        raise FeatureError("all finite samples share one TIME (no periodogram)")
    return t, clara_zscore(f)


def lomb_scargle_power_reference(
    time: np.ndarray, y: np.ndarray, frequencies: np.ndarray = FREQUENCIES
) -> np.ndarray:
    """astropy's ``LombScargle(t, y).power(freqs)``: the definition the fast path must match (O(N·M))."""
    from astropy.timeseries import LombScargle

    return np.asarray(LombScargle(time, y).power(frequencies), dtype=np.float64)


def _trig_sums(t: np.ndarray, y: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σ e^{iωt}, Σ e^{2iωt} and Σ y·e^{iωt} over the samples, for each angular frequency ω.

    ``t`` must be centred. The type-3 NUFFT's work grid grows with span × max frequency; for spans no
    light curve has (more than ~10^4 days at these frequencies) the sums are taken directly instead, in
    bounded memory, so junk input cannot exhaust a worker's memory.
    """
    m = len(omega)
    targets = np.concatenate([omega, 2.0 * omega])
    strengths = np.empty((2, len(t)), dtype=np.complex128)
    strengths[0] = 1.0
    strengths[1] = y
    span_x_band = float(np.max(np.abs(t))) * float(np.max(np.abs(targets))) if len(t) else 0.0
    if not np.isfinite(span_x_band) or span_x_band > MAX_NUFFT_SPAN_BAND:
        out = _direct_sums(t, strengths, targets)
    else:
        import finufft

        out = finufft.nufft1d3(t, strengths, targets, eps=NUFFT_EPS, isign=1, nthreads=1)
    return out[0, :m], out[0, m:], out[1, :m]


def _direct_sums(t: np.ndarray, strengths: np.ndarray, targets: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Σ_j c_j e^{i s_k t_j} by brute force, a few targets at a time (the NUFFT's fallback)."""
    out = np.empty((strengths.shape[0], len(targets)), dtype=np.complex128)
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(0, len(targets), chunk):
            phase = np.exp(1j * np.outer(targets[i : i + chunk], t))
            out[:, i : i + chunk] = strengths @ phase.T
    return out


def lomb_scargle_power(time: np.ndarray, y: np.ndarray, frequencies: np.ndarray = FREQUENCIES) -> np.ndarray:
    """Floating-mean, standard-normalised Lomb–Scargle power, equal to astropy's default ``power``.

    Same maths as astropy's "cython" method with ``dy=None`` (unit weights): y centred by its mean, then
    the generalised Lomb–Scargle power from weighted sums. The sums come from a type-3 NUFFT.
    """
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    freq = np.asarray(frequencies, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(f"time and y must be 1-D arrays of one length, got {t.shape} and {y.shape}")
    n = len(t)
    if n == 0:
        raise ValueError("no samples")
    # astropy centres y (center_data/fit_mean); the power is invariant to a time shift, and centring t
    # keeps ωt small for the NUFFT
    y = y - y.sum() / n
    t = t - 0.5 * (t.min() + t.max())
    omega = 2.0 * np.pi * freq
    e1, e2, ye1 = _trig_sums(t, y, omega)
    c, s = e1.real / n, e1.imag / n
    c2, s2 = e2.real / n, e2.imag / n
    y_mean = y.sum() / n
    yc = ye1.real / n - y_mean * c
    ys = ye1.imag / n - y_mean * s
    # not np.dot: a threaded BLAS sums in an order that depends on its thread count, and the features must
    # be bit-identical whichever executor (local processes, Dask workers with OMP_NUM_THREADS=1) runs them
    yy = np.sum(y * y) / n - y_mean * y_mean
    cc = 0.5 * (1.0 + c2) - c * c
    ss = 0.5 * (1.0 - c2) - s * s
    cs = 0.5 * s2 - c * s
    d = cc * ss - cs * cs
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ss * yc * yc + cc * ys * ys - 2.0 * cs * yc * ys) / (yy * d)


def clara4000(time, pdcsap_flux: np.ndarray | None = None) -> np.ndarray:
    """The clara-4000 vector of one light curve (float64, length 4000), exactly as CLARA computes it.

    Parameters
    ----------
    time : array or LightCurve
        Times (days), or a ``LightCurve`` (its ``time`` and ``flux`` are used).
    pdcsap_flux : array, optional
        The flux, in its stored precision (CLARA's z-scores are float32 for SPOC's float32 PDCSAP_FLUX);
        not given when ``time`` is a ``LightCurve``.

    Returns
    -------
    numpy.ndarray
        3000 z-scored flux samples (zero-padded) followed by 1000 Lomb–Scargle powers.

    Raises
    ------
    FeatureError
        Fewer than 10 finite samples, constant flux, or a periodogram that is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from clara_benchmark import clara4000
    >>> t = np.arange(0, 27, 2 / 1440)
    >>> v = clara4000(t, 1 + 0.01 * np.sin(2 * np.pi * t / 3.0))
    >>> v.shape, int(np.argmax(v[3000:]))  # the strongest power at the 3-day period
    ((4000,), 431)
    """
    if pdcsap_flux is None:
        if not (hasattr(time, "time") and hasattr(time, "flux")):
            raise TypeError("clara4000 takes a LightCurve, or time and flux arrays")
        time, pdcsap_flux = time.time, time.flux
    t, z = clean_and_standardise(time, pdcsap_flux)
    out = np.zeros(N_FEATURES, dtype=np.float64)
    k = min(N_FLUX, len(z))
    out[:k] = z[:k]
    power = lomb_scargle_power(t, z, FREQUENCIES)
    if not np.all(np.isfinite(power)):
        raise FeatureError("periodogram is not finite (degenerate time sampling?)")
    out[N_FLUX:] = power
    return out
