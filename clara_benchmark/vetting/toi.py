"""ExoFOP's TOI table: parse it (from text or bytes), look TIC ids up, compare a found period with the catalogue's.

Pure: no network, no files (``parse_toi_table`` takes the table's content; the caller reads or downloads it).
The layout is ExoFOP's CSV export (``https://exofop.ipac.caltech.edu/tess/download_toi.php?output=csv``):
a header row, then one row per TOI. Only ``TIC ID`` and ``TOI`` are required; ``Period (days)``, ``Epoch
(BJD)``, ``Depth (ppm)``, ``Duration (hours)`` and ``TFOPWG Disposition`` are read when present, any other
column is ignored. Lines starting with ``#`` and blank lines are skipped; an empty cell is a missing value.
A malformed row raises ``TOITableError`` naming the source and the line.

Examples
--------
>>> cat = parse_toi_table("TIC ID,TOI,Period (days)\\n25155310,114.01,3.2888\\n")
>>> [e.toi for e in cat.lookup(25155310)]
['114.01']
>>> relation(1.6444, 3.2888)
'half'
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from clara_benchmark.exceptions import ClaraError

BJD_TO_BTJD = 2457000.0
REQUIRED = ("TIC ID", "TOI")
NUMERIC = {
    "Period (days)": "period_days",
    "Epoch (BJD)": "epoch_bjd",
    "Depth (ppm)": "depth_ppm",
    "Duration (hours)": "duration_hours",
}
DISPOSITION = "TFOPWG Disposition"
#: found / catalogue period ratios reported, and their names
HARMONICS = {1.0: "same", 0.5: "half", 2.0: "double", 1.0 / 3.0: "third", 3.0: "triple"}
PERIOD_TOLERANCE = 0.01


class TOITableError(ClaraError):
    """A TOI table that cannot be read; the message names the source, the line and what is wrong."""


@dataclass(frozen=True)
class TOIEntry:
    """One TOI: ``toi`` as written in the table (e.g. "114.01"); numbers are None where the cell is empty."""

    tic_id: int
    toi: str
    period_days: float | None = None
    epoch_bjd: float | None = None
    depth_ppm: float | None = None
    duration_hours: float | None = None
    disposition: str | None = None

    @property
    def epoch_btjd(self) -> float | None:
        return None if self.epoch_bjd is None else self.epoch_bjd - BJD_TO_BTJD


@dataclass(frozen=True)
class TOICatalogue:
    """The parsed table: TOIs grouped by TIC id (a star with several planets has several entries)."""

    entries: dict[int, tuple[TOIEntry, ...]]
    source: str

    def lookup(self, tic_id: int) -> tuple[TOIEntry, ...]:
        """The TOIs of a star, in table order; empty when the star has none."""
        return self.entries.get(int(tic_id), ())

    def __contains__(self, tic_id: object) -> bool:
        return isinstance(tic_id, int) and tic_id in self.entries

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())


def _lines(data: str | bytes, source: str):
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TOITableError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    elif data.startswith("\ufeff"):
        data = data[1:]
    for number, line in enumerate(io.StringIO(data), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _cells(text: str, source: str, line: int) -> list[str]:
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration) as exc:
        raise TOITableError(f"{source}: line {line}: not CSV ({exc})") from None


def _number(text: str, column: str, source: str, line: int) -> float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise TOITableError(f"{source}: line {line}: {column!r} is not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise TOITableError(f"{source}: line {line}: {column!r} is not finite: {text[:40]!r}")
    return value


def _entry(cells: dict[str, str], source: str, line: int) -> TOIEntry:
    tic_text, toi_text = cells["TIC ID"].strip(), cells["TOI"].strip()
    if not tic_text.isdigit():
        raise TOITableError(f"{source}: line {line}: 'TIC ID' is not a whole number: {tic_text[:40]!r}")
    if not toi_text:
        raise TOITableError(f"{source}: line {line}: 'TOI' is empty")
    _number(toi_text, "TOI", source, line)  # TOIs are numbers such as 114.01
    values = {field: _number(cells.get(col, ""), col, source, line) for col, field in NUMERIC.items()}
    disposition = cells.get(DISPOSITION, "").strip() or None
    return TOIEntry(int(tic_text), toi_text, disposition=disposition, **values)


def parse_toi_table(data: str | bytes, source: str = "TOI table") -> TOICatalogue:
    """Parse ExoFOP's TOI CSV (see the module docstring); ``source`` names it in error messages.

    Raises
    ------
    TOITableError
        No header, a required column missing, a row with more or fewer cells than the header, a TIC id
        that is not a whole number, a number that is not one.
    """
    lines = _lines(data, source)
    first = next(lines, None)
    if first is None:
        raise TOITableError(f"{source}: empty (no header row)")
    header_line, text = first
    header = [h.strip() for h in _cells(text, source, header_line)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TOITableError(
            f"{source}: line {header_line}: no column {', '.join(repr(c) for c in missing)} "
            f"(the header has: {', '.join(header[:12])}{' ...' if len(header) > 12 else ''})"
        )
    entries: dict[int, list[TOIEntry]] = {}
    for line, text in lines:
        cells = _cells(text, source, line)
        if len(cells) != len(header):
            raise TOITableError(f"{source}: line {line}: {len(cells)} cells, the header has {len(header)}")
        entry = _entry(dict(zip(header, cells)), source, line)
        entries.setdefault(entry.tic_id, []).append(entry)
    return TOICatalogue({k: tuple(v) for k, v in entries.items()}, source)


def relation(found_days: float, catalogue_days: float, tolerance: float = PERIOD_TOLERANCE) -> str | None:
    """How a found period relates to the catalogue's: "same", "half", "double", "third", "triple" (found =
    ratio x catalogue, within ``tolerance`` relative), or None."""
    if not (found_days and catalogue_days and found_days > 0 and catalogue_days > 0):
        return None
    ratio = found_days / catalogue_days
    for harmonic, name in HARMONICS.items():
        if abs(ratio / harmonic - 1.0) <= tolerance:
            return name
    return None


@dataclass(frozen=True)
class TOIMatch:
    """The catalogue's view of a star: its TOI (the one whose period best matches) and how the periods relate."""

    entry: TOIEntry
    relation: str | None  # see ``relation``; None: the periods do not match (or the TOI has no period)
    period_ratio: float | None  # found / catalogue

    @property
    def note(self) -> str:
        if self.entry.period_days is None:
            return f"TOI {self.entry.toi} (no period in the catalogue)"
        words = {
            "same": "same period",
            "half": "half the TOI period",
            "double": "twice the TOI period",
            "third": "a third of the TOI period",
            "triple": "three times the TOI period",
        }
        text = words.get(self.relation, f"period ratio {self.period_ratio:.3f}") if self.period_ratio else ""
        return f"TOI {self.entry.toi} (P = {self.entry.period_days:g} d): {text}"


def cross_match(
    catalogue: TOICatalogue,
    tic_id: int,
    period_days: float | None = None,
    tolerance: float = PERIOD_TOLERANCE,
) -> TOIMatch | None:
    """The star's TOI, or None if it has none. With several TOIs, the one whose period matches the found
    period best (same period first, then harmonics in ``HARMONICS`` order), else the first in the table."""
    entries = catalogue.lookup(tic_id)
    if not entries:
        return None
    order = list(HARMONICS.values())
    best: TOIMatch | None = None
    for entry in entries:
        ratio = None
        rel = None
        if period_days is not None and entry.period_days:
            ratio = period_days / entry.period_days
            rel = relation(period_days, entry.period_days, tolerance)
        match = TOIMatch(entry, rel, ratio)
        if best is None or (
            rel is not None and (best.relation is None or order.index(rel) < order.index(best.relation))
        ):
            best = match
    return best
