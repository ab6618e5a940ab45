"""The ``train`` command: clara's own URF models (real light curves vs CLARA's synthetic transits), saved
as safe ``.skops`` files with their metadata, and optionally ranked with CLARA's α formula.

config → ``find_lightcurves`` → real features (reused from ``features_dir``, saved with ``save_features``)
→ ``train`` (each model saved as soon as it is fitted) → ``train_summary_<ts>.csv`` → ``select_variants``
against ``labels_csv`` → ``alpha_selection_<ts>.csv`` + ``selected_models_<ts>.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from clara_benchmark import products
from clara_benchmark.config import TrainConfig, parse_alphas, parse_variants
from clara_benchmark.exceptions import ClaraError
from clara_benchmark.executors import get_executor
from clara_benchmark.extract import FeatureMatrix, iter_feature_batches
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.inputs import find_lightcurves
from clara_benchmark.training.train import select_variants, train


def run(config: TrainConfig, ctx) -> int:
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = parse_variants(config.variants)
    executor = get_executor(config)
    files = find_lightcurves(config.input_dirs).files
    if not files:
        raise ClaraError(f"no .fits light curves in {', '.join(map(str, config.input_dirs))}")
    train_files = files[: config.max_real] if config.max_real else files
    ctx.log.main(
        f"train: {len(variants)} variant(s) ({', '.join(variants)}) on {len(train_files)} real light curves "
        f"of {len(files)} found"
    )
    started = time.perf_counter()
    save_dir = products.TRAIN_FEATURES.path(out_dir, ts=ctx.timestamp) if config.save_features else None
    real = real_features(train_files, executor, config.batch_size, config.features_dir, ctx, save_dir)
    if real.failures:
        path = products.write_failures(products.TRAIN_FAILURES.path(out_dir, ts=ctx.timestamp), real.failures)
        ctx.log.main(f"{len(real.failures)} real light curve(s) could not be used; see {path}")
    if len(real) >= 2:
        ctx.log.main(
            f"real features: {len(real)} light curves ({real.reused} reused from the feature store) "
            f"in {time.perf_counter() - started:.1f} s"
        )
    provenance = {
        "dirs": [str(d) for d in config.input_dirs],
        "n_files_found": len(files),
        "n_files_selected": len(train_files),
        "selection": f"first {config.max_real} by file name" if config.max_real else "all, by file name",
    }
    paths: dict[str, Path] = {}

    def saved(trained) -> None:
        trained.metadata["run_timestamp"] = ctx.timestamp
        for note in trained.warnings:
            ctx.log.log(f"{trained.name}: {note}")
        replaced = (out_dir / trained.filename).exists()
        paths[trained.name] = trained.save(out_dir)
        trained.summary = {"variant": trained.name, "model_path": str(paths[trained.name]), **trained.summary}
        row, oob = trained.summary, trained.summary["oob_score"]
        ctx.log.main(
            f"{trained.name}: {'replaced' if replaced else 'wrote'} {paths[trained.name]} ({row['n_estimators']} "
            f"trees, {row['n_synthetic']} synthetic curves {row['synthetic_set']}; synthetic features "
            f"{row['synthetic_seconds']:.1f} s, fit {row['fit_seconds']:.1f} s"
            + (f", OOB accuracy {oob:.4f})" if oob is not None else ")")
        )
        ctx.log.log(f"{trained.name}: metadata {json.dumps(trained.metadata)}")

    result = train(
        real, variants, executor=executor, n_jobs=config.max_workers, on_model=saved, provenance=provenance
    )
    summary = products.write_frame(products.TRAIN_SUMMARY.path(out_dir, ts=ctx.timestamp), result.summary)
    ctx.log.main(f"summary: {summary}")
    if config.labels_csv is not None:
        select(config, ctx, result, paths, files, train_files, executor)
    return 0


def real_features(paths, executor, batch_size: int, features_dir, ctx, save_dir=None) -> FeatureMatrix:
    """Features of ``paths`` in name order: reused from ``features_dir`` where present, else computed (and
    saved as a feature store in ``save_dir`` when given)."""
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


def select(config: TrainConfig, ctx, result, paths: dict, files, train_files, executor) -> None:
    """Rank the freshly trained variants with CLARA's α formula against known planets."""
    from clara_benchmark.training.selection import planet_labels

    alphas = parse_alphas(config.alphas)
    try:
        planets = planet_labels(pd.read_csv(config.labels_csv))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ClaraError(f"{config.labels_csv}: cannot read known planets ({exc})") from None
    if config.selection_dirs:
        sel_files, source = (
            find_lightcurves(config.selection_dirs).files,
            ", ".join(map(str, config.selection_dirs)),
        )
    elif len(train_files) < len(files):
        sel_files, source = files[len(train_files) :], "the real light curves not used for training"
    else:
        sel_files, source = (
            train_files,
            "the training light curves (in-sample: scores of known planets are biased low)",
        )
    if not sel_files:
        raise ClaraError("no light curves to rank the variants on")
    ctx.log.main(
        f"α selection over {len(sel_files)} light curves ({source}), α = {', '.join(map(str, alphas))}"
    )
    sel = (
        result.real
        if sel_files is train_files
        else real_features(sel_files, executor, config.batch_size, config.features_dir, ctx)
    )
    try:
        table = select_variants({n: m.forest for n, m in result.models.items()}, sel, planets, alphas)
    except ClaraError as exc:
        raise ClaraError(f"{config.labels_csv}: {exc}") from None
    table.insert(1, "model_path", table["variant"].map(lambda n: str(paths[n])))
    out = products.write_frame(products.ALPHA_SELECTION.path(config.output_dir, ts=ctx.timestamp), table)
    chosen = {}
    for alpha in alphas:
        col = f"score_alpha_{alpha:g}"
        best = table.loc[table[col].idxmax()]
        chosen[f"{alpha:g}"] = best["model_path"]
        ctx.log.main(
            f"α = {alpha:g}: best {best['variant']} (score {best[col]:.3f}, recall {best['recall']:.3f}, "
            f"anomaly rate {best['anomaly_rate']:.3f})"
        )
    products.write_json(products.SELECTED_MODELS.path(config.output_dir, ts=ctx.timestamp), chosen)
    ctx.log.main(f"selection: {out}")
