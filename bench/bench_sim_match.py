"""Matching cost of sim: PCA projection + cosine similarity + best match, batched against one candidate at a
time with a per-reference-row loop (the shape of CLARA's matching), on CLARA's published reference set.

    python bench/bench_sim_match.py [N_CANDIDATES]      (default 2000; CLARA_SHARED = the shared/ folder)

Candidates are random clara-4000-like vectors (feature values do not change the cost). Both paths run in
this process and must give the same labels; the script prints per-candidate time and the ratio.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from clara_benchmark.cosine_similarity.match import match, project
from clara_benchmark.cosine_similarity.reference import load_reference_set

SHARED = Path(os.environ.get("CLARA_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
PUBLISHED = SHARED / "data" / "clara_published"


def one_by_one(ref, X, threshold):
    """Per candidate: project it, then loop over reference rows computing the cosine similarity."""
    labels = []
    for x in X:
        q = ref.pca.transform(x[None])[0]
        best, best_j = -np.inf, -1
        for j, r in enumerate(ref.coords):
            s = float(q @ r / (np.linalg.norm(q) * np.linalg.norm(r)))
            if s > best:
                best, best_j = s, j
        labels.append(ref.labels[best_j] if best >= threshold else "outlier")
    return labels


def batched(ref, X, threshold, batch=64):
    labels = []
    for i in range(0, len(X), batch):
        m = match(project(ref.pca, X[i : i + batch]), ref.unit, ref.labels, threshold)
        labels.extend(m.matched_label.tolist())
    return labels


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    ref = load_reference_set(
        PUBLISHED / "pca_model_s2_toi_simbad_labelled.pkl",
        PUBLISHED / "reduced_features_s2_toi_simbad_labelled.csv",
    )
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(n, 3000)), rng.random(size=(n, 1000)) * 0.05])
    n_slow = min(n, 300)
    t = time.perf_counter()
    slow = one_by_one(ref, X[:n_slow], 0.3)
    t_slow = (time.perf_counter() - t) / n_slow
    t = time.perf_counter()
    fast = batched(ref, X, 0.3)
    t_fast = (time.perf_counter() - t) / n
    assert fast[:n_slow] == slow, "batched and one-by-one labels differ"
    print(f"reference: {len(ref)} objects, {ref.n_components} components; candidates: {n}")
    print(f"one by one : {t_slow * 1e3:8.3f} ms/candidate ({n_slow} candidates)")
    print(f"batched(64): {t_fast * 1e3:8.3f} ms/candidate ({n} candidates)")
    print(f"ratio      : {t_slow / t_fast:8.1f}x")


if __name__ == "__main__":
    main()
