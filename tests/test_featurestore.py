import numpy as np

from clara_benchmark.extract import clara4000_many
from clara_benchmark.featurestore import FeatureStore, FeatureStoreWriter
from clara_benchmark.inputs import find_lightcurves


def test_round_trip_and_lookup(real_copies, tmp_path):
    paths = find_lightcurves([real_copies]).files
    writer = FeatureStoreWriter(tmp_path / "feat")
    a, b = clara4000_many(paths[:2]).as_batch(), clara4000_many(paths[2:]).as_batch()
    writer.write(a)
    FeatureStoreWriter(tmp_path / "feat").write(b)  # a resumed run continues the numbering
    store = FeatureStore(tmp_path / "feat")
    assert [s.name for s in store.shards] == ["part-00000.npz", "part-00001.npz"]
    back = list(store.iter_batches())
    np.testing.assert_array_equal(back[0].values, a.values)
    assert back[1].filenames == b.filenames
    found = store.lookup([paths[2].name, "missing.fits"])
    assert list(found) == [paths[2].name]
    np.testing.assert_array_equal(found[paths[2].name][1], b.values[0])
