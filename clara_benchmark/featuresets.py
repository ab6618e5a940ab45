"""CLARA's three feature sets of many light curves (the ``features`` command and the library), and the one
self-describing file that carries a matrix with its file names.

A feature set is one vector per light curve, row i belonging to ``filenames[i]``:

* ``fluxpowerstack``: the clara-4000 vector (:func:`clara_benchmark.features.clara4000`, CLARA_SPEC §3);
  vectors a feature store already holds (written by ``score``'s ``save_features``, or a fluxpowerstack
  ``.npz`` written here) are reused instead of computed;
* ``bin_means``: CLARA's fold helper and its z-scored bin means (:mod:`clara_benchmark.folding`), 100 bins,
  or ``desired_length`` values (CLARA pads with zeros / truncates the bin means *before* the z-score);
* ``advanced_10_feature_set``: the ten numbers of CLARA's ``extract_features_from_fits``
  (:mod:`clara_benchmark.advanced10`, :data:`clara_benchmark.advanced10.FEATURE_NAMES`).

Each runs through the pipeline (:func:`clara_benchmark.pipeline.map_lightcurves`): one stage function per
light curve, in the executor's worker processes (local or Dask: the same numbers; one BLAS thread per
worker process, and no stage sums through BLAS), every light curve that cannot be processed a
``Failure`` row with its reason (CLARA drops them silently). ``bin_means`` and ``advanced_10`` fold the
flux the read options choose (CLARA's: PDCSAP_FLUX, no quality mask), as stored.

:meth:`FeatureSet.save` writes ``.npz`` with the matrix, file names, paths, TIC ids, the method, the
options and the names of the companion files the ``features`` command wrote next to it (PCA, adjusted,
DTW); :meth:`FeatureSet.load` reads it back (pickles refused), and ``clustering``, ``sim``
(``features_path``, fluxpowerstack) and the library take it without CLARA's separate ``.txt``.

Examples
--------
>>> import clara_benchmark as clara
>>> REAL = TESS_DIR.parent / "tess_real" / "stsci-notebooks"  # six SPOC 2-minute light curves
>>> fs = clara.feature_set(REAL, "bin_means")
>>> fs.features.shape, fs.tic_ids
((2, 100), [38846515, 149603524])
>>> fs.failures[0].reason  # CLARA drops these silently
'features: Lomb–Scargle peak power 0.0464 < min_power_threshold 0.05'
>>> result = clara.cluster(fs.features, "kmeans", {"n_clusters": 2})
>>> sorted(result.metrics.cluster_sizes.values())
[1, 1]
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.exceptions import ConfigError
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import LightCurve, ReadOptions
from clara_benchmark.pipeline import Batch, item_key, map_lightcurves, resolve_inputs

METHODS = ("fluxpowerstack", "bin_means", "advanced_10_feature_set")
#: what a saved feature set says it is (``FeatureSet.load`` refuses any other file)
FILE_KIND = "clara-feature-set"
FILE_VERSION = 1
#: CLARA's fold helper gives this many bins; ``desired_length`` pads or truncates them
BIN_MEANS_LENGTH = 100
#: the matrices a saved feature set can point to besides its own (``FeatureSet.companion``)
COMPANIONS = ("pca", "adjusted", "dtw")


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f'key "features" must be one of {", ".join(METHODS)}, got {method!r}')
    return method


def vector_length(method: str, desired_length: int | None = None) -> int:
    """Columns of a method's matrix (bin_means: ``desired_length`` when given)."""
    from clara_benchmark.features import N_FEATURES

    if method == "bin_means":
        return BIN_MEANS_LENGTH if desired_length is None else int(desired_length)
    return {"fluxpowerstack": N_FEATURES, "advanced_10_feature_set": 10}[_check_method(method)]


# ------------------------------------------------------------------------------------------ stages


def one_blas_thread_in_workers() -> None:
    """Worker initializer: one BLAS thread per worker process (workers share the cores; a threaded BLAS
    would oversubscribe them). The caller's own process (no executor, or one worker) is left alone. The
    stages' numbers do not depend on it: none of them sums through BLAS."""
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def bin_means_of(lc: LightCurve, desired_length: int | None = None) -> np.ndarray:
    """Stage function: CLARA's ``bin_means`` vector of one light curve (``FeatureError`` with the reason)."""
    from clara_benchmark.folding import bin_means_vector

    return bin_means_vector(lc.time, lc.flux, desired_length=desired_length)


