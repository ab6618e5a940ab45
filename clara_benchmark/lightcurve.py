"""Light curves: the ``LightCurve`` clara works on, and the reader of TESS light-curve FITS files.

The only module that knows FITS column and header names. ``read_lightcurve`` gives native-endian arrays in
the file's stored precision (PDCSAP_FLUX is float32 in SPOC files; the features depend on it, see
features.py); ``LightCurve(time, flux, ...)`` builds one from arrays or astropy ``Time``/``Quantity``, and
``LightCurve.from_lightkurve`` / ``to_lightkurve`` convert to and from lightkurve.

Backend: fitsio. Measured with ``bench/bench_read.py`` on the three real files (~2 MB, ~19k rows), reading
the five columns and the primary header, native-endian, checks included: fitsio 2.0 ms per file, astropy.io.fits
4.5 ms (2.25x slower). fitsio ships wheels for Linux, macOS and Windows, so it costs no portability.

Files are opened through ``fitsfile.open_fits``: the name is never read by cfitsio (which would interpret
``a(b)``, ``x[1]``, ``!x``, ...), only a descriptor of the checked regular file. Cheap structural checks run
before the backend so that every damaged file gets the same clear message (``LightCurveError`` names the
file and the cause) whatever the backend would have said.

What the reader refuses (each a ``LightCurveError``, i.e. a failures row; no SPOC product has these):

* a FITS CHECKSUM or DATASUM that does not match (when the card is present, as in every SPOC file): the
  bytes were damaged after SPOC wrote them. The check reads the whole file once more from the page cache
  (a ones'-complement sum over ~2 MB); ``verify_checksums=False`` skips it;
* HDUs that do not tile the file (a truncated file), as ``download`` verifies;
* TIME that is not strictly increasing over its finite values (unsorted or duplicated cadences): CLARA's
  flux part is "the first 3000 samples", which only means something in time order, and sorting silently
  would hide a broken file;
* finite TIME values beyond 100,000 days from the BTJD/BKJD epoch (no mission time is; 1e297 would overflow
  the periodogram's phases);
* a flux or TIME column that is not real-valued (complex, logical, text);
* a TICID that is not an integer in [0, 2**53) (1E30 overflowed the score tables), a SECTOR out of range.

Examples
--------
>>> import numpy as np
>>> from clara_benchmark import LightCurve
>>> t = np.linspace(1325.0, 1352.0, 19000)
>>> lc = LightCurve(t, 1.0 + 1e-3 * np.sin(t), tic_id=25155310, sector=1)
>>> lc.filename, len(lc), round(lc.cadence_s)
('tic25155310_s0001', 19000, 123)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.exceptions import ClaraError, LightCurveError
from clara_benchmark.fitsfile import (
    FitsOpenError,
    check_checksums,
    check_lightcurve_table,
    check_structure,
    damaged_reason,
    fits_of_descriptor,
    open_regular_file,
    precheck,
)

COLUMNS = ("TIME", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_FLUX", "QUALITY")
REQUIRED = ("TIME", "PDCSAP_FLUX")
PRIMARY_KEYS = ("TICID", "SECTOR", "CAMERA", "CCD", "TESSMAG", "TEFF", "RADIUS", "OBJECT")
TABLE_KEYS = ("CDPP0_5", "CDPP1_0", "CDPP2_0", "TIMEDEL", "TSTART", "TSTOP")
FILENAME_TIC = re.compile(r"^tess\d+-s(\d{4})-(\d{16})-\d+-[a-z]_lc\.fits$")
#: TESS times are BTJD = BJD_TDB - 2457000
BTJD_OFFSET = 2457000.0
MAX_ABS_TIME = 1e5
MAX_ID = 2**53
MAX_SECTOR = 100_000


def _as_float_array(values, what: str, where: str) -> np.ndarray:
    """A 1-D real array (masked values → NaN), keeping float32/float64 as stored."""
    if hasattr(values, "filled") and getattr(values, "mask", None) is not None:  # numpy/astropy masked
        values = values.filled(np.nan) if np.asarray(values).dtype.kind == "f" else values.filled(0)
    if hasattr(values, "unit") and hasattr(values, "value"):  # astropy Quantity: values in its unit
        values = values.value
    a = np.asarray(values)
    if a.dtype.kind not in "fiu":
        raise LightCurveError(where, f"{what} must be real numbers, got values of type {a.dtype}")
    if a.ndim != 1:
        raise LightCurveError(where, f"{what} must be one-dimensional, got shape {a.shape}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def _time_to_btjd(time) -> np.ndarray:
    """BTJD days from an astropy ``Time`` (any format and scale; TDB) or a plain array of BTJD days."""
    try:
        from astropy.time import Time
    except ImportError:  # pragma: no cover - astropy is a dependency
        Time = ()
    if isinstance(time, Time):
        if time.format == "btjd":  # lightkurve's format: the stored BTJD doubles, bit for bit
            return np.asarray(time.value, dtype=np.float64)
        tdb = time.tdb
        return np.asarray((tdb.jd1 - BTJD_OFFSET) + tdb.jd2, dtype=np.float64)
    return time


@dataclass(eq=False)
class LightCurve:
    """One star's light curve: time (BTJD days), flux and what clara knows about it.

    Parameters
    ----------
    time : array or astropy.time.Time
        Times in BTJD days (BJD_TDB − 2457000); an astropy ``Time`` is converted.
    flux : array or astropy.units.Quantity
        The flux clara computes features from (by default PDCSAP_FLUX, e-/s). Its dtype is kept: CLARA's
        features depend on the stored float32 precision.
    flux_err, quality : array, optional
        Flux uncertainty and QUALITY bit flags (int32; zeros when not given).
    tic_id, sector : int, optional
        TIC id and TESS sector.
    flux_column : str
        Which column ``flux`` is (``"pdcsap_flux"``, ``"sap_flux"``, ...).
    path : str, optional
        The file it was read from. ``filename`` (the key of every output table) is its base name, or
        ``name``, or ``tic<id>_s<sector>``.
    header : dict
        Header values (TICID, SECTOR, CAMERA, CCD, TESSMAG, ...).
    columns : dict
        Further columns by lower-case name (``sap_flux``, ``pdcsap_flux_err``, ``mom_centr1``, ...).
    """

    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray | None = None
    quality: np.ndarray | None = None
    tic_id: int | None = None
    sector: int | None = None
    flux_column: str = "pdcsap_flux"
    path: str | None = None
    name: str | None = None
    header: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.path or self.name or "light curve"
        self.time = _as_float_array(_time_to_btjd(self.time), "time", where).astype(np.float64, copy=False)
        self.flux = _as_float_array(self.flux, "flux", where)
        n = len(self.time)
        if len(self.flux) != n:
            raise LightCurveError(where, f"time has {n} values but flux has {len(self.flux)}")
        if self.flux_err is not None:
            self.flux_err = _as_float_array(self.flux_err, "flux_err", where)
        if self.quality is None:
            self.quality = np.zeros(n, dtype=np.int32)
        else:
            self.quality = np.ascontiguousarray(np.asarray(self.quality), dtype=np.int32)
        for name, values in (("flux_err", self.flux_err), ("quality", self.quality)):
            if values is not None and len(values) != n:
                raise LightCurveError(where, f"time has {n} values but {name} has {len(values)}")
        if self.tic_id is not None:
            self.tic_id = int(self.tic_id)
        if self.sector is not None:
            self.sector = int(self.sector)
        if self.path is not None:
            self.path = str(self.path)

    # ---------------------------------------------------------------------------------- descriptions

    @property
    def filename(self) -> str:
        """The key of this light curve in every output table: the file's base name when read from one."""
        if self.path:
            return os.path.basename(self.path)
        if self.name:
            return self.name
        sector = f"_s{self.sector:04d}" if self.sector is not None else ""
        return f"tic{self.tic_id}{sector}" if self.tic_id is not None else "lightcurve"

    @property
    def cadence_s(self) -> float:
        """The cadence in seconds: the header's TIMEDEL, else the median step of the finite times."""
        timedel = self.header.get("TIMEDEL")
        if isinstance(timedel, (int, float)) and np.isfinite(timedel) and timedel > 0:
            return float(timedel) * 86400.0
        t = self.time[np.isfinite(self.time)]
        return float(np.median(np.diff(t))) * 86400.0 if len(t) > 1 else float("nan")

    @property
    def camera(self) -> int | None:
        return self.header.get("CAMERA")

    @property
    def ccd(self) -> int | None:
        return self.header.get("CCD")

    @property
    def pdcsap_flux(self) -> np.ndarray:
        """PDCSAP_FLUX (``flux`` when that is the flux column)."""
        return self.flux if self.flux_column == "pdcsap_flux" else self._column("pdcsap_flux")

    @property
    def pdcsap_flux_err(self) -> np.ndarray:
        return self.flux_err if self.flux_column == "pdcsap_flux" else self._column("pdcsap_flux_err")

    @property
    def sap_flux(self) -> np.ndarray:
        return self.flux if self.flux_column == "sap_flux" else self._column("sap_flux")

    def _column(self, name: str) -> np.ndarray:
        values = self.columns.get(name)
        if values is None:
            return np.full(len(self.time), np.nan)
        return values

    def __len__(self) -> int:
        return len(self.time)

    def __repr__(self) -> str:
        return (
            f"LightCurve({self.filename!r}, tic_id={self.tic_id}, sector={self.sector}, "
            f"{len(self)} cadences, flux={self.flux_column})"
        )

    # ---------------------------------------------------------------------------------- lightkurve

    @classmethod
    def from_lightkurve(cls, lc, name: str | None = None) -> LightCurve:
        """A ``LightCurve`` from a ``lightkurve.LightCurve`` (its time, flux, flux_err, quality, TIC, sector).

        Scoring it gives the scores of the file it was read from when lightkurve applied no quality mask
        (``lightkurve.read(path, quality_bitmask="none")``): lightkurve keeps the stored TIME and flux
        values, and clara takes them back bit for bit.

        Examples
        --------
        >>> import lightkurve as lk  # doctest: +SKIP
        >>> LightCurve.from_lightkurve(lk.read(path, quality_bitmask="none"))  # doctest: +SKIP
        """
        meta = dict(getattr(lc, "meta", {}) or {})
        tic = meta.get("TICID", meta.get("TARGETID", getattr(lc, "targetid", None)))
        quality = lc["quality"] if "quality" in getattr(lc, "colnames", ()) else None
        flux_err = lc.flux_err if "flux_err" in getattr(lc, "colnames", ()) else None
        origin = str(meta.get("FLUX_ORIGIN") or "flux").lower()
        header = {k: meta.get(k) for k in PRIMARY_KEYS if meta.get(k) is not None}
        path = meta.get("FILENAME")
        return cls(
            lc.time,
            lc.flux,
            flux_err=flux_err,
            quality=None if quality is None else np.asarray(quality),
            tic_id=_checked_id(tic, path or name or "lightkurve light curve") if tic is not None else None,
            sector=meta.get("SECTOR"),
            flux_column=origin,
            path=str(path) if path else None,
            name=name,
            header=header,
        )

    def to_lightkurve(self):
        """This light curve as a ``lightkurve.LightCurve`` (time as BTJD/TDB, flux in e-/s)."""
        try:
            import astropy.units as u
            import lightkurve as lk
            from astropy.time import Time
        except ImportError as exc:
            raise ClaraError(
                f"to_lightkurve needs the lightkurve package ({exc}): pip install lightkurve"
            ) from None
        unit = u.electron / u.s
        meta = {k: v for k, v in self.header.items() if v is not None}
        meta.update({"TICID": self.tic_id, "SECTOR": self.sector, "FLUX_ORIGIN": self.flux_column})
        if self.path:
            meta["FILENAME"] = self.path
        return lk.LightCurve(
            time=Time(self.time, format="btjd", scale="tdb"),
            flux=self.flux * unit,
            flux_err=None if self.flux_err is None else self.flux_err * unit,
            quality=self.quality,
            meta=meta,
        )


