"""The ``score`` command: P3/P5/P9 anomaly scores of a directory of light curves, failures, WRSS.

How a run goes:
1. List ``*.fits`` in ``input_dirs`` (sorted by file name), check and fingerprint the models (sha256).
2. A work directory ``<output_dir>/.score_<timestamp>.work/`` records the run (``run.json``) and receives
   one atomically written ``part-NNNNN.npz`` per finished batch (scores of every model + failures). Workers
   load the models once (executor initializer), compute features once per batch and score all rows of the
   batch with each model. With ``save_features`` the feature rows also go to ``features_<timestamp>/``.
3. At the end the parts are assembled into the final CSVs (sorted by filename, written atomically) and
   the work directory is removed.

``resume: true`` picks up the newest unfinished work directory in ``output_dir`` (same models and inputs),
skips every light curve a part already holds, and finishes the run under its original timestamp: no row
is lost or written twice, whatever moment the first run was stopped at.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import __version__
from clara_benchmark.config import ClaraError, ConfigError, ScoreConfig
from clara_benchmark.executors import batched, get_executor
from clara_benchmark.extract import FeatureBatch, list_lightcurves
from clara_benchmark.features import FEATURE_SPEC_VERSION
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.urf_scoring import worker
from clara_benchmark.urf_scoring.worker import ModelSpec, ScoredBatch
from clara_benchmark.urf_scoring.wrss import wrss_p3p9
from clara_benchmark.utils.io import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    load_npz,
    sha256_file,
    write_failures_csv,
)

MODEL_NAMES = ("p3", "p5", "p9")
SCORE_COLUMNS = ["tic", "filename", "anomaly_score"]
FAILURE_COLUMNS = ["filename", "reason"]
WORK_PREFIX = ".score_"
WORK_SUFFIX = ".work"


# --------------------------------------------------------------------------------------------- config


def model_specs(config: ScoreConfig) -> list[ModelSpec]:
    """The enabled models, in P3, P5, P9 order."""
    return [
        ModelSpec(name, str(getattr(config, f"{name}model_path")), config.trust_pickles)
        for name in MODEL_NAMES
        if getattr(config, f"use_{name}")
    ]


def run_identity(config: ScoreConfig, specs: list[ModelSpec]) -> dict:
    """What a resumed run must share with the run it continues."""
    return {
        "models": {s.name: sha256_file(s.path) for s in specs},
        "input_dirs": [str(Path(d).resolve()) for d in config.input_dirs],
        "save_features": bool(config.save_features),
        "feature_spec": FEATURE_SPEC_VERSION,
    }


# --------------------------------------------------------------------------------------------- work dir


def work_dir_for(output_dir: Path, timestamp: str) -> Path:
    return output_dir / f"{WORK_PREFIX}{timestamp}{WORK_SUFFIX}"


def unfinished_runs(output_dir: Path) -> list[Path]:
    """Work directories of runs that did not finish, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [
        p
        for p in output_dir.glob(f"{WORK_PREFIX}*{WORK_SUFFIX}")
        if p.is_dir() and (p / "run.json").is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def read_run_record(work: Path) -> dict:
    try:
        return json.loads((work / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ClaraError(f"{work / 'run.json'}: cannot read the unfinished run's record ({exc})") from None


def part_paths(work: Path) -> list[Path]:
    return sorted(work.glob("part-*.npz"))


def write_part(work: Path, index: int, batch: ScoredBatch, names: Iterable[str]) -> Path:
    """One finished batch, atomically: a part either holds the whole batch or does not exist."""
    import io

    buf = io.BytesIO()
    arrays = {
        "filenames": np.array(batch.filenames, dtype=str),
        "tic_ids": np.array(batch.tic_ids, dtype=np.int64),
        "failed_filenames": np.array([os.path.basename(p) for p, _ in batch.failures], dtype=str),
        "failed_reasons": np.array([r for _, r in batch.failures], dtype=str),
    }
    for name in names:
        arrays[f"score_{name}"] = np.asarray(batch.scores[name], dtype=np.float64)
    np.savez(buf, **arrays)
    path = work / f"part-{index:05d}.npz"
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_parts(work: Path, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored rows: filename, tic, score_<name>...; failures: filename, reason) from every part."""
    scored, failed = [], []
    for path in part_paths(work):
        z = load_npz(path)
        if z:
            frame = {"filename": z["filenames"].astype(str), "tic": z["tic_ids"].astype(np.int64)}
            for name in names:
                frame[f"score_{name}"] = z[f"score_{name}"]
            scored.append(pd.DataFrame(frame))
            failed.append(
                pd.DataFrame({"filename": z["failed_filenames"].astype(str), "reason": z["failed_reasons"]})
            )
    scored_df = (
        pd.concat(scored, ignore_index=True)
        if scored
        else pd.DataFrame({"filename": [], "tic": [], **{f"score_{n}": [] for n in names}})
    )
    failed_df = pd.concat(failed, ignore_index=True) if failed else pd.DataFrame(columns=FAILURE_COLUMNS)
    # a light curve is in at most one part by construction; keep the first if a part was ever duplicated
    scored_df = scored_df.drop_duplicates("filename").sort_values("filename", kind="stable")
    failed_df = failed_df.drop_duplicates("filename").sort_values("filename", kind="stable")
    failed_df = failed_df[~failed_df["filename"].isin(scored_df["filename"])]
    return scored_df.reset_index(drop=True), failed_df.reset_index(drop=True)


def drop_orphan_feature_shards(features_dir: Path, done: set[str]) -> None:
    """Remove feature shards written for a batch whose part never landed (the run stopped in between)."""
    if not features_dir.is_dir():
        return
    for shard in sorted(features_dir.glob("part-*.npz")):
        try:
            names = set(load_npz(shard)["filenames"].astype(str))
        except Exception:  # a damaged shard cannot be trusted either
            names = {""}
        if not names <= done:
            shard.unlink()


# --------------------------------------------------------------------------------------------- outputs


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable]) -> None:
    with atomic_open(path, "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def _float(x: float) -> str:
    """Shortest text that reads back as the same float64 (Python's repr)."""
    return repr(float(x))


def write_scores_csv(path: Path, scored: pd.DataFrame, name: str) -> pd.DataFrame:
    table = pd.DataFrame(
        {"tic": scored["tic"], "filename": scored["filename"], "anomaly_score": scored[f"score_{name}"]}
    )
    rows = zip(table["tic"].tolist(), table["filename"].tolist(), map(_float, table["anomaly_score"]))
    _write_csv(path, SCORE_COLUMNS, rows)
    return table


def write_wrss(out_dir: Path, timestamp: str, p3: pd.DataFrame, p9: pd.DataFrame) -> tuple[Path, dict]:
    table, record = wrss_p3p9(p3, p9)
    path = out_dir / f"wrss_p3p9_{timestamp}.csv"
    float_cols = {
        "anomaly_score_p3",
        "anomaly_score_p9",
        "score_weighted_root_sum",
        "score_weighted_root_sumnorm",
    }
    columns = list(table.columns)
    rows = (
        [_float(v) if c in float_cols else v for c, v in zip(columns, row)]
        for row in table.itertuples(index=False, name=None)
    )
    _write_csv(path, columns, rows)
    sidecar = {
        **record,
        "wrss_csv": path.name,
        "note": "score_weighted_root_sumnorm = score_weighted_root_sum * s - min * s, s = 1 / (max - min) "
        "(s = 1 when max - min < 10 float64 eps) "
        "over these rows (scikit-learn MinMaxScaler's arithmetic, as CLARA; it can differ from "
        "(score_weighted_root_sum - min) / (max - min) in the last bit, e.g. 1.0000000000000002 at the max)",
    }
    atomic_write_text(out_dir / f"wrss_p3p9_{timestamp}.json", json.dumps(sidecar, indent=2) + "\n")
    return path, record


# --------------------------------------------------------------------------------------------- run


def _prepare_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f'key "output_dir": "{output_dir}" exists and is not a directory')
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f'key "output_dir": cannot create "{output_dir}": {exc.strerror}') from None


def _start_or_resume(config: ScoreConfig, ctx, identity: dict) -> tuple[Path, str, bool]:
    """(work dir, timestamp, resumed?)"""
    output_dir = Path(config.output_dir)
    pending = unfinished_runs(output_dir)
    if config.resume and pending:
        work = pending[-1]
        record = read_run_record(work)
        if record.get("identity") != identity:
            differs = [k for k in identity if record.get("identity", {}).get(k) != identity[k]]
            raise ConfigError(
                f"resume: the unfinished run in {work} used different {', '.join(differs)}; "
                'use the same config, or set "resume": false to start a new run'
            )
        return work, record["timestamp"], True
    if config.resume:
        ctx.log.main(f"resume: no unfinished score run in {output_dir}; starting a new run")
    elif pending:
        ctx.log.main(
            f"note: {len(pending)} unfinished score run(s) in {output_dir} (newest {pending[-1].name}); "
            'set "resume": true to continue it instead'
        )
    timestamp = ctx.timestamp
    work = work_dir_for(output_dir, timestamp)
    work.mkdir(parents=True, exist_ok=False)
    record = {"timestamp": timestamp, "clara": __version__, "identity": identity}
    atomic_write_text(work / "run.json", json.dumps(record, indent=2) + "\n")
    return work, timestamp, False


def run(config: ScoreConfig, ctx) -> int:
    output_dir = Path(config.output_dir)
    _prepare_output_dir(output_dir)
    specs = model_specs(config)
    names = [s.name for s in specs]
    for spec in specs:  # fail early, with the file named, before any worker starts
        worker.load_scoring_model(spec)
    files = list_lightcurves(config.input_dirs)
    if not files:
        raise ClaraError(f"no *.fits light curves in {', '.join(str(d) for d in config.input_dirs)}")

    identity = run_identity(config, specs)
    work, timestamp, resumed = _start_or_resume(config, ctx, identity)
    features_dir = output_dir / f"features_{timestamp}"
    done: set[str] = set()
    if resumed:
        scored_df, failed_df = read_parts(work, names)
        done = set(scored_df["filename"]) | set(failed_df["filename"])
        drop_orphan_feature_shards(features_dir, done)
    todo = [p for p in files if p.name not in done]
    ctx.log.main(
        f"score: {len(files)} light curves in {len(config.input_dirs)} dir(s), models {', '.join(names)}, "
        f"{config.max_workers} worker(s), batches of {config.batch_size}"
        + (f"; resuming run {timestamp}: {len(done)} already done, {len(todo)} to go" if resumed else "")
    )

    store = FeatureStoreWriter(features_dir) if config.save_features else None
    next_part = len(part_paths(work))
    executor = get_executor(config)
    tasks = ([str(p) for p in chunk] for chunk in batched(todo, config.batch_size))
    n_tasks = -(-len(todo) // config.batch_size)
    n_scored = n_failed = 0
    try:
        results = executor.imap(worker.score_batch, tasks, worker.init_worker, (specs, config.save_features))
        with ctx.progress(total=len(todo), desc="scoring", unit="lc") as bar:
            for result in results:
                if store is not None and result.paths:
                    store.write(FeatureBatch(result.paths, result.tic_ids, result.features))
                write_part(work, next_part, result, names)
                next_part += 1
                for path, reason in result.failures:
                    ctx.log.log(f"failed: {path}: {reason}")
                n_scored += len(result.paths)
                n_failed += len(result.failures)
                bar.update(len(result.paths) + len(result.failures))
    except KeyboardInterrupt:
        ctx.log.error(
            f"interrupted after {len(done) + n_scored + n_failed} of {len(files)} light curves; "
            f'run again with "resume": true to continue run {timestamp}'
        )
        raise
    ctx.log.log(f"{n_tasks} batch(es) scored in this session: {n_scored} scored, {n_failed} failed")

    outputs = assemble_outputs(config, work, timestamp, names)
    shutil.rmtree(work, ignore_errors=True)
    scored_total, failed_total = outputs.pop("_counts")
    for label, path in outputs.items():
        ctx.log.main(f"wrote {label}: {path}")
    ctx.log.main(f"score: {scored_total} light curves scored, {failed_total} failed")
    if scored_total == 0:
        ctx.log.error(f"no light curve could be scored; reasons in {outputs['failures']}")
        return 1
    return 0


def assemble_outputs(config: ScoreConfig, work: Path, timestamp: str, names: list[str]) -> dict:
    """Final CSVs from the parts: one per model, the failures, and WRSS when asked."""
    output_dir = Path(config.output_dir)
    scored, failed = read_parts(work, names)
    outputs: dict = {}
    tables = {}
    for name in names:
        path = output_dir / f"anomaly_scores_{name}_{timestamp}.csv"
        tables[name] = write_scores_csv(path, scored, name)
        outputs[f"{name.upper()} scores"] = path
    failures_path = output_dir / f"failures_{timestamp}.csv"
    write_failures_csv(
        failures_path, failed[FAILURE_COLUMNS].itertuples(index=False, name=None), FAILURE_COLUMNS
    )
    outputs["failures"] = failures_path
    if config.calculate_wrss_p3p9:
        path, record = write_wrss(output_dir, timestamp, tables["p3"], tables["p9"])
        outputs[f"WRSS ({record['rows']} rows scoring > 0 in P3 and P9)"] = path
    if config.save_features:
        outputs["features"] = output_dir / f"features_{timestamp}"
    outputs["_counts"] = (len(scored), len(failed))
    return outputs