def advanced10_of(lc: LightCurve) -> np.ndarray:
    """Stage function: CLARA's ten advanced features of one light curve (``FeatureError`` with the reason)."""
    from clara_benchmark.advanced10 import advanced10_features

    return advanced10_features(lc.time, lc.flux)


def stack(values: list[np.ndarray], width: int) -> np.ndarray:
    """Batch function: a batch's vectors as one (n × width) float64 matrix."""
    return np.vstack(values).astype(np.float64, copy=False) if values else np.empty((0, width))


def _stage(method: str, desired_length: int | None) -> Callable[[LightCurve], np.ndarray]:
    if method == "bin_means" and desired_length is not None:
        return functools.partial(bin_means_of, desired_length=desired_length)
    return bin_means_of if method == "bin_means" else advanced10_of


def _located(items: Iterable, locate, not_found: str) -> tuple[list, list[Failure]]:
    found, missing, seen = [], [], set()
    for item in items:
        name = item_key(item)[0]
        if name in seen:
            continue
        seen.add(name)
        where = item if locate is None or isinstance(item, LightCurve) else locate(Path(item))
        if where is None:
            missing.append(Failure.of(item, not_found))
        else:
            found.append(where)
    return found, missing


def iter_feature_set_batches(
    items: Iterable,
    method: str,
    *,
    desired_length: int | None = None,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    locate: Callable[[Path], Path | None] | None = None,
    not_found: str = "file not found",
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> Iterator[Batch]:
    """Batches of ``method``'s vectors (``values`` an n × width matrix) for ``items``, one per file name.

    The building block of :func:`feature_set` and the ``features`` command. ``locate`` gives the file to
    read for an item (a name below ``fits_dir``); an item it cannot locate is a failure row with reason
    ``not_found``. Batches are not in input order when a feature store is reused: key them by ``filenames``.
    """
    from clara_benchmark.extract import iter_feature_batches

    _check_method(method)
    options = ReadOptions.of(read_options)
    if method == "fluxpowerstack":
        if desired_length is not None:
            raise ConfigError(
                "desired_length changes the bin_means vector only; adjust a fluxpowerstack matrix with "
                "FeatureSet.adjusted(n)"
            )
        yield from iter_feature_batches(
            items, executor, batch_size, features_path, locate, not_found, progress, options
        )
        return
    if features_path is not None:
        raise ConfigError(f"features_path: only fluxpowerstack reuses a feature store, not {method}")
    if desired_length is not None and method != "bin_means":
        raise ConfigError(f"desired_length applies to bin_means, not {method} (see FeatureSet.adjusted)")
    to_compute, missing = _located(items, locate, not_found)
    width = vector_length(method, desired_length)
    if missing:
        if progress is not None:
            progress(len(missing))
        yield Batch(failures=missing, values=np.empty((0, width)))
    yield from map_lightcurves(
        to_compute,
        _stage(method, desired_length),
        executor=executor,
        batch_size=batch_size,
        batch_fn=functools.partial(stack, width=width),
        initializer=one_blas_thread_in_workers,
        progress=progress,
        load=options.load,
    )


# ------------------------------------------------------------------------------------------ the set


@dataclass
class FeatureSet:
    """One feature set of many light curves: row i of ``features`` belongs to ``filenames[i]``.

    Attributes
    ----------
    method : str
        ``fluxpowerstack``, ``bin_means`` or ``advanced_10_feature_set``.
    filenames, paths, tic_ids : list
        Per row: the file's base name (the key of every output), where it was read, its TIC id (−1 unknown).
    features : numpy.ndarray
        (n × width) float64.
    failures : list of Failure
        Every light curve that could not be processed, with its reason.
    options : dict
        What made the vectors: ``desired_length`` (bin_means) and ``read_options``.
    reused : int
        Rows taken from a feature store instead of computed (fluxpowerstack).
    companions : dict
        File names (same folder) of the PCA, adjusted and DTW matrices written with a saved set.
    """

    method: str
    filenames: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    features: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    failures: list[Failure] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    reused: int = 0
    companions: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.filenames)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names where the method has them (advanced_10), else ``()``."""
        from clara_benchmark.advanced10 import FEATURE_NAMES

        return FEATURE_NAMES if self.method == "advanced_10_feature_set" else ()

    def adjusted(self, n: int) -> np.ndarray:
        """Each row truncated or zero-padded to ``n`` values (CLARA's ``desired_length`` "adjusted" matrix)."""
        return adjust_length(self.features, n)

    def reduced(self, n_components: int = 50, random_state: int | None = 42) -> tuple[np.ndarray, int]:
        """PCA of the rows (:func:`reduce_features`): ``(matrix, components used)``."""
        return reduce_features(self.features, n_components, random_state)

    def dtw(self, **options) -> np.ndarray:
        """The pairwise DTW distance matrix of the rows (:func:`clara_benchmark.dtw.dtw_distance_matrix`)."""
        from clara_benchmark.dtw import dtw_distance_matrix

        return dtw_distance_matrix(self.features, **options)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the set as one self-describing ``.npz`` (atomically); returns its path."""
        from clara_benchmark import __version__
        from clara_benchmark.utils.io import atomic_write_bytes

        meta = {
            "kind": FILE_KIND,
            "version": FILE_VERSION,
            "clara": __version__,
            "method": self.method,
            "shape": list(self.features.shape),
            "options": self.options,
            "companions": self.companions,
            "feature_names": list(self.feature_names),
            "failures": len(self.failures),
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            features=np.asarray(self.features, dtype=np.float64),
            filenames=np.array(self.filenames, dtype=str),
            paths=np.array(self.paths, dtype=str),
            tic_ids=np.array(self.tic_ids, dtype=np.int64),
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )
        atomic_write_bytes(path, buf.getvalue())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureSet:
        """A set written by :meth:`save`. ``ValueError`` naming the file when it is not one, or damaged."""
        from clara_benchmark.utils.io import load_npz

        with open(path, "rb") as fh:  # np.load would read anything else as a (refused) pickle
            if fh.read(4) != b"PK\x03\x04":
                raise ValueError(f"{path}: not a readable .npz archive (not a zip file)")
        z = load_npz(path)
        try:
            meta = json.loads(str(z["meta"]))
            assert meta.get("kind") == FILE_KIND, "not a clara feature set"
            assert meta.get("version") == FILE_VERSION, f"feature-set file version {meta.get('version')}"
            features = np.asarray(z["features"], dtype=np.float64)
            names = [str(n) for n in z["filenames"]]
            paths = [str(p) for p in z["paths"]]
            tics = [int(t) for t in z["tic_ids"]]
            assert features.ndim == 2 and len(features) == len(names) == len(paths) == len(tics), (
                "the matrix and its file names differ in length"
            )
            _check_method(meta["method"])
        except (KeyError, AssertionError, ValueError, TypeError, ConfigError) as exc:
            raise ValueError(f"{path}: not a feature set written by clara's features ({exc})") from None
        return cls(
            meta["method"],
            names,
            paths,
            tics,
            features,
            options=dict(meta.get("options") or {}),
            companions=dict(meta.get("companions") or {}),
        )

    def companion(self, kind: str, folder: str | os.PathLike) -> Path:
        """The path of the saved set's PCA, adjusted or DTW matrix (in ``folder``); ``ValueError`` if none."""
        if kind not in COMPANIONS:
            raise ValueError(f"companion must be one of {', '.join(COMPANIONS)}, got {kind!r}")
        name = self.companions.get(kind)
        if not name:
            have = ", ".join(k for k in COMPANIONS if self.companions.get(k)) or "none"
            raise ValueError(f"this {self.method} feature set has no {kind} matrix (it has: {have})")
        return Path(folder) / os.path.basename(name)

    def to_feature_matrix(self):
        """A fluxpowerstack set as the ``FeatureMatrix`` ``score``, ``label`` and ``build_reference`` take."""
        from clara_benchmark.extract import FeatureMatrix

        if self.method != "fluxpowerstack":
            raise ValueError(f"only a fluxpowerstack set is a clara-4000 FeatureMatrix, not {self.method}")
        return FeatureMatrix(
            list(self.filenames),
            list(self.paths),
            list(self.tic_ids),
            self.features,
            list(self.failures),
            read_options=ReadOptions.of(self.options.get("read_options")),
        )


def collect(batches: Iterable[Batch], method: str, order: list[str] | None, options: dict) -> FeatureSet:
    """A ``FeatureSet`` from batches, rows in ``order`` (file names) when given."""
    from clara_benchmark.extract import FeatureMatrix

    matrix = FeatureMatrix.from_batches(batches, order=order)
    width = vector_length(method, options.get("desired_length"))
    features = matrix.features if len(matrix) else np.empty((0, width))
    return FeatureSet(
        method,
        matrix.filenames,
        matrix.paths,
        matrix.tic_ids,
        np.asarray(features, dtype=np.float64),
        matrix.failures,
        options,
        matrix.reused,
    )


def feature_set(
    inputs,
    method: str = "bin_means",
    *,
    desired_length: int | None = None,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> FeatureSet:
    """One of CLARA's feature sets of many light curves, in file-name order, with the ones that failed.

    Parameters
    ----------
    inputs : path, folder, glob, LightCurve, lightkurve LightCurve(Collection), or a list of these
        Folders are searched recursively (``find_lightcurves``).
    method : {"fluxpowerstack", "bin_means", "advanced_10_feature_set"}
        clara-4000 vectors; CLARA's z-scored folded bin means; CLARA's ten shape and transit numbers.
    desired_length : int, optional
        bin_means only: pad with zeros or truncate the bin means to this length before the z-score, as
        CLARA does. (For the other methods CLARA truncates or pads the finished matrix: ``adjusted(n)``.)
    executor : optional
        From ``open_executor`` (local processes or Dask; the same numbers); None computes in this process.
    batch_size : int
        Light curves per task.
    features_path : path, optional
        fluxpowerstack only: a feature store written by ``score`` (``save_features``) or a fluxpowerstack
        ``.npz`` written by ``features``; vectors found there are reused.
    progress : callable, optional
        Called with the number of light curves each finished batch accounts for.
    read_options : ReadOptions or dict, optional
        How light curves are read (default CLARA's: PDCSAP_FLUX, no quality mask).

    Returns
    -------
    FeatureSet
        ``features`` (n × 4000, 100 or ``desired_length``, or 10), ``filenames``, ``tic_ids``, ``failures``.

    Examples
    --------
    >>> import clara_benchmark as clara
    >>> star = TESS_DIR.parent / "tess_real" / "stsci-notebooks" / (
    ...     "tess2018206045859-s0001-0000000038846515-0120-s_lc.fits")
    >>> fs = clara.feature_set(star, "advanced_10_feature_set")
    >>> dict(zip(fs.feature_names[:2], fs.features[0, :2].round(3).tolist()))
    {'transit_depth': -2.247, 'transit_width': 0.08}
    >>> clara.feature_set(star, "bin_means", desired_length=120).features.shape
    (1, 120)
    """
    _check_method(method)
    options = ReadOptions.of(read_options)
    resolved = resolve_inputs(inputs)
    order = [item_key(item)[0] for item in resolved.items]
    batches = iter_feature_set_batches(
        resolved.items,
        method,
        desired_length=desired_length,
        executor=executor,
        batch_size=batch_size,
        features_path=features_path,
        progress=progress,
        read_options=options,
    )
    result = collect(batches, method, order, feature_options(desired_length, options))
    result.failures = resolved.failures + result.failures
    return result


def feature_options(desired_length: int | None, read_options: ReadOptions) -> dict:
    """The options a saved set records: ``desired_length`` and the read options' identity."""
    return {"desired_length": desired_length, "read_options": read_options.identity()}


# ------------------------------------------------------------------------------------------ matrices


def adjust_length(features, n: int) -> np.ndarray:
    """Each row truncated to ``n`` values or padded with zeros to ``n`` (CLARA's ``desired_length``).

    Examples
    --------
    >>> adjust_length(np.array([[1.0, 2.0, 3.0]]), 2).tolist(), adjust_length(np.array([[1.0]]), 3).tolist()
    ([[1.0, 2.0]], [[1.0, 0.0, 0.0]])
    """
    x = np.asarray(features, dtype=np.float64)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"desired_length must be a positive integer, got {n!r}")
    n = int(n)
    if x.shape[1] >= n:
        return np.ascontiguousarray(x[:, :n])
    out = np.zeros((x.shape[0], n))
    out[:, : x.shape[1]] = x
    return out


def pca_components(n_samples: int, n_features: int, wanted: int) -> int:
    """Components PCA can give: ``wanted``, lowered to n_samples − 1 (CLARA_LATER) and to n_features."""
    return max(0, min(int(wanted), n_samples - 1, n_features))


def reduce_features(
    features, n_components: int = 50, random_state: int | None = 42
) -> tuple[np.ndarray, int]:
    """CLARA's ``reduce_features``: scikit-learn ``PCA(n_components).fit_transform`` of the rows.

    Returns ``(reduced, n)`` with ``n`` the components used: ``n_components`` lowered to n_samples − 1
    when there are fewer samples (and to the vector length). CLARA gave PCA no seed, so its randomized
    solver (scikit-learn picks it for large matrices) gave other numbers on every run; clara seeds it.
    Raises ``ValueError`` with fewer than two rows.

    Examples
    --------
    >>> reduced, n = reduce_features(np.random.default_rng(0).normal(size=(5, 8)), 50)
    >>> reduced.shape, n
    ((5, 4), 4)
    """
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float64)
    n = pca_components(len(x), x.shape[1] if x.ndim == 2 else 0, n_components)
    if n < 1:
        raise ValueError(f"PCA needs at least 2 light curves, got {len(x)}")
    return PCA(n_components=n, random_state=random_state).fit_transform(x), n


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class LoadedMatrix:
    """A matrix to cluster with its rows' file names and TIC ids (−1 unknown), and where it came from."""

    x: np.ndarray
    filenames: list[str]
    tic_ids: list[int]
    source: str
    method: str | None = None


