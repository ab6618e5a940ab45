"""Model files: clara's own safe format (skops) and CLARA's published pickles under a sha256 trust policy.

Loading a pickle runs whatever code it contains, so a ``.pkl``/``.joblib`` file is opened only when its
sha256 is one of CLARA's published releases below, or when the user says ``trust_pickles``. clara writes
models with skops, which rebuilds objects from an allow-list of types and never runs code from the file,
and stores metadata (feature spec, training set, library versions) in the same file.
"""

from __future__ import annotations

import datetime as _dt
import platform
import warnings
from pathlib import Path
from typing import Any

from clara_benchmark import __version__
from clara_benchmark.exceptions import ModelFileError
from clara_benchmark.utils.io import atomic_write_bytes, sha256_file

#: sha256 of the files CLARA published (models and PCA), see shared/data/clara_published/SHA256SUMS
KNOWN_PICKLES = {
    "fd4404e67befeb794afd631472f05048681ba4324b42f2f8e10991d544374a62": "CLARA P3 (urf4_model_variant_n300_d23.75_c2_n50ppm)",
    "4e2f0d7c5cf850791be4f090ff303045149422d185d7107390a5fb2bf22ae75f": "CLARA P5 (urf4_model_variant_n300_d25.25_c2_n225ppm)",
    "6f3148922c69131c2772451904c59ab273f5e7765d4dbdcc2449dabf9189c23b": "CLARA P9 (urf4_model_variant_n300_d24.5_c2_n225ppm)",
    "12009f6980126f95003e2547ae074fc91b562c4725d8f18db9bd4c01d733cbc1": "CLARA reference PCA (pca_model_s2_toi_simbad_labelled)",
}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SKOPS_SUFFIX = ".skops"
#: types a clara model file may contain beyond skops' defaults
TRUSTED_TYPES = [
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.decomposition._pca.PCA",
    "numpy.dtype",
    "builtins.dict",
    "builtins.list",
    "builtins.str",
]


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {
        "clara": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def save_model(estimator: Any, path: str | Path, metadata: dict | None = None) -> Path:
    """Write ``estimator`` and its metadata to a ``.skops`` file, atomically."""
    import skops.io as sio

    path = Path(path)
    if path.suffix != SKOPS_SUFFIX:
        raise ModelFileError(f"{path}: clara writes models as {SKOPS_SUFFIX} files")
    meta = {
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        **(metadata or {}),
    }
    atomic_write_bytes(path, sio.dumps({"estimator": estimator, "metadata": meta}))
    return path


def _load_skops(path: Path) -> tuple[Any, dict]:
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(file=str(path)))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable skops model file ({exc})") from None
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelFileError(
            f"{path}: refusing to load, the file contains types clara does not expect: "
            f"{', '.join(unexpected)}"
        )
    try:
        payload = sio.load(str(path), trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load skops model file ({exc})") from None
    if not isinstance(payload, dict) or "estimator" not in payload:
        raise ModelFileError(f"{path}: not a clara model file (no estimator inside)")
    return payload["estimator"], dict(payload.get("metadata") or {})


def _load_pickle(path: Path, trust_pickles: bool) -> tuple[Any, dict]:
    digest = sha256_file(path)
    release = KNOWN_PICKLES.get(digest)
    if release is None and not trust_pickles:
        raise ModelFileError(
            f"{path}: refusing to load a pickle whose sha256 ({digest[:12]}…) is not a known CLARA release; "
            f'loading a pickle runs its code. Set "trust_pickles": true if you trust this file, '
            f"or convert it with clara's own model format ({SKOPS_SUFFIX})"
        )
    import joblib

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
            estimator = joblib.load(path)
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load pickle ({type(exc).__name__}: {exc})") from None
    meta = {"source": release or "user-trusted pickle", "sha256": digest}
    return estimator, meta


def load_model(
    path: str | Path, trust_pickles: bool = False, expect: type | tuple | None = None
) -> tuple[Any, dict]:
    """Load a model file and return ``(estimator, metadata)``; refuse unknown pickles unless trusted."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file does not exist")
    if path.suffix == SKOPS_SUFFIX:
        estimator, meta = _load_skops(path)
    elif path.suffix in PICKLE_SUFFIXES:
        estimator, meta = _load_pickle(path, trust_pickles)
    else:
        raise ModelFileError(f"{path}: unknown model file type (expected {SKOPS_SUFFIX} or a published .pkl)")
    if expect is not None and not isinstance(estimator, expect):
        raise ModelFileError(
            f"{path}: holds a {type(estimator).__name__}, expected {getattr(expect, '__name__', expect)}"
        )
    return estimator, meta
