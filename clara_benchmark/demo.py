"""``demo``: the whole pipeline offline, through the same code paths as real use, ending in an HTML report.

A simulated sector stands in for MAST: its light curves are written as real SPOC-format FITS files, a
MAST-style ``tesscurl_sector_<N>_lc.sh`` lists them, and a local HTTP server on 127.0.0.1 serves them.
``train`` (P3/P5/P9, on the simulated archive as a local training set), then ``score`` in stream mode
(every file of the script downloaded, verified and scored as it arrives, WRSS; only the candidates' FITS
are kept, and the demo says how much disk that saved), ``reference`` (from part of the labelled objects,
their features from score's feature store), ``sim`` (on the other candidates), ``evaluate``
(injection–recovery) and ``report`` run exactly as a user would run them: each from a JSON config written
under the demo folder, each with its own log. Because the truth is known, the demo ends by saying how many
injected planets made the top WRSS candidates and how they were labelled.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import (
    MAX_DOWNLOAD_THREADS,
    MAX_WORKERS,
    MAX_WORKERS_WHY,
    ClaraError,
    ConfigError,
    key,
    seed_key,
)
from clara_benchmark.utils.io import atomic_write_text

#: SIMBAD-like object types for the simulated classes, so that sim's label groups apply to them
SIMBAD_LABELS = {
    "planet": "Pl",
    "eclipsing_binary": "EB*",
    "quiet": "*",
    "flare": "Er*",
    "rotation": "Ro*",
    "pulsator": "dS*",
}


@dataclass
class DemoConfig:
    """Config of ``demo`` (every key has a default: ``clara demo`` alone runs it)."""

    output_dir: Path = key(
        "Folder that receives everything: data, models, results, logs, report",
        "path",
        "./clara-demo",
        exists="outdir",
    )
    n_stars: int = key(
        "Stars in the simulated sector",
        "int",
        1000,
        minimum=20,
        maximum=200_000,
        maximum_why="10 times the ~20,000 two-minute targets of a real sector",
    )
    sector: int = key("Sector number of the simulated sector", "int", 1, minimum=1, maximum=10_000)
    seed: int = seed_key("Seed of the simulated sector")
    planet_fraction: float = key(
        "Fraction of stars with a transiting planet (a real sector has ~0.5%)", "float", 0.03, minimum=0.0
    )
    binary_fraction: float = key("Fraction of eclipsing binaries", "float", 0.02, minimum=0.0)
    n_cadences: int | None = key(
        "Cadences per light curve (null: a full sector, ~19k)",
        "int",
        None,
        minimum=500,
        maximum=1_000_000,
        maximum_why="a sector at 20-s cadence has ~120,000",
    )
    synthetic_curves: int = key(
        "Synthetic transit curves per model (CLARA: 300)",
        "int",
        300,
        minimum=10,
        maximum=100_000,
        maximum_why="clara's limit for the demo's synthetic sets",
    )
    reference_fraction: float = key(
        "Share of each labelled class that forms the reference set", "float", 0.5, minimum=0.05
    )
    top_n: int = key(
        "Top WRSS candidates checked against the truth and shown in the report", "int", 50, minimum=1
    )
    max_workers: int = key(
        "Worker processes for every stage",
        "int",
        2,
        minimum=1,
        maximum=MAX_WORKERS,
        maximum_why=MAX_WORKERS_WHY,
    )
    num_threads: int = key(
        "Download threads",
        "int",
        8,
        minimum=1,
        maximum=MAX_DOWNLOAD_THREADS,
        maximum_why="clara's limit on concurrent downloads",
    )

    def check(self) -> str | None:
        if self.planet_fraction + self.binary_fraction > 0.5:
            return 'keys "planet_fraction" + "binary_fraction" must leave room for other stars (<= 0.5)'
        if self.reference_fraction >= 1:
            return 'key "reference_fraction" must be below 1 (sim needs candidates outside the reference)'
        from clara_benchmark.config import (
            CLARA_VARIANTS,
            memory_problem,
            parse_variants,
            training_memory_bytes,
        )

        variants = parse_variants(
            {n: {**v, "n_curves": self.synthetic_curves} for n, v in CLARA_VARIANTS.items()}
        )
        need, _ = training_memory_bytes(variants, self.n_stars, self.max_workers)
        return memory_problem(
            need,
            f'the train stage (key "synthetic_curves" {self.synthetic_curves:,}, "n_stars" {self.n_stars:,})',
            "use fewer synthetic_curves or n_stars",
        )

    def monitor_path(self) -> Path:
        return self.output_dir

    def default_log_dir(self) -> Path:
        return Path(self.output_dir) / "logs"


class _Stages:
    """Runs the demo's stages in order, each through the CLI's own config loader and run wrapper."""

    def __init__(self, ctx, root: Path):
        self.ctx = ctx
        self.root = root
        self.timings: list[tuple[str, float]] = []

    def step(self, name: str, fn):
        self.ctx.log.main(f"demo: {name} ...")
        started = time.perf_counter()
        result = fn()
        took = time.perf_counter() - started
        self.timings.append((name, took))
        self.ctx.log.main(f"demo: {name} done in {took:.1f} s")
        return result

    def command(self, name: str, config: dict) -> None:
        """Write ``config`` to ``configs/<name>.json`` and run ``clara <name> --config`` on it."""
        from clara_benchmark import cli

        path = self.root / "configs" / f"{name}.json"
        atomic_write_text(path, json.dumps(config, indent=2) + "\n")
        cmd = cli.COMMANDS[name]
        loaded = cli.load_command_config(cmd, path, {})
        code = cli.execute(
            cmd,
            loaded,
            config_path=path,
            argv=[name, "--config", str(path)],
            log_dir=self.ctx.log_dir,
            meta_message=f"demo stage {name}",
            quiet=self.ctx.quiet,
            monitor_interval=None,
        )
        if code == 130:  # the stage was interrupted (Ctrl-C): so is the demo
            raise KeyboardInterrupt
        if code != 0:
            raise ClaraError(f"demo stage '{name}' failed with exit code {code}; see {self.ctx.log_dir}")


#: what a demo run writes in its folder; a rerun replaces it all (logs are kept and appended to)
DEMO_MARKER = ".clara-demo"
DEMO_OUTPUTS = (
    "mast_archive",
    "data",
    "models",
    "results",
    "reference",
    "report",
    "configs",
    "truth.csv",
    "demo_summary.json",
)


def _prepare_demo_folder(root: Path) -> None:
    """Start from a clean demo folder: a rerun must not score last run's models or light curves, and a
    folder the demo did not make is never emptied."""
    if root.exists() and any(p.name != "logs" for p in root.iterdir()) and not (root / DEMO_MARKER).exists():
        raise ConfigError(
            f'key "output_dir": "{root}" is not empty and was not made by clara demo; '
            "give a new or empty folder"
        )
    for name in DEMO_OUTPUTS:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("made by clara demo; a rerun replaces its outputs\n")


def _write_tesscurl(path: Path, names: list[str], server) -> None:
    lines = ["#!/bin/sh"] + [f"curl -C - -L -o {n} {server.mast_url(n)}" for n in names]
    atomic_write_text(path, "\n".join(lines) + "\n")


def stream_disk_use(sector_dir: Path, sector: int, archive: Path) -> dict:
    """What stream mode left on disk, from the download manifest: the verified files, the ones kept, and
    the bytes not kept (what downloading the sector before scoring it would still hold); plus the archive."""
    from clara_benchmark.tess_spoc_download.run import manifest_path, read_manifest

    rows = read_manifest(manifest_path(sector_dir, sector))
    verified = [r for r in rows.values() if r["status"] in ("downloaded", "already-present")]
    kept = [r for r in verified if (sector_dir / r["filename"]).is_file()]
    total, kept_bytes = sum(int(r["bytes"]) for r in verified), sum(int(r["bytes"]) for r in kept)
    return {
        "verified_files": len(verified),
        "verified_bytes": total,
        "kept_files": len(kept),
        "kept_bytes": kept_bytes,
        "saved_bytes": total - kept_bytes,
        "archive_bytes": sum(p.stat().st_size for p in archive.glob("*.fits")),
    }


def _newest(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if not found:
        raise ClaraError(f"demo: expected {pattern} in {directory}, found nothing")
    return found[-1]


def _reference_labels(truth: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A labelled reference set: ``fraction`` of each class (at most 60 quiet stars), SIMBAD-like labels."""
    rng = np.random.default_rng(seed)
    picks = []
    for cls, rows in truth.groupby("class", sort=True):
        n = max(1, int(round(fraction * len(rows))))
        if cls == "quiet":
            n = min(n, 60)
        picks.append(rows.iloc[np.sort(rng.choice(len(rows), size=min(n, len(rows)), replace=False))])
    chosen = pd.concat(picks).sort_values("filename")
    return pd.DataFrame({"filename": chosen["filename"], "label": chosen["class"].map(SIMBAD_LABELS)})


