"""The ``sim`` command: label anomaly candidates by cosine similarity to a labelled reference set.

config → ``ReferenceSet.load`` → candidate rows (``tables.select_candidates``: the WRSS threshold or CLARA's
``input_df_sql``) → ``label_batches`` on their files (found by name below ``fits_dir``; features reused from
a feature store where given) → labels joined back to the candidate rows by file name (CLARA joined by
position and mislabelled rows) → ``cosine_similarity_scores_<ts>.csv`` and its failures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.config import SimConfig
from clara_benchmark.cosine_similarity.inputs import NOT_FOUND, FitsFinder
from clara_benchmark.cosine_similarity.label import label_batches
from clara_benchmark.cosine_similarity.reference import ReferenceSet, csv_matches_model, describe
from clara_benchmark.exceptions import ClaraError, FeatureStoreError
from clara_benchmark.executors import get_executor
from clara_benchmark.inputs import Failure
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import warn_untrained
from clara_benchmark.tables import file_key, read_input_table, select_candidates


def run(config: SimConfig, ctx) -> int:
    ref = load_reference(config, ctx)
    catalogue = load_toi(config, ctx)  # before the work: a bad table or URL stops the run at once
    table = read_input_table(config.input_df_path)
    candidates = select_candidates(table, config)
    how = (
        f'input_df_sql "{config.input_df_sql}"'
        if config.input_df_sql is not None
        else f"{products.WRSS_NORM} >= {config.gt_wrss_threshold}"
    )
    ctx.log.main(f"{len(candidates)} of {len(table)} rows of {config.input_df_path} are candidates ({how})")
    keys = candidates["filename"].map(file_key)
    if config.top_k > len(ref):
        ctx.log.main(
            f"top_k {config.top_k} is more than the {len(ref)} reference objects; reporting {len(ref)}"
        )
    results, failures, tics = label_files(config, ctx, ref, list(dict.fromkeys(keys[keys.notna()])))
    failures += [
        Failure("", "", f"candidate row {i + 1} has no filename") for i in candidates.index[keys.isna()]
    ]

    # join by file name: a row gets exactly the result computed from its own file
    columns = list(products.SIM_COLUMNS) + products.topk_columns(min(config.top_k, len(ref)))
    found = pd.DataFrame.from_dict(results, orient="index", columns=columns)
    found.index = pd.Index(list(results), dtype=object)  # also when empty: file names, not a RangeIndex
    found = add_known_objects(config, ctx, ref, found, tics, catalogue)
    clash = [c for c in found.columns if c in candidates.columns]
    if clash:
        ctx.log.log(f"input columns {clash} are replaced by this run's values")
        candidates = candidates.drop(columns=clash)
    labelled = (
        candidates.assign(_clara_file_key=keys)
        .merge(found, left_on="_clara_file_key", right_index=True, how="inner", sort=False)
        .drop(columns="_clara_file_key")
    )
    groups = config.save_label_groups
    saved = labelled if groups == "all" else labelled[labelled["label_group"].isin(groups)]
    out_path = products.write_frame(products.SIM.path(config.output_dir, ts=ctx.timestamp), saved)
    failures_path = products.write_failures(
        products.SIM_FAILURES.path(config.output_dir, ts=ctx.timestamp), failures
    )
    summarise(config, ctx, labelled, saved, failures, out_path, failures_path)
    if len(candidates) and labelled.empty:
        raise ClaraError(
            f"none of the {len(candidates)} candidates could be labelled (see {failures_path}); "
            f"is fits_dir ({config.fits_dir}) the folder of their light curves?"
        )
    return 0


def load_toi(config: SimConfig, ctx):
    if config.toi_catalogue is None:
        return None
    from clara_benchmark.tess_spoc_download.toi_table import load_toi_catalogue

    return load_toi_catalogue(config.toi_catalogue, cache_dir=config.output_dir, log=ctx.log.main)


def load_reference(config: SimConfig, ctx) -> ReferenceSet:
    ref = ReferenceSet.load(
        config.simbad_labelled_pca_model_path, config.simbad_labelled_pca_features_path, config.trust_pickles
    )
    ctx.log.main(f"reference set: {describe(ref)}")
    if csv_matches_model(ref, config.simbad_labelled_pca_features_path) is False:
        ctx.log.main(
            f"warning: {config.simbad_labelled_pca_features_path} is not the CSV written with "
            f"{config.simbad_labelled_pca_model_path} (sha256 differs); using it as given"
        )
    return ref


def label_files(
    config: SimConfig, ctx, ref: ReferenceSet, names: list[str]
) -> tuple[dict, list[Failure], dict[str, int]]:
    """``({file name: result row}, failures, {file name: TIC id})`` for the candidates' files."""
    finder = FitsFinder(config.fits_dir)
    options = ReadOptions.from_config(config)
    results: dict[str, tuple] = {}
    failures: list[Failure] = []
    tics: dict[str, int] = {}
    infos = []
    with ctx.progress(total=len(names), desc="sim", unit="lc") as bar:
        try:
            for batch, found in label_batches(
                (finder.fits_dir / name for name in names),
                ref,
                top_k=config.top_k,
                min_similarity=config.min_similarity_threshold,
                executor=get_executor(config),
                batch_size=config.batch_size,
                features_path=config.features_path,
                locate=lambda path: finder.find(path.name),
                not_found=NOT_FOUND,
                progress=bar.update,
                read_options=options,
            ):
                results.update(found)
                failures += batch.failures
                infos += batch.infos
                tics.update(zip(batch.filenames, batch.tic_ids))
        except FeatureStoreError as exc:
            raise ClaraError(
                f'features_path "{config.features_path}": cannot read the feature store ({exc.reason})'
            ) from None
    warn_untrained(infos, "candidate light curves")
    for name, paths in finder.ambiguous.items():
        if name in results:
            ctx.log.main(
                f"{name} is in several folders under fits_dir; used {finder.find(name)} (also: {paths[0]})"
            )
    return results, failures, tics