def _read_npy(path: Path) -> np.ndarray:
    from clara_benchmark.exceptions import ClaraError

    try:
        x = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:  # a pickled object array, a damaged or foreign file
        raise ClaraError(f"{path}: not a readable .npy matrix ({' '.join(str(exc).split())})") from None
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ClaraError(
            f"{path}: expected a 2-D numeric matrix (one row per star), got "
            f"{getattr(x, 'ndim', '?')}-D {getattr(x, 'dtype', type(x).__name__)}"
        )
    return x


def load_matrix(
    features_path: str | os.PathLike,
    filenames_path: str | os.PathLike | None = None,
    matrix: str = "features",
) -> LoadedMatrix:
    """The matrix the ``clustering`` command clusters, with its file names.

    ``features_path`` is the self-describing ``.npz`` written by ``features`` (``matrix`` picks its own
    ``features`` or the ``pca``, ``adjusted`` or ``dtw`` matrix written with it), or CLARA's ``.npy`` with
    the ``.txt`` of file names (``filenames_path``; line i names row i). ``ClaraError`` naming the file
    for anything that does not fit (pickles are refused).
    """
    from clara_benchmark.exceptions import ClaraError
    from clara_benchmark.lightcurve import tic_from_filename
    from clara_benchmark.products import read_lines

    path = Path(features_path)
    if path.suffix.lower() == ".npz":
        try:
            saved = FeatureSet.load(path)
            x = saved.features if matrix == "features" else _read_npy(saved.companion(matrix, path.parent))
        except (ValueError, OSError) as exc:
            raise ClaraError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
        if len(x) != len(saved):
            raise ClaraError(f"{path}: its {matrix} matrix has {len(x)} rows for {len(saved)} file names")
        return LoadedMatrix(x, list(saved.filenames), list(saved.tic_ids), f"{path} ({matrix})", saved.method)
    if filenames_path is None:
        raise ClaraError(f"{path}: a .npy matrix needs its .txt of file names (filenames_path)")
    x = _read_npy(path)
    try:
        names = read_lines(filenames_path)
    except OSError as exc:
        raise ClaraError(f"{filenames_path}: cannot read ({exc.strerror or exc})") from None
    if len(names) != len(x):
        raise ClaraError(
            f"{filenames_path} lists {len(names)} file names but {path} has {len(x)} rows (line i must name row i)"
        )
    tics = [tic_from_filename(n) for n in names]
    return LoadedMatrix(x, names, [-1 if t is None else t for t in tics], str(path))
