"""Worker side of scoring: models loaded once per worker, one task = one batch of light curves.

``init_worker`` runs once in each worker process (the executor's initializer) and keeps the models in
module state; ``score_rows`` is the pipeline's batch function: the batch's clara-4000 vectors (computed
once) scored by every enabled model in one ``predict_proba`` call per model. Both are module-level so
that they work under ``spawn`` and on Dask workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clara_benchmark import modelio
from clara_benchmark.extract import stack_rows
from clara_benchmark.urf_scoring import anomaly_score
from clara_benchmark.urf_scoring.models import ModelSpec

#: worker state: {"models": {name: estimator}}
_STATE: dict = {"models": {}}
#: models already loaded in this process, by (path, size, mtime): an in-process executor (max_workers 1)
#: re-runs the initializer in the main process, which has loaded the same files to check them
_LOADED: dict[tuple, tuple] = {}


def load_scoring_model(spec: ModelSpec, with_metadata: bool = False):
    """Load (or reuse) one model with every check of ``modelio.load_scoring_model`` (its role's slot,
    class, structure); the model, or ``(model, metadata)``."""
    from clara_benchmark.modelio import ModelFileError

    path = Path(spec.path)
    try:
        stat = path.stat()
    except OSError:
        raise ModelFileError(f"{path}: model file does not exist") from None
    cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec.trust_pickles)
    if cache_key not in _LOADED:
        model, meta = modelio.load_scoring_model(path, spec.name, trust_pickles=spec.trust_pickles)
        # the forest's tree votes are summed in tree order only when it runs single-threaded; workers are
        # the parallelism, so never let a model start its own threads
        if hasattr(model, "n_jobs"):
            model.n_jobs = None
        _LOADED[cache_key] = (model, meta)
    model, meta = _LOADED[cache_key]
    return (model, meta) if with_metadata else model


def check_scoring_model(model, spec: ModelSpec) -> None:
    """An estimator given in memory: ``modelio.check_scoring_estimator`` (class, width, structure)."""
    modelio.check_scoring_estimator(model, spec.name, where=spec.path or f"the {spec.name} model")


def init_worker(specs: list[ModelSpec]) -> None:
    """Executor initializer: load every enabled model once in this worker."""
    models = {}
    for spec in specs:
        if spec.estimator is not None:
            if hasattr(spec.estimator, "n_jobs"):
                spec.estimator.n_jobs = None
            models[spec.name] = spec.estimator
        else:
            models[spec.name] = load_scoring_model(spec)
    _STATE["models"] = models


def score_matrix(models: dict, features: np.ndarray) -> dict[str, np.ndarray]:
    """Every model's anomaly scores of the rows of ``features`` (an empty matrix gives empty scores)."""
    if not len(features):
        return {name: np.empty(0) for name in models}
    return {name: anomaly_score(model, features) for name, model in models.items()}


def score_rows(values: list[np.ndarray], keep_features: bool = False) -> dict:
    """Batch function: ``{"scores": {name: scores}, "features": matrix or None}`` for a batch's vectors."""
    models = _STATE["models"]
    if not models:
        raise RuntimeError("score_rows called in a worker without models (init_worker did not run)")
    features = stack_rows(values)
    return {"scores": score_matrix(models, features), "features": features if keep_features else None}
