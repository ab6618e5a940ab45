import numpy as np

from clara_benchmark.extract import extract_batch, list_lightcurves
from clara_benchmark.featurestore import FeatureStore, FeatureStoreWriter


def test_round_trip_and_lookup(real_copies, tmp_path):
    paths = list_lightcurves([real_copies])
    writer = FeatureStoreWriter(tmp_path / "feat")
    a, b = extract_batch(paths[:2]), extract_batch(paths[2:])
    writer.write(a)
    FeatureStoreWriter(tmp_path / "feat").write(b)  # a resumed run continues the numbering
    store = FeatureStore(tmp_path / "feat")
    assert [s.name for s in store.shards] == ["part-00000.npz", "part-00001.npz"]
    back = list(store.iter_batches())
    np.testing.assert_array_equal(back[0].features, a.features)
    assert back[1].filenames == b.filenames
    found = store.lookup([paths[2].name, "missing.fits"])
    assert list(found) == [paths[2].name]
    np.testing.assert_array_equal(found[paths[2].name][1], b.features[0])
