"""clara-4000 features of many light curves: the pipeline with ``features.clara4000`` as its stage, plus
reuse of a feature store. Shared by ``score``, ``sim``, ``train``, ``reference`` and the library.

Examples
--------
>>> from clara_benchmark import clara4000_many
>>> matrix = clara4000_many(TESS_DIR)
>>> matrix.features.shape, matrix.tic_ids[2], matrix.failures
((3, 4000), 55525572, [])
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.exceptions import FeatureStoreError
from clara_benchmark.features import N_FEATURES, clara4000
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import LightCurve, LightCurveInfo, ReadOptions
from clara_benchmark.pipeline import Batch, item_key, map_lightcurves, resolve_inputs, warn_untrained


def features_of(lc: LightCurve) -> np.ndarray:
    """The stage function: the clara-4000 vector of one light curve (``FeatureError`` if it has none)."""
    return clara4000(lc.time, lc.flux)


def stack_rows(values: list[np.ndarray]) -> np.ndarray:
    """The batch function: a batch's vectors as one (n × 4000) matrix."""
    return np.vstack(values) if values else np.empty((0, N_FEATURES))


@dataclass
class FeatureMatrix:
    """clara-4000 vectors of many light curves, row i belonging to ``filenames[i]``, plus the failures.

    ``infos[i]`` is what row i's light curve is (product, cadence_s, id_kind, flux_column);
    ``read_options`` how they were read. ``reused`` counts rows taken from a feature store instead of
    computed. ``score``, ``label`` and ``build_reference`` accept a FeatureMatrix in place of light curves.
    """

    filenames: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    features: np.ndarray = field(default_factory=lambda: np.empty((0, N_FEATURES)))
    failures: list[Failure] = field(default_factory=list)
    reused: int = 0
    infos: list[LightCurveInfo] = field(default_factory=list)
    read_options: ReadOptions = field(default_factory=ReadOptions)

    def __len__(self) -> int:
        return len(self.filenames)

    @classmethod
    def from_batches(cls, batches: Iterable[Batch], order: list[str] | None = None) -> FeatureMatrix:
        """Collect batches; rows in ``order`` (file names) when given, else as they came."""
        got: dict[str, tuple[str, int, np.ndarray, LightCurveInfo]] = {}
        out = cls()
        for batch in batches:
            out.failures.extend(batch.failures)
            out.reused += len(batch.filenames) if batch.reused else 0
            infos = batch.infos or [UNKNOWN_INFO] * len(batch.filenames)
            for i, name in enumerate(batch.filenames):
                got.setdefault(name, (batch.paths[i], batch.tic_ids[i], batch.values[i], infos[i]))
        names = [n for n in order if n in got] if order is not None else list(got)
        rows = []
        for name in names:
            path, tic, vec, info = got[name]
            out.filenames.append(name)
            out.paths.append(path)
            out.tic_ids.append(int(tic))
            out.infos.append(info)
            rows.append(vec)
        if rows:
            out.features = np.vstack(rows)
        return out

    def as_batch(self) -> Batch:
        return Batch(
            list(self.filenames),
            list(self.paths),
            list(self.tic_ids),
            self.features,
            list(self.failures),
            infos=list(self.infos),
        )


#: what a row is when nothing recorded it (a feature store written before products were recorded)
UNKNOWN_INFO = LightCurveInfo("unknown", float("nan"), "tic", "pdcsap_flux")


def _stored_batches(features_dir: str | os.PathLike, read_options: ReadOptions) -> Iterator[Batch]:
    from clara_benchmark.featurestore import FeatureStore, ReadOptionsMismatch

    try:
        if Path(features_dir).is_file():  # a fluxpowerstack set saved by ``features`` (featuresets.py)
            yield _saved_set_batch(features_dir, read_options)
            return
        yield from FeatureStore(features_dir).iter_batches(read_options)
    except ReadOptionsMismatch as exc:
        raise FeatureStoreError(features_dir, exc) from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # missing, foreign, damaged
        raise FeatureStoreError(features_dir, exc) from None


def _saved_set_batch(path: str | os.PathLike, read_options: ReadOptions) -> Batch:
    """The rows of a fluxpowerstack ``.npz`` written by ``features``, as one stored batch."""
    from clara_benchmark.featuresets import FeatureSet
    from clara_benchmark.featurestore import ReadOptionsMismatch

    saved = FeatureSet.load(path)
    if saved.method != "fluxpowerstack":
        raise ValueError(f"it holds {saved.method} vectors, not clara-4000 (fluxpowerstack) ones")
    made = saved.options.get("read_options") or ReadOptions().identity()
    if made != read_options.identity():
        raise ReadOptionsMismatch(
            f"{Path(path).name} holds vectors made with {made}; this run reads {read_options.identity()} "
            "(use a feature set made with the same options, or none)"
        )
    return Batch(list(saved.filenames), list(saved.paths), list(saved.tic_ids), saved.features)


