"""Scoring many light curves: clara-4000 features → every enabled URF model, in batches on an executor.

Examples
--------
>>> import clara_benchmark as clara
>>> models = clara.load_models(p3=PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl")
>>> scores, failures = clara.score(TESS_DIR, models)
>>> scores.columns.tolist(), len(scores), len(failures)
(['tic', 'filename', 'p3', 'product', 'cadence_s', 'id_kind'], 3, 0)
>>> scores["product"].unique().tolist()
['spoc-2min']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from clara_benchmark.extract import UNKNOWN_INFO, FeatureMatrix, features_of
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import Batch, map_lightcurves, resolve_inputs, warn_untrained
from clara_benchmark.urf_scoring.models import ScoringModels
from clara_benchmark.urf_scoring.worker import init_worker, score_matrix, score_rows


class ScoreResult(NamedTuple):
    """``scores``: one row per light curve (``tic``, ``filename``, one column per model, then ``product``,
    ``cadence_s`` and ``id_kind``: what it is, lightcurve.py), sorted by file name; ``failures``:
    ``filename``, ``path``, ``reason`` of every light curve that could not be scored."""

    scores: object  # pandas.DataFrame
    failures: object  # pandas.DataFrame


def score_batches(
    items: Iterable,
    models: ScoringModels,
    *,
    executor=None,
    batch_size: int = 64,
    keep_features: bool = False,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> Iterator[Batch]:
    """Scored batches in input order: ``values`` is ``{"scores": {model: array}, "features": matrix|None}``.

    Each worker loads the models once (``init_worker``); each batch's features are computed once and
    scored by every model in one ``predict_proba`` per model. ``read_options`` (lightcurve.py) says how
    the workers read the light curves.
    """
    batch_fn = functools.partial(score_rows, keep_features=keep_features)
    yield from map_lightcurves(
        items,
        features_of,
        executor=executor,
        batch_size=batch_size,
        batch_fn=batch_fn,
        initializer=init_worker,
        initargs=(models.worker_specs(),),
        progress=progress,
        load=ReadOptions.of(read_options).load,
    )


def failures_frame(failures) -> object:
    """The failures as a DataFrame (``filename``, ``path``, ``reason``), sorted by file name."""
    import pandas as pd

    from clara_benchmark.products import FAILURE_PATH_COLUMNS

    frame = pd.DataFrame([tuple(f) for f in failures], columns=list(FAILURE_PATH_COLUMNS))
    return frame.sort_values(["filename", "path"], kind="stable").reset_index(drop=True)


def _frame(filenames, tic_ids, scores: dict[str, np.ndarray], infos):
    import pandas as pd

    infos = list(infos) or [UNKNOWN_INFO] * len(filenames)
    frame = pd.DataFrame({"tic": np.asarray(tic_ids, dtype=np.int64), "filename": list(filenames)})
    for name, values in scores.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    frame["product"] = [i.product for i in infos]
    frame["cadence_s"] = np.asarray([i.cadence_s for i in infos], dtype=np.float64)
    frame["id_kind"] = [i.id_kind for i in infos]
    return frame.sort_values("filename", kind="stable").reset_index(drop=True)


def score(
    inputs,
    models: ScoringModels,
    executor=None,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> ScoreResult:
    """Anomaly scores of light curves with every model in ``models`` (CLARA's score: 1 − P(real)).

    Parameters
    ----------
    inputs : paths, folders, globs, LightCurve(s), lightkurve light curves, or a FeatureMatrix
        What to score; a ``FeatureMatrix`` (from ``clara4000_many``) is scored without recomputing.
    models : ScoringModels
        From ``load_models``.
    executor : optional
        From ``open_executor``; None computes in this process.
    batch_size : int
        Light curves per task.
    progress : callable, optional
        Called with the number of light curves each finished batch accounts for.
    read_options : ReadOptions or dict, optional
        How to read them (``flux_column``, ``quality_bitmask``, ``bin_20s_to_2min``; lightcurve.py);
        ignored for a FeatureMatrix, which was read already. CLARA's models were trained on SPOC 2-minute
        PDCSAP flux: other light curves are scored too, flagged by their ``product`` and one warning on
        the ``clara.inputs`` logger.

    Returns
    -------
    ScoreResult
        ``(scores, failures)`` DataFrames.
    """
    if isinstance(inputs, FeatureMatrix):
        scores = score_matrix(dict(models.items()), inputs.features)
        frame = _frame(inputs.filenames, inputs.tic_ids, scores, inputs.infos)
        return ScoreResult(frame, failures_frame(inputs.failures))
    resolved = resolve_inputs(inputs)
    names, tics, infos, failures = [], [], [], list(resolved.failures)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in models.names}
    for batch in score_batches(
        resolved.items,
        models,
        executor=executor,
        batch_size=batch_size,
        progress=progress,
        read_options=read_options,
    ):
        names += batch.filenames
        tics += batch.tic_ids
        infos += batch.infos
        failures += batch.failures
        for name in models.names:
            parts[name].append(batch.values["scores"][name])
    joined = {name: np.concatenate(v) if v else np.empty(0) for name, v in parts.items()}
    warn_untrained(infos)
    return ScoreResult(_frame(names, tics, joined, infos), failures_frame(failures))
