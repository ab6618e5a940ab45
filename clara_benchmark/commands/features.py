"""The ``features`` command: one of CLARA's three feature sets of candidate light curves, in CLARA's layout.

config → candidate rows (``tables``: ``input_df_path``, ``input_df_sql``, the ``filename_column_in_df``
column) → their files, found by name below ``fits_dir`` → ``featuresets.iter_feature_set_batches`` through
the executor (feature store reused for fluxpowerstack) → in ``<output_dir>/<features>/``:

* ``<method>_features_<ts>.npy`` and ``<method>_filenames_<ts>.txt`` (row i ↔ line i), CLARA's files;
* ``<method>_features_<ts>_pca_<n>.npy`` (``reduce_features``, fluxpowerstack),
  ``<method>_features_<ts>_adjusted_<n>.npy`` (``desired_length``, fluxpowerstack and advanced_10; for
  bin_means CLARA applies it to each vector before the z-score, so the main matrix has that length),
  ``bin_means_dtw_matrix_<ts>.npy`` (``use_dtw``, bin_means);
* ``<method>_features_<ts>.npz``: the matrix with its file names, paths, TIC ids and options, naming the
  files above (read by ``clustering``, ``sim``'s ``features_path`` and ``FeatureSet.load``), written last;
* ``<method>_failures_<ts>.csv``: every candidate that could not be processed, with its reason.
"""

from __future__ import annotations

import time
from pathlib import Path

from clara_benchmark import products
from clara_benchmark.config import FeaturesConfig
from clara_benchmark.exceptions import ClaraError, FeatureStoreError
from clara_benchmark.executors import get_executor
from clara_benchmark.featuresets import FeatureSet, collect, feature_options, iter_feature_set_batches
from clara_benchmark.inputs import Failure, FileIndex
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.tables import candidate_keys

NOT_FOUND = "file not found in fits_dir"


def run(config: FeaturesConfig, ctx) -> int:
    for note in config.unused_keys():
        ctx.log.main(f"note: {note} (CLARA ignores it too)")
    names, failures = candidate_names(config, ctx)
    features = extract(config, ctx, names)
    features.failures = failures + features.failures
    out_dir = Path(config.output_dir) / config.features
    fields = {"method": config.features, "ts": ctx.timestamp}
    failures_path = products.write_failures(
        products.SHAPE_FAILURES.path(out_dir, **fields), features.failures
    )
    if not len(features):
        raise ClaraError(
            f"none of the {len(names)} candidates gave {config.features} features (reasons in "
            f"{failures_path}); is fits_dir ({config.fits_dir}) the folder of their light curves?"
            if names
            else f"no candidates: the input table {config.input_df_path} (input_df_sql) selects no file names"
        )
    written = write_outputs(config, ctx, features, out_dir)
    ctx.log.main(
        f"{config.features}: {len(features)} of {len(names)} candidates, matrix "
        f"{features.features.shape[0]} x {features.features.shape[1]}"
        + (f" ({features.reused} reused from {config.features_path})" if features.reused else "")
        + f"; {len(features.failures)} failed"
        + (f" (reasons → {failures_path})" if features.failures else "")
    )
    for path in written:
        ctx.log.main(f"wrote {path}")
    return 0


def candidate_names(config: FeaturesConfig, ctx) -> tuple[list[str], list[Failure]]:
    """The candidates' file names (each once, in table order) and a failure per row without one."""
    column = config.filename_column_in_df
    keys = candidate_keys(config.input_df_path, config.input_df_sql, column, ctx.log.main)
    names = list(dict.fromkeys(keys[keys.notna()]))
    if len(names) < keys.notna().sum():
        ctx.log.main(f"{int(keys.notna().sum()) - len(names)} file name(s) listed twice: each computed once")
    failures = [
        Failure("", "", f'candidate row {i + 1} has no file name in column "{column}"')
        for i in keys.index[keys.isna()]
    ]
    return names, failures