def recovery_summary(
    truth: pd.DataFrame, wrss: pd.DataFrame, p3: pd.DataFrame, sim: pd.DataFrame | None, top_n: int
) -> dict:
    """How the injected planets fared: in the top-N WRSS candidates, anomalous in P3, and their labels."""
    planets = truth[truth["class"] == "planet"]
    ranked = wrss.sort_values("score_weighted_root_sumnorm", ascending=False).reset_index(drop=True)
    top = ranked.head(top_n)
    truth_class = truth.set_index("filename")["class"]
    top_classes = top["filename"].map(truth_class).fillna("unknown").value_counts().to_dict()
    in_top = planets[planets["filename"].isin(top["filename"])]
    p3_anomalous = planets["filename"].isin(p3.loc[p3["anomaly_score"] > 0, "filename"])
    labels = {}
    if sim is not None and len(sim):
        matched = sim[sim["filename"].isin(planets["filename"])]
        labels = matched["label_group"].value_counts().to_dict()
    return {
        "stars": int(len(truth)),
        "planets_injected": int(len(planets)),
        "planets_anomalous_p3": int(p3_anomalous.sum()),
        "wrss_candidates": int(len(wrss)),
        "top_n": int(min(top_n, len(ranked))),
        "planets_in_top_n": int(len(in_top)),
        "top_n_by_class": {str(k): int(v) for k, v in sorted(top_classes.items())},
        "planet_label_groups_in_sim": {str(k): int(v) for k, v in sorted(labels.items())},
        "planets_in_top_n_files": sorted(in_top["filename"].tolist()),
    }


