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
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import (
    ClaraError,
    ConfigError,
    batch_size_key,
    build_config,
    executor_key,
    key,
    max_workers_key,
    scheduler_address_key,
)
from clara_benchmark.features import FEATURE_SPEC_VERSION, FeatureError, clara4000
from clara_benchmark.synthetic.transits import SyntheticSetSpec, generate_transit_set
from clara_benchmark.utils.io import atomic_open, atomic_write_text, write_failures_csv

#: CLARA's selected models (CLARA_SPEC §4); all: max_depth 700, min_samples_leaf 1, gini, random_state 42
CLARA_VARIANTS = {
    "P3": {
        "n_curves": 300,
        "length_days": 23.75,
        "cadence_minutes": 2.0,
        "noise_ppm": 50.0,
        "n_estimators": 83,
        "max_features": "log2",
        "min_samples_split": 4,
        "bootstrap": False,
    },
    "P5": {
        "n_curves": 300,
        "length_days": 25.25,
        "cadence_minutes": 2.0,
        "noise_ppm": 225.0,
        "n_estimators": 166,
        "max_features": "sqrt",
        "min_samples_split": 2,
        "bootstrap": True,
    },
    "P9": {
        "n_curves": 300,
        "length_days": 24.5,
        "cadence_minutes": 2.0,
        "noise_ppm": 225.0,
        "n_estimators": 166,
        "max_features": "sqrt",
        "min_samples_split": 2,
        "bootstrap": True,
    },
}


@dataclass
class VariantConfig:
    """One model to train: its synthetic set and its forest (defaults: CLARA's common values)."""

    length_days: float = key("Length of each synthetic curve (days)", "float", required=True, minimum=0.01)
    noise_ppm: float = key("White noise of the synthetic curves (ppm)", "float", required=True, minimum=0)
    n_curves: int = key("Number of synthetic curves", "int", 300, minimum=1)
    cadence_minutes: float = key("Cadence of the synthetic curves (minutes)", "float", 2.0, minimum=0.01)
    seed: int = key("Seed of the synthetic set (CLARA: 42)", "int", 42)
    n_estimators: int = key("Trees in the forest", "int", 166, minimum=1)
    max_features: str = key("Features tried per split", "str", "sqrt", choices=("sqrt", "log2", "all"))
    min_samples_split: int = key("Minimum samples to split a node", "int", 2, minimum=2)
    min_samples_leaf: int = key("Minimum samples in a leaf", "int", 1, minimum=1)
    bootstrap: bool = key("Bootstrap samples for each tree", "bool", True)
    max_depth: int | None = key("Maximum tree depth (null: unlimited)", "int", 700, minimum=1, nullable=True)
    criterion: str = key("Split criterion", "str", "gini", choices=("gini", "entropy", "log_loss"))
    random_state: int = key("Seed of the forest", "int", 42)

    def synthetic_spec(self) -> SyntheticSetSpec:
        return SyntheticSetSpec(
            n_curves=self.n_curves,
            length_days=self.length_days,
            cadence_minutes=self.cadence_minutes,
            noise_ppm=self.noise_ppm,
            seed=self.seed,
        )

    def forest_params(self) -> dict:
        return {
            "n_estimators": self.n_estimators,
            "max_features": None if self.max_features == "all" else self.max_features,
            "min_samples_split": self.min_samples_split,
            "min_samples_leaf": self.min_samples_leaf,
            "bootstrap": self.bootstrap,
            "max_depth": self.max_depth,
            "criterion": self.criterion,
            "random_state": self.random_state,
        }


def parse_variants(raw: dict, where: str = 'key "variants"') -> dict[str, VariantConfig]:
    if not raw:
        return {}
    out = {}
    for name, block in raw.items():
        if not isinstance(block, dict):
            raise ConfigError(f'{where}: variant "{name}" must be a JSON object of keys')
        out[name] = build_config(VariantConfig, block, f'{where}, variant "{name}"')
    return out


def parse_alphas(text: str) -> list[float]:
    try:
        alphas = [float(a) for a in str(text).replace(";", ",").split(",") if a.strip()]
    except ValueError:
        raise ConfigError(f'key "alphas" must be numbers separated by commas, got "{text}"') from None
    if not alphas or any(not 0 <= a <= 1 for a in alphas):
        raise ConfigError(f'key "alphas" must be numbers within [0, 1] separated by commas, got "{text}"')
    return alphas