def iter_feature_batches(
    items: Iterable,
    executor=None,
    batch_size: int = 64,
    features_dir: str | os.PathLike | None = None,
    locate: Callable[[Path], Path | None] | None = None,
    not_found: str = "file not found",
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> Iterator[Batch]:
    """Feature batches (``values`` an n × 4000 matrix) for ``items``, one per file name.

    Vectors the feature store at ``features_dir`` (written by ``score``/``train``, or a fluxpowerstack
    ``.npz`` written by ``features``) holds under an item's file name come first, shard by shard with ``reused`` set, so memory stays bounded by one shard; the rest are
    computed by ``executor`` in input order. Batches are therefore not in input order: key them by
    ``filenames``. ``locate`` gives the file to read for a path the store lacks (it runs only for those, so
    a costly search is skipped when the store has everything); a path it cannot locate becomes a failure
    row with reason ``not_found``. A store that cannot be read, or that was made with other
    ``read_options`` (another flux column, quality mask or binning), raises ``FeatureStoreError``: its
    vectors would not be the ones these light curves give.
    """
    options = ReadOptions.of(read_options)
    wanted: dict[str, object] = {}
    for item in items:
        wanted.setdefault(item_key(item)[0], item)
    if features_dir is not None:
        for stored in _stored_batches(features_dir, options):
            keep = [i for i, name in enumerate(stored.filenames) if name in wanted]
            if not keep:
                continue
            items_kept = [wanted.pop(stored.filenames[i]) for i in keep]
            batch = Batch(
                filenames=[stored.filenames[i] for i in keep],
                paths=[item_key(it)[1] for it in items_kept],
                tic_ids=[stored.tic_ids[i] for i in keep],
                values=np.asarray(stored.values[keep]),
                reused=True,
                infos=[stored.infos[i] for i in keep] if stored.infos else [],
            )
            if progress is not None:
                progress(batch.n_done)
            yield batch
    to_compute, missing = [], []
    for item in wanted.values():
        found = item if locate is None or isinstance(item, LightCurve) else locate(Path(item))
        if found is None:
            missing.append(Failure.of(item, not_found))
        else:
            to_compute.append(found)
    if missing:
        if progress is not None:
            progress(len(missing))
        yield Batch(failures=missing, values=stack_rows([]))
    if to_compute:
        yield from map_lightcurves(
            to_compute,
            features_of,
            executor=executor,
            batch_size=batch_size,
            batch_fn=stack_rows,
            progress=progress,
            load=options.load,
        )


def clara4000_many(
    inputs,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> FeatureMatrix:
    """clara-4000 vectors of many light curves, in file-name order, with the ones that failed.

    Parameters
    ----------
    inputs : path, folder, glob, LightCurve, lightkurve LightCurve(Collection), or a list of these
        Folders are searched recursively (``find_lightcurves``).
    executor : optional
        From ``open_executor`` (local processes or Dask); None computes in this process.
    batch_size : int
        Light curves per task.
    features_path : path, optional
        A feature store written by ``score`` (``save_features``), or a fluxpowerstack ``.npz`` written by
        ``features``: vectors found there are reused.
    progress : callable, optional
        Called with the number of light curves each finished batch accounts for.
    read_options : ReadOptions or dict, optional
        How to read them: ``flux_column``, ``quality_bitmask``, ``bin_20s_to_2min`` (lightcurve.py).
        Default: CLARA's (PDCSAP flux, no mask). Light curves that are not SPOC 2-minute PDCSAP flux are
        computed too, with one warning on the ``clara.inputs`` logger saying how many.

    Returns
    -------
    FeatureMatrix
    """
    options = ReadOptions.of(read_options)
    resolved = resolve_inputs(inputs)
    order = [item_key(item)[0] for item in resolved.items]
    batches = iter_feature_batches(
        resolved.items, executor, batch_size, features_path, progress=progress, read_options=options
    )
    matrix = FeatureMatrix.from_batches(batches, order=order)
    matrix.failures = resolved.failures + matrix.failures
    matrix.read_options = options
    warn_untrained(matrix.infos)
    return matrix
