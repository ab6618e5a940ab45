"""What the model-file checks of ``modelio`` cost per load, against the load itself, same process.

    python bench/bench_model_checks.py [--repeat 20] [--trees 500]

For each of CLARA's published models (``../shared/data/clara_published``):

(a) baseline: the old ``load_model`` path, ``sha256_file(path)`` then ``joblib.load(path)`` (two reads);
(b) the new read: the file read once into memory, sha256 of the bytes, ``joblib.load`` from those bytes;
(c) the structure check alone (``forest_problem`` / ``pca_problem``);
(d) the one-row smoke test of a scoring model alone (``predict_proba`` of one all-zero row);
(e) the whole ``load_scoring_model`` / ``load_reference_pca`` (b + role + class + c + d).

Median of ``--repeat`` runs (CPU time of this process, ``time.process_time``; the machine is shared, wall
time is noisy), and each figure as a ratio of (a). ``--trees`` also times the check on a forest of that many
trees fitted on random clara-4000-wide data (deeper, unpruned trees, as clara's ``train`` writes).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import time
import warnings
from functools import partial
from pathlib import Path

import joblib
import numpy as np

from clara_benchmark import modelio
from clara_benchmark.utils.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = Path(os.environ.get("CLARA_SHARED", ROOT.parent / "shared")) / "data" / "clara_published"
MODELS = {
    "p3": "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl",
    "p5": "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl",
    "p9": "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl",
    "pca": "pca_model_s2_toi_simbad_labelled.pkl",
}


def cpu_median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def old_load(path: Path):
    sha256_file(path)
    return joblib.load(path)


def new_read(path: Path):
    data = modelio.read_model_bytes(path)
    hashlib.sha256(data).hexdigest()
    return joblib.load(io.BytesIO(data))


def timings(role: str, path: Path, repeat: int) -> tuple[object, list[float]]:
    """(model, CPU times of (a) … (e)) for one published file."""
    model = joblib.load(path)
    if role == "pca":
        check, full = partial(modelio.pca_problem, model, 4000), partial(modelio.load_reference_pca, path)
        smoke = None
    else:
        check, full = (
            partial(modelio.forest_problem, model, 4000),
            partial(modelio.load_scoring_model, path, role),
        )
        smoke = partial(model.predict_proba, np.zeros((1, 4000)))
    assert check() is None
    steps = [partial(old_load, path), partial(new_read, path), check, smoke, full]
    return model, [cpu_median(f, repeat) if f else float("nan") for f in steps]


def bench_published(repeat: int) -> None:
    heads = ["(a) old load", "(b) new read", "(c) check", "(d) smoke", "(e) all"]
    print(f"{'model':5} {'trees':>5} {'nodes':>6} {heads[0]:>12} " + " ".join(f"{h:>16}" for h in heads[1:]))
    for role, name in MODELS.items():
        model, (base, *row) = timings(role, PUBLISHED / name, repeat)
        trees = getattr(model, "estimators_", None)
        n_trees = len(trees) if trees else "-"
        nodes = sum(e.tree_.node_count for e in trees) if trees else "-"
        cells = " ".join(f"{t * 1e3:7.2f} ms {t / base:5.2f}x" for t in row)
        print(f"{role:5} {n_trees:>5} {nodes:>6} {base * 1e3:9.2f} ms {cells}")


def bench_big_forest(n_trees: int, repeat: int) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1800, 4000)).astype(np.float32)
    y = np.r_[np.ones(1500, dtype=int), np.zeros(300, dtype=int)]
    forest = RandomForestClassifier(n_estimators=n_trees, random_state=0, n_jobs=-1).fit(X, y)
    nodes = sum(e.tree_.node_count for e in forest.estimators_)
    t = cpu_median(lambda: modelio.forest_problem(forest, 4000), repeat)
    pred = cpu_median(lambda: forest.predict_proba(X[:64]), repeat)
    print(
        f"random forest of {n_trees} trees, {nodes} nodes: check {t * 1e3:.2f} ms "
        f"({t / pred:.2f}x one predict_proba of 64 rows, {pred * 1e3:.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--trees", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    bench_published(args.repeat)
    if args.trees:
        bench_big_forest(args.trees, max(3, args.repeat // 4))


if __name__ == "__main__":
    main()
