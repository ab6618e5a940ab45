"""The ``score`` command of this tree against an earlier revision: same files, same machine, same run.

    python bench/bench_versions.py --rev f83d8fb [--copies 150] [--rounds 3]

The revision is checked out into a temporary git worktree. Each round runs ``clara score`` (P3 + P5 + P9,
one worker, WRSS) of each tree on the same copies of the three real light curves, alternating which goes
first; the figure per light curve is the child process's CPU time (user + system) divided by the number
of light curves, so a busy machine stretches both the same way. Both trees use this interpreter and its
installed packages; only the clara code differs. The score CSVs of both must be identical, or the
benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchdata import MODELS, ROOT, SHARED


def run_score(tree: Path, data: Path, out: Path) -> float:
    """CPU seconds of one ``clara score`` run of ``tree``'s code."""
    cfg = out.with_suffix(".json")
    raw = {
        "input_dirs": [str(data)],
        "output_dir": str(out),
        "max_workers": 1,
        "batch_size": 64,
        "calculate_wrss_p3p9": True,
        **{f"use_{k}": True for k in MODELS},
        **{f"{k}model_path": str(SHARED / "data" / "clara_published" / v) for k, v in MODELS.items()},
    }
    cfg.write_text(json.dumps(raw))
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "clara_benchmark.cli",
            "score",
            "--config",
            str(cfg),
            "--quiet",
            "--log_dir",
            str(out) + "_logs",
        ],
        env=env,
        cwd=out.parent,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def scores_of(out: Path) -> dict[str, str]:
    return {p.name.split("_2")[0]: p.read_text() for p in sorted(out.glob("anomaly_scores_*.csv"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", required=True, help="the earlier revision (e.g. f83d8fb)")
    ap.add_argument("--copies", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clara-bench-versions-"))
    old = work / "old"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), args.rev], cwd=ROOT, check=True)
    try:
        data = work / "data"
        data.mkdir()
        real = sorted((SHARED / "data" / "tess").glob("*.fits"))
        for i in range(args.copies):
            src = real[i % len(real)]
            shutil.copy(src, data / f"copy{i:04d}_{src.name}")
        for f in data.iterdir():  # into the page cache
            f.read_bytes()
        cpu = {"old": [], "new": []}
        for r in range(args.rounds):
            order = [("old", old), ("new", ROOT)] if r % 2 == 0 else [("new", ROOT), ("old", old)]
            for label, tree in order:
                out = work / f"{label}_{r}"
                cpu[label].append(run_score(tree, data, out) / args.copies)
        if scores_of(work / "old_0") != scores_of(work / "new_0"):
            print("the two trees wrote different score CSVs", file=sys.stderr)
            return 1
        med = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"{args.copies} light curves x {args.rounds} rounds, CPU per light curve (ms), median [all]:")
        for k in ("old", "new"):
            print(
                f"  {k:>3} ({args.rev if k == 'old' else 'this tree'}): {1e3 * med[k]:7.2f}  "
                f"[{', '.join(f'{1e3 * v:.2f}' for v in cpu[k])}]"
            )
        print(f"  new / old: {med['new'] / med['old']:.3f}; score CSVs identical")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
