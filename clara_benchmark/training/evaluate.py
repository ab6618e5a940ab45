"""``evaluate``: injection–recovery of transits, the paper's hand-made sensitivity test as one command.

Transits over a grid of depth × period (× duration) are multiplied into quiet host light curves (real or
simulated), each injected curve gets the clara-4000 vector a file with that flux would give, and every
chosen model scores it. Per grid cell: recall = fraction of hosts scored above ``threshold`` (CLARA's
"anomalous" is score > 0). The un-injected hosts give each model's anomaly rate, the false-alarm baseline.
Outputs: per-injection scores CSV, per-cell recall CSV and one heat map per model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clara_benchmark.config import (
    DEFAULT_GRID,
    ClaraError,
    grid_cells,
    parse_grid,
)
from clara_benchmark.pipeline import item_key

# ---------------------------------------------------------------------------------------- worker side


def inject_and_extract(lc_time, pdcsap_flux, cells, t0s, shape: str) -> np.ndarray:
    """clara-4000 rows of one host with each cell's transit multiplied in (pure; FeatureError propagates).

    The injected flux is rounded to float32, the precision a SPOC file would store.
    """
    from clara_benchmark.features import clara4000
    from clara_benchmark.synthetic.transits import injected_transit

    t = np.asarray(lc_time, dtype=np.float64)
    f = np.asarray(pdcsap_flux, dtype=np.float64)
    finite = np.isfinite(t)
    rows = []
    for (depth_ppm, period, duration), t0 in zip(cells, t0s):
        model = np.ones_like(f)
        model[finite] = injected_transit(t[finite], depth_ppm * 1e-6, period, duration, t0, shape)
        rows.append(clara4000(t, (f * model).astype(np.float32)))
    return np.vstack(rows) if rows else np.empty((0, 4000))


def injection_times(t_first: float, cells, seed: int, host_index: int) -> list[float]:
    """Mid-transit times, uniform over the first period; reproducible per (seed, host, cell)."""
    out = []
    for i, (_, period, _) in enumerate(cells):
        rng = np.random.default_rng([seed, host_index, i])
        out.append(float(t_first + rng.uniform(0.0, period)))
    return out


# ------------------------------------------------------------------------------------------ reporting


def summarise(scores: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Recall per (model, cell) and each model's baseline anomaly rate, from the per-injection scores."""
    base = scores[scores["depth_ppm"] == 0]
    flagged = base.assign(flagged=base["anomaly_score"] > threshold)
    rate = flagged.groupby("model")["flagged"].mean()
    flagged_hosts = set(
        zip(flagged.loc[flagged["flagged"], "model"], flagged.loc[flagged["flagged"], "filename"])
    )
    inj = scores[scores["depth_ppm"] > 0].copy()
    inj["recovered"] = inj["anomaly_score"] > threshold
    inj["host_flagged"] = [(m, f) in flagged_hosts for m, f in zip(inj["model"], inj["filename"])]
    rows = []
    for (model, depth, period, duration), g in inj.groupby(
        ["model", "depth_ppm", "period_days", "duration_hours"], sort=True
    ):
        clean = g[~g["host_flagged"]]
        rows.append(
            {
                "model": model,
                "depth_ppm": depth,
                "period_days": period,
                "duration_hours": duration,
                "n_injected": len(g),
                "n_recovered": int(g["recovered"].sum()),
                "recall": float(g["recovered"].mean()),
                "recall_unflagged_hosts": float(clean["recovered"].mean()) if len(clean) else float("nan"),
                "median_score": float(g["anomaly_score"].median()),
                "baseline_anomaly_rate": float(rate.get(model, np.nan)),
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


def heatmap_png(summary: pd.DataFrame, model: str, n_hosts: int) -> bytes:
    """Recall heat map (depth × period), one panel per duration, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = summary[summary["model"] == model]
    durations = sorted(part["duration_hours"].unique())
    depths = sorted(part["depth_ppm"].unique())
    periods = sorted(part["period_days"].unique())
    width = max(5.0, 1.5 + 1.0 * len(periods) * len(durations))
    fig, axes = plt.subplots(
        1, len(durations), figsize=(width, 2.2 + 0.45 * len(depths)), squeeze=False, layout="constrained"
    )
    image = None
    for ax, duration in zip(axes[0], durations):
        sub = part[part["duration_hours"] == duration]
        grid = sub.pivot(index="depth_ppm", columns="period_days", values="recall").reindex(
            index=depths, columns=periods
        )
        image = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for i in range(len(depths)):
            for j in range(len(periods)):
                value = grid.to_numpy()[i, j]
                if np.isfinite(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k")
        ax.set_xticks(range(len(periods)), [f"{p:g}" for p in periods])
        ax.set_yticks(range(len(depths)), [f"{d:g}" for d in depths])
        ax.set_xlabel("period (days)")
        ax.set_ylabel("depth (ppm)")
        ax.set_title(f"duration {duration:g} h")
    rate = part["baseline_anomaly_rate"].iloc[0] if len(part) else float("nan")
    threshold = part["threshold"].iloc[0] if len(part) else 0.0
    fig.suptitle(
        f"{model}\nrecall (score > {threshold:g}) over {n_hosts} hosts; un-injected anomaly rate {rate:.3f}",
        fontsize=10,
    )
    fig.colorbar(image, ax=list(axes[0]), label="recall")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ run


def load_evaluated_models(paths, trust_pickles: bool = False) -> dict:
    """``{file stem: forest}`` of the model files to evaluate, each checked as a scoring model of any role."""
    from clara_benchmark.modelio import load_scoring_model

    return {Path(path).stem: load_scoring_model(path, None, trust_pickles=trust_pickles)[0] for path in paths}


# ------------------------------------------------------------------------------------------- library


def inject_host(lc, cells, seed: int, shape: str, host_index: dict) -> dict:
    """Stage function: one host's baseline clara-4000 vector and one vector per injected grid cell.

    Mid-transit times come from ``(seed, host, cell)``; ``host_index`` maps a host's file name to its
    position among the selected hosts, so a host's injections do not depend on the batches or workers.
    """
    from clara_benchmark.features import clara4000

    t_first = float(np.nanmin(lc.time)) if np.isfinite(lc.time).any() else 0.0
    t0s = injection_times(t_first, cells, seed, host_index[lc.filename])
    return {
        "t0s": t0s,
        "baseline": clara4000(lc.time, lc.flux),
        "injected": inject_and_extract(lc.time, lc.flux, cells, t0s, shape),
    }


@dataclass
class InjectionResult:
    """Per-injection scores (``depth_ppm`` 0 rows are the un-injected hosts), recall per model and grid
    cell, the hosts that could not be used, and how many could."""

    scores: pd.DataFrame
    recall: pd.DataFrame
    failures: list
    n_hosts: int

    def heatmap_png(self, model: str) -> bytes:
        """The recall heat map (depth × period, a panel per duration) of ``model`` as PNG bytes."""
        return heatmap_png(self.recall, model, self.n_hosts)


def _rows(filename: str, tic_id: int, name: str, scores: np.ndarray, cells, t0s) -> list[dict]:
    base = {"filename": filename, "tic_id": tic_id, "model": name}
    rows = [
        {
            **base,
            "depth_ppm": 0.0,
            "period_days": np.nan,
            "duration_hours": np.nan,
            "t0_btjd": np.nan,
            "anomaly_score": float(scores[0]),
        }
    ]
    for (depth, period, duration), t0, score in zip(cells, t0s, scores[1:]):
        rows.append(
            {
                **base,
                "depth_ppm": depth,
                "period_days": period,
                "duration_hours": duration,
                "t0_btjd": t0,
                "anomaly_score": float(score),
            }
        )
    return rows


def injection_recovery(
    hosts,
    models: dict,
    grid: dict | None = None,
    *,
    transit_model: str = "batman",
    threshold: float = 0.0,
    seed: int = 42,
    executor=None,
    batch_size: int = 2,
    progress=None,
) -> InjectionResult:
    """Injection–recovery: transits over a depth × period × duration grid multiplied into quiet hosts,
    scored by every model; recall per cell = fraction of hosts scored above ``threshold``.

    Parameters
    ----------
    hosts : paths, folders, LightCurves
        Quiet host light curves (real or simulated).
    models : dict
        ``{name: estimator}`` (e.g. ``dict(load_models(...))`` or ``{n: m.forest for ...}`` from ``train``).
    grid : dict, optional
        ``{"depth_ppm": [...], "period_days": [...], "duration_hours": [...]}`` (missing axes: defaults).
    transit_model : {"batman", "box"}
        Limb-darkened (batman) or box transits.
    threshold : float
        An injection counts as recovered when its score is above this (CLARA's "anomalous": > 0).
    seed : int
        Seed of the mid-transit times (uniform over the first period, per host and cell).
    executor, batch_size, progress
        As for ``clara4000_many`` (hosts per task).

    Returns
    -------
    InjectionResult

    Examples
    --------
    >>> import clara_benchmark as clara
    >>> models = clara.load_models(p3=PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl")
    >>> grid = {"depth_ppm": [20000], "period_days": [3.0], "duration_hours": [3.0]}
    >>> result = clara.injection_recovery(TESS_DIR / "tic55525572_lc.fits", dict(models), grid)
    >>> result.recall[["model", "depth_ppm", "n_injected"]].to_dict("records")
    [{'model': 'p3', 'depth_ppm': 20000.0, 'n_injected': 1}]
    """
    import functools

    from clara_benchmark.pipeline import map_lightcurves, resolve_inputs
    from clara_benchmark.urf_scoring import anomaly_score

    cells = grid_cells(parse_grid(grid if grid is not None else DEFAULT_GRID))
    resolved = resolve_inputs(hosts)
    index = {item_key(item)[0]: i for i, item in enumerate(resolved.items)}
    stage = functools.partial(inject_host, cells=cells, seed=seed, shape=transit_model, host_index=index)
    rows, failures, n_ok = [], list(resolved.failures), 0
    for batch in map_lightcurves(
        resolved.items, stage, executor=executor, batch_size=batch_size, progress=progress
    ):
        failures += batch.failures
        for filename, tic, res in zip(batch.filenames, batch.tic_ids, batch.values):
            n_ok += 1
            X = np.vstack([res["baseline"], res["injected"]])
            for name, model in models.items():
                rows += _rows(filename, tic, name, anomaly_score(model, X), cells, res["t0s"])
    if n_ok == 0:
        raise ClaraError("no usable host light curve: nothing to evaluate")
    scores = pd.DataFrame(rows)
    return InjectionResult(scores, summarise(scores, threshold), failures, n_ok)
