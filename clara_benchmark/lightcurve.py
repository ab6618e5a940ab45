"""Light curves: the ``LightCurve`` clara works on, the reader of light-curve FITS files, and which product
a file is. The only module that knows FITS column and header names.

``read_lightcurve`` gives native-endian arrays in the file's stored precision (PDCSAP_FLUX is float32 in
SPOC files; the features depend on it, see features.py); ``LightCurve(time, flux, ...)`` builds one from
arrays or astropy ``Time``/``Quantity``, and ``LightCurve.from_lightkurve`` / ``to_lightkurve`` convert to
and from lightkurve. ``ReadOptions`` (flux column, quality mask, 20-s binning) is the one description of
how light curves are read, used by ``read_lightcurve``, the library and every command.

Products, detected from the headers and columns (never from the file name), as ``LightCurve.product``:

============== ===================================================================================
"spoc-2min"    SPOC 2-minute (ORIGIN NASA/Ames, CREATOR ...LightCurveExporterPipelineModule, TELESCOP
               TESS, PDCSAP_FLUX, TIMEDEL 2 min, a real pixel table PXTABLE). CLARA's training data.
"spoc-20s"     SPOC 20-second: the same, TIMEDEL 20 s.
"tess-spoc"    TESS-SPOC FFI light curves (the same exporter, PXTABLE = -10000: no target pixel table;
               or, without a PXTABLE card, a cadence over 150 s: the 1800, 600 or 200-s FFI cadences).
"qlp"          MIT Quick-Look Pipeline FFI (ORIGIN MIT/QLP; SAP_FLUX, KSPSAP_FLUX, no PDCSAP_FLUX).
"lightkurve"   written by lightkurve's ``to_fits`` (CREATOR lightkurve...; FLUX, FLUX_ERR; TARGETID).
"kepler", "k2" Kepler / K2 light curves (TELESCOP Kepler; K2 when MISSION is K2 or CAMPAIGN is set;
               KEPLERID holds the KIC / EPIC number; SAP_QUALITY; times in BKJD = BJD - 2454833).
"tess"         another TESS light curve (eleanor, TASOC, CDIPS, ..., or a SPOC-format file at another
               cadence, e.g. a short simulated sector); "unknown" for anything else.
============== ===================================================================================

``LightCurve.id_kind`` says which catalogue ``tic_id`` is from: "tic" (TESS), "kic" (Kepler), "epic" (K2).
lightkurve (``lightkurve.io.detect``) decides with the same ORIGIN/CREATOR/TELESCOP/MISSION cards, but
tells TESS-SPOC from SPOC by the file *name*; clara uses PXTABLE and TIMEDEL instead.

Backend: fitsio. Measured with ``bench/bench_read.py`` on the three real files (~2 MB, ~19k rows), reading
the five columns and the primary header, native-endian, checks included: fitsio 2.0 ms per file, astropy.io.fits
4.5 ms (2.25x slower). fitsio ships wheels for Linux, macOS and Windows, so it costs no portability.

Files are opened through ``fitsfile.open_fits_bytes``: the name is never read by cfitsio (which would
interpret ``a(b)``, ``x[1]``, ``!x``, ...), only a descriptor of the checked regular file; a ``.gz`` file
is inflated by clara, bounded, not by cfitsio (see fitsfile.py). Cheap structural checks run before the
backend so that every damaged file gets the same clear message (``LightCurveError`` names the file and the
cause) whatever the backend would have said.

What the reader refuses (each a ``LightCurveError``, i.e. a failures row; no SPOC product has these):

* a FITS CHECKSUM or DATASUM that does not match (when the card is present, as in every SPOC file): the
  bytes were damaged after SPOC wrote them. The check reads the whole file once more from the page cache
  (a ones'-complement sum over ~2 MB); ``verify_checksums=False`` skips it;
* HDUs that do not tile the file (a truncated file), as ``download`` verifies;
* a file without the chosen flux column (the reason lists the columns it has);
* TIME that is not strictly increasing over its finite values (unsorted or duplicated cadences): CLARA's
  flux part is "the first 3000 samples", which only means something in time order, and sorting silently
  would hide a broken file;
* finite TIME values beyond 100,000 days from the BTJD/BKJD epoch (no mission time is; 1e297 would overflow
  the periodogram's phases);
* a flux or TIME column that is not real-valued (complex, logical, text);
* a TICID (KEPLERID, TARGETID) that is not an integer in [0, 2**53) (1E30 overflowed the score tables),
  a SECTOR out of range.

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

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from clara_benchmark.cadences import (
    bin_cadences,
    bitmask_value,
    is_twenty_second,
    parse_bitmask,
    quality_keep,
)
from clara_benchmark.exceptions import ClaraError, ConfigError, LightCurveError
from clara_benchmark.fitsfile import (
    FitsOpenError,
    card_value,
    check_checksums,
    check_lightcurve_table,
    check_structure,
    damaged_reason,
    fits_of_descriptor,
    open_fits_bytes,
)

#: the columns of a SPOC file the default reader takes
COLUMNS = ("TIME", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_FLUX", "QUALITY")
#: what a file needs for CLARA's default (download verifies these)
REQUIRED = ("TIME", "PDCSAP_FLUX")
PRIMARY_KEYS = ("TICID", "SECTOR", "CAMERA", "CCD", "TESSMAG", "TEFF", "RADIUS", "OBJECT")
#: primary-header cards that tell products apart (kept in ``LightCurve.header`` too)
PRODUCT_KEYS = (
    "ORIGIN",
    "CREATOR",
    "PROCVER",
    "TELESCOP",
    "MISSION",
    "PXTABLE",
    "KEPLERID",
    "TARGETID",
    "CAMPAIGN",
    "QUARTER",
    "SIMDATA",
)
TABLE_KEYS = ("CDPP0_5", "CDPP1_0", "CDPP2_0", "TIMEDEL", "TSTART", "TSTOP")
#: the pointing columns read on request (``ReadOptions(centroids=True)``): flux-weighted centroids and PDC's
#: position corrections, for centroid vetting; NaN-filled when a file lacks them
CENTROID_COLUMNS = ("MOM_CENTR1", "MOM_CENTR2", "POS_CORR1", "POS_CORR2")
#: HDU 1 cards always read (from the raw header bytes: parsing the whole header costs more than the data)
TABLE_PRODUCT_KEYS = ("TIMEDEL", "BJDREFI", "OBSMODE")
FILENAME_TIC = re.compile(r"^tess\d+-s(\d{4})-(\d{16})-\d+-[a-z]_lc\.fits$")
#: TESS times are BTJD = BJD_TDB - 2457000; Kepler/K2 times are BKJD = BJD_TDB - 2454833
BTJD_OFFSET = 2457000.0
BKJD_OFFSET = 2454833.0
MAX_ABS_TIME = 1e5
MAX_ID = 2**53
MAX_SECTOR = 100_000

#: what CLARA's models were trained on
CLARA_PRODUCT = "spoc-2min"
CLARA_FLUX_COLUMN = "pdcsap_flux"
PRODUCTS = {
    "spoc-2min": "SPOC 2-minute",
    "spoc-20s": "SPOC 20-second",
    "tess-spoc": "TESS-SPOC FFI",
    "qlp": "QLP FFI",
    "lightkurve": "lightkurve-written",
    "kepler": "Kepler",
    "k2": "K2",
    "tess": "other TESS",
    "unknown": "unknown product",
}
#: which column holds a flux column's uncertainty, where it is not ``<flux>_err``
FLUX_ERR_COLUMNS = {"sap_flux": "sap_flux_err", "kspsap_flux": "kspsap_flux_err", "det_flux": "det_flux_err"}
#: the lightkurve columns ``from_lightkurve`` keeps: fluxes, backgrounds, centroids, position corrections
_LIGHTKURVE_COLUMN = re.compile(r"(flux|flux_err|bkg|bkg_err)$|^(mom_centr[12]|pos_corr[12])$")
#: a flux column option: a column name (letters, digits, underscores)
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,67}$")


class LightCurveInfo(NamedTuple):
    """What the outputs say about a light curve's kind: product, cadence, identifier catalogue, flux."""

    product: str
    cadence_s: float
    id_kind: str
    flux_column: str

    @property
    def like_training(self) -> bool:
        """Is this what CLARA's models were trained on (SPOC 2-minute PDCSAP flux)?"""
        return self.product == CLARA_PRODUCT and self.flux_column == CLARA_FLUX_COLUMN


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


