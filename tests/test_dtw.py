"""The blocked DTW matrix equals CLARA's loop of dtaidistance.dtw.distance_fast."""

from __future__ import annotations

import numpy as np
import pytest
from dtaidistance import dtw

from clara_benchmark.dtw import dtw_distance_matrix, dtw_distance_matrix_reference


def test_dtaidistance_c_fast_path_is_available():
    assert dtw.try_import_c() is True


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(23, 40))
    return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)


@pytest.mark.parametrize("block_rows", [1, 5, 23, 64])
def test_equal_to_claras_pairwise_loop(vectors, block_rows):
    want = dtw_distance_matrix_reference(vectors)
    got = dtw_distance_matrix(vectors, block_rows=block_rows)
    np.testing.assert_array_equal(got, want)  # bit-identical, both triangles and the zero diagonal


def test_single_thread_and_memmap_output(vectors, tmp_path):
    out = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float64, shape=(23, 23))
    dtw_distance_matrix(vectors, n_threads=1, out=out)
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), dtw_distance_matrix_reference(vectors))


def test_progress_reports_pairs(vectors):
    calls = []
    dtw_distance_matrix(vectors, block_rows=6, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == 4 and calls[-1] == (23 * 22 // 2, 23 * 22 // 2)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_one_vector_and_errors():
    np.testing.assert_array_equal(dtw_distance_matrix(np.ones((1, 5))), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="2-D array"):
        dtw_distance_matrix(np.ones(5))
    with pytest.raises(ValueError, match="NaN or infinite"):
        dtw_distance_matrix(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="block_rows"):
        dtw_distance_matrix(np.ones((3, 3)), block_rows=0)
    with pytest.raises(ValueError, match="out must have shape"):
        dtw_distance_matrix(np.ones((3, 3)), out=np.zeros((2, 2)))
