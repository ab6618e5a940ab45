"""The ``score`` command: P3/P5/P9 anomaly scores of folders of light curves, their failures, and WRSS.

config → ``find_lightcurves`` → ``load_models`` → ``score_batches`` (one part per batch in a resumable work
folder, see resume.py; feature rows to ``features_<ts>/`` with ``save_features``) → the final CSVs from the
parts (``products``). ``resume: true`` continues the newest unfinished run in ``output_dir`` (same models
and inputs) under its original timestamp: no row is lost or written twice.

With a MAST download script instead of ``input_dirs`` (``tesscurl_script`` or ``sector_number``) the
inputs are files still to download: stream mode, in clara_benchmark/stream.py, with the same work folder
and the same final outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.config import ScoreConfig
from clara_benchmark.exceptions import ClaraError, ConfigError
from clara_benchmark.executors import get_executor
from clara_benchmark.features import FEATURE_SPEC_VERSION
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.inputs import Failure, find_lightcurves
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import Batch, warn_untrained
from clara_benchmark.resume import WorkDir, pending_runs
from clara_benchmark.urf_scoring.models import ROLES, load_models
from clara_benchmark.urf_scoring.score import score_batches
from clara_benchmark.urf_scoring.wrss import wrss_p3p9
from clara_benchmark.utils.io import load_npz, sha256_file

PART_KEYS = ("filenames", "paths", "tic_ids", "failed_filenames", "failed_paths", "failed_reasons")
#: what each scored light curve is (lightcurve.LightCurveInfo), kept in the parts for the final CSVs
INFO_KEYS = ("products", "cadences_s", "id_kinds", "flux_columns")


def run(config: ScoreConfig, ctx) -> int:
    output_dir = prepare_output_dir(Path(config.output_dir))
    models = load_models(
        **{n: getattr(config, f"{n}model_path") for n in ROLES if getattr(config, f"use_{n}")},
        trust_pickles=config.trust_pickles,
    )
    for name in models.names:  # a custom model in a P3/P5/P9 slot: allowed, and said
        if models.metadata[name].get("note"):
            ctx.log.main(models.metadata[name]["note"])
    if config.stream:
        from clara_benchmark.stream import run_stream

        return run_stream(config, ctx, models)
    found = find_lightcurves(config.input_dirs)
    if not found.files and not found.failures:
        raise ClaraError(f"no *.fits light curves in {', '.join(str(d) for d in config.input_dirs)}")
    options = ReadOptions.from_config(config)
    if not options.is_default:
        ctx.log.main(f"reading light curves with {options.describe()} (CLARA: flux pdcsap_flux, no mask)")
    work = open_work_dir(config, ctx, models)
    done = done_names(work, models.names, output_dir / products.FEATURES.name(ts=work.timestamp))
    todo = [p for p in found.files if p.name not in done]
    ctx.log.main(
        f"score: {len(found.files)} light curves in {len(config.input_dirs)} dir(s), models "
        f"{', '.join(models.names)}, {config.max_workers} worker(s), batches of {config.batch_size}"
        + (f"; resuming run {work.timestamp}: {len(done)} already done, {len(todo)} to go" if done else "")
    )
    store = (
        FeatureStoreWriter(output_dir / products.FEATURES.name(ts=work.timestamp), options)
        if config.save_features
        else None
    )
    counted = 0
    try:
        with ctx.progress(total=len(todo), desc="scoring", unit="lc") as bar:
            for batch in score_batches(
                todo,
                models,
                executor=get_executor(config),
                batch_size=config.batch_size,
                keep_features=config.save_features,
                progress=bar.update,
                read_options=options,
            ):
                if store is not None and batch.filenames:
                    features = batch.values["features"]
                    store.write(
                        Batch(batch.filenames, batch.paths, batch.tic_ids, features, infos=batch.infos)
                    )
                work.write_part(part_arrays(batch, models.names))
                counted += batch.n_done
    except KeyboardInterrupt:
        ctx.log.error(
            f"interrupted after {len(done) + counted} of {len(found.files)} light curves; "
            f'run again with "resume": true to continue run {work.timestamp}'
        )
        work.close()
        raise
    scored, failed = read_parts(work, models.names, ctx)
    failed = pd.concat([failed, pd.DataFrame(found.failures, columns=["filename", "path", "reason"])])
    warn_untrained(scored_infos(scored))
    outputs = write_outputs(config, work.timestamp, models.names, scored, failed)
    work.finish()
    for label, path in outputs.items():
        ctx.log.main(f"wrote {label}: {path}")
    ctx.log.main(f"score: {len(scored)} light curves scored, {len(failed)} failed")
    if len(scored) == 0:
        ctx.log.error(f"no light curve could be scored; reasons in {outputs['failures']}")
        return 1
    return 0


# --------------------------------------------------------------------------------------------- the run


def prepare_output_dir(output_dir: Path) -> Path:
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f'key "output_dir": "{output_dir}" exists and is not a directory')
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f'key "output_dir": cannot create "{output_dir}": {exc.strerror}') from None
    return output_dir


def run_identity(config: ScoreConfig, models, inputs: dict | None = None) -> dict:
    """What a resumed run must share with the run it continues; ``inputs`` describes inputs other than
    ``input_dirs`` (stream mode: the script, its slice, the sector folder)."""
    if inputs is None:
        inputs = {"input_dirs": [str(Path(d).expanduser().resolve()) for d in config.input_dirs]}
    identity = {
        "models": {s.name: sha256_file(s.path) for s in models.specs},
        **inputs,
        "save_features": bool(config.save_features),
        "feature_spec": FEATURE_SPEC_VERSION,
    }
    options = ReadOptions.from_config(config)
    if not options.is_default:  # CLARA's reading is implied (runs started before the option existed)
        identity["read_options"] = options.identity()
    return identity


def open_work_dir(config: ScoreConfig, ctx, models, inputs: dict | None = None) -> WorkDir:
    output_dir = Path(config.output_dir)
    identity = run_identity(config, models, inputs)
    pending = pending_runs(output_dir)
    if config.resume and pending:
        return WorkDir.resume(pending[-1], identity)
    if config.resume:
        ctx.log.main(f"resume: no unfinished score run in {output_dir}; starting a new run")
    elif pending:
        ctx.log.main(
            f"note: {len(pending)} unfinished score run(s) in {output_dir} (newest {pending[-1].name}); "
            'set "resume": true to continue it instead'
        )
    return WorkDir.start(output_dir, ctx.timestamp, identity)


def part_arrays(batch: Batch, names: list[str]) -> dict[str, np.ndarray]:
    arrays = {
        "filenames": np.array(batch.filenames, dtype=str),
        "paths": np.array(batch.paths, dtype=str),
        "tic_ids": np.array(batch.tic_ids, dtype=np.int64),
        "failed_filenames": np.array([f.filename for f in batch.failures], dtype=str),
        "failed_paths": np.array([f.path for f in batch.failures], dtype=str),
        "failed_reasons": np.array([f.reason for f in batch.failures], dtype=str),
        "products": np.array([i.product for i in batch.infos], dtype=str),
        "cadences_s": np.array([i.cadence_s for i in batch.infos], dtype=np.float64),
        "id_kinds": np.array([i.id_kind for i in batch.infos], dtype=str),
        "flux_columns": np.array([i.flux_column for i in batch.infos], dtype=str),
    }
    for name in names:
        arrays[f"score_{name}"] = np.asarray(batch.values["scores"][name], dtype=np.float64)
    return arrays


def read_parts(work: WorkDir, names: list[str], ctx=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored: filename, path, tic, score_<name>...; failed: filename, path, reason), sorted by file name."""
    parts, notes = work.read_parts(PART_KEYS + INFO_KEYS + tuple(f"score_{n}" for n in names))
    for note in notes:
        if ctx is not None:
            ctx.log.main(f"resume: {note}")
    scored = [
        pd.DataFrame(
            {
                "filename": z["filenames"].astype(str),
                "path": z["paths"].astype(str),
                "tic": z["tic_ids"].astype(np.int64),
                **{f"score_{n}": z[f"score_{n}"] for n in names},
                "product": z["products"].astype(str),
                "cadence_s": z["cadences_s"].astype(np.float64),
                "id_kind": z["id_kinds"].astype(str),
                "flux_column": z["flux_columns"].astype(str),
            }
        )
        for z in parts
    ]
    failed = [
        pd.DataFrame(
            {"filename": z["failed_filenames"], "path": z["failed_paths"], "reason": z["failed_reasons"]}
        ).astype(str)
        for z in parts
    ]
    empty = {"filename": [], "path": [], "tic": [], **{f"score_{n}": [] for n in names}}
    empty.update({c: [] for c in ("product", "cadence_s", "id_kind", "flux_column")})
    scored_df = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(empty)
    failed_df = (
        pd.concat(failed, ignore_index=True)
        if failed
        else pd.DataFrame(columns=["filename", "path", "reason"])
    )
    # a light curve is in at most one part by construction; keep the first if a part was ever duplicated
    scored_df = scored_df.drop_duplicates("filename").sort_values("filename", kind="stable")
    failed_df = failed_df.drop_duplicates("path").sort_values(["filename", "path"], kind="stable")
    failed_df = failed_df[~failed_df["path"].isin(scored_df["path"])]
    return scored_df.reset_index(drop=True), failed_df.reset_index(drop=True)


