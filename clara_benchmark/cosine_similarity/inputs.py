"""Finding light curves by file name and getting their clara-4000 vectors, shared by ``sim`` and ``reference``.

Everything is keyed by the file's base name (the key of score's CSVs and of the feature store), never by a
row position, so a label can only land on the file it was computed from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from clara_benchmark.exceptions import ClaraError, FeatureStoreError
from clara_benchmark.extract import iter_feature_batches
from clara_benchmark.inputs import FileIndex
from clara_benchmark.pipeline import Batch

NOT_FOUND = "file not found in fits_dir"


class FitsFinder(FileIndex):
    """Locate ``<name>`` in ``fits_dir``: directly inside it, else anywhere below it (sector sub-folders)."""

    def __init__(self, fits_dir: str | os.PathLike):
        super().__init__(fits_dir)
        self.fits_dir = Path(fits_dir)

    @property
    def ambiguous(self) -> dict[str, list[str]]:
        return self.duplicates


def iter_features(
    names: Iterable[str],
    finder: FitsFinder,
    executor,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    progress=None,
) -> Iterator[Batch]:
    """Feature batches for the files named ``names`` (base names, each once), keyed by ``filenames``.

    Vectors already in the feature store at ``features_path`` (written by ``score``) are reused, streamed
    shard by shard; only the rest are found in ``fits_dir`` and computed by ``executor``. A name with no
    file becomes a failure row; a damaged file becomes a failure row with the reader's reason.
    """
    try:
        yield from iter_feature_batches(
            (finder.fits_dir / name for name in names),
            executor,
            batch_size,
            features_path,
            locate=lambda path: finder.find(path.name),
            not_found=NOT_FOUND,
            progress=progress,
        )
    except FeatureStoreError as exc:
        raise ClaraError(
            f'features_path "{features_path}": cannot read the feature store ({exc.reason})'
        ) from None
