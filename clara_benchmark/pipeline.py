"""The stage skeleton, written once: light curves in batches → an executor → results in input order, with
every light curve that cannot be used as a failure row instead of an exception.

Every stage (features, scores, labels, training features, injections, folds) is a per-light-curve function
``fn(lc) -> value`` (pure: a ``LightCurve`` in, arrays out) and optionally a per-batch function
``batch_fn(values) -> value`` (e.g. one ``predict_proba`` over a batch's feature rows). ``map_lightcurves``
cuts the inputs into batches, runs ``apply_batch`` on them through an executor (local processes or Dask:
see executors.py; in this process when none is given) and yields one ``Batch`` per task, in input order.

An input is a path (read in the worker, so only the name crosses the process boundary) or a
``LightCurve`` already in memory; ``load`` (default: ``read_lightcurve`` with CLARA's options) turns it
into the light curve the stage sees, e.g. ``ReadOptions(flux_column="sap_flux").load``. A ``LightCurveError`` (unreadable, damaged, wrong product) or a
``FeatureError`` (too short, constant) of one light curve becomes a ``Failure`` row with its reason; the
batch goes on. Failures are logged on ``logging.getLogger("clara.pipeline")`` at the LOG level.

Examples
--------
>>> from clara_benchmark.pipeline import map_lightcurves
>>> from clara_benchmark.features import clara4000
>>> batches = list(map_lightcurves([TESS_DIR / "tic55525572_lc.fits", TESS_DIR / "nope.fits"], clara4000))
>>> [(b.filenames, b.values[0].shape if b.values else None) for b in batches]
[(['tic55525572_lc.fits'], (4000,))]
>>> batches[0].failures[0].reason
'file does not exist'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from clara_benchmark.exceptions import FeatureError, LightCurveError
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import PRODUCTS, LightCurve, LightCurveInfo, read_lightcurve
from clara_benchmark.utils.logs import LOG

log = logging.getLogger("clara.pipeline")
inputs_log = logging.getLogger("clara.inputs")

Item = "str | os.PathLike | LightCurve"


@dataclass
class Batch:
    """What one task gives back: the light curves that worked (key, path, TIC id, value) and the failures.

    ``values`` is the list of ``fn`` results in input order, or what ``batch_fn`` made of that list.
    ``infos`` says what each light curve is (product, cadence, identifier catalogue, flux column).
    ``reused`` marks values taken from a feature store instead of computed.
    """

    filenames: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    values: Any = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    reused: bool = False
    infos: list[LightCurveInfo] = field(default_factory=list)

    @property
    def n_done(self) -> int:
        """Light curves this batch accounts for, used or failed."""
        return len(self.filenames) + len(self.failures)


def item_key(item) -> tuple[str, str]:
    """(file name, path) of an input: a path, or a ``LightCurve`` (its ``filename``; path if read from one)."""
    if isinstance(item, LightCurve):
        return item.filename, item.path or item.filename
    return os.path.basename(os.fspath(item)), os.fspath(item)


def lightcurve_of(item) -> LightCurve:
    """The ``LightCurve`` of an input: read when it is a path."""
    return item if isinstance(item, LightCurve) else read_lightcurve(item)


def failure_reason(exc: BaseException) -> str | None:
    """The failures-row reason for an error of one light curve, or None when it is not a per-file error."""
    if isinstance(exc, LightCurveError):
        return exc.reason
    if isinstance(exc, FeatureError):
        return f"features: {exc}"
    if isinstance(exc, (OSError, ValueError, MemoryError, OverflowError)):
        return f"{type(exc).__name__}: {exc}"
    return None


def apply_batch(task: tuple) -> Batch:
    """Worker side: ``(fn, items, batch_fn[, load])`` → a ``Batch``; never raises for one bad light curve.

    ``load(item) -> LightCurve`` turns an item into a light curve (default ``lightcurve_of``: read a path,
    keep a ``LightCurve``); a stage with other items (e.g. files still to download) gives its own.
    """
    fn, items, batch_fn, *rest = task
    load = rest[0] if rest and rest[0] is not None else lightcurve_of
    out = Batch()
    values = []
    for item in items:
        name, path = item_key(item)
        try:
            lc = load(item)
            value = fn(lc)
        except Exception as exc:  # only per-file errors become rows; anything else is a bug and propagates
            reason = failure_reason(exc)
            if reason is None:
                raise
            out.failures.append(Failure(name, path, reason))
            continue
        out.filenames.append(name)
        out.paths.append(path)
        out.tic_ids.append(-1 if lc.tic_id is None else int(lc.tic_id))
        out.infos.append(lc.info)
        values.append(value)
    out.values = batch_fn(values) if batch_fn is not None else values
    return out


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split ``items`` into lists of ``size`` (the last may be shorter)."""
    from itertools import islice

    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def map_lightcurves(
    items: Iterable,
    fn: Callable[[LightCurve], Any],
    *,
    executor=None,
    batch_size: int = 64,
    batch_fn: Callable[[list], Any] | None = None,
    initializer: Callable | None = None,
    initargs: tuple = (),
    progress: Callable[[int], Any] | None = None,
    load: Callable[[Any], LightCurve] | None = None,
) -> Iterator[Batch]:
    """Run ``fn`` on every light curve of ``items`` in batches; yield one ``Batch`` per task, in input order.

    Parameters
    ----------
    items : iterable of paths or LightCurve
        The light curves (paths are read in the worker).
    fn : callable
        ``fn(lc) -> value``, a module-level function (it is pickled by reference for worker processes).
    executor : executor, optional
        From ``open_executor``; None runs everything in this process.
    batch_size : int
        Light curves per task.
    batch_fn : callable, optional
        ``batch_fn(values) -> value``, run in the worker on each batch's values.
    initializer, initargs
        Run once per worker before its first task (e.g. to load models).
    progress : callable, optional
        Called with the number of light curves each finished batch accounts for.
    load : callable, optional
        ``load(item) -> LightCurve``, run in the worker (module-level or a ``functools.partial`` of one);
        default: read paths with ``read_lightcurve``. Its per-file errors become failure rows too.
    """
    if executor is None:
        from clara_benchmark.executors import LocalExecutor

        executor = LocalExecutor(1)
    tasks = ((fn, chunk, batch_fn, load) for chunk in batched(items, batch_size))
    for batch in executor.imap(apply_batch, tasks, initializer, initargs):
        for failure in batch.failures:
            log.log(LOG, f"failed: {failure.path}: {failure.reason}")
        if progress is not None:
            progress(batch.n_done)
        yield batch