def run(config: DemoConfig, ctx) -> int:
    from clara_benchmark.synthetic.sector import write_sector
    from clara_benchmark.tess_spoc_download.localserver import LocalServer

    root = Path(config.output_dir).resolve()
    _prepare_demo_folder(root)
    stages = _Stages(ctx, root)
    archive = root / "mast_archive" / f"sector_{config.sector}"
    fits_root = root / "data" / "fits_files"
    fits_dir = fits_root / str(config.sector)
    workers = config.max_workers
    ctx.log.main(f"demo: everything goes under {root}")

    fractions = {"planet": config.planet_fraction, "eclipsing_binary": config.binary_fraction}
    sector = stages.step(
        f"simulate sector {config.sector} ({config.n_stars} stars)",
        lambda: write_sector(
            archive,
            n_stars=config.n_stars,
            sector=config.sector,
            seed=config.seed,
            n_cadences=config.n_cadences,
            class_fractions=fractions,
            max_workers=workers,
            truth_path=root / "truth.csv",
        ),
    )
    truth = sector.truth
    names = sorted(truth["filename"])
    ctx.log.log(f"demo: classes {truth['class'].value_counts().to_dict()}")

    from clara_benchmark.config import CLARA_VARIANTS

    models_dir = root / "models"
    # CLARA's P3/P5/P9 table, with the demo's (smaller or equal) number of synthetic curves
    variants = {name: {**spec, "n_curves": config.synthetic_curves} for name, spec in CLARA_VARIANTS.items()}
    stages.step(
        "train P3/P5/P9",
        lambda: stages.command(
            "train",
            {
                # the simulated archive stands in for a local training set of real light curves
                "input_dirs": [str(archive)],
                "output_dir": str(models_dir),
                "variants": variants,
                "save_features": True,
                "max_workers": workers,
            },
        ),
    )
    trained = pd.read_csv(_newest(models_dir, "train_summary_*.csv")).set_index("variant")["model_path"]
    model = {m: Path(trained[m]) for m in ("P3", "P5", "P9")}

    scores_dir = root / "results" / "anomaly_scores"
    with LocalServer(archive) as server:
        catalogues = root / "data" / "catalogues"
        _write_tesscurl(catalogues / f"tesscurl_sector_{config.sector}_lc.sh", names, server)
        stages.step(
            "stream: download + score with P3/P5/P9 + WRSS, keep the candidates' FITS",
            lambda: stages.command(
                "score",
                {
                    "sector_number": config.sector,
                    "catalogues_folder": str(catalogues),
                    "base_url": server.base_url,
                    "out_dir_tess": str(fits_root),
                    "keep_fits": "candidates",
                    "num_threads": config.num_threads,
                    "max_retries": 3,
                    "backoff_seconds": 0.2,
                    "output_dir": str(scores_dir),
                    "max_workers": workers,
                    "use_p3": True,
                    "use_p5": True,
                    "use_p9": True,
                    "calculate_wrss_p3p9": True,
                    "p3model_path": str(model["P3"]),
                    "p5model_path": str(model["P5"]),
                    "p9model_path": str(model["P9"]),
                    "save_features": True,
                },
            ),
        )
    disk = stream_disk_use(fits_dir, config.sector, archive)
    ctx.log.main(
        f"demo: stream mode kept {disk['kept_files']} of {disk['verified_files']} verified FITS "
        f"({disk['kept_bytes'] / 1e6:.0f} MB of {disk['verified_bytes'] / 1e6:.0f} MB): "
        f"{disk['saved_bytes'] / 1e6:.0f} MB of disk saved against downloading the sector before scoring it"
    )
    wrss_path = _newest(scores_dir, "wrss_p3p9_*.csv")
    features_dir = _newest(scores_dir, "features_*")

    labels = _reference_labels(truth, config.reference_fraction, config.seed)
    labels_path = root / "reference" / "labels.csv"
    atomic_write_text(labels_path, labels.to_csv(index=False))
    ref_dir = root / "reference"
    ref_name = f"sector{config.sector}_demo"
    stages.step(
        f"reference set from {len(labels)} labelled stars",
        lambda: stages.command(
            "reference",
            {
                "labels_path": str(labels_path),
                "fits_dir": str(fits_dir),
                "output_dir": str(ref_dir),
                "name": ref_name,
                "features_path": str(features_dir),
                "max_workers": workers,
            },
        ),
    )

    wrss = pd.read_csv(wrss_path)
    candidates = wrss[~wrss["filename"].isin(labels["filename"])]
    candidates_path = root / "results" / "candidates_outside_reference.csv"
    atomic_write_text(candidates_path, candidates.to_csv(index=False))
    sim_dir = root / "results" / "similarity_scores"
    stages.step(
        f"sim on {len(candidates)} candidates",
        lambda: stages.command(
            "sim",
            {
                "fits_dir": str(fits_dir),
                "input_df_path": str(candidates_path),
                "output_dir": str(sim_dir),
                "min_similarity_threshold": 0.3,
                "gt_wrss_threshold": 0.0,
                "save_label_groups": "all",
                "simbad_labelled_pca_model_path": str(ref_dir / f"pca_model_{ref_name}.skops"),
                "simbad_labelled_pca_features_path": str(ref_dir / f"reduced_features_{ref_name}.csv"),
                "features_path": str(features_dir),
                "max_workers": workers,
            },
        ),
    )

    eval_dir = root / "results" / "injection_recovery"
    stages.step(
        "injection–recovery (P3)",
        lambda: stages.command(
            "evaluate",
            {
                "input_dirs": [str(archive)],
                "output_dir": str(eval_dir),
                "model_paths": [str(model["P3"])],
                "truth_csv": str(root / "truth.csv"),
                "max_hosts": 12,
                "grid": {
                    "depth_ppm": [300, 1000, 3000, 10000],
                    "period_days": [1.5, 4, 10],
                    "duration_hours": [3],
                },
                "max_workers": workers,
            },
        ),
    )

    p3 = pd.read_csv(_newest(scores_dir, "anomaly_scores_p3_*.csv"))
    sim_files = sorted(sim_dir.glob("cosine_similarity_scores_*.csv"))
    sim = pd.read_csv(sim_files[-1]) if sim_files else None
    summary = recovery_summary(truth, wrss, p3, sim, config.top_n)
    summary["stage_seconds"] = {name: round(sec, 1) for name, sec in stages.timings}
    summary["disk"] = disk
    atomic_write_text(root / "demo_summary.json", json.dumps(summary, indent=2) + "\n")

    report_dir = root / "report"
    eval_csvs = sorted(eval_dir.glob("*recall*.csv"))
    stages.step(
        "HTML report",
        lambda: stages.command(
            "report",
            {
                "score_dir": str(scores_dir),
                "sim_dir": str(sim_dir),
                "fits_dirs": [str(fits_dir)],
                "evaluate_path": str(eval_csvs[-1]) if eval_csvs else None,
                "truth_csv": str(root / "truth.csv"),
                "reference_labels_csv": str(labels_path),
                "run_log_dir": str(ctx.log_dir),
                "output_dir": str(report_dir),
                "top_n": config.top_n,
                "max_workers": workers,
                "title": f"clara demo: simulated sector {config.sector}",
            },
        ),
    )

    total = sum(sec for _, sec in stages.timings)
    ctx.log.main(
        "demo: stage timings: "
        + ", ".join(f"{n} {s:.1f}s" for n, s in stages.timings)
        + f"; total {total:.1f} s"
    )
    ctx.log.main(
        f"demo: {summary['planets_in_top_n']} of {summary['planets_injected']} injected planets are "
        f"in the top {summary['top_n']} WRSS candidates ({summary['planets_anomalous_p3']} anomalous "
        f"in P3); top-{summary['top_n']} by class {summary['top_n_by_class']}; planets' sim label "
        f"groups {summary['planet_label_groups_in_sim']}"
    )
    ctx.log.main(f"demo: report at {report_dir / 'index.html'}")
    return 0
