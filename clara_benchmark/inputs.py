"""Which light-curve files a command or library call works on: one finder for every stage.

An input is a folder (searched recursively: flat sector folders, ``<sector>/`` sub-folders and lightkurve's
``mastDownload/TESS/<obs_id>/<file>.fits`` cache alike), a single file, a glob pattern (``**`` recursive),
or any of these starting with ``~``. Inside folders, files are recognised by their name
(``*.fits``/``.fit``/``.fts``, optionally ``.gz``); a file named explicitly is taken whatever its name.

Nothing is skipped silently. Each of these becomes a failure row (``Failure``) and the rest goes on:

* a FITS-named entry that is not a regular file: a directory, a FIFO, a socket or device, a broken or
  looping symbolic link (symbolic links to files are followed; the reader says what is wrong with the rest);
* a folder reached twice through symbolic links (a loop): searched once;
* a second file with the same base name (outputs are keyed by file name): the first by path is used, the
  others name it.

Results are sorted by file name, then path: the order of every output table.

Examples
--------
>>> from clara_benchmark import find_lightcurves
>>> found = find_lightcurves(TESS_DIR)
>>> [p.name for p in found.files][:1], found.failures
(['hlsp_tess-data-alerts_tess_phot_00055652896-s01_tess_v1_lc.fits'], [])
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from clara_benchmark.fitsfile import is_fits_name, not_regular_reason

GLOB_CHARS = set("*?[")


class Failure(NamedTuple):
    """One light curve that could not be used: its key (base name), where it was, and why."""

    filename: str
    path: str
    reason: str

    @classmethod
    def of(cls, path: str | os.PathLike, reason: str) -> Failure:
        return cls(os.path.basename(os.fspath(path)), os.fspath(path), reason)


@dataclass
class FoundFiles:
    """The files to use (sorted by name, then path) and the entries that cannot be used, with reasons."""

    files: list[Path] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def _special_reason(path: str) -> str | None:
    """Why a FITS-named directory entry cannot be read, or None for a regular file (or a link to one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "vanished"
    except OSError as exc:
        return "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror}"
    if stat.S_ISREG(st.st_mode):
        return None
    return not_regular_reason(st.st_mode)


def _walk(top: str, found: list[tuple[str, str | None]], seen: set[tuple[int, int]]) -> None:
    """Append (path, reason or None) for every FITS-named entry below ``top``; follow links to folders once."""
    try:
        st = os.stat(top)
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:
        found.append((top, "folder reached twice through symbolic links (a loop): searched once"))
        return
    seen.add(key)
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as exc:
        found.append((top, f"cannot list folder: {exc.strerror}"))
        return
    for entry in entries:
        path = entry.path
        if is_fits_name(entry.name):
            found.append((path, _special_reason(path)))
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            _walk(path, found, seen)


def _expand(item: str | os.PathLike) -> list[tuple[str, str | None]]:
    """Entries of one input: (path, reason it cannot be used or None)."""
    text = os.path.expanduser(os.fspath(item))
    if os.path.isdir(text):
        found: list[tuple[str, str | None]] = []
        _walk(text, found, set())
        return found
    if os.path.lexists(text):  # a file named explicitly (even "star[1].fits"): taken as it is
        return [(text, _special_reason(text))]
    if GLOB_CHARS & set(text):
        matches = sorted(glob.glob(text, recursive=True))
        out: list[tuple[str, str | None]] = []
        for m in matches:
            if os.path.isdir(m):
                sub: list[tuple[str, str | None]] = []
                _walk(m, sub, set())
                out.extend(sub)
            else:
                out.append((m, _special_reason(m)))
        return out
    return [(text, "does not exist")]


def find_lightcurves(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> FoundFiles:
    """The light-curve files named by ``inputs`` (folders, files, globs, ``~``), with what cannot be used.

    Parameters
    ----------
    inputs : path-like or iterable of path-likes
        Folders (searched recursively), single files, glob patterns.

    Returns
    -------
    FoundFiles
        ``files``: one path per base name, sorted by name then path; ``failures``: special entries,
        broken links, loops, duplicated names and inputs that match nothing, each with its reason.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    entries: list[tuple[str, str | None]] = []
    for item in inputs:
        entries.extend(_expand(item))
    out = FoundFiles()
    chosen: dict[str, str] = {}
    for path, reason in sorted(set(entries), key=lambda e: (os.path.basename(e[0]), e[0])):
        if reason is not None:
            out.failures.append(Failure.of(path, reason))
            continue
        name = os.path.basename(path)
        if name in chosen:
            if os.path.realpath(chosen[name]) == os.path.realpath(path):
                continue  # the same file reached twice (two inputs, or a link to it): use it once
            out.failures.append(
                Failure.of(
                    path,
                    f"same file name as {chosen[name]} (outputs are keyed by file name): only that one is used",
                )
            )
            continue
        chosen[name] = path
        out.files.append(Path(path))
    return out


class FileIndex:
    """Find a light curve by its base name below some folders (for candidate tables: ``sim``, ``fold``, ...).

    A name directly inside the first folder is found without searching; otherwise the folders are indexed
    once with ``find_lightcurves`` (the same rules as every other input).
    """

    def __init__(self, folders: str | os.PathLike | Iterable[str | os.PathLike]):
        if isinstance(folders, (str, os.PathLike)):
            folders = [folders]
        self.folders = [Path(f) for f in folders]
        self._found: FoundFiles | None = None
        self._by_name: dict[str, Path] = {}

    def _index(self) -> FoundFiles:
        if self._found is None:
            self._found = find_lightcurves(self.folders)
            self._by_name = {p.name: p for p in self._found.files}
        return self._found

    def find(self, name: str) -> Path | None:
        """The file called ``name`` (a base name), or None."""
        direct = self.folders[0] / name if self.folders else None
        if direct is not None and os.path.basename(name) == name and direct.is_file():
            return direct
        self._index()
        return self._by_name.get(name)

    @property
    def duplicates(self) -> dict[str, list[str]]:
        """Names found more than once: {name: [other paths]} (the used one is ``find(name)``)."""
        out: dict[str, list[str]] = {}
        for failure in self._index().failures:
            if failure.reason.startswith("same file name as"):
                out.setdefault(failure.filename, []).append(failure.path)
        return out

    def all_files(self) -> list[Path]:
        return list(self._index().files)
