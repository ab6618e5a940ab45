"""The pure matching maths of sim: label groups, cosine similarity, best / top-k match, the threshold."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from clara_benchmark.config import LABEL_GROUPS
from clara_benchmark.cosine_similarity.match import (
    GROUP_MEMBERS,
    cosine_similarity_matrix,
    label_group,
    match,
    project,
    top_k,
    unit_rows,
)

# CLARA_SPEC §6, written out here independently of the module's table
SPEC_GROUPS = [
    ("Pl", "planet_like"),
    ("Pl?", "planet_like"),
    ("BD*", "planet_like"),
    ("s*b", "planet_like"),
    ("SB*", "binary_star"),
    ("**", "binary_star"),
    ("EB*", "binary_star"),
    ("LM*", "binary_star"),
    ("*", "stellar"),
    ("PM*", "stellar"),
    ("Er*", "stellar"),
    ("outlier", "outlier"),
    ("err", "outlier"),
]


@pytest.mark.parametrize("label, group", SPEC_GROUPS)
def test_every_spec_label_maps_to_its_group(label, group):
    assert label_group(label) == group


@pytest.mark.parametrize("label", ["V*", "RR*", "pl", "PL", "Pl??", "EB", "", "unknown", "*i", "G", None])
def test_anything_else_is_unclassified(label):
    assert label_group(label) == "unclassified"


def test_group_table_is_exactly_the_spec():
    from_spec = {}
    for label, group in SPEC_GROUPS:
        from_spec.setdefault(group, set()).add(label)
    assert {g: set(m) for g, m in GROUP_MEMBERS.items()} == from_spec
    assert set(GROUP_MEMBERS) | {"unclassified"} == set(LABEL_GROUPS)


def test_cosine_similarity_known_angles():
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    q = np.array([[1.0, 1.0], [5.0, 0.0], [0.0, 0.0]])
    sim = cosine_similarity_matrix(q, unit_rows(ref))
    h = np.sqrt(0.5)
    np.testing.assert_allclose(sim[0], [h, h, -h], atol=1e-15)
    np.testing.assert_allclose(sim[1], [1.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_array_equal(sim[2], [0.0, 0.0, 0.0])  # a zero vector matches nothing, no NaN


def test_batch_product_equals_row_by_row_definition():
    rng = np.random.default_rng(1)
    ref, q = rng.normal(size=(30, 7)), rng.normal(size=(9, 7))
    sim = cosine_similarity_matrix(q, unit_rows(ref))
    for i in range(len(q)):
        for j in range(len(ref)):
            expected = q[i] @ ref[j] / (np.linalg.norm(q[i]) * np.linalg.norm(ref[j]))
            assert sim[i, j] == pytest.approx(expected, abs=1e-12)


def test_top_k_order_and_ties():
    sim = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.1, 0.0]])
    idx, val = top_k(sim, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 1, 2]]  # tie 0.9/0.9 keeps reference order
    np.testing.assert_array_equal(val, [[0.9, 0.9, 0.5], [0.3, 0.2, 0.1]])
    assert top_k(sim, 10)[0].shape == (2, 4)  # k capped at the reference size


def test_threshold_turns_weak_match_into_outlier():
    ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    labels = np.array(["Pl", "EB*"], dtype=object)
    q = np.array([[1.0, 1.0], [1.0, 0.1]])  # 45° from both refs (cos 0.7071); nearly along ref 0
    strict = match(q, unit_rows(ref), labels, min_similarity_threshold=0.8, k=2)
    assert strict.matched_label.tolist() == ["outlier", "Pl"]
    assert strict.label_group.tolist() == ["outlier", "planet_like"]
    assert strict.similarity[0] == pytest.approx(np.sqrt(0.5))  # the similarity is still reported
    assert strict.best_index.tolist() == [0, 0]
    loose = match(q, unit_rows(ref), labels, min_similarity_threshold=0.7, k=2)
    assert loose.matched_label.tolist() == ["Pl", "Pl"]
    assert loose.topk_index[0].tolist() == [0, 1]
    # exactly at the threshold is not below it
    at = match(q[:1], unit_rows(ref), labels, min_similarity_threshold=float(strict.similarity[0]))
    assert at.matched_label.tolist() == ["Pl"]


def test_project_uses_the_pca_space():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 12))
    pca = PCA(4).fit(X)
    np.testing.assert_allclose(project(pca, X), (X - pca.mean_) @ pca.components_.T, atol=1e-12)