@dataclass
class TrainConfig:
    """Config of ``train``."""

    input_dirs: list[Path] = key(
        "Directories of real SPOC light curves (class 1; downloaded or simulated)",
        "list[path]",
        required=True,
        exists="dir",
    )
    output_dir: Path = key(
        "Directory for the model files and summaries (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    max_real: int | None = key(
        "Use only the first N real light curves by file name (CLARA: 1,500); null: all",
        "int",
        None,
        minimum=1,
    )
    variants: dict = key(
        "Models to train: {name: {length_days, noise_ppm, n_curves, cadence_minutes, seed, n_estimators, "
        "max_features, min_samples_split, min_samples_leaf, bootstrap, max_depth, criterion, random_state}}",
        "dict",
        CLARA_VARIANTS,
    )
    features_dir: Path | None = key(
        "Feature store (directory of part-*.npz) to take real features from; missing ones are computed",
        "path",
        None,
        exists="dir",
    )
    save_features: bool = key(
        "Save the real features computed here as a feature store in output_dir", "bool", False
    )
    labels_csv: Path | None = key(
        "Known planets for α selection: a simulated sector's truth CSV, an ExoFOP TOI CSV, or tic_id/filename "
        "(+ snr, depth_ppm, duration_hours)",
        "path",
        None,
        exists="file",
    )
    alphas: str = key("α values for the selection, comma-separated", "str", "0.3,0.5,0.9")
    selection_dirs: list[Path] | None = key(
        "Light curves the selection scores (null: the real ones not used for training, else all of them)",
        "list[path]",
        None,
        exists="dir",
    )
    max_workers: int = max_workers_key("Number of worker processes (features) and forest jobs")
    batch_size: int = batch_size_key(32)
    executor: str = executor_key()
    scheduler_address: str | None = scheduler_address_key()

    def check(self) -> str | None:
        try:
            variants = parse_variants(self.variants)
            parse_alphas(self.alphas)
        except ConfigError as exc:
            return str(exc)
        if not variants:
            return 'key "variants" is empty: give at least one model to train'
        for name in variants:
            if not name or any(c in name for c in '/\\:*?"<>|'):
                return f'key "variants": variant name "{name}" cannot be used in a file name'
        return None

    def monitor_path(self) -> Path:
        return self.input_dirs[0]


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


def real_features(
    paths: list[Path], executor, batch_size: int, features_dir: Path | None, ctx, save_dir=None
):
    """Features of ``paths`` in name order: reused from ``features_dir`` where present, else computed (and
    saved as a feature store in ``save_dir`` when given)."""
    from clara_benchmark.extract import FeatureMatrix, iter_feature_batches
    from clara_benchmark.featurestore import FeatureStoreWriter

    writer = FeatureStoreWriter(save_dir) if save_dir is not None else None

    def saving(batches):
        for batch in batches:
            if writer is not None and not batch.reused:
                writer.write(batch)
            yield batch

    with ctx.progress(total=len(paths), desc="real features", unit="lc") as bar:
        # a store that cannot be read raises FeatureStoreError: "<dir>: cannot read feature store (...)"
        batches = iter_feature_batches(paths, executor, batch_size, features_dir, progress=bar.update)
        return FeatureMatrix.from_batches(saving(batches), order=[p.name for p in paths])


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
    return f"urf_{name}_{spec.tag}.skops"


def _names_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ run


def run(config: TrainConfig, ctx) -> int:
    from clara_benchmark.executors import get_executor
    from clara_benchmark.inputs import find_lightcurves
    from clara_benchmark.modelio import save_model, variant_role

    variants = parse_variants(config.variants)
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executor = get_executor(config)

    files = find_lightcurves(config.input_dirs).files
    if not files:
        raise ClaraError(f"no .fits light curves in {', '.join(map(str, config.input_dirs))}")
    train_files = files[: config.max_real] if config.max_real else files
    ctx.log.main(
        f"train: {len(variants)} variant(s) ({', '.join(variants)}) on {len(train_files)} real light curves "
        f"of {len(files)} found"
    )
    t0 = time.perf_counter()
    save_dir = out_dir / f"features_real_{ctx.timestamp}" if config.save_features else None
    real = real_features(train_files, executor, config.batch_size, config.features_dir, ctx, save_dir)
    feature_seconds = time.perf_counter() - t0
    if real.failures:
        fpath = out_dir / f"train_failures_{ctx.timestamp}.csv"
        write_failures_csv(fpath, real.failures)
        ctx.log.main(f"{len(real.failures)} real light curve(s) could not be used; see {fpath}")
    if len(real.filenames) < 2:
        raise ClaraError(f"only {len(real.filenames)} usable real light curve(s): need at least 2 to train")
    ctx.log.main(
        f"real features: {len(real.filenames)} light curves ({real.reused} reused from the feature store) "
        f"in {feature_seconds:.1f} s"
    )

    real_set = {
        "dirs": [str(d) for d in config.input_dirs],
        "n_files_found": len(files),
        "n_files_selected": len(train_files),
        "n_used": len(real.filenames),
        "n_failed": len(real.failures),
        "first_filename": real.filenames[0],
        "last_filename": real.filenames[-1],
        "filenames_sha256": _names_digest(real.filenames),
        "selection": f"first {config.max_real} by file name" if config.max_real else "all, by file name",
    }
    summary_rows = []
    models: dict[str, Path] = {}
    for name, variant in variants.items():
        spec = variant.synthetic_spec()
        t1 = time.perf_counter()
        synthetic, syn_features = synthetic_matrix(spec, executor)
        syn_seconds = time.perf_counter() - t1
        params = variant.forest_params()
        t2 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            forest = fit_forest(real.features, syn_features, params, n_jobs=config.max_workers)
        for w in caught:  # e.g. scikit-learn's "too few trees for OOB estimates": a note, not a failure
            ctx.log.log(f"{name}: {w.category.__name__}: {w.message}")
        fit_seconds = time.perf_counter() - t2
        oob = float(forest.oob_score_) if params["bootstrap"] else None
        in_sample = 1.0 - forest.predict_proba(real.features)[:, list(forest.classes_).index(1)]
        path = out_dir / model_filename(name, spec)
        replaced = path.exists()
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
                    "real": real_set,
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
                "run_timestamp": ctx.timestamp,
            }
        )
        save_model(forest, path, metadata)
        models[name] = path
        row = {
            "variant": name,
            "model_path": str(path),
            "synthetic_set": spec.tag,
            "n_real": len(real.filenames),
            "n_synthetic": spec.n_curves,
            "n_estimators": variant.n_estimators,
            "oob_score": oob,
            "real_flagged_in_sample": int((in_sample > 0).sum()),
            "synthetic_seconds": round(syn_seconds, 3),
            "fit_seconds": round(fit_seconds, 3),
        }
        summary_rows.append(row)
        ctx.log.main(
            f"{name}: {'replaced' if replaced else 'wrote'} {path} ({variant.n_estimators} trees, "
            f"{spec.n_curves} synthetic curves {spec.tag}; synthetic features {syn_seconds:.1f} s, fit "
            f"{fit_seconds:.1f} s" + (f", OOB accuracy {oob:.4f})" if oob is not None else ")")
        )
        ctx.log.log(f"{name}: metadata {json.dumps(metadata)}")

    summary = out_dir / f"train_summary_{ctx.timestamp}.csv"
    atomic_write_text(summary, pd.DataFrame(summary_rows).to_csv(index=False))
    ctx.log.main(f"summary: {summary}")

    if config.labels_csv is not None:
        select(config, ctx, models, files, train_files, real, executor)
    return 0


