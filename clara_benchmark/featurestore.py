"""A saved clara-4000 feature matrix: a directory of shards, one ``.npz`` per batch, each written atomically.

Shards let ``score`` stream features to disk with bounded memory and let ``sim``/``train`` reuse them
without recomputing; a shard holds ``filenames`` (basename), ``paths``, ``tic_ids`` and ``features``
(float64, n × 4000) plus the feature spec version, the read options the vectors were made with
(``read_options``: flux column, quality mask, binning, as JSON) and what each light curve is (``products``,
``cadences_s``, ``id_kinds``). A reader asks for the options it needs: a shard made with others raises
``ReadOptionsMismatch`` (vectors of SAP flux must never stand in for PDCSAP ones). Shards written before
the options were recorded count as CLARA's defaults (the only reading there was then).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from clara_benchmark.features import FEATURE_SPEC_VERSION, N_FEATURES
from clara_benchmark.lightcurve import LightCurveInfo, ReadOptions
from clara_benchmark.pipeline import Batch
from clara_benchmark.utils.io import atomic_write_bytes, load_npz


class ReadOptionsMismatch(ValueError):
    """A shard was made with other read options than the reader asks for."""


def _options_text(options: ReadOptions) -> str:
    return json.dumps(options.identity(), sort_keys=True)


class FeatureStoreWriter:
    """Append batches to ``directory`` as ``part-NNNNN.npz``; numbering continues after existing shards."""

    def __init__(self, directory: str | Path, read_options: ReadOptions | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._next = len(list(self.directory.glob("part-*.npz")))
        self.read_options = ReadOptions.of(read_options)

    def write(self, batch: Batch) -> Path | None:
        """One batch (``values`` its n × 4000 matrix) as the next shard; nothing for an empty batch."""
        if not batch.paths:
            return None
        buf = io.BytesIO()
        infos = batch.infos or []
        np.savez(
            buf,
            filenames=np.array(batch.filenames),
            paths=np.array(batch.paths),
            tic_ids=np.array(batch.tic_ids, dtype=np.int64),
            features=np.asarray(batch.values, dtype=np.float64).reshape(-1, N_FEATURES),
            spec=np.array(FEATURE_SPEC_VERSION),
            read_options=np.array(_options_text(self.read_options)),
            products=np.array([i.product for i in infos], dtype=str),
            cadences_s=np.array([i.cadence_s for i in infos], dtype=np.float64),
            id_kinds=np.array([i.id_kind for i in infos], dtype=str),
            flux_columns=np.array([i.flux_column for i in infos], dtype=str),
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

    def iter_batches(self, read_options: ReadOptions | dict | None = None) -> Iterator[Batch]:
        """The shards as batches; ``ReadOptionsMismatch`` for a shard made with other read options."""
        wanted = ReadOptions.of(read_options)
        for shard in self.shards:
            z = load_npz(shard)
            if str(z["spec"]) != FEATURE_SPEC_VERSION:
                raise ValueError(f"{shard}: feature spec {z['spec']} is not {FEATURE_SPEC_VERSION}")
            made = json.loads(str(z["read_options"])) if "read_options" in z else ReadOptions().identity()
            if made != wanted.identity():
                differ = [k for k, v in wanted.identity().items() if made.get(k) != v]
                raise ReadOptionsMismatch(
                    f"{shard.name} holds vectors made with "
                    + ", ".join(f"{k} {made.get(k)!r}" for k in differ)
                    + "; this run reads "
                    + ", ".join(f"{k} {wanted.identity()[k]!r}" for k in differ)
                    + " (use a feature store made with the same options, or none)"
                )
            n = len(z["filenames"])
            infos = []
            if "products" in z and len(z["products"]) == n:
                infos = [
                    LightCurveInfo(str(p), float(c), str(k), str(f))
                    for p, c, k, f in zip(z["products"], z["cadences_s"], z["id_kinds"], z["flux_columns"])
                ]
            yield Batch(
                filenames=[str(n) for n in z["filenames"]],
                paths=[str(p) for p in z["paths"]],
                tic_ids=[int(t) for t in z["tic_ids"]],
                values=np.asarray(z["features"], dtype=np.float64).reshape(-1, N_FEATURES),
                infos=infos,
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
