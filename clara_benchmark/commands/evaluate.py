"""The ``evaluate`` command: injection–recovery of transits over a grid, per model, as CSVs and heat maps.

config → hosts (``find_lightcurves``; only a simulated sector's quiet stars with ``truth_csv``; at most
``max_hosts``) → the models → ``injection_recovery`` → ``injection_scores_<ts>.csv``,
``injection_recall_<ts>.csv``, one ``injection_recall_<model>_<ts>.png`` per model, and the failures.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from clara_benchmark import products
from clara_benchmark.config import EvaluateConfig, grid_cells, parse_grid
from clara_benchmark.exceptions import ClaraError
from clara_benchmark.executors import get_executor
from clara_benchmark.inputs import find_lightcurves
from clara_benchmark.training.evaluate import injection_recovery, load_evaluated_models


def run(config: EvaluateConfig, ctx) -> int:
    cells = grid_cells(parse_grid(config.grid))
    models = load_evaluated_models(config.model_paths, config.trust_pickles)
    hosts = select_hosts(config)
    out_dir = Path(config.output_dir)
    ctx.log.main(
        f"evaluate: {len(cells)} grid cells x {len(hosts)} hosts = {len(cells) * len(hosts)} injections "
        f"({config.transit_model}), models {', '.join(models)}, recovered when score > {config.threshold:g}"
    )
    started = time.perf_counter()
    with ctx.progress(total=len(hosts), desc="injections", unit="host") as bar:
        result = injection_recovery(
            hosts,
            models,
            config.grid,
            transit_model=config.transit_model,
            threshold=config.threshold,
            seed=config.seed,
            executor=get_executor(config),
            batch_size=config.batch_size,
            progress=bar.update,
        )
    if result.failures:
        path = products.write_failures(
            products.EVALUATE_FAILURES.path(out_dir, ts=ctx.timestamp), result.failures
        )
        ctx.log.main(f"{len(result.failures)} host light curve(s) could not be used; see {path}")
    scores_path = products.write_frame(
        products.INJECTION_SCORES.path(out_dir, ts=ctx.timestamp), result.scores, float_format="%.10g"
    )
    recall_path = products.write_frame(
        products.INJECTION_RECALL.path(out_dir, ts=ctx.timestamp), result.recall, float_format="%.10g"
    )
    for name in models:
        png = products.write_bytes(
            products.INJECTION_HEATMAP.path(out_dir, name=name, ts=ctx.timestamp), result.heatmap_png(name)
        )
        part = result.recall[result.recall["model"] == name]
        ctx.log.main(
            f"{name}: mean recall {part['recall'].mean():.3f} over {len(part)} cells, un-injected anomaly rate "
            f"{part['baseline_anomaly_rate'].iloc[0]:.3f}; heat map {png}"
        )
    ctx.log.main(
        f"{result.n_hosts} hosts in {time.perf_counter() - started:.1f} s; recall {recall_path}; scores {scores_path}"
    )
    return 0


def select_hosts(config: EvaluateConfig) -> list[Path]:
    files = find_lightcurves(config.input_dirs).files
    if not files:
        raise ClaraError(f"no .fits light curves in {', '.join(map(str, config.input_dirs))}")
    if config.truth_csv is not None:
        try:
            truth = pd.read_csv(config.truth_csv)
        except (OSError, ValueError) as exc:
            raise ClaraError(f"{config.truth_csv}: cannot read truth CSV ({exc})") from None
        if not {"filename", "class"} <= set(truth.columns):
            raise ClaraError(f"{config.truth_csv}: a truth CSV needs 'filename' and 'class' columns")
        quiet = set(truth.loc[truth["class"] == "quiet", "filename"].astype(str))
        files = [f for f in files if f.name in quiet]
        if not files:
            raise ClaraError(f"{config.truth_csv}: none of its quiet stars is in the input directories")
    return files[: config.max_hosts] if config.max_hosts else files