# ------------------------------------------------------------------------------------------ reading


def tic_from_filename(name: str) -> int | None:
    """TIC id from a SPOC file name (third dash-separated field), or None for other names."""
    m = FILENAME_TIC.match(os.path.basename(name))
    return int(m.group(2)) if m else None


def _header_value(hdr, name):
    try:
        value = hdr[name]
    except (KeyError, ValueError):
        return None
    return value.strip() if isinstance(value, str) else value


def _checked_id(value, where, key: str = "TICID", limit: int = MAX_ID) -> int:
    """An identifier from a header: an integer in [0, limit), else ``LightCurveError`` naming the value."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if (
        not ok
        and isinstance(value, (float, np.floating))
        and np.isfinite(value)
        and float(value).is_integer()
    ):
        value, ok = int(value), True
    if not ok and isinstance(value, str) and value.strip().isdigit():
        value, ok = int(value.strip()), True
    if not ok or not 0 <= int(value) < limit:
        raise LightCurveError(
            where, f"{key} = {value!r} is not an identifier (an integer from 0 to {limit - 1})"
        )
    return int(value)


def _check_series(path: Path, time: np.ndarray) -> None:
    finite = time[np.isfinite(time)]
    if len(finite) and np.max(np.abs(finite)) > MAX_ABS_TIME:
        raise LightCurveError(
            path, f"TIME values reach {np.max(np.abs(finite)):.3g} days: not BTJD (at most {MAX_ABS_TIME:g})"
        )
    steps = np.diff(finite)
    if len(steps) and not np.all(steps > 0):
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "repeats" if steps[row - 1] == 0 else "decreases"
        raise LightCurveError(path, f"TIME is not strictly increasing: it {what} at finite sample {row}")


def _read_raw(path: Path, verify_checksums: bool, table_header: bool):
    """(primary header, table header or {}, columns) from one open descriptor, with the integrity checks."""
    fd = open_regular_file(path)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 80, 0) if size else b""
        precheck(head, size)
        with fits_of_descriptor(fd, path) as fits:
            table = check_lightcurve_table(fits, REQUIRED)
            if verify_checksums and not head.startswith(b"\x1f\x8b"):
                raw = os.pread(fd, size, 0)
                offsets = [hdu.get_offsets() for hdu in fits]
                check_structure(raw, offsets)
                check_checksums(raw, offsets)
                del raw
            names = {str(c).upper() for c in table.get_colnames()}
            data = table.read(columns=[c for c in COLUMNS if c in names])
            primary = fits[0].read_header()
            table_keys = table.read_header() if table_header else {}
    finally:
        os.close(fd)
    return primary, table_keys, data


def read_lightcurve(
    path: str | os.PathLike, table_header: bool = False, verify_checksums: bool = True
) -> LightCurve:
    """Read a TESS SPOC light-curve file; raise ``LightCurveError`` naming the file and the cause on any defect.

    Parameters
    ----------
    path : str or path-like
        The file. Only a path: no character of it is interpreted (see fitsfile.py).
    table_header : bool
        Also read HDU 1's header (CDPP, TIMEDEL, TSTART/TSTOP). Off by default: parsing that header costs
        more than reading the columns (1.9 ms against 1.3 ms per file).
    verify_checksums : bool
        Check the FITS CHECKSUM/DATASUM cards where present (see the module docstring).

    Returns
    -------
    LightCurve
        ``flux`` is PDCSAP_FLUX in its stored precision; ``columns`` holds SAP_FLUX and PDCSAP_FLUX_ERR.

    Examples
    --------
    >>> from clara_benchmark import read_lightcurve
    >>> lc = read_lightcurve(TESS_DIR / "tic55525572_lc.fits")
    >>> lc.tic_id, lc.sector, len(lc), lc.flux.dtype
    (55525572, 5, 18944, dtype('float32'))
    """
    path = Path(path)
    try:
        primary, table_keys, data = _read_raw(path, verify_checksums, table_header)
    except FitsOpenError as exc:
        raise LightCurveError(path, exc.reason) from None
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        raise LightCurveError(path, damaged_reason(exc)) from None

    n = len(data)

    def column(name, dtype, fill):
        # keep the stored precision (PDCSAP_FLUX is float32 in SPOC files): features decide how to widen
        if name not in data.dtype.names:
            return np.full(n, fill, dtype=dtype)
        values = data[name]
        if values.ndim != 1 or values.dtype.kind not in ("fiu" if name == "QUALITY" else "fi"):
            raise LightCurveError(
                path,
                f"column {name} holds {values.dtype} values of shape {values.shape[1:] or '()'}: "
                "a light curve needs one real number per cadence",
            )
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))

    tic = _header_value(primary, "TICID")
    if tic is None:
        tic = tic_from_filename(path.name)
    if tic is None:
        raise LightCurveError(path, "no TICID in the primary header and no TIC id in the file name")
    sector = _header_value(primary, "SECTOR")
    header = {k: _header_value(primary, k) for k in PRIMARY_KEYS}
    if table_header:
        header.update({k: _header_value(table_keys, k) for k in TABLE_KEYS})
    time = column("TIME", np.float64, np.nan).astype(np.float64, copy=False)
    _check_series(path, time)
    return LightCurve(
        time=time,
        flux=column("PDCSAP_FLUX", np.float64, np.nan),
        flux_err=column("PDCSAP_FLUX_ERR", np.float64, np.nan),
        quality=column("QUALITY", np.int32, 0),
        tic_id=_checked_id(tic, path),
        sector=_checked_id(sector, path, "SECTOR", MAX_SECTOR) if sector is not None else -1,
        flux_column="pdcsap_flux",
        path=str(path),
        header=header,
        columns={"sap_flux": column("SAP_FLUX", np.float64, np.nan)},
    )