def done_names(work: WorkDir, names: list[str], features_dir: Path) -> set[str]:
    """File names a resumed run already holds; feature shards of batches whose part never landed go."""
    scored, failed = read_parts(work, names)
    done = set(scored["filename"]) | set(failed["filename"])
    drop_orphan_shards(features_dir, done)
    return done


def drop_orphan_shards(features_dir: Path, done: set[str]) -> None:
    """Remove the feature shards that hold a light curve outside ``done`` (its part never landed)."""
    if features_dir.is_dir():
        for shard in sorted(features_dir.glob("part-*.npz")):
            try:
                stored = set(load_npz(shard)["filenames"].astype(str))
            except (OSError, ValueError, KeyError):  # a damaged shard cannot be trusted either
                stored = {""}
            if not stored <= done:
                shard.unlink()


def scored_infos(scored: pd.DataFrame) -> list:
    """The ``LightCurveInfo`` of every scored row (from read_parts' columns)."""
    from clara_benchmark.lightcurve import LightCurveInfo

    columns = ("product", "cadence_s", "id_kind", "flux_column")
    return [LightCurveInfo(*row) for row in scored[list(columns)].itertuples(index=False, name=None)]


def write_outputs(config: ScoreConfig, ts: str, names: list[str], scored, failed) -> dict:
    """The final CSVs: one per model, the failures, and WRSS when asked.

    The score CSVs are the seed's ``tic,filename,anomaly_score`` when every light curve is SPOC 2-minute
    PDCSAP flux, and gain ``product,cadence_s,id_kind`` (products.PRODUCT_COLUMNS) when any is not.
    """
    out = Path(config.output_dir)
    outputs: dict = {}
    tables = {}
    flagged = not all(info.like_training for info in scored_infos(scored))
    for name in names:
        tables[name] = pd.DataFrame(
            {"tic": scored["tic"], "filename": scored["filename"], "anomaly_score": scored[f"score_{name}"]}
        )
        table = (
            tables[name].assign(**{c: scored[c] for c in products.PRODUCT_COLUMNS})
            if flagged
            else tables[name]
        )
        outputs[f"{name.upper()} scores"] = products.write_scores(
            products.SCORES.path(out, model=name, ts=ts), table
        )
    failed = failed.sort_values(["filename", "path"], kind="stable")
    outputs["failures"] = products.write_failures(
        products.FAILURES.path(out, ts=ts),
        (Failure(*row) for row in failed[["filename", "path", "reason"]].itertuples(index=False)),
        products.FAILURE_COLUMNS,
    )
    if config.calculate_wrss_p3p9:
        table, record = wrss_p3p9(tables["p3"], tables["p9"])
        path, _ = products.write_wrss(out, ts, table, record)
        outputs[f"WRSS ({record['rows']} rows scoring > 0 in P3 and P9)"] = path
    if config.save_features:
        outputs["features"] = products.FEATURES.path(out, ts=ts)
    return outputs