def extract(config: FeaturesConfig, ctx, names: list[str]) -> FeatureSet:
    """The feature set of the named files, in the order given."""
    finder = FileIndex(config.fits_dir)
    options = ReadOptions.from_config(config)
    method = config.features
    desired = config.desired_length if method == "bin_means" else None
    store = config.features_path if method == "fluxpowerstack" else None
    ctx.log.log(
        f"{method} of {len(names)} files below {config.fits_dir} ({options.describe()}); "
        f"executor {config.executor}, {config.max_workers} workers, batches of {config.batch_size}"
    )
    started = time.perf_counter()
    try:
        with get_executor(config) as executor, ctx.progress(total=len(names), desc=method, unit="lc") as bar:
            batches = iter_feature_set_batches(
                (Path(config.fits_dir) / name for name in names),
                method,
                desired_length=desired,
                executor=executor,
                batch_size=config.batch_size,
                features_path=store,
                locate=lambda path: finder.find(path.name),
                not_found=NOT_FOUND,
                progress=bar.update,
                read_options=options,
            )
            result = collect(batches, method, names, feature_options(desired, options))
    except FeatureStoreError as exc:
        raise ClaraError(
            f'features_path "{config.features_path}": cannot read the feature store ({exc.reason})'
        ) from None
    seconds = time.perf_counter() - started
    ctx.log.log(f"{method}: {len(result) + len(result.failures)} light curves in {seconds:.1f} s")
    for name, paths in finder.duplicates.items():
        if name in result.filenames:
            ctx.log.main(
                f"{name} is in several folders under fits_dir; used {finder.find(name)} (also: {paths[0]})"
            )
    return result


def write_outputs(config: FeaturesConfig, ctx, features: FeatureSet, out_dir: Path) -> list[Path]:
    """CLARA's files, the extra matrices asked for, and the self-describing .npz (last: it names them)."""
    fields = {"method": config.features, "ts": ctx.timestamp}
    written = [
        products.write_npy(products.SHAPE_FEATURES.path(out_dir, **fields), features.features),
        products.write_lines(products.SHAPE_FILENAMES.path(out_dir, **fields), features.filenames),
    ]
    if config.reduce_features and config.features == "fluxpowerstack":
        written += _pca(config, ctx, features, out_dir, fields)
    if config.desired_length is not None:
        if config.features == "bin_means":
            ctx.log.log(
                f"desired_length {config.desired_length}: each bin_means vector padded/truncated, then z-scored"
            )
        else:
            path = products.SHAPE_ADJUSTED.path(out_dir, **fields, n=config.desired_length)
            written.append(products.write_npy(path, features.adjusted(config.desired_length)))
            features.companions["adjusted"] = path.name
    if config.use_dtw and config.features == "bin_means":
        written.append(_dtw(config, ctx, features, out_dir))
    written.append(features.save(products.SHAPE_SET.path(out_dir, **fields)))
    return written


def _pca(config: FeaturesConfig, ctx, features: FeatureSet, out_dir: Path, fields: dict) -> list[Path]:
    wanted = config.reduce_features_n_features
    if len(features) < 2:
        ctx.log.main(
            f"note: reduce_features skipped: PCA needs at least 2 light curves, there is {len(features)}"
        )
        return []
    reduced, n = features.reduced(wanted)
    if n < wanted:
        ctx.log.main(
            f"note: reduce_features_n_features {wanted} lowered to {n} components: PCA of {len(features)} "
            f"light curves gives at most n_samples - 1 = {len(features) - 1}"
        )
    path = products.SHAPE_PCA.path(out_dir, **fields, n=n)
    features.companions["pca"] = path.name
    return [products.write_npy(path, reduced)]


def _dtw(config: FeaturesConfig, ctx, features: FeatureSet, out_dir: Path) -> Path:
    from clara_benchmark.dtw import dtw_distance_matrix

    n = len(features)
    path = products.SHAPE_DTW.path(out_dir, ts=ctx.timestamp)
    ctx.log.main(
        f"DTW distance matrix of {n} bin_means vectors: {n * (n - 1) // 2:,} pairs, {n * n * 8 / 1e6:,.1f} MB"
    )
    started = time.perf_counter()
    with ctx.progress(total=n * (n - 1) // 2, desc="dtw", unit="pair") as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        with products.NpyMemmap(path, (n, n)) as out:
            dtw_distance_matrix(features.features, n_threads=config.max_workers, progress=progress, out=out)
    ctx.log.log(f"DTW matrix in {time.perf_counter() - started:.1f} s")
    features.companions["dtw"] = path.name
    return path
