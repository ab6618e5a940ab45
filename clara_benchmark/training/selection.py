"""CLARA's α selection among candidate models (CLARA_SPEC §4), as pure functions of score tables.

A candidate is judged on how many known planets (TOIs) it flags (recall), how few stars it flags overall
(anomaly rate), and whether the most important planets (importance = SNR × depth(ppm) × duration(h),
min-max scaled) rank high. Each metric is min-max scaled across candidates, then

    score = α·[0.5·recall + 0.2·(1 − anomaly_rate) + 0.3·scaled(recall − anomaly_rate)]
          + (1 − α)·[0.5·mean_importance_top20% + 0.5·(1 − top10%_importance_range_end)]

and the highest score wins for each α.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: column names accepted for the importance inputs: clara's own, then ExoFOP's TOI table
SNR_COLUMNS = ("snr", "Planet SNR")
DEPTH_COLUMNS = ("depth_ppm", "Depth (ppm)")
DURATION_COLUMNS = ("duration_hours", "Duration (hours)")
TIC_COLUMNS = ("tic_id", "TIC ID", "tic")


def _first(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in df.columns), None)


def minmax(values) -> np.ndarray:
    """Scale to [0, 1]; a constant (or empty) column scales to 0, so it cannot favour anyone."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    lo, hi = np.min(x[finite]), np.max(x[finite])
    out = np.zeros_like(x) if hi <= lo else (x - lo) / (hi - lo)
    out[~finite] = 0.0
    return out


def planet_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Known planets as ``tic_id``, ``filename`` (may be empty) and ``importance`` in [0, 1].

    Accepts clara's simulated-sector truth CSV (rows of class ``planet``), an ExoFOP TOI table, or any CSV
    with ``tic_id`` or ``filename``. Without SNR/depth/duration columns every planet gets importance 1.
    """
    df = labels.copy()
    if "class" in df.columns:
        df = df[df["class"] == "planet"]
    tic_col = _first(df, TIC_COLUMNS)
    if tic_col is None and "filename" not in df.columns:
        raise ValueError("labels need a tic_id (or 'TIC ID') or a filename column")
    out = pd.DataFrame(index=df.index)
    out["tic_id"] = pd.to_numeric(df[tic_col], errors="coerce").astype("Int64") if tic_col else pd.NA
    out["filename"] = df["filename"].astype(str) if "filename" in df.columns else ""
    cols = [_first(df, c) for c in (SNR_COLUMNS, DEPTH_COLUMNS, DURATION_COLUMNS)]
    if all(cols):
        raw = np.prod([pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in cols], axis=0)
        out["importance_raw"] = raw
        out["importance"] = minmax(raw)
        out.loc[~np.isfinite(raw), "importance"] = np.nan
    else:
        out["importance_raw"] = np.nan
        out["importance"] = 1.0
    return out.reset_index(drop=True)


def mark_labelled(scores: pd.DataFrame, planets: pd.DataFrame) -> pd.DataFrame:
    """``scores`` (filename, tic_id, anomaly_score) + ``is_planet`` and ``importance`` (by TIC id or name)."""
    out = scores.copy()
    by_tic = planets.dropna(subset=["tic_id"]).drop_duplicates("tic_id").set_index("tic_id")["importance"]
    by_name = (
        planets[planets["filename"] != ""].drop_duplicates("filename").set_index("filename")["importance"]
    )
    imp_tic = out["tic_id"].map(by_tic) if len(by_tic) else pd.Series(np.nan, index=out.index)
    imp_name = out["filename"].map(by_name) if len(by_name) else pd.Series(np.nan, index=out.index)
    is_planet = out["tic_id"].isin(by_tic.index) | out["filename"].isin(by_name.index)
    out["is_planet"] = is_planet
    out["importance"] = imp_tic.fillna(imp_name)
    return out


def variant_metrics(marked: pd.DataFrame, top_percent: float = 20.0, range_percent: float = 10.0) -> dict:
    """CLARA's four metrics for one candidate's scores (``mark_labelled`` output)."""
    n = len(marked)
    flagged = marked[marked["anomaly_score"] > 0].sort_values("anomaly_score", ascending=False, kind="stable")
    n_planets = int(marked["is_planet"].sum())
    recall = float((flagged["is_planet"]).sum() / n_planets) if n_planets else float("nan")
    anomaly_rate = float(len(flagged) / n) if n else float("nan")

    top = flagged.head(int(len(flagged) * top_percent / 100.0))
    top_imp = top.loc[top["is_planet"], "importance"].dropna()
    mean_importance = float(top_imp.mean()) if len(top_imp) else 0.0

    ranked = flagged.reset_index(drop=True)
    ranked["percentile"] = ranked.index / max(len(ranked), 1) * 100.0
    planets = ranked[ranked["is_planet"]].dropna(subset=["importance"])
    if len(planets):
        k = max(1, int(len(planets) * range_percent / 100.0))
        important = planets.sort_values("importance", ascending=False, kind="stable").head(k)
        range_end = float(important["percentile"].max())
    else:
        range_end = 100.0  # no important planet flagged at all: the worst possible
    return {
        "n_scored": n,
        "n_planets": n_planets,
        "n_flagged": int(len(flagged)),
        "recall": recall,
        "anomaly_rate": anomaly_rate,
        "mean_importance_top20": mean_importance,
        "top10_importance_range_end": range_end,
    }


def alpha_scores(metrics: pd.DataFrame, alphas: list[float]) -> pd.DataFrame:
    """Add ``score_alpha_<α>`` per α and ``best_for_alpha`` (the α values each candidate wins)."""
    out = metrics.copy()
    recall = minmax(out["recall"].fillna(0.0))
    rate = minmax(out["anomaly_rate"].fillna(1.0))
    gap = minmax(out["recall"].fillna(0.0) - out["anomaly_rate"].fillna(1.0))
    importance = minmax(out["mean_importance_top20"])
    range_end = minmax(out["top10_importance_range_end"])
    detection = 0.5 * recall + 0.2 * (1.0 - rate) + 0.3 * gap
    ranking = 0.5 * importance + 0.5 * (1.0 - range_end)
    wins: list[list[str]] = [[] for _ in range(len(out))]
    for alpha in alphas:
        col = f"score_alpha_{alpha:g}"
        out[col] = alpha * detection + (1.0 - alpha) * ranking
        wins[int(np.argmax(out[col].to_numpy()))].append(f"{alpha:g}")
    out["best_for_alpha"] = [";".join(w) for w in wins]
    return out
