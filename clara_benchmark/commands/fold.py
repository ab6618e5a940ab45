"""The ``fold`` command: the period and vetting of each candidate, CLARA's config keys accepted as they are.

config → TOI table (``toi_catalogue``: a local CSV, or a URL fetched through the download code and cached in
output_dir) → candidate rows (CLARA's convention: ``input_df_path`` filtered by ``input_df_sql``, file names
in the ``column_name`` column, found by name below ``fits_dir``) → ``folds.iter_folds`` (one star per stage
call, in the executor's workers) → ``fold_periods_<ts>.csv``, ``fold_failures_<ts>.csv``,
``fold_bins_<ts>.csv`` ("ls" and "auto") and, with ``save``, one PNG per star (``products``).
"""

from __future__ import annotations

from collections import Counter

from clara_benchmark import products
from clara_benchmark.config import FoldConfig
from clara_benchmark.exceptions import ClaraError
from clara_benchmark.executors import get_executor
from clara_benchmark.folds import FoldSpec, bins_frame, iter_folds, periods_frame, row_of
from clara_benchmark.inputs import Failure, FileIndex
from clara_benchmark.tables import candidate_keys

NOT_FOUND = "file not found in fits_dir"


def run(config: FoldConfig, ctx) -> int:
    if config.show:
        ctx.log.main("show is true: accepted and ignored, clara runs headless (save writes the figures)")
    toi = load_toi(config, ctx)
    paths, failures = candidate_files(config, ctx)
    spec = FoldSpec(
        config.period_method,
        config.min_period_threshold,
        config.max_period_threshold,
        config.min_power_threshold,
        config.bins,
        config.phase_shift,
        figure=config.save,
        toi=toi,
    )
    rows, bin_rows, skipped, figures = [], [], 0, 0
    with ctx.progress(total=len(paths), desc="fold", unit="lc") as bar:
        for batch in iter_folds(
            paths, spec, executor=get_executor(config), batch_size=config.batch_size, progress=bar.update
        ):
            failures += batch.failures
            skipped += len(batch.not_folded)
            for name, tic, star in zip(batch.filenames, batch.tic_ids, batch.values):
                rows.append(row_of(name, tic, star))
                bin_rows.append((name, rows[-1]["tic"], star))
                if star.png is not None:
                    products.write_bytes(config.output_dir / _png_name(name, star), star.png)
                    figures += 1
    ts = ctx.timestamp
    periods = periods_frame(rows)
    out = products.write_fold_periods(products.FOLD_PERIODS.path(config.output_dir, ts=ts), periods)
    failures_path = products.write_failures(products.FOLD_FAILURES.path(config.output_dir, ts=ts), failures)
    bins_path = None
    if config.period_method != "bls":
        bins = bins_frame(bin_rows, config.bins)
        bins_path = products.write_fold_bins(products.FOLD_BINS.path(config.output_dir, ts=ts), bins)
    summarise(config, ctx, periods, failures, out, failures_path, bins_path, figures)
    if paths and periods.empty and not skipped:
        raise ClaraError(
            f"none of the {len(paths)} candidate light curves could be read (see {failures_path}); "
            f"is fits_dir ({config.fits_dir}) the folder of their light curves?"
        )
    return 0


def _png_name(filename: str, star) -> str:
    if star.png_kind == "clara":
        return products.fold_png_name(filename, star.ls_period_days)
    return products.VETTING_PNG.name(name=products.file_stem(filename))


def load_toi(config: FoldConfig, ctx):
    if config.toi_catalogue is None:
        return None
    from clara_benchmark.tess_spoc_download.toi_table import load_toi_catalogue

    return load_toi_catalogue(config.toi_catalogue, cache_dir=config.output_dir, log=ctx.log.main)


def candidate_files(config: FoldConfig, ctx) -> tuple[list, list[Failure]]:
    """(paths of the candidates' files, in table order and each once; failures for the others)."""
    column = config.column_name
    keys = candidate_keys(config.input_df_path, config.input_df_sql, column, ctx.log.main)
    failures = [
        Failure("", "", f'candidate row {i + 1} has no file name in "{column}"')
        for i in keys.index[keys.isna()]
    ]
    finder = FileIndex(config.fits_dir)
    paths = []
    for name in dict.fromkeys(keys[keys.notna()]):
        path = finder.find(name)
        if path is None:
            failures.append(Failure(name, str(config.fits_dir / name), NOT_FOUND))
        else:
            paths.append(path)
    for name, others in finder.duplicates.items():
        if name in keys.values:
            ctx.log.main(
                f"{name} is in several folders under fits_dir; used {finder.find(name)} (also: {others[0]})"
            )
    return paths, failures


def summarise(config: FoldConfig, ctx, periods, failures, out, failures_path, bins_path, figures) -> None:
    methods = Counter(periods["method"])
    flags = Counter(f for text in periods["flags"] for f in text.split(";") if f)
    by_method = ", ".join(f"{m} {n}" for m, n in sorted(methods.items())) or "none"
    by_flag = ", ".join(f"{f} {n}" for f, n in sorted(flags.items())) or "none"
    ctx.log.main(
        f"folded {len(periods)} light curves (period_method {config.period_method}; periods by {by_method}); "
        f"flags: {by_flag}; {len(failures)} failed → {out}"
    )
    if failures:
        reasons = Counter(f.reason if len(f.reason) < 60 else f.reason[:57] + "..." for f in failures)
        top = "; ".join(f"{r} ({n})" for r, n in reasons.most_common(3))
        ctx.log.main(f"failures with reasons → {failures_path} (most common: {top})")
    if bins_path is not None:
        ctx.log.main(f"CLARA's binned folds ({config.bins} bins) → {bins_path}")
    if config.save:
        ctx.log.main(f"{figures} figures → {config.output_dir}")
