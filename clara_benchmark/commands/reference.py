"""The ``reference`` command: labelled light curves → a reference set for ``sim`` (PCA model + reference CSV).

config → the labels CSV (``filename,label`` or ``tic_id,label``: a TIC id labels every light curve of that
star below ``fits_dir``) → ``build_reference`` → ``pca_model_<name>.skops`` + ``reduced_features_<name>.csv``
and the failures.
"""

from __future__ import annotations

from clara_benchmark import products
from clara_benchmark.config import ReferenceConfig
from clara_benchmark.cosine_similarity.inputs import NOT_FOUND, FitsFinder
from clara_benchmark.cosine_similarity.match import label_group
from clara_benchmark.cosine_similarity.reference import build_reference, read_labels, resolve_labels
from clara_benchmark.exceptions import ClaraError, FeatureStoreError
from clara_benchmark.executors import get_executor
from clara_benchmark.extract import FeatureMatrix, iter_feature_batches
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import warn_untrained
from clara_benchmark.utils.io import sha256_file


def run(config: ReferenceConfig, ctx) -> int:
    """Build a reference set; exit 0, or 1 when fewer than two labelled light curves could be used."""
    labels = read_labels(config.labels_path)
    finder = FitsFinder(config.fits_dir)
    options = ReadOptions.from_config(config)
    named, label_failures, notes = resolve_labels(labels, finder, options)
    for note in notes:
        ctx.log.log(note)
    ctx.log.main(
        f"reference {config.name}: {len(labels)} labelled objects in {config.labels_path}, "
        f"{len(named)} light curves to use"
    )
    with ctx.progress(total=len(named), desc="reference features", unit="lc") as bar:
        try:
            batches = iter_feature_batches(
                (finder.fits_dir / name for name in named),
                get_executor(config),
                config.batch_size,
                config.features_path,
                locate=lambda path: finder.find(path.name),
                not_found=NOT_FOUND,
                progress=bar.update,
                read_options=options,
            )
            matrix = FeatureMatrix.from_batches(batches)
            matrix.read_options = options
        except FeatureStoreError as exc:
            raise ClaraError(
                f'features_path "{config.features_path}": cannot read the feature store ({exc.reason})'
            ) from None
    warn_untrained(matrix.infos, "labelled light curves")
    failures = [Failure.of(*f) for f in label_failures] + matrix.failures
    failures_path = products.write_failures(
        products.REFERENCE_FAILURES.path(config.output_dir, name=config.name), failures
    )
    if failures:
        ctx.log.main(f"{len(failures)} labelled objects could not be used: see {failures_path}")
    try:
        built = build_reference(
            matrix,
            named,
            config.n_components,
            provenance={
                "labels_path": str(config.labels_path),
                "labels_sha256": sha256_file(config.labels_path),
            },
        )
    except ClaraError as exc:
        raise ClaraError(f"reference {config.name}: {exc}") from None
    ref = built.reference
    if ref.n_components < config.n_components:
        ctx.log.main(
            f"using {ref.n_components} PCA components instead of {config.n_components}: "
            f"only {len(ref)} reference objects (at most objects - 1 components carry information)"
        )
    for path in (
        products.REFERENCE_PCA.path(config.output_dir, name=config.name),
        products.REFERENCE_CSV.path(config.output_dir, name=config.name),
    ):
        if path.exists():
            ctx.log.log(f"replacing {path}")
    model_path, csv_path = built.save(config.output_dir, config.name)
    ctx.log.main(
        f"reference {config.name}: {len(ref)} objects, {ref.n_components} components "
        f"({ref.metadata['explained_variance_ratio']:.1%} of the variance) → {model_path} + {csv_path}"
    )
    counts = built.table["label"].value_counts().sort_index()
    groups = built.table["label"].map(label_group).value_counts().sort_index()
    ctx.log.log("labels: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    ctx.log.log("label groups: " + ", ".join(f"{k} {v}" for k, v in groups.items()))
    return 0