def _time_to_days(time) -> tuple[np.ndarray, str | None]:
    """(days, "btjd"/"bkjd" or None) from an astropy ``Time`` (any format and scale; TDB) or a plain array.

    lightkurve's own formats keep their stored doubles bit for bit: ``btjd`` (TESS) and ``bkjd`` (Kepler);
    any other ``Time`` becomes BTJD.
    """
    try:
        from astropy.time import Time
    except ImportError:  # pragma: no cover - astropy is a dependency
        Time = ()
    if isinstance(time, Time):
        if time.format in ("btjd", "bkjd"):
            return np.asarray(time.value, dtype=np.float64), time.format
        tdb = time.tdb
        return np.asarray((tdb.jd1 - BTJD_OFFSET) + tdb.jd2, dtype=np.float64), "btjd"
    return time, None


@dataclass(eq=False)
class LightCurve:
    """One star's light curve: time (BTJD days), flux and what clara knows about it.

    Parameters
    ----------
    time : array or astropy.time.Time
        Times in BTJD days (BJD_TDB − 2457000; BKJD, BJD_TDB − 2454833, for Kepler/K2: see
        ``time_format``); an astropy ``Time`` is converted.
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
    product : str, optional
        The product it is (module docstring): "spoc-2min", "spoc-20s", "tess-spoc", "qlp", "lightkurve",
        "kepler", "k2", "tess", "unknown"; None (unknown) for arrays.
    id_kind : str
        The catalogue of ``tic_id``: "tic", "kic" (Kepler) or "epic" (K2).
    time_format : str
        "btjd" or "bkjd".
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
    product: str | None = None
    id_kind: str = "tic"
    time_format: str = "btjd"

    def __post_init__(self) -> None:
        where = self.path or self.name or "light curve"
        days, time_format = _time_to_days(self.time)
        if time_format is not None:
            self.time_format = time_format
        self.time = _as_float_array(days, "time", where).astype(np.float64, copy=False)
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
        return header_cadence_s(self.header, _median_step_s(self.time))

    @property
    def info(self) -> LightCurveInfo:
        """Product, cadence, identifier catalogue and flux column, for the outputs."""
        return LightCurveInfo(self.product or "unknown", self.cadence_s, self.id_kind, self.flux_column)

    @property
    def like_training(self) -> bool:
        """Is this what CLARA's models were trained on (SPOC 2-minute PDCSAP flux)?"""
        return self.info.like_training

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
        product = f", {self.product}" if self.product else ""
        return (
            f"LightCurve({self.filename!r}, {self.id_kind}_id={self.tic_id}, sector={self.sector}, "
            f"{len(self)} cadences, flux={self.flux_column}{product})"
        )

    def replace(self, **changes) -> LightCurve:
        """A copy with some fields changed (arrays are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def take(self, keep: np.ndarray) -> LightCurve:
        """The cadences where the boolean array ``keep`` is True (every per-cadence column cut alike)."""
        n = len(self.time)
        cut = {k: v[keep] for k, v in self.columns.items() if isinstance(v, np.ndarray) and v.shape == (n,)}
        return self.replace(
            time=self.time[keep],
            flux=self.flux[keep],
            flux_err=None if self.flux_err is None else self.flux_err[keep],
            quality=self.quality[keep],
            columns={**self.columns, **cut},
        )

    def flux_named(self, flux_column: str) -> LightCurve:
        """This light curve with ``flux`` taken from the column ``flux_column`` (``LightCurveError`` when it
        has no such column: the reason names the columns it has)."""
        want = flux_column.lower()
        if want == self.flux_column:
            return self
        values = self.columns.get(want)
        if values is None:
            have = sorted({self.flux_column, *self.columns})
            raise LightCurveError(
                self.path or self.filename,
                f"has no column {want.upper()} (its flux is {self.flux_column}; it has: "
                f"{', '.join(c.upper() for c in have)})",
            )
        err = self.columns.get(FLUX_ERR_COLUMNS.get(want, f"{want}_err"))
        others = {k: v for k, v in self.columns.items() if k != want}
        others[self.flux_column] = self.flux
        if self.flux_err is not None:
            others.setdefault(
                FLUX_ERR_COLUMNS.get(self.flux_column, f"{self.flux_column}_err"), self.flux_err
            )
        return self.replace(flux=values, flux_err=err, flux_column=want, columns=others)

    # ---------------------------------------------------------------------------------- lightkurve

    @classmethod
    def from_lightkurve(cls, lc, name: str | None = None) -> LightCurve:
        """A ``LightCurve`` from a ``lightkurve.LightCurve``: its time, flux, flux_err, quality, target id,
        sector, the other flux columns (``sap_flux``, ``pdcsap_flux``, ``kspsap_flux``, ...), the centroids
        (``mom_centr1/2``, ``pos_corr1/2``) and the product, detected from the header cards lightkurve
        keeps in ``meta``.

        Scoring it gives the scores of the file it was read from when lightkurve applied no quality mask
        (``lightkurve.read(path, quality_bitmask="none")``): lightkurve keeps the stored TIME and flux
        values, and clara takes them back bit for bit (lightkurve drops the rows whose TIME is NaN, which
        clara's features skip anyway).

        Examples
        --------
        >>> import lightkurve as lk  # doctest: +SKIP
        >>> LightCurve.from_lightkurve(lk.read(path, quality_bitmask="none"))  # doctest: +SKIP
        """
        meta = dict(getattr(lc, "meta", {}) or {})
        colnames = list(getattr(lc, "colnames", ()))
        path = meta.get("FILENAME")
        where = str(path or name or "lightkurve light curve")
        quality = lc["quality"] if "quality" in colnames else None
        flux_err = lc.flux_err if "flux_err" in colnames else None
        flux_column = str(meta.get("FLUX_ORIGIN") or "flux").lower()
        columns = {}
        for col in colnames:
            if col not in ("time", "flux", "flux_err") and _LIGHTKURVE_COLUMN.search(col):
                columns[col] = _as_float_array(lc[col], col, where)
        if "cadenceno" in colnames:
            columns["cadenceno"] = np.asarray(getattr(lc["cadenceno"], "value", lc["cadenceno"]), np.int64)
        upper = {str(k).upper(): v for k, v in meta.items()}
        names = [c.upper() for c in colnames] + [flux_column.upper()]  # "flux" is the FLUX_ORIGIN column
        product = detect_product(upper, upper, names, _median_step_s(lc.time))
        from_name = tic_from_filename(os.path.basename(str(path or "")))
        tic, id_kind = None, "tic"  # a light curve made from arrays may have no identifier at all
        if from_name is not None or any(upper.get(k) is not None for k in ("TICID", "KEPLERID", "TARGETID")):
            tic, id_kind = _target_id(upper, product, where, from_name)
        header = {
            k: upper.get(k) for k in PRIMARY_KEYS + PRODUCT_KEYS + TABLE_KEYS if upper.get(k) is not None
        }
        return cls(
            lc.time,
            lc.flux,
            flux_err=flux_err,
            quality=None if quality is None else np.asarray(quality),
            tic_id=tic,
            sector=upper.get("SECTOR"),
            flux_column=flux_column,
            path=str(path) if path else None,
            name=name,
            header=header,
            columns=columns,
            product=product if upper else None,
            id_kind=id_kind,
        )

    def to_lightkurve(self):
        """This light curve as a ``lightkurve.LightCurve`` (time as BTJD or BKJD, TDB; flux in e-/s).

        Its ``meta`` holds the header values, ``FLUX_ORIGIN`` (the flux column) and ``FILENAME``, and the
        other columns come along, so ``LightCurve.from_lightkurve`` gives this light curve back. Cadences
        with a NaN TIME are left out (an astropy ``Time`` cannot hold them; lightkurve's reader drops them
        too, and clara's features skip them).
        """
        try:
            import astropy.units as u
            import lightkurve as lk
            from astropy.time import Time
        except ImportError as exc:
            raise ClaraError(
                f"to_lightkurve needs the lightkurve package ({exc}): pip install lightkurve"
            ) from None
        finite = np.isfinite(self.time)
        if not finite.all():
            return self.take(finite).to_lightkurve()
        unit = u.electron / u.s
        meta = {k: v for k, v in self.header.items() if v is not None}
        key = {"tic": "TICID", "kic": "KEPLERID", "epic": "KEPLERID"}.get(self.id_kind, "TICID")
        meta.update({key: self.tic_id, "SECTOR": self.sector, "FLUX_ORIGIN": self.flux_column})
        meta["TARGETID"] = self.tic_id
        if self.path:
            meta["FILENAME"] = self.path
        n = len(self.time)
        extra = {k: v for k, v in self.columns.items() if isinstance(v, np.ndarray) and v.shape == (n,)}
        out = lk.LightCurve(
            time=Time(self.time, format=self.time_format, scale="tdb"),
            flux=self.flux * unit,
            flux_err=None if self.flux_err is None else self.flux_err * unit,
            quality=self.quality,
            meta=meta,
        )
        for k, v in extra.items():
            out[k] = v
        return out


# ------------------------------------------------------------------------------------------ products


def _lower(value) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _median_step_s(time) -> float:
    """Median step of the finite times, in seconds (NaN for fewer than two)."""
    days, _ = _time_to_days(time)
    t = np.asarray(getattr(days, "value", days), dtype=np.float64)
    t = t[np.isfinite(t)]
    return float(np.median(np.diff(t))) * 86400.0 if len(t) > 1 else float("nan")


def header_cadence_s(table: Mapping, fallback_s: float = float("nan")) -> float:
    """The cadence in seconds from a TIMEDEL card (days), else ``fallback_s``."""
    timedel = table.get("TIMEDEL")
    if isinstance(timedel, (int, float, np.number)) and not isinstance(timedel, bool):
        if np.isfinite(timedel) and timedel > 0:
            return round(float(timedel) * 86400.0, 6)
    return fallback_s


def detect_product(
    primary: Mapping, table: Mapping, columns: Iterable[str], fallback_cadence_s: float = float("nan")
) -> str:
    """Which light-curve product a file is, from its header cards and column names (module docstring).

    Parameters
    ----------
    primary, table : mapping
        Header cards of the primary HDU and of HDU 1 (upper-case keys; missing cards may be absent).
    columns : iterable of str
        HDU 1's column names.
    fallback_cadence_s : float
        The cadence to use when HDU 1 has no TIMEDEL (e.g. the median TIME step).

    Examples
    --------
    >>> spoc = {"ORIGIN": "NASA/Ames", "CREATOR": "4289 LightCurveExporterPipelineModule",
    ...         "TELESCOP": "TESS", "PXTABLE": 129}
    >>> detect_product(spoc, {"TIMEDEL": 0.0013888889}, ["TIME", "PDCSAP_FLUX"])
    'spoc-2min'
    >>> detect_product({**spoc, "PXTABLE": -10000}, {"TIMEDEL": 0.0208333}, ["TIME", "PDCSAP_FLUX"])
    'tess-spoc'
    >>> detect_product({"ORIGIN": "MIT/QLP", "TELESCOP": "TESS"}, {}, ["TIME", "KSPSAP_FLUX"])
    'qlp'
    """
    origin, creator = _lower(primary.get("ORIGIN")), _lower(primary.get("CREATOR"))
    telescope = _lower(primary.get("TELESCOP")) or _lower(primary.get("MISSION"))
    mission = _lower(primary.get("MISSION"))
    names = {str(c).upper() for c in columns}
    if "mit/qlp" in origin:
        return "qlp"
    if "lightkurve" in creator:
        return "lightkurve"
    if telescope == "kepler" or mission in ("kepler", "k2"):
        return "k2" if mission == "k2" or primary.get("CAMPAIGN") is not None else "kepler"
    if telescope != "tess":
        return "unknown"
    if "lightcurve" not in creator or "PDCSAP_FLUX" not in names:
        return "tess"
    cadence = header_cadence_s(table, fallback_cadence_s)
    if primary.get("PXTABLE") == -10000:  # FFI light curves have no target pixel table
        return "tess-spoc"
    if is_twenty_second(cadence):
        return "spoc-20s"
    if abs(cadence - 120.0) <= 12.0:
        return "spoc-2min"
    return "tess-spoc" if cadence > 150.0 and primary.get("PXTABLE") is None else "tess"


def _target_id(primary: Mapping, product: str, where, from_name: int | None = None) -> tuple[int, str]:
    """(identifier, its catalogue) from TICID, KEPLERID or TARGETID (or a SPOC file name's TIC id)."""
    kepler = product in ("kepler", "k2") or _lower(primary.get("TELESCOP")) == "kepler"
    k2 = product == "k2" or _lower(primary.get("MISSION")) == "k2" or primary.get("CAMPAIGN") is not None
    kind = ("epic" if k2 else "kic") if kepler else "tic"
    for key in ("TICID", "KEPLERID", "TARGETID"):
        value = primary.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "TICID":
            return _checked_id(value, where, key), "tic"
        return _checked_id(value, where, key), ("tic" if key == "TARGETID" and not kepler else kind)
    if from_name is not None:
        return from_name, "tic"
    raise LightCurveError(
        where, "no TICID, KEPLERID or TARGETID in the primary header and no TIC id in the file name"
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


def _check_series(path: Path, time: np.ndarray, time_format: str = "btjd") -> None:
    finite = time[np.isfinite(time)]
    if len(finite) and np.max(np.abs(finite)) > MAX_ABS_TIME:
        raise LightCurveError(
            path,
            f"TIME values reach {np.max(np.abs(finite)):.3g} days: not {time_format.upper()} "
            f"(at most {MAX_ABS_TIME:g})",
        )
    steps = np.diff(finite)
    if len(steps) and not np.all(steps > 0):
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "repeats" if steps[row - 1] == 0 else "decreases"
        raise LightCurveError(path, f"TIME is not strictly increasing: it {what} at finite sample {row}")


def _table_cards(fd: int, table) -> dict:
    """TABLE_PRODUCT_KEYS of HDU 1 from its raw header bytes, in one pass (numbers as numbers)."""
    off = table.get_offsets()
    raw = os.pread(fd, off["data_start"] - off["header_start"], off["header_start"])
    wanted = {k.ljust(8).encode("ascii"): k for k in TABLE_PRODUCT_KEYS}
    out = {}
    for i in range(0, len(raw), 80):
        key = wanted.get(raw[i : i + 8])
        if key is None:
            if raw[i : i + 8] == b"END     ":
                break
            continue
        text = card_value(raw[i : i + 80], key)
        if text:
            try:
                out[key] = float(text) if key != "OBSMODE" else text
            except ValueError:
                out[key] = text
    return out


def _wanted_columns(names: set[str], flux: str, cadenceno: bool, centroids: bool = False) -> list[str]:
    """The columns to read: TIME, the flux and its error, the quality flags, SAP and PDCSAP flux,
    CADENCENO when 20-s cadences are to be binned (they are counted by it), and ``CENTROID_COLUMNS`` when
    asked."""
    err = FLUX_ERR_COLUMNS.get(flux.lower(), f"{flux.lower()}_err").upper()
    wanted = ["TIME", flux, err, "QUALITY", "SAP_QUALITY", "SAP_FLUX", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR"]
    if cadenceno:
        wanted.append("CADENCENO")
    if centroids:
        wanted.extend(CENTROID_COLUMNS)
    return [c for c in dict.fromkeys(wanted) if c in names]


#: for a product without the chosen flux column: where its flux is
FLUX_HINTS = {
    "qlp": "sap_flux or kspsap_flux",
    "lightkurve": "flux",
    "kepler": "pdcsap_flux or sap_flux",
    "k2": "pdcsap_flux or sap_flux",
}


def _missing_flux(primary, cards: dict, names: set[str], flux: str, fits) -> None:
    """Raise the failure for a file without the chosen flux column: the columns it has, and a hint."""
    keys = {k: _header_value(primary, k) for k in PRIMARY_KEYS + PRODUCT_KEYS}
    product = detect_product(keys, cards, names)
    try:
        check_lightcurve_table(fits, ("TIME", flux))  # the standard words: "HDU 1 has no column ..."
    except FitsOpenError as exc:
        hint = FLUX_HINTS.get(product)
        where = f"; {PRODUCTS[product]} light curve, flux in {hint} (the flux_column option)" if hint else ""
        raise FitsOpenError(exc.reason + where) from None


def _read_raw(
    path: Path,
    verify_checksums: bool,
    table_header: bool,
    flux: str,
    binning: bool = False,
    centroids: bool = False,
):
    """(primary header, HDU 1 cards, columns) from one open descriptor, with the integrity checks."""
    with open_fits_bytes(path) as (fd, size):
        with fits_of_descriptor(fd, path) as fits:
            table = check_lightcurve_table(fits, ("TIME",))
            names = {str(c).upper() for c in table.get_colnames()}
            primary = fits[0].read_header()
            cards = _table_cards(fd, table)
            if flux not in names:
                _missing_flux(primary, cards, names, flux, fits)
            if verify_checksums:
                raw = os.pread(fd, size, 0)
                offsets = [hdu.get_offsets() for hdu in fits]
                # lightkurve's to_fits writes NEXTEND = 2 over a single extension: its files are whole
                nextend = "lightkurve" not in _lower(_header_value(primary, "CREATOR"))
                check_structure(raw, offsets, check_nextend=nextend)
                check_checksums(raw, offsets)
                del raw
            cadenceno = binning and is_twenty_second(header_cadence_s(cards))
            data = table.read(columns=_wanted_columns(names, flux, cadenceno, centroids))
            if table_header:
                hdr = table.read_header()
                cards.update({k: _header_value(hdr, k) for k in TABLE_KEYS})
            cards["_COLUMNS"] = sorted(names)
    return primary, cards, data


def read_lightcurve(
    path: str | os.PathLike,
    table_header: bool = False,
    verify_checksums: bool = True,
    *,
    flux_column: str = CLARA_FLUX_COLUMN,
    quality_bitmask: str | int = "none",
    bin_20s_to_2min: bool = False,
    centroids: bool = False,
) -> LightCurve:
    """Read a light-curve FITS file (any product: module docstring); ``LightCurveError`` naming the file and
    the cause on any defect.

    Parameters
    ----------
    path : str or path-like
        The file (``.fits`` or ``.fits.gz``). Only a path: no character of it is interpreted (fitsfile.py).
    table_header : bool
        Also read HDU 1's whole header (CDPP, TSTART/TSTOP). Off by default: parsing that header costs
        more than reading the columns (1.9 ms against 1.3 ms per file); TIMEDEL is always read.
    verify_checksums : bool
        Check the FITS CHECKSUM/DATASUM cards where present (see the module docstring).
    flux_column : str
        The column ``flux`` is read from (case-insensitive): ``pdcsap_flux`` (CLARA's), ``sap_flux``,
        QLP's ``kspsap_flux``, lightkurve's ``flux``, ... A file without it is a ``LightCurveError``.
    quality_bitmask : "none", "default", "hard", "hardest" or int
        Drop the cadences whose quality flags meet this mask (cadences.py); "none" is CLARA's behaviour.
    bin_20s_to_2min : bool
        Bin 20-second light curves to 2 minutes (cadences.py); other cadences are left as they are.
    centroids : bool
        Also read MOM_CENTR1/2 and POS_CORR1/2 (``CENTROID_COLUMNS``) into ``columns`` as ``mom_centr1``,
        ..., float64, NaN-filled where a file has no such column (centroid vetting). Off by default: four
        more columns to read. 20-s binning drops them (they no longer line up with the bins).

    Returns
    -------
    LightCurve
        ``flux`` in its stored precision; ``columns`` holds SAP_FLUX and PDCSAP_FLUX(_ERR) where present;
        ``product``, ``id_kind``, ``cadence_s`` say what the file is.

    Examples
    --------
    >>> from clara_benchmark import read_lightcurve
    >>> lc = read_lightcurve(TESS_DIR / "tic55525572_lc.fits")
    >>> lc.tic_id, lc.sector, len(lc), lc.flux.dtype, lc.product, lc.cadence_s
    (55525572, 5, 18944, dtype('float32'), 'spoc-2min', 120.0)
    """
    path = Path(path)
    flux = _flux_option(flux_column).upper()
    try:
        primary, cards, data = _read_raw(
            path, verify_checksums, table_header, flux, bin_20s_to_2min, centroids
        )
    except FitsOpenError as exc:
        raise LightCurveError(path, exc.reason) from None
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        raise LightCurveError(path, damaged_reason(exc)) from None
    lc = _lightcurve_of(path, primary, cards, data, flux, centroids)
    return apply_read_options(lc, quality_bitmask, bin_20s_to_2min)


def _lightcurve_of(path: Path, primary, cards: dict, data, flux: str, centroids: bool = False) -> LightCurve:
    n = len(data)
    names = data.dtype.names

    def column(name, dtype, fill):
        # keep the stored precision (PDCSAP_FLUX is float32 in SPOC files): features decide how to widen
        if name not in names:
            return np.full(n, fill, dtype=dtype)
        values = data[name]
        if values.ndim != 1 or values.dtype.kind not in ("fiu" if name.endswith("QUALITY") else "fi"):
            raise LightCurveError(
                path,
                f"column {name} holds {values.dtype} values of shape {values.shape[1:] or '()'}: "
                "a light curve needs one real number per cadence",
            )
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))

    keys = {k: _header_value(primary, k) for k in PRIMARY_KEYS + PRODUCT_KEYS}
    time_format = "bkjd" if cards.get("BJDREFI") == BKJD_OFFSET else "btjd"
    time = column("TIME", np.float64, np.nan).astype(np.float64, copy=False)
    _check_series(path, time, time_format)
    product = detect_product(keys, cards, cards["_COLUMNS"], _median_step_s(time))
    tic, id_kind = _target_id(keys, product, path, tic_from_filename(path.name))
    sector = keys["SECTOR"]
    header = {k: v for k, v in keys.items() if k in PRIMARY_KEYS or v is not None}
    header.update({k: v for k, v in cards.items() if not k.startswith("_")})
    err = FLUX_ERR_COLUMNS.get(flux.lower(), f"{flux.lower()}_err").upper()
    quality = "SAP_QUALITY" if "SAP_QUALITY" in names and "QUALITY" not in names else "QUALITY"
    extra = {c.lower(): column(c, np.float64, np.nan) for c in ("SAP_FLUX", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR")}
    columns = {k: v for k, v in extra.items() if k not in (flux.lower(), err.lower())}
    if "PDCSAP_FLUX" not in names:
        columns = {k: v for k, v in columns.items() if k.upper() in names}
    if "CADENCENO" in names:
        columns["cadenceno"] = column("CADENCENO", np.int64, 0)
    if centroids:  # NaN-filled when absent: every caller can take them without checking
        columns.update(
            {c.lower(): column(c, np.float64, np.nan).astype(np.float64) for c in CENTROID_COLUMNS}
        )
    return LightCurve(
        time=time,
        flux=column(flux, np.float64, np.nan),
        flux_err=column(err, np.float64, np.nan),
        quality=column(quality, np.int32, 0),
        tic_id=tic,
        sector=_checked_id(sector, path, "SECTOR", MAX_SECTOR) if sector is not None else -1,
        flux_column=flux.lower(),
        path=str(path),
        header=header,
        columns=columns,
        product=product,
        id_kind=id_kind,
        time_format=time_format,
    )


# ------------------------------------------------------------------------------------------ options


def _flux_option(flux_column) -> str:
    if not isinstance(flux_column, str) or not _COLUMN_NAME.match(flux_column):
        raise ConfigError(
            f'flux_column must be a column name such as "pdcsap_flux", "sap_flux", "kspsap_flux" or "flux", '
            f"got {flux_column!r}"
        )
    return flux_column.lower()


def apply_read_options(lc: LightCurve, quality_bitmask="none", bin_20s_to_2min: bool = False) -> LightCurve:
    """The quality mask, then the 20-s → 2-min binning (when asked and the light curve is 20-s data)."""
    mask = bitmask_value(quality_bitmask, lc.product, lc.sector)
    if mask:
        lc = lc.take(quality_keep(lc.quality, mask))
    if bin_20s_to_2min and is_twenty_second(lc.cadence_s):
        number = lc.columns.get("cadenceno")
        time, flux, flux_err, quality = bin_cadences(lc.time, lc.flux, lc.flux_err, lc.quality, number)
        lc = lc.replace(
            time=time,
            flux=flux,
            flux_err=flux_err,
            quality=quality,
            columns={},  # per-cadence columns no longer line up with the bins
            header={**lc.header, "TIMEDEL": 120.0 / 86400.0, "BINNED_FROM_S": lc.cadence_s},
        )
    return lc


@dataclass(frozen=True)
class ReadOptions:
    """How light curves are read: one description for ``read_lightcurve``, the library and the commands.

    Parameters
    ----------
    flux_column : str
        The column the features are computed from: ``"pdcsap_flux"`` (CLARA's, default), ``"sap_flux"``,
        QLP's ``"kspsap_flux"``/``"sap_flux"``, lightkurve's ``"flux"``, ... A light curve without it is
        a failure row naming the columns it has.
    quality_bitmask : "none", "default", "hard", "hardest" or int
        Cadences dropped by their quality flags (cadences.py); ``"none"`` is CLARA's behaviour and the
        only one that gives CLARA's scores.
    bin_20s_to_2min : bool
        Bin 20-second light curves to 2 minutes before the features (cadences.py).
    verify_checksums : bool
        Check FITS checksums when reading files.
    centroids : bool
        Also read MOM_CENTR1/2 and POS_CORR1/2 into ``LightCurve.columns`` (NaN-filled when absent), for
        centroid vetting (``fold``); off by default, as scoring does not use them. Not part of
        ``identity()``: it changes no feature.

    Every library function that reads light curves takes ``read_options=`` (a ``ReadOptions`` or a dict
    of these fields); its ``load`` method is what the pipeline runs in the workers.

    Examples
    --------
    >>> opts = ReadOptions(flux_column="SAP_FLUX", quality_bitmask="default")
    >>> opts.flux_column, opts.identity()
    ('sap_flux', {'flux_column': 'sap_flux', 'quality_bitmask': 'default', 'bin_20s_to_2min': False})
    >>> ReadOptions().is_default
    True
    """

    flux_column: str = CLARA_FLUX_COLUMN
    quality_bitmask: str | int = "none"
    bin_20s_to_2min: bool = False
    verify_checksums: bool = True
    centroids: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "flux_column", _flux_option(self.flux_column))
        try:
            object.__setattr__(self, "quality_bitmask", parse_bitmask(self.quality_bitmask))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(self.bin_20s_to_2min, bool):
            raise ConfigError(f"bin_20s_to_2min must be true or false, got {self.bin_20s_to_2min!r}")
        if not isinstance(self.centroids, bool):
            raise ConfigError(f"centroids must be true or false, got {self.centroids!r}")

    @classmethod
    def of(cls, value: ReadOptions | Mapping | None) -> ReadOptions:
        """``ReadOptions`` from itself, a dict of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, ReadOptions):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ConfigError(f"unknown read option(s) {unknown} (known: {sorted(known)})")
            return cls(**value)
        raise TypeError(f"read_options must be a ReadOptions or a dict, got {type(value).__name__}")

    @classmethod
    def from_config(cls, config) -> ReadOptions:
        """The read options of a command's config (its ``flux_column``, ``quality_bitmask``, ... keys)."""
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if hasattr(config, f.name)}
        try:
            return cls(**fields)
        except ConfigError as exc:
            raise ConfigError(f"key {exc}") from None

    def identity(self) -> dict:
        """What changes the feature vectors (recorded with stored features and resumable runs)."""
        return {
            "flux_column": self.flux_column,
            "quality_bitmask": self.quality_bitmask,
            "bin_20s_to_2min": self.bin_20s_to_2min,
        }

    @property
    def is_default(self) -> bool:
        """CLARA's reading: PDCSAP flux, no quality mask, no binning."""
        return self.identity() == ReadOptions().identity()

    def describe(self) -> str:
        """One phrase for a log line."""
        parts = [f"flux {self.flux_column}", f"quality mask {self.quality_bitmask}"]
        if self.bin_20s_to_2min:
            parts.append("20-s data binned to 2 min")
        return ", ".join(parts)

    def read(self, path: str | os.PathLike) -> LightCurve:
        """``read_lightcurve`` with these options."""
        return read_lightcurve(
            path,
            verify_checksums=self.verify_checksums,
            flux_column=self.flux_column,
            quality_bitmask=self.quality_bitmask,
            bin_20s_to_2min=self.bin_20s_to_2min,
            centroids=self.centroids,
        )

    def apply(self, lc: LightCurve) -> LightCurve:
        """These options on a light curve already in memory: its flux column, the mask, the binning."""
        lc = lc.flux_named(self.flux_column)
        return apply_read_options(lc, self.quality_bitmask, self.bin_20s_to_2min)

    def load(self, item) -> LightCurve:
        """A path read, or a ``LightCurve`` with these options applied (the pipeline's ``load``)."""
        return self.apply(item) if isinstance(item, LightCurve) else self.read(item)
