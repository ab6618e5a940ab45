"""Labelling light curves by their nearest reference objects (CLARA_SPEC §6), as a library function.

Examples
--------
>>> import clara_benchmark as clara
>>> reference = clara.ReferenceSet.load(PUBLISHED_DIR / "pca_model_s2_toi_simbad_labelled.pkl",
...                                     PUBLISHED_DIR / "reduced_features_s2_toi_simbad_labelled.csv")
>>> matches, failures = clara.label(TESS_DIR, reference, top_k=2)
>>> matches.columns.tolist()[:7]
['filename', 'tic', 'matched_label', 'matched_filename', 'label_group', 'similarity_score', 'match2_label']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from clara_benchmark import products
from clara_benchmark.cosine_similarity.match import match, project
from clara_benchmark.extract import UNKNOWN_INFO, FeatureMatrix, iter_feature_batches
from clara_benchmark.lightcurve import ReadOptions
from clara_benchmark.pipeline import Batch, resolve_inputs, warn_untrained


class LabelResult(NamedTuple):
    """``matches``: one row per light curve (``filename``, ``tic``, ``matched_label``, ``matched_filename``,
    ``label_group``, ``similarity_score``, ``match<j>_*`` for the j-th best up to ``top_k``, then
    ``product``, ``cadence_s``, ``id_kind``), sorted by file name; ``failures``: ``filename``, ``path``,
    ``reason``."""

    matches: object  # pandas.DataFrame
    failures: object  # pandas.DataFrame


def match_rows(
    reference, filenames: list[str], features: np.ndarray, min_similarity: float, k: int
) -> Iterator:
    """``(filename, row)`` per light curve: its best matches as the values of ``sim``'s result columns."""
    if not len(filenames):
        return
    m = match(project(reference.pca, features), reference.unit, reference.labels, min_similarity, k)
    for i, name in enumerate(filenames):
        row = [
            m.matched_label[i],
            reference.filenames[m.best_index[i]],
            m.label_group[i],
            float(m.similarity[i]),
        ]
        for j in range(1, k):
            idx = m.topk_index[i, j]
            row += [reference.labels[idx], reference.filenames[idx], float(m.topk_similarity[i, j])]
        yield name, tuple(row)


def label_batches(
    items: Iterable,
    reference,
    *,
    top_k: int = 1,
    min_similarity: float = 0.3,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    locate: Callable | None = None,
    not_found: str = "file not found",
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> Iterator[tuple[Batch, dict[str, tuple]]]:
    """``(feature batch, {filename: result row})`` for ``items``: features (reused from a feature store
    where present, else computed by ``executor`` reading with ``read_options``) → the reference PCA →
    best matches."""
    k = min(int(top_k), len(reference))
    for batch in iter_feature_batches(
        items, executor, batch_size, features_path, locate, not_found, progress, read_options
    ):
        yield batch, dict(match_rows(reference, batch.filenames, batch.values, min_similarity, k))


def label(
    inputs,
    reference,
    top_k: int = 1,
    min_similarity: float = 0.3,
    executor=None,
    batch_size: int = 64,
    features_path: str | os.PathLike | None = None,
    progress: Callable[[int], object] | None = None,
    read_options: ReadOptions | dict | None = None,
) -> LabelResult:
    """Label light curves by cosine similarity to a labelled reference set, in its PCA space.

    Parameters
    ----------
    inputs : paths, folders, globs, LightCurve(s), or a FeatureMatrix
        What to label.
    reference : ReferenceSet
        From ``ReferenceSet.load`` or ``build_reference``.
    top_k : int
        Also report the 2nd…k-th best matches (raw reference labels, no threshold).
    min_similarity : float
        A best match below this similarity is labelled ``outlier`` (its similarity is still given).
    executor, batch_size, features_path, progress, read_options
        As for ``clara4000_many``.

    Returns
    -------
    LabelResult
        ``(matches, failures)`` DataFrames.
    """
    import pandas as pd

    from clara_benchmark.urf_scoring.score import failures_frame

    k = min(int(top_k), len(reference))
    columns = list(products.SIM_COLUMNS) + products.topk_columns(k)
    rows, tics, infos, failures = {}, {}, {}, []
    if isinstance(inputs, FeatureMatrix):
        rows = dict(match_rows(reference, inputs.filenames, inputs.features, min_similarity, k))
        tics = dict(zip(inputs.filenames, inputs.tic_ids))
        infos = dict(zip(inputs.filenames, inputs.infos))
        failures = list(inputs.failures)
    else:
        resolved = resolve_inputs(inputs)
        failures = list(resolved.failures)
        batches = label_batches(
            resolved.items,
            reference,
            top_k=k,
            min_similarity=min_similarity,
            executor=executor,
            batch_size=batch_size,
            features_path=features_path,
            progress=progress,
            read_options=read_options,
        )
        for batch, found in batches:
            rows.update(found)
            tics.update(zip(batch.filenames, batch.tic_ids))
            infos.update(zip(batch.filenames, batch.infos))
            failures += batch.failures
        warn_untrained(infos.values())
    names = sorted(rows)
    frame = pd.DataFrame([rows[n] for n in names], columns=columns)
    frame.insert(0, "tic", np.asarray([tics[n] for n in names], dtype=np.int64))
    frame.insert(0, "filename", names)
    kinds = [infos.get(n, UNKNOWN_INFO) for n in names]
    frame["product"] = [i.product for i in kinds]
    frame["cadence_s"] = np.asarray([i.cadence_s for i in kinds], dtype=np.float64)
    frame["id_kind"] = [i.id_kind for i in kinds]
    return LabelResult(frame, failures_frame(failures))
