import os
import shutil

import numpy as np
import pytest
from spoc_fake import write_star

from clara_benchmark.exceptions import ClaraError, FeatureStoreError
from clara_benchmark.executors import LocalExecutor
from clara_benchmark.extract import FeatureMatrix, clara4000_many, iter_feature_batches
from clara_benchmark.features import N_FEATURES
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.inputs import Failure, find_lightcurves
from clara_benchmark.pipeline import Batch


def extract_batch(paths) -> Batch:
    """Every file computed from scratch, in this process: the oracle of the store tests."""
    matrix = FeatureMatrix.from_batches(iter_feature_batches(paths))
    return Batch(matrix.filenames, matrix.paths, matrix.tic_ids, matrix.features, matrix.failures)


def iter_features_with_store(paths, executor, batch_size=64, features_dir=None, **kw):
    return iter_feature_batches(paths, executor, batch_size, features_dir, **kw)


def test_extract_keeps_going_past_bad_files(real_copies):
    (real_copies / "broken.fits").write_bytes(b"not fits at all" * 300)
    paths = find_lightcurves([real_copies]).files
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    matrix = clara4000_many(paths)
    assert len(matrix) == 3 and matrix.features.shape == (3, N_FEATURES)
    assert matrix.failures == [
        Failure(
            "broken.fits",
            str(real_copies / "broken.fits"),
            "not a FITS file (no SIMPLE = T card at the start)",
        )
    ]
    assert 55525572 in matrix.tic_ids
    assert np.all(np.isfinite(matrix.features))


def test_batches_in_order_across_workers(real_copies, tmp_path):
    for i in range(3):
        shutil.copy(real_copies / "tic55525572_lc.fits", real_copies / f"copy{i}.fits")
    paths = find_lightcurves([real_copies]).files
    batches = list(iter_feature_batches(paths, LocalExecutor(2, start_method="spawn"), batch_size=2))
    names = [n for b in batches for n in b.filenames]
    assert names == [p.name for p in paths]


# ------------------------------------------------------------------- reuse from a feature store


class RecordingExecutor:
    """Runs tasks in this process and remembers which files it was asked to compute."""

    def __init__(self):
        self.computed: list[str] = []

    def imap(self, fn, tasks, initializer=None, initargs=()):
        for task in tasks:
            _, items, *_ = task  # the pipeline's task: (stage function, light curves, batch function, loader)
            self.computed.extend(os.path.basename(p) for p in items)
            yield fn(task)


@pytest.fixture(scope="module")
def stars(tmp_path_factory):
    root = tmp_path_factory.mktemp("stars")
    paths = [
        write_star(root, 3001 + i, kind, seed=i) for i, kind in enumerate(("transit", "rotation", "quiet"))
    ]
    paths += [write_star(root, 3004, "eclipse", seed=9)]
    return root, paths


def test_store_vectors_are_reused_and_only_the_rest_computed(stars, tmp_path):
    root, paths = stars
    direct = extract_batch(paths)  # the oracle: every file computed from scratch
    scored = tmp_path / "scored"  # the store was written where score ran, not where the files are now
    scored.mkdir()
    for p in (paths[3], paths[1]):
        shutil.copy(p, scored / p.name)
    FeatureStoreWriter(tmp_path / "feat").write(
        extract_batch([scored / paths[3].name, scored / paths[1].name])
    )
    executor = RecordingExecutor()
    batches = list(iter_features_with_store(paths, executor, batch_size=1, features_dir=tmp_path / "feat"))
    assert sorted(executor.computed) == sorted([paths[0].name, paths[2].name])
    reused = [n for b in batches if b.reused for n in b.filenames]
    assert reused == [paths[3].name, paths[1].name]  # store order: the store is streamed shard by shard
    got = {n: (b.paths[i], b.tic_ids[i], b.values[i]) for b in batches for i, n in enumerate(b.filenames)}
    assert sorted(got) == sorted(p.name for p in paths)
    for i, p in enumerate(paths):
        path, tic, vec = got[p.name]
        assert path == str(p) and tic == direct.tic_ids[i]  # the caller's path, also for stored vectors
        np.testing.assert_array_equal(vec, direct.values[i])


def test_without_a_store_everything_is_computed_in_input_order(stars):
    _, paths = stars
    executor = RecordingExecutor()
    batches = list(iter_features_with_store(paths[::-1], executor, batch_size=3))
    assert executor.computed == [p.name for p in paths[::-1]]
    assert [n for b in batches for n in b.filenames] == [p.name for p in paths[::-1]]
    assert not any(b.reused for b in batches)


def test_first_copy_in_the_store_wins(stars, tmp_path):
    _, paths = stars
    batch = extract_batch(paths[:1])
    FeatureStoreWriter(tmp_path / "feat").write(batch)
    FeatureStoreWriter(tmp_path / "feat").write(
        Batch(filenames=batch.filenames, paths=batch.paths, tic_ids=[1], values=batch.values + 1.0)
    )
    out = list(iter_features_with_store(paths[:1], RecordingExecutor(), features_dir=tmp_path / "feat"))
    assert len(out) == 1 and out[0].tic_ids == batch.tic_ids
    np.testing.assert_array_equal(out[0].values, batch.values)


def test_locate_runs_only_for_files_the_store_lacks(stars, tmp_path):
    root, paths = stars
    FeatureStoreWriter(tmp_path / "feat").write(extract_batch(paths[:1]))
    asked = []

    def locate(path):
        asked.append(path.name)
        return root / path.name if path.name != "gone.fits" else None

    nominal = [tmp_path / "elsewhere" / name for name in (paths[0].name, paths[1].name, "gone.fits")]
    executor = RecordingExecutor()
    batches = list(
        iter_features_with_store(
            nominal, executor, features_dir=tmp_path / "feat", locate=locate, not_found="no such file"
        )
    )
    assert asked == [paths[1].name, "gone.fits"]
    assert executor.computed == [paths[1].name]
    failures = [f for b in batches for f in b.failures]
    assert failures == [Failure("gone.fits", str(tmp_path / "elsewhere" / "gone.fits"), "no such file")]
    computed = [b for b in batches if b.paths and not b.reused]
    assert computed[0].paths == [str(root / paths[1].name)]  # read from where locate found it


@pytest.mark.parametrize(
    "damage", ["no directory", "other feature spec", "not a shard", "truncated", "empty"]
)
def test_unreadable_store_is_one_clear_error(stars, tmp_path, damage):
    _, paths = stars
    store = tmp_path / "feat"
    if damage != "no directory":
        FeatureStoreWriter(store).write(extract_batch(paths[:1]))
        shard = store / "part-00000.npz"
        if damage == "other feature spec":
            with np.load(shard) as z:
                arrays = {k: z[k] for k in z.files}
            np.savez(shard, **{**arrays, "spec": np.array("clara-4000/0")})
        elif damage == "truncated":
            shard.write_bytes(shard.read_bytes()[:5000])
        elif damage == "empty":
            shard.write_bytes(b"")
        else:
            shard.write_bytes(b"garbage")
    with pytest.raises(FeatureStoreError) as err:
        list(iter_features_with_store(paths, RecordingExecutor(), features_dir=store))
    assert isinstance(err.value, ClaraError) and err.value.directory == store
    assert str(err.value).startswith(f"{store}: cannot read feature store (")
