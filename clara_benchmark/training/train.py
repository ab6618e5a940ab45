"""``train``: clara's own P3/P5/P9-style Unsupervised Random Forests, as a command (CLARA_SPEC §4).

For each variant: real light curves (class 1) against a CLARA synthetic transit set (class 0), both as
clara-4000 vectors, fitted by a plain scikit-learn ``RandomForestClassifier`` and saved in clara's safe
model format (``.skops``) with the feature spec, training sets, hyperparameters and role as metadata
(the role is the score slot the model belongs in: ``p3``/``p5``/``p9`` for variants of those names, as in
the default ``CLARA_VARIANTS``, else ``custom``, which ``score`` accepts in any slot and logs). Real
features are computed once (or taken from a feature store) and shared by every variant. Optionally ranks
the variants with CLARA's α formula against a table of known planets.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import (
    CLARA_VARIANTS,
    ClaraError,
    VariantConfig,
    build_config,
)
from clara_benchmark.features import FEATURE_SPEC_VERSION, FeatureError, clara4000
from clara_benchmark.synthetic.transits import SyntheticSetSpec, generate_transit_set

# ------------------------------------------------------------------------------------------ features


def synthetic_features(task: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Worker task: clara-4000 vectors of a chunk of synthetic curves on one time grid."""
    time_grid, flux = task
    return np.vstack([clara4000(time_grid, f) for f in flux])


def synthetic_matrix(spec: SyntheticSetSpec, executor, chunk: int = 16):
    """(synthetic set, its feature matrix)."""
    from clara_benchmark.executors import batched

    synthetic = generate_transit_set(spec)
    tasks = ((synthetic.time, np.asarray(rows)) for rows in batched(list(synthetic.flux), chunk))
    try:
        parts = list(executor.imap(synthetic_features, tasks))
    except FeatureError as exc:
        raise ClaraError(f"synthetic set {spec.tag}: cannot compute features ({exc})") from None
    return synthetic, np.vstack(parts)


# --------------------------------------------------------------------------------------------- models