def add_known_objects(
    config: SimConfig, ctx, ref: ReferenceSet, found: pd.DataFrame, tics: dict, catalogue=None
) -> pd.DataFrame:
    """sim's result columns plus, when asked, ``matched_tic``/``same_star`` (key ``same_star``) and
    ``toi``/``toi_period_days``/``toi_disposition`` (key ``toi_catalogue``); unchanged otherwise."""
    if not (config.same_star or catalogue is not None):
        return found
    tic = pd.Series([tics.get(name, -1) for name in found.index], index=found.index, dtype="int64")
    tic = tic.where(tic > 0).astype("Int64")
    if config.same_star:
        ref_tics = ref.tic_ids()
        matched = found["matched_filename"].map(ref_tics).astype("Int64")
        found = found.assign(
            matched_tic=matched,
            same_star=(matched == tic).astype("boolean").where(matched.notna() & tic.notna()),
        )
        ctx.log.main(
            f"same_star: {int(found['same_star'].fillna(False).sum())} candidate(s) matched their own star in the "
            f"reference set ({len(ref_tics)} of {len(ref)} reference files have a TIC id)"
        )
    if catalogue is not None:
        entries = [catalogue.lookup(t) if not pd.isna(t) else () for t in tic]
        found = found.assign(
            toi=[";".join(e.toi for e in es) for es in entries],
            toi_period_days=[
                ";".join("" if e.period_days is None else repr(e.period_days) for e in es) for es in entries
            ],
            toi_disposition=[";".join(e.disposition or "" for e in es) for es in entries],
        )
        ctx.log.main(f"toi_catalogue: {sum(1 for es in entries if es)} candidate(s) are known TOIs")
    return found


def summarise(config: SimConfig, ctx, labelled, saved, failures, out_path, failures_path) -> None:
    counts = labelled["label_group"].value_counts()
    summary = ", ".join(f"{g} {int(counts.get(g, 0))}" for g in sorted(counts.index))
    groups = config.save_label_groups
    ctx.log.main(
        f"labelled {len(labelled)} candidate rows ({summary or 'none'}); {len(failures)} failed; "
        f"wrote {len(saved)} rows (save_label_groups {groups if groups == 'all' else list(groups)}) → {out_path}"
    )
    if failures:
        ctx.log.main(f"failures with reasons → {failures_path}")
    sims = labelled["similarity_score"].to_numpy()
    if len(sims):
        below = int(np.sum(sims < config.min_similarity_threshold))
        ctx.log.log(
            f"similarity: min {np.min(sims):.3f}, median {np.median(sims):.3f}, max {np.max(sims):.3f}; "
            f"below threshold {config.min_similarity_threshold}: {below}"
        )
