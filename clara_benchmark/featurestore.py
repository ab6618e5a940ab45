"""A saved clara-4000 feature matrix: a directory of shards, one ``.npz`` per batch, each written atomically.

Shards let ``score`` stream features to disk with bounded memory and let ``sim``/``train`` reuse them
without recomputing; a shard holds ``filenames`` (basename), ``paths``, ``tic_ids`` and ``features``
(float64, n × 4000) plus the feature spec version.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from clara_benchmark.features import FEATURE_SPEC_VERSION, N_FEATURES
from clara_benchmark.pipeline import Batch
from clara_benchmark.utils.io import atomic_write_bytes, load_npz


class FeatureStoreWriter:
    """Append batches to ``directory`` as ``part-NNNNN.npz``; numbering continues after existing shards."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._next = len(list(self.directory.glob("part-*.npz")))

    def write(self, batch: Batch) -> Path | None:
        """One batch (``values`` its n × 4000 matrix) as the next shard; nothing for an empty batch."""
        if not batch.paths:
            return None
        buf = io.BytesIO()
        np.savez(
            buf,
            filenames=np.array(batch.filenames),
            paths=np.array(batch.paths),
            tic_ids=np.array(batch.tic_ids, dtype=np.int64),
            features=np.asarray(batch.values, dtype=np.float64).reshape(-1, N_FEATURES),
            spec=np.array(FEATURE_SPEC_VERSION),
        )
        path = self.directory / f"part-{self._next:05d}.npz"
        atomic_write_bytes(path, buf.getvalue())
        self._next += 1
        return path


class FeatureStore:
    """Read a feature directory written by ``FeatureStoreWriter``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory}: feature directory does not exist")
        self.shards = sorted(self.directory.glob("part-*.npz"))

    def iter_batches(self) -> Iterator[Batch]:
        for shard in self.shards:
            z = load_npz(shard)
            if str(z["spec"]) != FEATURE_SPEC_VERSION:
                raise ValueError(f"{shard}: feature spec {z['spec']} is not {FEATURE_SPEC_VERSION}")
            yield Batch(
                filenames=[str(n) for n in z["filenames"]],
                paths=[str(p) for p in z["paths"]],
                tic_ids=[int(t) for t in z["tic_ids"]],
                values=np.asarray(z["features"], dtype=np.float64).reshape(-1, N_FEATURES),
            )

    def lookup(self, filenames: Iterable[str]) -> dict[str, tuple[int, np.ndarray]]:
        """``{filename: (tic_id, vector)}`` for the wanted file names that the store holds."""
        wanted = set(filenames)
        found: dict[str, tuple[int, np.ndarray]] = {}
        for batch in self.iter_batches():
            for i, name in enumerate(batch.filenames):
                if name in wanted and name not in found:
                    found[name] = (batch.tic_ids[i], batch.values[i].copy())
        return found
