"""Finding light curves by file name and getting their clara-4000 vectors, shared by ``sim`` and ``reference``.

Everything is keyed by the file's base name (the key of score's CSVs and of the feature store), never by a
row position, so a label can only land on the file it was computed from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from clara_benchmark.config import ClaraError
from clara_benchmark.extract import FeatureBatch, FeatureStoreError, iter_features_with_store

NOT_FOUND = "file not found in fits_dir"


class FitsFinder:
    """Locate ``<name>`` in ``fits_dir``: directly inside it, else anywhere below it (sector sub-folders).

    The recursive index is built once, and only if some name is not directly inside ``fits_dir``.
    """

    def __init__(self, fits_dir: str | os.PathLike):
        self.fits_dir = Path(fits_dir)
        self._index: dict[str, Path] | None = None
        self.ambiguous: dict[str, list[Path]] = {}

    def _build_index(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for p in sorted(self.fits_dir.rglob("*.fits")):
            if not p.is_file():
                continue
            if p.name in index:
                self.ambiguous.setdefault(p.name, [index[p.name]]).append(p)
                continue
            index[p.name] = p
        return index

    def find(self, name: str) -> Path | None:
        direct = self.fits_dir / name
        if direct.is_file():
            return direct
        if self._index is None:
            self._index = self._build_index()
        return self._index.get(name)

    def all_files(self) -> list[Path]:
        """Every ``*.fits`` below ``fits_dir``, sorted by path."""
        if self._index is None:
            self._index = self._build_index()
        return sorted(self._index.values())


def iter_features(
    names: Iterable[str],
    finder: FitsFinder,
    executor,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
) -> Iterator[FeatureBatch]:
    """Feature batches for the files named ``names`` (base names, each once), keyed by ``filenames``.

    Vectors already in the feature store at ``features_path`` (written by ``score``) are reused, streamed
    shard by shard; only the rest are found in ``fits_dir`` and computed by ``executor``. A name with no
    file becomes a failure row; a damaged file becomes a failure row with the reader's reason.
    """
    try:
        yield from iter_features_with_store(
            (finder.fits_dir / name for name in names),
            executor,
            batch_size,
            features_path,
            locate=lambda path: finder.find(path.name),
            not_found=NOT_FOUND,
        )
    except FeatureStoreError as exc:
        raise ClaraError(
            f'features_path "{features_path}": cannot read the feature store ({exc.reason})'
        ) from None
