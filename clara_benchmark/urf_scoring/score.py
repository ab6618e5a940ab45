"""Scoring many light curves: clara-4000 features → every enabled URF model, in batches on an executor.

Examples
--------
>>> import clara_benchmark as clara
>>> models = clara.load_models(p3=PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl")
>>> scores, failures = clara.score(TESS_DIR, models)
>>> scores.columns.tolist(), len(scores), len(failures)
(['tic', 'filename', 'p3'], 3, 0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from clara_benchmark.extract import FeatureMatrix, features_of
from clara_benchmark.pipeline import Batch, map_lightcurves, resolve_inputs
from clara_benchmark.urf_scoring.models import ScoringModels
from clara_benchmark.urf_scoring.worker import init_worker, score_matrix, score_rows


class ScoreResult(NamedTuple):
    """``scores``: one row per light curve (``tic``, ``filename``, one column per model), sorted by file
    name; ``failures``: ``filename``, ``path``, ``reason`` of every light curve that could not be scored."""

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
) -> Iterator[Batch]:
    """Scored batches in input order: ``values`` is ``{"scores": {model: array}, "features": matrix|None}``.

    Each worker loads the models once (``init_worker``); each batch's features are computed once and
    scored by every model in one ``predict_proba`` per model.
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
    )


def failures_frame(failures) -> object:
    """The failures as a DataFrame (``filename``, ``path``, ``reason``), sorted by file name."""
    import pandas as pd

    from clara_benchmark.products import FAILURE_PATH_COLUMNS

    frame = pd.DataFrame([tuple(f) for f in failures], columns=list(FAILURE_PATH_COLUMNS))
    return frame.sort_values(["filename", "path"], kind="stable").reset_index(drop=True)


def _frame(filenames, tic_ids, scores: dict[str, np.ndarray]):
    import pandas as pd

    frame = pd.DataFrame({"tic": np.asarray(tic_ids, dtype=np.int64), "filename": list(filenames)})
    for name, values in scores.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame.sort_values("filename", kind="stable").reset_index(drop=True)


def score(
    inputs,
    models: ScoringModels,
    executor=None,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
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

    Returns
    -------
    ScoreResult
        ``(scores, failures)`` DataFrames.
    """
    if isinstance(inputs, FeatureMatrix):
        scores = score_matrix(dict(models.items()), inputs.features)
        return ScoreResult(_frame(inputs.filenames, inputs.tic_ids, scores), failures_frame(inputs.failures))
    resolved = resolve_inputs(inputs)
    names, tics, failures = [], [], list(resolved.failures)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in models.names}
    for batch in score_batches(
        resolved.items, models, executor=executor, batch_size=batch_size, progress=progress
    ):
        names += batch.filenames
        tics += batch.tic_ids
        failures += batch.failures
        for name in models.names:
            parts[name].append(batch.values["scores"][name])
    joined = {name: np.concatenate(v) if v else np.empty(0) for name, v in parts.items()}
    return ScoreResult(_frame(names, tics, joined), failures_frame(failures))
