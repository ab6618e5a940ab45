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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark import products
from clara_benchmark.config import (
    ClaraError,
    ConfigError,
    key,
    max_workers_key,
    num_threads_key,
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
    max_workers: int = max_workers_key("Worker processes for every stage", 2)
    num_threads: int = num_threads_key("Download threads", 8)

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


@dataclass
class _Demo:
    """Where the demo's stages put and find things, and what earlier stages gave the later ones."""

    config: DemoConfig
    ctx: object
    stages: _Stages
    root: Path
    workers: int = 1
    found: dict = field(default_factory=dict)

    @property
    def archive(self) -> Path:
        return self.root / "mast_archive" / f"sector_{self.config.sector}"

    @property
    def fits_root(self) -> Path:
        return self.root / "data" / "fits_files"

    @property
    def fits_dir(self) -> Path:
        return self.fits_root / str(self.config.sector)

    def path(self, name: str) -> Path:
        return (
            self.root
            / {
                "models": "models",
                "scores": "results/anomaly_scores",
                "sim": "results/similarity_scores",
                "evaluate": "results/injection_recovery",
                "reference": "reference",
                "report": "report",
                "truth": "truth.csv",
                "labels": "reference/labels.csv",
                "candidates": "results/candidates_outside_reference.csv",
            }[name]
        )

    def newest(self, product, where: str, **fixed) -> Path:
        found = product.newest(self.path(where), **fixed)
        if found is None:
            raise ClaraError(f"demo: no {product.pattern} in {self.path(where)}")
        return found


def _simulate(d: _Demo):
    from clara_benchmark.synthetic.sector import write_sector

    c = d.config
    fractions = {"planet": c.planet_fraction, "eclipsing_binary": c.binary_fraction}
    sector = d.stages.step(
        f"simulate sector {c.sector} ({c.n_stars} stars)",
        lambda: write_sector(
            d.archive,
            n_stars=c.n_stars,
            sector=c.sector,
            seed=c.seed,
            n_cadences=c.n_cadences,
            class_fractions=fractions,
            max_workers=d.workers,
            truth_path=d.path("truth"),
        ),
    )
    d.ctx.log.log(f"demo: classes {sector.truth['class'].value_counts().to_dict()}")
    return sector.truth


def _train(d: _Demo) -> dict[str, Path]:
    from clara_benchmark.config import CLARA_VARIANTS

    # CLARA's P3/P5/P9 table, with the demo's (smaller or equal) number of synthetic curves
    variants = {
        name: {**spec, "n_curves": d.config.synthetic_curves} for name, spec in CLARA_VARIANTS.items()
    }
    train = {
        # the simulated archive stands in for a local training set of real light curves
        "input_dirs": [str(d.archive)],
        "output_dir": str(d.path("models")),
        "variants": variants,
        "save_features": True,
        "max_workers": d.workers,
    }
    d.stages.step("train P3/P5/P9", lambda: d.stages.command("train", train))
    trained = pd.read_csv(d.newest(products.TRAIN_SUMMARY, "models")).set_index("variant")["model_path"]
    return {m: Path(trained[m]) for m in ("P3", "P5", "P9")}


def _stream_score(d: _Demo, names: list[str], model: dict[str, Path]) -> dict:
    """Download and score in one pass from the local 'MAST', keeping only the candidates' FITS."""
    from clara_benchmark.tess_spoc_download.localserver import LocalServer

    c = d.config
    with LocalServer(d.archive) as server:
        catalogues = d.root / "data" / "catalogues"
        _write_tesscurl(catalogues / f"tesscurl_sector_{c.sector}_lc.sh", names, server)
        score = {
            "sector_number": c.sector,
            "catalogues_folder": str(catalogues),
            "base_url": server.base_url,
            "out_dir_tess": str(d.fits_root),
            "keep_fits": "candidates",
            "num_threads": c.num_threads,
            "max_retries": 3,
            "backoff_seconds": 0.2,
            "output_dir": str(d.path("scores")),
            "max_workers": d.workers,
            "calculate_wrss_p3p9": True,
            **{f"use_{m.lower()}": True for m in model},
            **{f"{m.lower()}model_path": str(path) for m, path in model.items()},
            "save_features": True,
        }
        d.stages.step(
            "stream: download + score with P3/P5/P9 + WRSS, keep the candidates' FITS",
            lambda: d.stages.command("score", score),
        )
    disk = stream_disk_use(d.fits_dir, c.sector, d.archive)
    d.ctx.log.main(
        f"demo: stream mode kept {disk['kept_files']} of {disk['verified_files']} verified FITS "
        f"({disk['kept_bytes'] / 1e6:.0f} MB of {disk['verified_bytes'] / 1e6:.0f} MB): "
        f"{disk['saved_bytes'] / 1e6:.0f} MB of disk saved against downloading the sector before scoring it"
    )
    return disk


def _reference_and_sim(d: _Demo, truth: pd.DataFrame) -> pd.DataFrame:
    """A reference set from a labelled fraction of the stars, then sim on the other WRSS candidates."""
    c = d.config
    features_dir = d.newest(products.FEATURES, "scores")
    labels = _reference_labels(truth, c.reference_fraction, c.seed)
    atomic_write_text(d.path("labels"), labels.to_csv(index=False))
    name = f"sector{c.sector}_demo"
    reference = {
        "labels_path": str(d.path("labels")),
        "fits_dir": str(d.fits_dir),
        "output_dir": str(d.path("reference")),
        "name": name,
        "features_path": str(features_dir),
        "max_workers": d.workers,
    }
    d.stages.step(
        f"reference set from {len(labels)} labelled stars", lambda: d.stages.command("reference", reference)
    )
    wrss = products.read_wrss(d.newest(products.WRSS, "scores"))
    candidates = wrss[~wrss["filename"].isin(labels["filename"])]
    products.write_frame(d.path("candidates"), candidates)
    sim = {
        "fits_dir": str(d.fits_dir),
        "input_df_path": str(d.path("candidates")),
        "output_dir": str(d.path("sim")),
        "min_similarity_threshold": 0.3,
        "gt_wrss_threshold": 0.0,
        "save_label_groups": "all",
        "simbad_labelled_pca_model_path": str(products.REFERENCE_PCA.path(d.path("reference"), name=name)),
        "simbad_labelled_pca_features_path": str(products.REFERENCE_CSV.path(d.path("reference"), name=name)),
        "features_path": str(features_dir),
        "max_workers": d.workers,
    }
    d.stages.step(f"sim on {len(candidates)} candidates", lambda: d.stages.command("sim", sim))
    return wrss


def _evaluate(d: _Demo, model: dict[str, Path]) -> None:
    evaluate = {
        "input_dirs": [str(d.archive)],
        "output_dir": str(d.path("evaluate")),
        "model_paths": [str(model["P3"])],
        "truth_csv": str(d.path("truth")),
        "max_hosts": 12,
        "grid": {"depth_ppm": [300, 1000, 3000, 10000], "period_days": [1.5, 4, 10], "duration_hours": [3]},
        "max_workers": d.workers,
    }
    d.stages.step("injection–recovery (P3)", lambda: d.stages.command("evaluate", evaluate))


def _report(d: _Demo) -> None:
    recall = products.INJECTION_RECALL.newest(d.path("evaluate"))
    report = {
        "score_dir": str(d.path("scores")),
        "sim_dir": str(d.path("sim")),
        "fits_dirs": [str(d.fits_dir)],
        "evaluate_path": str(recall) if recall else None,
        "truth_csv": str(d.path("truth")),
        "reference_labels_csv": str(d.path("labels")),
        "run_log_dir": str(d.ctx.log_dir),
        "output_dir": str(d.path("report")),
        "top_n": d.config.top_n,
        "max_workers": d.workers,
        "title": f"clara demo: simulated sector {d.config.sector}",
    }
    d.stages.step("HTML report", lambda: d.stages.command("report", report))


def run(config: DemoConfig, ctx) -> int:
    root = Path(config.output_dir).resolve()
    _prepare_demo_folder(root)
    d = _Demo(config, ctx, _Stages(ctx, root), root, workers=config.max_workers)
    ctx.log.main(f"demo: everything goes under {root}")
    truth = _simulate(d)
    model = _train(d)
    disk = _stream_score(d, sorted(truth["filename"]), model)
    wrss = _reference_and_sim(d, truth)
    _evaluate(d, model)

    p3 = products.read_scores(d.newest(products.SCORES, "scores", model="p3"))
    sim_path = products.SIM.newest(d.path("sim"))
    sim = pd.read_csv(sim_path, float_precision="round_trip") if sim_path else None
    summary = recovery_summary(truth, wrss, p3, sim, config.top_n)
    summary["stage_seconds"] = {name: round(sec, 1) for name, sec in d.stages.timings}
    summary["disk"] = disk
    products.write_json(root / "demo_summary.json", summary)
    _report(d)

    total = sum(sec for _, sec in d.stages.timings)
    ctx.log.main(
        "demo: stage timings: "
        + ", ".join(f"{n} {s:.1f}s" for n, s in d.stages.timings)
        + f"; total {total:.1f} s"
    )
    ctx.log.main(
        f"demo: {summary['planets_in_top_n']} of {summary['planets_injected']} injected planets are "
        f"in the top {summary['top_n']} WRSS candidates ({summary['planets_anomalous_p3']} anomalous "
        f"in P3); top-{summary['top_n']} by class {summary['top_n_by_class']}; planets' sim label "
        f"groups {summary['planet_label_groups_in_sim']}"
    )
    ctx.log.main(f"demo: report at {d.path('report') / 'index.html'}")
    return 0
