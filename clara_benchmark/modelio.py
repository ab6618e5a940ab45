"""Model files: clara's own safe format (skops) and CLARA's published pickles under a sha256 trust policy.

Loading a pickle runs whatever code it contains, so a ``.pkl``/``.joblib`` file is opened only when its
sha256 is one of CLARA's published releases below, or when the user says ``trust_pickles``. clara writes
models with skops, which rebuilds objects from an allow-list of types and never runs code from the file,
and stores metadata (feature spec, training set, role, library versions) in the same file.

What every load checks, in order (``load_model``; the role loaders ``load_scoring_model`` and
``load_reference_pca``, which ``score`` and ``sim`` use, add steps 5 and 6, 6 first so that a known
model in the wrong slot is named for what it is):

1. **One read.** The file is opened once (regular files only, at most ``MAX_MODEL_BYTES``) and read into
   memory; the sha256, skops' type audit and the load all use those bytes. A file swapped on disk while
   clara loads it cannot get other bytes unpickled than the ones that were hashed (issue 11 item 2).
2. **Pickles**: unpickled only when the sha256 of the bytes is a published CLARA release
   (``PUBLISHED_RELEASES``) or ``trust_pickles`` is set.
3. **skops**: refused when the file holds a type outside ``TRUSTED_TYPES``.
4. **Structure** of a loaded ``RandomForestClassifier`` (``forest_problem``) and ``PCA``
   (``pca_problem``). skops checks an object's *type*, not its content: scikit-learn's tree code indexes
   its node arrays without bounds checks, so a crafted tree with a child or feature index out of range
   segfaults or loops forever on its first prediction. Each tree must have node arrays of one length,
   children either both -1 (leaf) or both later nodes (scikit-learn's builders add a node after its
   parent, so this rules out cycles), every node but the root with exactly one parent, split features in
   ``[0, n_features)``, finite thresholds, class values finite, non-negative and of shape
   ``(node_count, 1, 2)``, classes ``[0, 1]``. The node arrays of all trees are checked at once
   (concatenated, one numpy operation per check): 2–8 ms per published forest (83–166 trees, 8.5–13.3k
   nodes), about 0.1× the time of the load itself (``bench/bench_model_checks.py``, shared 2-core machine;
   a per-tree loop took 6–16 ms).
5. **Class and width for the role**: a scoring model (P3/P5/P9) must be exactly a scikit-learn
   ``RandomForestClassifier`` on ``N_FEATURES`` inputs with classes ``[0, 1]`` that predicts one all-zero
   row without error (9–30 ms: an odd attribute fails here with exit 2, not in every worker); a reference
   PCA exactly a scikit-learn ``PCA`` on ``N_FEATURES`` inputs, with components and mean of that width.
6. **Identity**: a file whose identity says it is another model (a published release by its sha256, a clara
   ``.skops`` by its ``role`` metadata) is refused in the wrong slot: P9 given as P3, a PCA as a scoring
   model, a scoring model as the reference PCA. A custom model (``role`` "custom", a user-trusted pickle,
   or an older clara file with no role) is accepted in any scoring slot; the returned metadata's ``note``
   says so, for the caller's log.

Examples
--------
>>> variant_role("P3"), variant_role("p9"), variant_role("wide_noise")
('p3', 'p9', 'custom')
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from clara_benchmark import __version__
from clara_benchmark.exceptions import ModelFileError
from clara_benchmark.features import N_FEATURES
from clara_benchmark.utils.io import atomic_write_bytes

#: scoring slots (config keys ``<role>model_path``), and the other roles a model file can have
SCORING_ROLES = ("p3", "p5", "p9")
CUSTOM_ROLE = "custom"
REFERENCE_ROLE = "reference_pca"
#: the ``kind`` that ``reference`` writes in a reference PCA's metadata
REFERENCE_KIND = "clara reference PCA"
#: sha256 → (role, description) of the files CLARA published, see shared/data/clara_published/SHA256SUMS
PUBLISHED_RELEASES = {
    "fd4404e67befeb794afd631472f05048681ba4324b42f2f8e10991d544374a62": (
        "p3",
        "CLARA P3 (urf4_model_variant_n300_d23.75_c2_n50ppm)",
    ),
    "4e2f0d7c5cf850791be4f090ff303045149422d185d7107390a5fb2bf22ae75f": (
        "p5",
        "CLARA P5 (urf4_model_variant_n300_d25.25_c2_n225ppm)",
    ),
    "6f3148922c69131c2772451904c59ab273f5e7765d4dbdcc2449dabf9189c23b": (
        "p9",
        "CLARA P9 (urf4_model_variant_n300_d24.5_c2_n225ppm)",
    ),
    "12009f6980126f95003e2547ae074fc91b562c4725d8f18db9bd4c01d733cbc1": (
        REFERENCE_ROLE,
        "CLARA reference PCA (pca_model_s2_toi_simbad_labelled)",
    ),
}
#: sha256 → description of the published pickles (the trust list)
KNOWN_PICKLES = {digest: text for digest, (_role, text) in PUBLISHED_RELEASES.items()}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SKOPS_SUFFIX = ".skops"
#: the largest model file clara reads (CLARA's are 0.7–1.6 MB; clara's own forests tens of MB)
MAX_MODEL_BYTES = 1 << 30
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


def variant_role(variant: str) -> str:
    """The role of a model ``train`` wrote for a variant: ``p3``/``p5``/``p9`` by its name, else custom."""
    name = str(variant).strip().lower()
    return name if name in SCORING_ROLES else CUSTOM_ROLE


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


# ---------------------------------------------------------------------------------------------------------
# reading: one read of the file, then only its bytes


def read_model_bytes(path: Path) -> bytes:
    """The whole file, read through one descriptor; refuses what is not a regular file or is too large."""
    from clara_benchmark.fitsfile import NotRegularFile, not_regular_reason, open_regular

    try:  # non-blocking and checked on the descriptor: a FIFO in the model's place cannot block the open
        fd = open_regular(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file does not exist") from None
    except NotRegularFile as exc:
        raise ModelFileError(f"{path}: model file {not_regular_reason(exc.mode, 'regular file')}") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot open model file ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file ({exc.strerror})") from None
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: model file is larger than {MAX_MODEL_BYTES >> 20} MiB")
    return data


def _load_skops(path: Path, data: bytes) -> tuple[Any, dict]:
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable skops model file ({exc})") from None
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelFileError(
            f"{path}: refusing to load, the file contains types clara does not expect: "
            f"{', '.join(unexpected)}"
        )
    try:
        payload = sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load skops model file ({exc})") from None
    if not isinstance(payload, dict) or "estimator" not in payload:
        raise ModelFileError(f"{path}: not a clara model file (no estimator inside)")
    meta = payload.get("metadata")
    return payload["estimator"], dict(meta) if isinstance(meta, dict) else {}


def _load_pickle(path: Path, data: bytes, digest: str, trust_pickles: bool) -> tuple[Any, dict]:
    release = PUBLISHED_RELEASES.get(digest)
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
            estimator = joblib.load(io.BytesIO(data))  # the bytes hashed above, never the file again
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load pickle ({type(exc).__name__}: {exc})") from None
    if release is None:
        return estimator, {"source": "user-trusted pickle"}
    return estimator, {"source": release[1], "release_role": release[0]}


def _load(path: str | Path, trust_pickles: bool) -> tuple[Path, Any, dict]:
    """``(path, estimator, metadata)``: steps 1–3 of the module docstring, no checks of the content."""
    path = Path(path)
    if path.suffix not in (SKOPS_SUFFIX, *PICKLE_SUFFIXES):
        raise ModelFileError(f"{path}: unknown model file type (expected {SKOPS_SUFFIX} or a published .pkl)")
    data = read_model_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix == SKOPS_SUFFIX:
        estimator, meta = _load_skops(path, data)
    else:
        estimator, meta = _load_pickle(path, data, digest, trust_pickles)
    meta["sha256"] = digest
    return path, estimator, meta


def load_model(
    path: str | Path, trust_pickles: bool = False, expect: type | tuple | None = None
) -> tuple[Any, dict]:
    """Load a model file and return ``(estimator, metadata)``; refuse unknown pickles unless trusted.

    A ``RandomForestClassifier`` or ``PCA`` is checked for a sound structure on its own input width
    (``forest_problem``, ``pca_problem``); ``metadata["sha256"]`` is the sha256 of the bytes loaded.
    """
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier

    path, estimator, meta = _load(path, trust_pickles)
    if expect is not None and not isinstance(estimator, expect):
        raise ModelFileError(
            f"{path}: holds a {type(estimator).__name__}, expected {getattr(expect, '__name__', expect)}"
        )
    problem = None
    if isinstance(estimator, RandomForestClassifier):
        problem = forest_problem(estimator, getattr(estimator, "n_features_in_", None))
    elif isinstance(estimator, PCA):
        problem = pca_problem(estimator, getattr(estimator, "n_features_in_", None))
    if problem:
        raise ModelFileError(f"{path}: refusing to use this model: {problem}")
    return estimator, meta


# ---------------------------------------------------------------------------------------------------------
# structure of a forest and of a PCA (pure functions: a reason, or None when sound)


def _tree_arrays(tree: Any, n_features: int) -> tuple[str | None, tuple]:
    """(problem, (left, right, feature, threshold, value)) of one tree; the scalar checks only."""
    from sklearn.tree._tree import Tree

    if type(tree) is not Tree:
        return f"tree_ is a {type(tree).__name__}, not a scikit-learn Tree", ()
    n = int(tree.node_count)
    n_classes = [int(c) for c in np.atleast_1d(tree.n_classes)]
    if tree.n_features != n_features or tree.n_outputs != 1 or n_classes != [2]:
        return (
            f"built for {tree.n_features} features, {tree.n_outputs} output(s), classes {n_classes} "
            f"(expected {n_features}, 1, [2])"
        ), ()
    arrays = (tree.children_left, tree.children_right, tree.feature, tree.threshold, tree.value)
    lengths = sorted({len(a) for a in arrays})
    if n < 1 or lengths != [n]:
        return f"node arrays of lengths {lengths} for {n} nodes", ()
    if arrays[4].shape != (n, 1, 2):
        return f"class values of shape {arrays[4].shape}, expected {(n, 1, 2)}", ()
    return None, arrays


def _nodes_problem(trees: list[tuple], n_features: int) -> tuple[int, str] | None:
    """``(tree index, reason)`` of the first unsound node of these trees' arrays, or None.

    All trees at once: their node arrays are concatenated, so each check is one numpy operation for the
    whole forest (the per-tree loop of ~20 small operations cost ~10 ms per published forest).
    """
    counts = np.array([len(t[0]) for t in trees])
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    left, right, feature, threshold = (np.concatenate([t[k] for t in trees]) for k in range(4))
    value = np.concatenate([t[4] for t in trees])
    base = np.repeat(starts, counts)
    local, size = np.arange(len(left)) - base, np.repeat(counts, counts)

    def first(bad: np.ndarray) -> tuple[int, int]:
        g = int(np.argmax(bad))
        return int(np.searchsorted(starts, g, side="right") - 1), g

    leaf = left == -1
    bad = leaf != (right == -1)
    if bad.any():
        t, g = first(bad)
        return t, f"node {local[g]} has one child only"
    inner = ~leaf
    bad = inner & ((left <= local) | (left >= size) | (right <= local) | (right >= size))
    if bad.any():
        t, g = first(bad)
        return t, (
            f"node {local[g]} has children {left[g]} and {right[g]} "
            f"(children must be later nodes, of {counts[t]})"
        )
    parents = np.bincount(np.r_[left[inner] + base[inner], right[inner] + base[inner]], minlength=len(left))
    expected = np.ones(len(left), dtype=parents.dtype)
    expected[starts] = 0
    bad = parents != expected
    if bad.any():
        t, g = first(bad)
        return t, f"node {local[g]} has {parents[g]} parent nodes (a tree node has one, the root none)"
    bad = inner & ((feature < 0) | (feature >= n_features))
    if bad.any():
        t, g = first(bad)
        return t, f"node {local[g]} splits on feature {feature[g]}, outside 0..{n_features - 1}"
    bad = ~np.isfinite(threshold)
    if bad.any():
        t, g = first(bad)
        return t, f"node {local[g]} has threshold {threshold[g]}"
    bad = ~(np.isfinite(value) & (value >= 0)).all(axis=(1, 2))
    if bad.any():
        t, g = first(bad)
        return t, f"node {local[g]} has class values {value[g].ravel().tolist()}"
    return None


def tree_problem(tree: Any, n_features: int) -> str | None:
    """Why a fitted ``sklearn.tree._tree.Tree`` is unsafe or unfit to score ``n_features`` inputs, or None.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> fitted = DecisionTreeClassifier(random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    >>> tree_problem(fitted.tree_, 4) is None, tree_problem(fitted.tree_, 3)
    (True, 'built for 4 features, 1 output(s), classes [2] (expected 3, 1, [2])')
    """
    problem, arrays = _tree_arrays(tree, n_features)
    if problem:
        return problem
    found = _nodes_problem([arrays], n_features)
    return found[1] if found else None


def _classes_problem(est: Any) -> str | None:
    classes = np.asarray(getattr(est, "classes_", []))
    if classes.ndim != 1 or classes.tolist() != [0, 1] or getattr(est, "n_outputs_", None) != 1:
        return f"has classes {classes.tolist()}, expected [0, 1] (synthetic, real) and one output"
    if getattr(est, "n_classes_", None) != 2:
        return f"has n_classes_ {getattr(est, 'n_classes_', None)}, expected 2"
    return None


def forest_problem(forest: Any, n_features: int | None) -> str | None:
    """Why a fitted ``RandomForestClassifier`` is unsafe or unfit to score ``n_features`` inputs, or None.

    ``n_features`` None means the forest's own ``n_features_in_``, which must then be a positive integer.
    """
    from sklearn.tree import DecisionTreeClassifier

    n_in = getattr(forest, "n_features_in_", None)
    if not isinstance(n_in, (int, np.integer)) or n_in < 1 or (n_features is not None and n_in != n_features):
        return f"the forest takes {n_in} features" + (f", expected {n_features}" if n_features else "")
    problem = _classes_problem(forest)
    if problem:
        return f"the forest {problem}"
    trees = getattr(forest, "estimators_", None)
    if not isinstance(trees, list) or not trees or len(trees) != getattr(forest, "n_estimators", None):
        count = len(trees) if isinstance(trees, list) else None
        return f"the forest has {count} fitted trees for n_estimators {getattr(forest, 'n_estimators', None)}"
    arrays = []
    for i, est in enumerate(trees):
        if type(est) is not DecisionTreeClassifier:
            return f"tree {i} is a {type(est).__name__}, not a DecisionTreeClassifier"
        if getattr(est, "n_features_in_", None) != n_in:
            return f"tree {i} takes {getattr(est, 'n_features_in_', None)} features, the forest {n_in}"
        problem = _classes_problem(est)
        if not problem:
            problem, tree_arrays = _tree_arrays(getattr(est, "tree_", None), int(n_in))
        if problem:
            return f"tree {i}: {problem}"
        arrays.append(tree_arrays)
    found = _nodes_problem(arrays, int(n_in))
    return f"tree {found[0]}: {found[1]}" if found else None


def pca_problem(pca: Any, n_features: int | None) -> str | None:
    """Why a fitted ``PCA`` cannot project ``n_features``-wide vectors, or None (None: its own width)."""
    n_in = getattr(pca, "n_features_in_", None)
    if not hasattr(pca, "components_") or not isinstance(n_in, (int, np.integer)):
        return "the PCA is not fitted"
    if n_features is not None and n_in != n_features:
        return f"the PCA takes {n_in} features, clara-4000 vectors have {n_features}"
    k = getattr(pca, "n_components_", None)
    comps, mean = np.asarray(pca.components_), np.asarray(getattr(pca, "mean_", None))
    if not isinstance(k, (int, np.integer)) or k < 1 or comps.shape != (k, n_in):
        return f"the PCA has components of shape {comps.shape} for {k} components of {n_in} features"
    if mean.shape != (n_in,):
        return f"the PCA has a mean of shape {mean.shape}, expected ({n_in},)"
    if (
        comps.dtype.kind != "f"
        or mean.dtype.kind != "f"
        or not (np.isfinite(comps).all() and np.isfinite(mean).all())
    ):
        return "the PCA has non-finite or non-numeric components or mean"
    if getattr(pca, "whiten", False):
        var = np.asarray(getattr(pca, "explained_variance_", None))
        if var.shape != (k,) or var.dtype.kind != "f" or not (np.isfinite(var) & (var > 0)).all():
            return "the whitening PCA has no usable explained_variance_"
    return None


# ---------------------------------------------------------------------------------------------------------
# the loaders for a role: identity, class, width, structure


def model_identity(meta: dict) -> tuple[str | None, str]:
    """``(role, description)`` of a loaded model file from its metadata; role None when it records none.

    Examples
    --------
    >>> model_identity({"role": "p9", "variant": "P9"})
    ('p9', 'clara\\'s P9 model (variant "P9")')
    >>> model_identity({"source": "user-trusted pickle"})
    (None, 'a user-trusted pickle')
    """
    if "release_role" in meta:
        return meta["release_role"], str(meta["source"])
    if meta.get("source") == "user-trusted pickle":
        return None, "a user-trusted pickle"
    variant = meta.get("variant")
    role = meta.get("role")
    if role is None and meta.get("kind") == REFERENCE_KIND:
        role = REFERENCE_ROLE
    if role is None and variant is not None:  # written by train before it recorded roles
        role = variant_role(variant)
    of_variant = f' (variant "{variant}")' if variant is not None else ""
    if role in SCORING_ROLES:
        return role, f"clara's {role.upper()} model{of_variant}"
    if role == CUSTOM_ROLE:
        return role, f"a custom clara model{of_variant}"
    if role == REFERENCE_ROLE:
        name = meta.get("name")
        return role, "a clara reference PCA" + (f' ("{name}")' if name else "")
    if role is not None:
        return None, f'a model file with an unknown role "{role}"'
    return None, "a model file that records no role"


def _slot(role: str | None) -> str:
    return f"the {role.upper()} model ({role}model_path)" if role else "a scoring model"


def load_scoring_model(
    path: str | os.PathLike, role: str | None, trust_pickles: bool = False
) -> tuple[Any, dict]:
    """Load a P3/P5/P9 scoring model with every check of the module docstring; ``(forest, metadata)``.

    ``role`` is the slot the file was given for (``"p3"``, ``"p5"``, ``"p9"``; None: any scoring slot, as
    ``evaluate`` uses). ``metadata`` gains ``role`` (the file's: a slot, or ``"custom"``), ``identity`` (a
    description) and, for a custom model, ``note``: one line for the log. Raises ``ModelFileError`` (exit
    2) naming the file and what is wrong.

    Examples
    --------
    >>> forest, meta = load_scoring_model(PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl", "p3")
    >>> meta["role"], meta["identity"], len(forest.estimators_)
    ('p3', 'CLARA P3 (urf4_model_variant_n300_d23.75_c2_n50ppm)', 83)
    >>> load_scoring_model(PUBLISHED_DIR / "urf4_model_variant_n300_d24.5_c2_n225ppm.pkl", "p3")
    Traceback (most recent call last):
    ...
    clara_benchmark.exceptions.ModelFileError: ...pkl: this is CLARA P9 (...), given as the P3 model (p3model_path); ...
    """
    if role is not None and role not in SCORING_ROLES:
        raise ValueError(f"role must be one of {SCORING_ROLES} or None, not {role!r}")
    path, forest, meta = _load(path, trust_pickles)
    file_role, what = model_identity(meta)
    slot = _slot(role)
    if file_role == REFERENCE_ROLE:
        raise ModelFileError(f"{path}: this is {what}, not a scoring model; it cannot be used as {slot}")
    if role is not None and file_role in SCORING_ROLES and file_role != role:
        raise ModelFileError(
            f"{path}: this is {what}, given as {slot}; P3, P5 and P9 are different models (WRSS weighs "
            f"P3 and P9 differently): give it as {file_role}model_path"
        )
    check_scoring_estimator(forest, role, where=str(path))
    meta.update(role=file_role or CUSTOM_ROLE, identity=what)
    if file_role not in SCORING_ROLES:
        meta["note"] = f"{path}: {what}, used as {slot}"
    return forest, meta


def check_scoring_estimator(forest: Any, role: str | None = None, where: str = "the estimator") -> None:
    """Steps 4 and 5 of the module docstring for a fitted estimator (a file's, or one given in memory).

    Raises ``ModelFileError`` starting with ``where`` (the file name) when ``forest`` is not exactly a
    scikit-learn ``RandomForestClassifier`` of classes ``[0, 1]`` on clara-4000 vectors with a sound
    structure that predicts one row.
    """
    from sklearn.ensemble import RandomForestClassifier

    slot = _slot(role)
    if type(forest) is not RandomForestClassifier:
        raise ModelFileError(
            f"{where}: holds a {type(forest).__name__}; {slot} must be a scikit-learn RandomForestClassifier "
            "(what CLARA published and clara's train writes)"
        )
    n_in = getattr(forest, "n_features_in_", None)
    if n_in != N_FEATURES:
        raise ModelFileError(f"{where}: {slot} expects {n_in} features, clara-4000 vectors have {N_FEATURES}")
    problem = forest_problem(forest, N_FEATURES)
    if problem:
        raise ModelFileError(f"{where}: refusing to use this model: {problem}")
    _smoke_test(where, forest)


def _smoke_test(path: Path | str, forest: Any) -> None:
    """One all-zero row through the forest: attribute errors show here, not in every worker."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proba = forest.predict_proba(np.zeros((1, N_FEATURES)))
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot score with this model ({type(exc).__name__}: {exc})") from None
    proba = np.asarray(proba)
    if proba.shape != (1, 2) or not (np.isfinite(proba).all() and 0 <= proba.min() and proba.max() <= 1):
        raise ModelFileError(f"{path}: the model's probabilities are not two numbers in [0, 1]: {proba!r}")


def load_reference_pca(path: str | os.PathLike, trust_pickles: bool = False) -> tuple[Any, dict]:
    """Load the reference PCA of ``sim`` with every check of the module docstring; ``(pca, metadata)``.

    Refuses a scoring model (published or clara's), anything but a scikit-learn ``PCA``, and a PCA that
    does not take clara-4000 vectors. ``metadata`` gains ``role`` and ``identity``.
    """
    from sklearn.decomposition import PCA

    path, pca, meta = _load(path, trust_pickles)
    file_role, what = model_identity(meta)
    if file_role in SCORING_ROLES or file_role == CUSTOM_ROLE:
        raise ModelFileError(
            f"{path}: this is {what}, a scoring model, given as the reference PCA "
            "(simbad_labelled_pca_model_path)"
        )
    if type(pca) is not PCA:
        raise ModelFileError(
            f"{path}: holds a {type(pca).__name__}; a reference PCA must be a scikit-learn PCA"
        )
    problem = pca_problem(pca, N_FEATURES)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    meta.update(role=REFERENCE_ROLE, identity=what)
    return pca, meta