def untrained_summary(infos: Iterable[LightCurveInfo]) -> tuple[int, int, str]:
    """(how many are not SPOC 2-minute PDCSAP, how many in all, "product/flux n, ..." of those)."""
    counts: dict[str, int] = {}
    total = 0
    for info in infos:
        total += 1
        if info.like_training:
            continue
        kind = PRODUCTS.get(info.product, info.product)
        if info.flux_column != "pdcsap_flux":
            kind += f" {info.flux_column}"
        counts[kind] = counts.get(kind, 0) + 1
    text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return sum(counts.values()), total, text


def warn_untrained(infos: Iterable[LightCurveInfo], what: str = "light curves") -> int:
    """Log one WARNING when some light curves are not what CLARA's models were trained on; return how many.

    Scoring them is allowed, but their scores (and labels) are not comparable with CLARA's.
    """
    n, total, text = untrained_summary(infos)
    if n:
        inputs_log.warning(
            f"{n} of {total} {what} are not SPOC 2-minute PDCSAP flux, the data CLARA's models were "
            f"trained on ({text}): their results are not comparable with CLARA's"
        )
    return n


@dataclass
class Inputs:
    """Resolved inputs: ``items`` (paths and ``LightCurve`` objects, one per file name) and the failures."""

    items: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def resolve_inputs(inputs) -> Inputs:
    """Inputs for ``map_lightcurves`` from paths, folders, globs, ``LightCurve`` objects or lightkurve's.

    Paths, folders and globs are expanded together by ``inputs.find_lightcurves`` (sorted by file name,
    special files and duplicated names as failures); ``LightCurve`` objects (and lightkurve
    ``LightCurve``/``LightCurveCollection`` objects, converted) follow in the order given. A second input
    with a file name already taken is a failure row: outputs are keyed by file name.
    """
    from clara_benchmark.inputs import find_lightcurves

    if isinstance(inputs, (str, os.PathLike, LightCurve)) or _is_lightkurve(inputs):
        inputs = [inputs]
    paths, objects = [], []
    for item in inputs:
        if isinstance(item, LightCurve):
            objects.append(item)
        elif _is_lightkurve(item):
            objects.extend(_from_lightkurve(item))
        elif isinstance(item, (str, os.PathLike)):
            paths.append(item)
        else:
            raise TypeError(
                f"cannot use a {type(item).__name__} as a light curve input (give paths or LightCurves)"
            )
    found = find_lightcurves(paths) if paths else None
    out = Inputs(list(found.files) if found else [], list(found.failures) if found else [])
    taken = {p.name: str(p) for p in out.items}
    for lc in objects:
        if lc.filename in taken:
            out.failures.append(
                Failure(
                    lc.filename,
                    lc.path or lc.filename,
                    f"same file name as {taken[lc.filename]}: only that one is used",
                )
            )
            continue
        taken[lc.filename] = lc.path or lc.filename
        out.items.append(lc)
    return out


def _is_lightkurve(obj) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith("lightkurve")


def _from_lightkurve(obj) -> list[LightCurve]:
    if hasattr(obj, "flux"):
        return [LightCurve.from_lightkurve(obj)]
    return [LightCurve.from_lightkurve(lc) for lc in obj]  # a LightCurveCollection
