"""Feature extraction at the I/O edge: FITS paths → clara-4000 rows, with per-file failures as values.

Shared by ``score``, ``sim``, ``train`` and ``reference``. ``extract_batch`` is the worker-side task
(importable, so it runs under ``spawn`` and on Dask workers); a bad light curve becomes a failure row with
its reason and the batch goes on.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.exceptions import FeatureError, FeatureStoreError, LightCurveError
from clara_benchmark.features import N_FEATURES, clara4000
from clara_benchmark.lightcurve import read_lightcurve


@dataclass
class FeatureBatch:
    """Features of the files of one task, in input order; ``failures`` holds (path, reason) pairs."""

    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    features: np.ndarray = field(default_factory=lambda: np.empty((0, N_FEATURES)))
    failures: list[tuple[str, str]] = field(default_factory=list)
    reused: bool = False  # the vectors were taken from a feature store, not computed

    @property
    def filenames(self) -> list[str]:
        return [os.path.basename(p) for p in self.paths]


def features_of_file(path: str | os.PathLike) -> tuple[int, np.ndarray]:
    """(TIC id, clara-4000 vector) of one file; raises LightCurveError or FeatureError."""
    lc = read_lightcurve(path)
    return lc.tic_id, clara4000(lc.time, lc.pdcsap_flux)


def extract_batch(paths: Iterable[str | os.PathLike]) -> FeatureBatch:
    """Features for a batch of files; never raises for a bad file."""
    out = FeatureBatch()
    rows = []
    for path in paths:
        path = str(path)
        try:
            tic, vec = features_of_file(path)
        except LightCurveError as exc:
            out.failures.append((path, exc.reason))
            continue
        except FeatureError as exc:
            out.failures.append((path, f"features: {exc}"))
            continue
        except (OSError, ValueError, MemoryError) as exc:
            out.failures.append((path, f"{type(exc).__name__}: {exc}"))
            continue
        out.paths.append(path)
        out.tic_ids.append(tic)
        rows.append(vec)
    if rows:
        out.features = np.vstack(rows)
    return out


def list_lightcurves(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """The ``*.fits`` files directly in ``dirs``, sorted by file name (the order of every output)."""
    files: dict[str, Path] = {}
    for d in dirs:
        for p in Path(d).glob("*.fits"):
            if p.is_file():
                files.setdefault(p.name, p)
    return [files[name] for name in sorted(files)]


def iter_feature_batches(paths: list[Path], executor, batch_size: int = 64) -> Iterator[FeatureBatch]:
    """Feature batches in input order, computed by ``executor`` (see executors.get_executor)."""
    from clara_benchmark.executors import batched

    tasks = ([str(p) for p in chunk] for chunk in batched(paths, batch_size))
    yield from executor.imap(extract_batch, tasks)


def _stored_batches(features_dir: str | os.PathLike) -> Iterator[FeatureBatch]:
    from clara_benchmark.featurestore import FeatureStore

    try:
        yield from FeatureStore(features_dir).iter_batches()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # missing, foreign, damaged
        raise FeatureStoreError(features_dir, exc) from None


def iter_features_with_store(
    paths: Iterable[str | os.PathLike],
    executor,
    batch_size: int = 64,
    features_dir: str | os.PathLike | None = None,
    locate: Callable[[Path], Path | None] | None = None,
    not_found: str = "file not found",
) -> Iterator[FeatureBatch]:
    """Feature batches for ``paths`` (one per base name): reused from the store, computed where missing.

    Vectors the feature store at ``features_dir`` (written by ``score``/``train``) holds under a path's base
    name come first, shard by shard with ``reused`` set, so memory stays bounded by one shard; the rest are
    computed by ``executor`` in input order. Batches are therefore not in input order: key them by
    ``filenames``. ``locate`` gives the file to read for a path the store lacks (it runs only for those, so
    a costly search is skipped when the store has everything); a path it cannot locate becomes a failure
    row with reason ``not_found``. A store that cannot be read raises ``FeatureStoreError``.
    """
    wanted: dict[str, Path] = {}
    for p in paths:
        wanted.setdefault(os.path.basename(p), Path(p))
    if features_dir is not None:
        for stored in _stored_batches(features_dir):
            keep, kept_paths = [], []
            for i, name in enumerate(stored.filenames):
                if name in wanted:  # the first copy of a name in the store wins
                    keep.append(i)
                    kept_paths.append(str(wanted.pop(name)))
            if keep:
                yield FeatureBatch(
                    paths=kept_paths,
                    tic_ids=[stored.tic_ids[i] for i in keep],
                    features=np.asarray(stored.features[keep]),
                    reused=True,
                )
    to_compute: list[Path] = []
    missing: list[tuple[str, str]] = []
    for path in wanted.values():
        found = path if locate is None else locate(path)
        if found is None:
            missing.append((str(path), not_found))
        else:
            to_compute.append(found)
    if missing:
        yield FeatureBatch(failures=missing)
    if to_compute:
        yield from iter_feature_batches(to_compute, executor, batch_size)