def plain(value):
    """Metadata as JSON-like builtins only (skops loads them without trusting extra types)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def fit_forest(real: np.ndarray, synthetic: np.ndarray, params: dict, n_jobs: int = 1):
    """A real(1)-vs-synthetic(0) RandomForestClassifier (CLARA's URF)."""
    from sklearn.ensemble import RandomForestClassifier

    X = np.vstack([real, synthetic])
    y = np.concatenate([np.ones(len(real), dtype=np.int64), np.zeros(len(synthetic), dtype=np.int64)])
    forest = RandomForestClassifier(**params, n_jobs=n_jobs, oob_score=bool(params.get("bootstrap")))
    return forest.fit(X, y)


def model_filename(name: str, spec: SyntheticSetSpec) -> str:
    from clara_benchmark import products

    return products.MODEL.name(name=name, tag=spec.tag)


def _names_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


# ------------------------------------------------------------------------------------------- library


@dataclass
class TrainedModel:
    """One trained variant: the forest, its metadata (written into its model file) and its summary row."""

    name: str
    forest: object
    metadata: dict
    summary: dict
    spec: SyntheticSetSpec
    warnings: list[str]

    @property
    def filename(self) -> str:
        return model_filename(self.name, self.spec)

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write the model as ``urf_<name>_<synthetic set>.skops`` (safe to load, with its metadata)."""
        from clara_benchmark.modelio import save_model

        path = Path(output_dir) / self.filename
        save_model(self.forest, path, self.metadata)
        return path


@dataclass
class TrainResult:
    """Every trained variant by name, the real features they were trained on, and the unusable files."""

    models: dict[str, TrainedModel]
    real: object  # FeatureMatrix
    failures: list

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([m.summary for m in self.models.values()])


def _real_set(real, provenance: dict | None) -> dict:
    return {
        **(provenance or {}),
        "n_used": len(real.filenames),
        "n_failed": len(real.failures),
        "first_filename": real.filenames[0],
        "last_filename": real.filenames[-1],
        "filenames_sha256": _names_digest(real.filenames),
    }


def train_variant(name: str, variant: VariantConfig, real, executor=None, n_jobs: int = 1, real_set=None):
    """Fit one URF: ``real`` (a FeatureMatrix, class 1) against the variant's synthetic transits (class 0)."""
    from clara_benchmark.executors import LocalExecutor
    from clara_benchmark.modelio import variant_role

    spec = variant.synthetic_spec()
    t1 = time.perf_counter()
    synthetic, syn_features = synthetic_matrix(spec, executor or LocalExecutor(1))
    syn_seconds = time.perf_counter() - t1
    params = variant.forest_params()
    t2 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forest = fit_forest(real.features, syn_features, params, n_jobs=n_jobs)
    fit_seconds = time.perf_counter() - t2
    oob = float(forest.oob_score_) if params["bootstrap"] else None
    in_sample = 1.0 - forest.predict_proba(real.features)[:, list(forest.classes_).index(1)]
    metadata = plain(
        {
            "feature_spec": FEATURE_SPEC_VERSION,
            "model": "Unsupervised Random Forest: real light curves (class 1) vs synthetic transits (class 0)",
            "variant": name,
            # the slot score accepts it in: p3/p5/p9 for variants of those names, else "custom"
            "role": variant_role(name),
            "anomaly_score": "1 - P(class 1)",
            "classes": {"1": "real", "0": "synthetic"},
            "training_set": {
                "real": real_set or _real_set(real, None),
                "synthetic": {
                    **spec.as_dict(),
                    "tag": spec.tag,
                    "generator": "clara_benchmark.synthetic.transits (CLARA_SPEC §4: box or Mandel-Agol, "
                    "period U(1,15) d, duration U(1,10) h, depth U(0.0005,0.02), white noise)",
                    "n_box": int((synthetic.params["model"] == "box").sum()),
                },
            },
            "hyperparameters": {**params, "max_features": variant.max_features},
            "oob_score": oob,
            "train_seconds": round(fit_seconds, 3),
        }
    )
    summary = {
        "variant": name,
        "synthetic_set": spec.tag,
        "n_real": len(real.filenames),
        "n_synthetic": spec.n_curves,
        "n_estimators": variant.n_estimators,
        "oob_score": oob,
        "real_flagged_in_sample": int((in_sample > 0).sum()),
        "synthetic_seconds": round(syn_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
    }
    notes = [f"{w.category.__name__}: {w.message}" for w in caught]  # e.g. too few trees for OOB estimates
    return TrainedModel(name, forest, metadata, summary, spec, notes)


def train(
    real,
    variants: dict | None = None,
    *,
    executor=None,
    batch_size: int = 32,
    features_path: str | os.PathLike | None = None,
    n_jobs: int = 1,
    progress=None,
    on_model=None,
    provenance: dict | None = None,
) -> TrainResult:
    """Train CLARA-style Unsupervised Random Forests: real light curves against synthetic transits.

    Parameters
    ----------
    real : paths, folders, LightCurves, or a FeatureMatrix
        The real light curves (class 1).
    variants : dict, optional
        ``{name: VariantConfig or dict of its keys}``; default CLARA's P3, P5 and P9 (``CLARA_VARIANTS``).
    executor, batch_size, features_path, progress
        As for ``clara4000_many`` (features of the real and the synthetic curves).
    n_jobs : int
        Threads fitting each forest.
    on_model : callable, optional
        ``on_model(trained)`` as each variant is done (the command saves and logs it there).
    provenance : dict, optional
        Where the real set came from, recorded in each model's metadata.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import clara_benchmark as clara
    >>> small = {"tiny": {"length_days": 5.0, "noise_ppm": 200.0, "n_curves": 4, "n_estimators": 3}}
    >>> result = clara.train(TESS_DIR, small)
    >>> model = result.models["tiny"]
    >>> model.summary["n_real"], model.summary["n_synthetic"], len(model.forest.estimators_)
    (3, 4, 3)
    """
    from clara_benchmark.extract import FeatureMatrix, clara4000_many

    parsed = {
        name: v if isinstance(v, VariantConfig) else build_config(VariantConfig, dict(v), f'variant "{name}"')
        for name, v in (variants if variants is not None else CLARA_VARIANTS).items()
    }
    if not isinstance(real, FeatureMatrix):
        real = clara4000_many(real, executor, batch_size, features_path, progress)
    if len(real.filenames) < 2:
        raise ClaraError(f"only {len(real.filenames)} usable real light curve(s): need at least 2 to train")
    real_set = _real_set(real, provenance)
    out = TrainResult({}, real, list(real.failures))
    for name, variant in parsed.items():
        trained = train_variant(name, variant, real, executor, n_jobs, real_set)
        out.models[name] = trained
        if on_model is not None:
            on_model(trained)
    return out


def select_variants(models: dict, features, planets: pd.DataFrame, alphas: list[float]) -> pd.DataFrame:
    """CLARA's α selection: each model's metrics on ``features`` (a FeatureMatrix) against known planets,
    and its score for every α (columns ``score_alpha_<α>``); ``models`` is ``{name: estimator}``."""
    from clara_benchmark.training.selection import alpha_scores, mark_labelled, variant_metrics
    from clara_benchmark.urf_scoring import anomaly_score

    base = pd.DataFrame({"filename": features.filenames, "tic_id": features.tic_ids})
    if not mark_labelled(base.assign(anomaly_score=0.0), planets)["is_planet"].any():
        raise ClaraError(f"none of the known planets is among the {len(base)} light curves ranked")
    rows = []
    for name, model in models.items():
        scored = base.assign(anomaly_score=anomaly_score(model, features.features))
        rows.append({"variant": name, **variant_metrics(mark_labelled(scored, planets))})
    return alpha_scores(pd.DataFrame(rows), alphas)
