"""Cosine-similarity labelling (CLARA_SPEC §6) as pure functions of arrays.

A candidate's clara-4000 vector is projected with the reference set's PCA; its cosine similarity to every
reference row is one matrix product for a whole batch; the best match gives the label, or ``outlier`` when
even the best match is weaker than the threshold. Nothing here reads files or logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

#: CLARA's label groups, exactly as CLARA_SPEC §6 (SIMBAD object types; ``err`` = no SIMBAD type found)
GROUP_MEMBERS: dict[str, frozenset[str]] = {
    "planet_like": frozenset({"Pl", "Pl?", "BD*", "s*b"}),
    "binary_star": frozenset({"SB*", "**", "EB*", "LM*"}),
    "stellar": frozenset({"*", "PM*", "Er*"}),
    "outlier": frozenset({"outlier", "err"}),
}
UNCLASSIFIED = "unclassified"
OUTLIER = "outlier"
_GROUP_OF = {label: group for group, labels in GROUP_MEMBERS.items() for label in labels}


def label_group(label: str) -> str:
    """The group of a SIMBAD-style label; anything not in the table is ``unclassified``.

    Examples
    --------
    >>> from clara_benchmark import label_group
    >>> [label_group(x) for x in ("Pl", "EB*", "PM*", "err", "RR*")]
    ['planet_like', 'binary_star', 'stellar', 'outlier', 'unclassified']
    """
    if not isinstance(label, str):
        return UNCLASSIFIED
    return _GROUP_OF.get(label.strip(), UNCLASSIFIED)


def project(pca, features: np.ndarray) -> np.ndarray:
    """clara-4000 rows → the reference set's PCA space (raw, unscaled features, as CLARA fitted it).

    One BLAS thread: a threaded BLAS sums in a thread-count-dependent order, and labels must come out
    bit-identical whichever executor or machine computes them (the matrices are small).
    """
    with threadpool_limits(1):
        return pca.transform(np.asarray(features, dtype=np.float64))


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row stays zero (its similarity to anything is 0)."""
    return normalize(np.asarray(X, dtype=np.float64), norm="l2", axis=1)


def cosine_similarity_matrix(queries: np.ndarray, reference_unit: np.ndarray) -> np.ndarray:
    """(n_queries × n_reference) cosine similarities; ``reference_unit`` is ``unit_rows(reference)``."""
    with threadpool_limits(1):  # bit-identical whatever the BLAS thread count (see project)
        sim = unit_rows(queries) @ reference_unit.T
    return np.clip(sim, -1.0, 1.0, out=sim)


def top_k(similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and similarities of the ``k`` best reference rows per query, best first.

    Ties keep reference order (stable sort), so the result does not depend on anything but the inputs.
    """
    k = max(1, min(int(k), similarity.shape[1]))
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(similarity, order, axis=1)


@dataclass
class Matches:
    """Per query: best reference row, its similarity, the label (``outlier`` below the threshold), the
    label group, and the k best rows (``topk_index`` / ``topk_similarity``, best first)."""

    best_index: np.ndarray
    similarity: np.ndarray
    matched_label: np.ndarray
    label_group: np.ndarray
    topk_index: np.ndarray
    topk_similarity: np.ndarray


def match(
    queries_pca: np.ndarray,
    reference_unit: np.ndarray,
    reference_labels: np.ndarray,
    min_similarity_threshold: float,
    k: int = 1,
) -> Matches:
    """Label a batch of PCA-space queries by their nearest reference row in cosine similarity."""
    sim = cosine_similarity_matrix(queries_pca, reference_unit)
    idx, best = top_k(sim, k)
    labels = np.asarray(reference_labels, dtype=object)[idx[:, 0]]
    labels = np.where(best[:, 0] < min_similarity_threshold, OUTLIER, labels).astype(object)
    groups = np.array([label_group(x) for x in labels], dtype=object)
    return Matches(
        best_index=idx[:, 0],
        similarity=best[:, 0],
        matched_label=labels,
        label_group=groups,
        topk_index=idx,
        topk_similarity=best,
    )
