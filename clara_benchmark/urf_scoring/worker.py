"""Worker side of ``score``: models loaded once per worker, one task = one batch of light curves.

``init_worker`` runs once in each worker process (the executor's initializer) and keeps the models in
module state; ``score_batch`` computes the clara-4000 features of a batch once and scores them with every
enabled model in one ``predict_proba`` call per model. Both are module-level so that they work under
``spawn`` and on Dask workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_benchmark.extract import extract_batch
from clara_benchmark.features import N_FEATURES
from clara_benchmark.modelio import load_model
from clara_benchmark.urf_scoring import anomaly_score

#: worker state: {"models": {name: estimator}, "keep_features": bool}
_STATE: dict = {"models": {}, "keep_features": False}
#: models already loaded in this process, by (path, size, mtime): an in-process executor (max_workers 1)
#: re-runs the initializer in the main process, which has loaded the same files to check them
_LOADED: dict[tuple, object] = {}


@dataclass
class ModelSpec:
    """A model to load in each worker: its short name (p3/p5/p9), file and pickle trust."""

    name: str
    path: str
    trust_pickles: bool = False


@dataclass
class ScoredBatch:
    """Result of one task: scored light curves in input order, plus the ones that failed."""

    paths: list[str] = field(default_factory=list)
    tic_ids: list[int] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    features: np.ndarray | None = None

    @property
    def filenames(self) -> list[str]:
        return [os.path.basename(p) for p in self.paths]


def load_scoring_model(spec: ModelSpec):
    """Load (or reuse) one model and check that it can score clara-4000 vectors."""
    path = Path(spec.path)
    stat = path.stat()
    cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec.trust_pickles)
    if cache_key in _LOADED:
        return _LOADED[cache_key]
    model, _meta = load_model(path, trust_pickles=spec.trust_pickles)
    check_scoring_model(model, spec)
    # the forest's tree votes are summed in tree order only when it runs single-threaded; workers are
    # the parallelism, so never let a model start its own threads
    if hasattr(model, "n_jobs"):
        model.n_jobs = None
    _LOADED[cache_key] = model
    return model


def check_scoring_model(model, spec: ModelSpec) -> None:
    from clara_benchmark.modelio import ModelFileError

    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ModelFileError(
            f"{spec.path}: the {spec.name} model is a {type(model).__name__}, not a fitted classifier "
            "with predict_proba"
        )
    if 1 not in list(model.classes_):
        raise ModelFileError(
            f"{spec.path}: the {spec.name} model has classes {list(model.classes_)}, "
            "with no class 1 (real light curves)"
        )
    n_in = getattr(model, "n_features_in_", N_FEATURES)
    if n_in != N_FEATURES:
        raise ModelFileError(
            f"{spec.path}: the {spec.name} model expects {n_in} features, clara-4000 vectors have {N_FEATURES}"
        )


def init_worker(specs: list[ModelSpec], keep_features: bool = False) -> None:
    """Executor initializer: load every enabled model once in this worker."""
    _STATE["models"] = {spec.name: load_scoring_model(spec) for spec in specs}
    _STATE["keep_features"] = bool(keep_features)


def score_batch(paths: list[str]) -> ScoredBatch:
    """Features of a batch computed once, then one ``predict_proba`` per enabled model on all rows."""
    models = _STATE["models"]
    if not models:
        raise RuntimeError("score_batch called in a worker without models (init_worker did not run)")
    batch = extract_batch(paths)
    out = ScoredBatch(paths=batch.paths, tic_ids=batch.tic_ids, failures=batch.failures)
    n = len(batch.paths)
    for name, model in models.items():
        out.scores[name] = anomaly_score(model, batch.features) if n else np.empty(0)
    if _STATE["keep_features"]:
        out.features = batch.features
    return out
