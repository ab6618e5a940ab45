"""Reference sets for ``sim``: build one (``reference`` command) and load one (clara's or CLARA's published).

A reference set is a PCA fitted on the clara-4000 vectors of labelled light curves (raw, unscaled, as
CLARA did) and a CSV in CLARA's published layout: component columns ``0``…``N-1``, then ``label`` and
``filename``, one row per reference object. clara writes the PCA as ``.skops`` with metadata that binds it
to its CSV (sha256); CLARA's published pickle loads only under ``modelio``'s sha256/trust policy.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from clara_benchmark.cosine_similarity.inputs import FitsFinder
from clara_benchmark.cosine_similarity.match import label_group, unit_rows
from clara_benchmark.exceptions import ClaraError, ConfigError
from clara_benchmark.features import FEATURE_SPEC_VERSION, N_FEATURES
from clara_benchmark.lightcurve import LightCurveError, ReadOptions, tic_from_filename
from clara_benchmark.modelio import load_reference_pca, save_model
from clara_benchmark.tables import first_conflict, parse_tic_ids
from clara_benchmark.utils.io import sha256_file

REFERENCE_KIND = "clara reference PCA"


def output_paths(output_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """(PCA model, reference CSV, failures CSV) of a reference set called ``name``."""
    from clara_benchmark import products

    return (
        products.REFERENCE_PCA.path(output_dir, name=name),
        products.REFERENCE_CSV.path(output_dir, name=name),
        products.REFERENCE_FAILURES.path(output_dir, name=name),
    )


# ---------------------------------------------------------------------------------------------------------
# the loaded reference set


@dataclass
class ReferenceSet:
    """A PCA and its labelled reference rows (``coords``: n × n_components, in the PCA's space)."""

    pca: PCA
    coords: np.ndarray
    labels: np.ndarray  # object array of str
    filenames: np.ndarray  # object array of str
    metadata: dict
    unit: np.ndarray  # coords scaled to unit rows, computed once for all batches

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_components(self) -> int:
        return self.coords.shape[1]

    def tic_ids(self) -> dict[str, int]:
        """The TIC id of each reference file (by file name) that says one: clara's sets record them in
        their metadata (``tic_ids``, in CSV order); otherwise a SPOC-style file name carries it (CLARA's
        published set). Files with neither are left out."""
        out: dict[str, int] = {}
        recorded = self.metadata.get("tic_ids")
        if isinstance(recorded, list) and len(recorded) == len(self.filenames):
            for name, tic in zip(self.filenames, recorded):
                if str(tic).isdigit() and int(tic) > 0:
                    out[str(name)] = int(tic)
        for name in self.filenames:
            if str(name) not in out:
                tic = tic_from_filename(str(name))
                if tic is not None:
                    out[str(name)] = tic
        return out

    @classmethod
    def load(
        cls, pca_path: str | os.PathLike, csv_path: str | os.PathLike, trust_pickles: bool = False
    ) -> ReferenceSet:
        """Load a reference set: its PCA (clara's ``.skops``, or CLARA's published pickle under the sha256
        trust policy) and its CSV (columns ``0``…``N-1``, ``label``, ``filename``).

        Examples
        --------
        >>> ref = ReferenceSet.load(PUBLISHED_DIR / "pca_model_s2_toi_simbad_labelled.pkl",
        ...                         PUBLISHED_DIR / "reduced_features_s2_toi_simbad_labelled.csv")
        >>> len(ref), ref.n_components
        (187, 50)
        """
        return load_reference_set(pca_path, csv_path, trust_pickles)


def component_columns(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def _read_reference_csv(csv_path: Path) -> pd.DataFrame:
    try:
        # labels like "NA" or "*" must stay text: no NaN guessing
        return pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ConfigError(f"{csv_path}: reference CSV does not exist") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{csv_path}: reference CSV is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{csv_path}: cannot read reference CSV ({' '.join(str(exc).split())})") from None


def parse_reference_table(
    table: pd.DataFrame, n_components: int, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coords, labels, filenames) from a reference table, checked against the PCA's ``n_components``.

    Component columns are the integer-named ones and must be exactly ``0``…``n_components-1``.
    """
    table = table.rename(columns=lambda c: str(c).strip())
    missing = [c for c in ("label", "filename") if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{source}: reference CSV has no {' or '.join(repr(c) for c in missing)} column "
            f"(expected columns 0..{n_components - 1}, label, filename)"
        )
    numbered = sorted(int(c) for c in table.columns if c.isdigit())
    expected = list(range(n_components))
    if numbered != expected:
        have = f"{len(numbered)} component columns" + (
            f" ({numbered[0]}..{numbered[-1]})" if numbered else ""
        )
        raise ConfigError(
            f"{source}: reference CSV has {have} but the PCA model has {n_components} components "
            f"(expected columns 0..{n_components - 1}); are the CSV and the model from the same reference set?"
        )
    if len(table) == 0:
        raise ConfigError(f"{source}: reference CSV has no rows")
    cols = component_columns(n_components)
    coords = table[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"{source}: reference CSV row {first + 1} (line {first + 2}) has a missing or non-numeric "
            f"component value ({int(bad.sum())} such rows)"
        )
    labels = table["label"].str.strip()
    filenames = table["filename"].str.strip()
    for name, values in (("label", labels), ("filename", filenames)):
        empty = np.flatnonzero((values == "").to_numpy())
        if len(empty):
            raise ConfigError(
                f"{source}: reference CSV row {empty[0] + 1} (line {empty[0] + 2}) has an empty {name} "
                f"({len(empty)} such rows)"
            )
    return coords, labels.to_numpy(dtype=object), filenames.to_numpy(dtype=object)


def load_reference_set(
    model_path: str | os.PathLike, csv_path: str | os.PathLike, trust_pickles: bool = False
) -> ReferenceSet:
    """Load a PCA (``.skops``, or a published CLARA pickle under the trust policy) and its reference CSV."""
    model_path, csv_path = Path(model_path), Path(csv_path)
    pca, meta = load_reference_pca(model_path, trust_pickles=trust_pickles)
    n_in = getattr(pca, "n_features_in_", None)
    if n_in != N_FEATURES or not hasattr(pca, "components_"):
        raise ConfigError(
            f"{model_path}: the PCA takes {n_in} features, clara-4000 vectors have {N_FEATURES}"
            if n_in is not None
            else f"{model_path}: the PCA is not fitted"
        )
    spec = meta.get("feature_spec")
    if spec is not None and spec != FEATURE_SPEC_VERSION:
        raise ConfigError(f"{model_path}: built on features {spec}, clara computes {FEATURE_SPEC_VERSION}")
    coords, labels, filenames = parse_reference_table(
        _read_reference_csv(csv_path), int(pca.n_components_), str(csv_path)
    )
    return ReferenceSet(
        pca=pca, coords=coords, labels=labels, filenames=filenames, metadata=meta, unit=unit_rows(coords)
    )


def csv_matches_model(ref: ReferenceSet, csv_path: str | os.PathLike) -> bool | None:
    """Whether the CSV is the one written with this PCA (None when the model does not record it)."""
    expected = ref.metadata.get("reference_csv_sha256")
    if expected is None:
        return None
    return sha256_file(csv_path) == expected


# ---------------------------------------------------------------------------------------------------------
# building a reference set (pure parts)


def effective_components(requested: int, n_objects: int) -> int:
    """At most ``n_objects - 1``: centred data of n objects spans n - 1 directions, more are noise."""
    return max(1, min(int(requested), n_objects - 1, N_FEATURES))


def fit_reference(features: np.ndarray, n_components: int) -> tuple[PCA, np.ndarray]:
    """Fit the PCA (exact SVD, so a rebuild gives the same set) and project the reference objects."""
    with threadpool_limits(1):  # a rebuild gives the same bytes whatever the BLAS thread count
        pca = PCA(n_components=n_components, svd_solver="full").fit(features)
        return pca, pca.transform(features)


def reference_table(coords: np.ndarray, labels, filenames) -> pd.DataFrame:
    table = pd.DataFrame(coords, columns=component_columns(coords.shape[1]))
    table["label"] = list(labels)
    table["filename"] = list(filenames)
    return table


# ---------------------------------------------------------------------------------------------------------
# labels CSV → files


def read_labels(path: Path) -> pd.DataFrame:
    """The labels CSV as a table with ``label`` and either ``filename`` or ``tic_id`` (int), de-duplicated.

    Errors name the file, the line and what is wrong.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path}: labels CSV is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read labels CSV ({' '.join(str(exc).split())})") from None
    original = [str(c) for c in table.columns]
    by_lower = {c.strip().lower(): c for c in table.columns}
    picked = {}
    for wanted, aliases in (
        ("label", ("label",)),
        ("filename", ("filename",)),
        ("tic_id", ("tic_id", "tic")),
    ):
        found = next((by_lower[a] for a in aliases if a in by_lower), None)
        if found is not None:
            picked[found] = wanted
    table = table[list(picked)].rename(columns=picked)
    if "label" not in table.columns or not ({"filename", "tic_id"} & set(table.columns)):
        raise ConfigError(
            f'{path}: labels CSV needs columns "filename,label" or "tic_id,label" '
            f"(found: {', '.join(original)})"
        )
    keyname = "filename" if "filename" in table.columns else "tic_id"
    table = table[[keyname, "label"]].apply(lambda s: s.str.strip())
    for col in (keyname, "label"):
        empty = np.flatnonzero((table[col] == "").to_numpy())
        if len(empty):
            raise ConfigError(f"{path}: line {empty[0] + 2}: empty {col} ({len(empty)} such lines)")
    if keyname == "filename":
        table["filename"] = table["filename"].map(os.path.basename)
    else:
        ids, bad = parse_tic_ids(table["tic_id"])
        if len(bad):
            raise ConfigError(
                f'{path}: line {bad[0] + 2}: tic_id "{table["tic_id"].iloc[bad[0]]}" is not a positive integer'
            )
        table["tic_id"] = ids.astype(np.int64)
    conflict = first_conflict(table, keyname, "label")
    if conflict is not None:
        first, labels, n = conflict
        raise ConfigError(f"{path}: {keyname} {first} has conflicting labels {labels} ({n} such objects)")
    return table.drop_duplicates().reset_index(drop=True)


def _tic_of_file(path: Path, read_options: ReadOptions) -> int | None:
    tic = tic_from_filename(path.name)
    if tic is not None:
        return tic
    try:
        return read_options.read(path).tic_id
    except LightCurveError:
        return None


def resolve_labels(
    labels: pd.DataFrame, finder: FitsFinder, read_options: ReadOptions | dict | None = None
) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
    """``({filename: label}, failures, notes)``. A TIC id maps to every file of that star (all sectors);
    files whose name has no TIC id are read (with ``read_options``) for it."""
    options = ReadOptions.of(read_options)
    failures: list[tuple[str, str]] = []
    notes: list[str] = []
    if "filename" in labels.columns:
        return dict(zip(labels["filename"], labels["label"])), failures, notes
    by_tic: dict[int, list[Path]] = {}
    for path in finder.all_files():
        tic = _tic_of_file(path, options)
        if tic is not None:
            by_tic.setdefault(tic, []).append(path)
    named: dict[str, str] = {}
    for tic, label in zip(labels["tic_id"], labels["label"]):
        files = by_tic.get(int(tic), [])
        if not files:
            failures.append((f"TIC {tic}", f"no light curve of TIC {tic} in fits_dir"))
            continue
        if len(files) > 1:
            notes.append(
                f"TIC {tic}: {len(files)} light curves ({', '.join(p.name for p in files)}), all used"
            )
        for p in files:
            named[p.name] = label
    return named, failures, notes


# ---------------------------------------------------------------------------------------------------------
# building a reference set


@dataclass
class ReferenceBuild:
    """What ``build_reference`` made: the set, its CSV table and bytes, and the light curves it could not use."""

    reference: ReferenceSet
    table: pd.DataFrame
    csv_bytes: bytes
    failures: list
    n_components_requested: int

    def save(self, output_dir: str | os.PathLike, name: str = "reference") -> tuple[Path, Path]:
        """Write ``pca_model_<name>.skops`` (with metadata binding it to its CSV) and the reference CSV."""
        from clara_benchmark import products

        model_path = products.REFERENCE_PCA.path(output_dir, name=name)
        csv_path = products.REFERENCE_CSV.path(output_dir, name=name)
        metadata = {**self.reference.metadata, "name": name, "reference_csv": csv_path.name}
        products.write_bytes(csv_path, self.csv_bytes)
        save_model(self.reference.pca, model_path, metadata)
        return model_path, csv_path


def build_reference(
    inputs,
    labels,
    n_components: int = 50,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    progress=None,
    provenance: dict | None = None,
    read_options: ReadOptions | dict | None = None,
) -> ReferenceBuild:
    """A reference set from labelled light curves: clara-4000 → PCA (raw features, as CLARA) → reference rows.

    Parameters
    ----------
    inputs : paths, folders, LightCurves, or a FeatureMatrix
        The labelled light curves (rows whose file name has no label are not used).
    labels : dict or DataFrame
        ``{filename: label}``, or a table with ``filename`` and ``label`` columns.
    n_components : int
        PCA components; lowered to (objects − 1) when there are fewer objects.
    executor, batch_size, features_path, progress, read_options
        As for ``clara4000_many`` (a FeatureMatrix brings its own read options).
    provenance : dict, optional
        Extra metadata for the model file (e.g. the labels file and its sha256).

    Returns
    -------
    ReferenceBuild
        ``.reference`` (a ``ReferenceSet`` ready for ``label``), ``.save(output_dir, name)``.
    """
    from clara_benchmark.extract import FeatureMatrix, clara4000_many

    if isinstance(labels, pd.DataFrame):
        labels = dict(zip(labels["filename"].map(os.path.basename), labels["label"]))
    matrix = (
        inputs
        if isinstance(inputs, FeatureMatrix)
        else clara4000_many(inputs, executor, batch_size, features_path, progress, read_options)
    )
    keep = [i for i, name in enumerate(matrix.filenames) if name in labels]
    if len(keep) < 2:
        raise ClaraError(
            f"only {len(keep)} labelled light curve(s) could be used; a reference set needs at least 2"
        )
    order = sorted(keep, key=lambda i: matrix.filenames[i])  # file-name order: independent of batches
    names = [matrix.filenames[i] for i in order]
    object_labels = [labels[n] for n in names]
    features = matrix.features[order]
    n_used = effective_components(n_components, len(names))
    pca, coords = fit_reference(features, n_used)
    table = reference_table(coords, object_labels, names)
    csv_bytes = table.to_csv(index=False).encode("utf-8")
    counts = table["label"].value_counts().sort_index()
    metadata = {
        "kind": REFERENCE_KIND,
        "feature_spec": FEATURE_SPEC_VERSION,
        "n_objects": len(names),
        "n_components": int(n_used),
        "n_components_requested": int(n_components),
        "explained_variance_ratio": float(np.sum(pca.explained_variance_ratio_)),
        **(provenance or {}),
        "label_counts": {str(k): int(v) for k, v in counts.items()},
        "reference_csv_sha256": hashlib.sha256(csv_bytes).hexdigest(),
        "tic_ids": [str(matrix.tic_ids[i]) for i in order],
    }
    if not matrix.read_options.is_default:  # CLARA's reading is implied; anything else is recorded
        metadata["read_options"] = matrix.read_options.identity()
    ref = ReferenceSet(
        pca=pca,
        coords=coords,
        labels=np.asarray(object_labels, dtype=object),
        filenames=np.asarray(names, dtype=object),
        metadata=metadata,
        unit=unit_rows(coords),
    )
    return ReferenceBuild(ref, table, csv_bytes, list(matrix.failures), int(n_components))


def describe(ref: ReferenceSet) -> str:
    """One line about a loaded reference set, for the log."""
    counts = pd.Series(ref.labels).map(label_group).value_counts().sort_index()
    text = f"{len(ref)} reference objects, {ref.n_components} components; groups: " + ", ".join(
        f"{k} {v}" for k, v in counts.items()
    )
    source = ref.metadata.get("source") or ref.metadata.get("name")
    return f"{text}; model: {source}" if source else text