# ---------------------------------------------------------------------------------------- α selection


def select(config: TrainConfig, ctx, models: dict[str, Path], files, train_files, real, executor) -> None:
    """Rank the freshly trained variants with CLARA's α formula against known planets."""
    from clara_benchmark.modelio import load_model
    from clara_benchmark.training.selection import alpha_scores, mark_labelled, planet_labels, variant_metrics
    from clara_benchmark.urf_scoring import anomaly_score

    alphas = parse_alphas(config.alphas)
    try:
        labels = pd.read_csv(config.labels_csv)
        planets = planet_labels(labels)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ClaraError(f"{config.labels_csv}: cannot read known planets ({exc})") from None
    if config.selection_dirs:
        from clara_benchmark.inputs import find_lightcurves

        sel_files = find_lightcurves(config.selection_dirs).files
        source = ", ".join(map(str, config.selection_dirs))
    elif len(train_files) < len(files):
        sel_files = files[len(train_files) :]
        source = "the real light curves not used for training"
    else:
        sel_files = train_files
        source = "the training light curves (in-sample: scores of known planets are biased low)"
    if not sel_files:
        raise ClaraError("no light curves to rank the variants on")
    ctx.log.main(
        f"α selection over {len(sel_files)} light curves ({source}), α = {', '.join(map(str, alphas))}"
    )
    if sel_files is train_files:
        sel = real
    else:
        sel = real_features(sel_files, executor, config.batch_size, config.features_dir, ctx)
    base = pd.DataFrame({"filename": sel.filenames, "tic_id": sel.tic_ids})
    marked_base = mark_labelled(base.assign(anomaly_score=0.0), planets)
    if not marked_base["is_planet"].any():
        raise ClaraError(
            f"{config.labels_csv}: none of its planets is among the {len(base)} light curves ranked"
        )
    rows = []
    for name, path in models.items():
        model, _ = load_model(path)
        scored = base.assign(anomaly_score=anomaly_score(model, sel.features))
        metrics = variant_metrics(mark_labelled(scored, planets))
        rows.append({"variant": name, "model_path": str(path), **metrics})
    table = alpha_scores(pd.DataFrame(rows), alphas)
    out = Path(config.output_dir) / f"alpha_selection_{ctx.timestamp}.csv"
    atomic_write_text(out, table.to_csv(index=False))
    chosen = {}
    for alpha in alphas:
        col = f"score_alpha_{alpha:g}"
        best = table.loc[table[col].idxmax()]
        chosen[f"{alpha:g}"] = best["model_path"]
        ctx.log.main(
            f"α = {alpha:g}: best {best['variant']} (score {best[col]:.3f}, recall {best['recall']:.3f}, "
            f"anomaly rate {best['anomaly_rate']:.3f})"
        )
    with atomic_open(Path(config.output_dir) / f"selected_models_{ctx.timestamp}.json") as fh:
        json.dump(chosen, fh, indent=2)
    ctx.log.main(f"selection: {out}")
