"""Feature extraction at the I/O edge: FITS paths → clara-4000 rows, with per-file failures as values.

Shared by ``score``, ``sim``, ``train`` and ``reference``. ``extract_batch`` is the worker-side task
(importable, so it runs under ``spawn`` and on Dask workers); a bad light curve becomes a failure row with
its reason and the batch goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.features import N_FEATURES, FeatureError, clara4000
from clara_benchmark.lightcurve import LightCurveError, read_lightcurve


@dataclass
class FeatureBatch:
    """Features of the files of one task, in input order; ``failures`` holds (path, reason) pairs."""

    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    features: np.ndarray = field(default_factory=lambda: np.empty((0, N_FEATURES)))
    failures: list[tuple[str, str]] = field(default_factory=list)

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
