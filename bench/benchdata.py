"""What the benchmarks share: where the real data and CLARA's published models are.

The scripts in bench/ run as ``python bench/<name>.py``, so this module is importable as ``benchdata``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLARA_SHARED", ROOT.parent / "shared"))
PUBLISHED = SHARED / "data" / "clara_published"
#: CLARA's published P3/P5/P9 model files, by role
MODELS = {
    "p3": "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl",
    "p5": "urf4_model_variant_n300_d25.25_c2_n225ppm.pkl",
    "p9": "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl",
}


def model_paths() -> dict[str, Path]:
    return {role: PUBLISHED / name for role, name in MODELS.items()}


def real_files(argv: list[str] | None = None) -> tuple[Path, list[Path]]:
    """(folder, its *.fits): the folder named on the command line, else shared/data/tess."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else SHARED / "data" / "tess"
    files = sorted(root.glob("*.fits"))
    if not files:
        sys.exit(f"no FITS files in {root}")
    return root, files
