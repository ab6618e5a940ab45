import shutil

import numpy as np

from clara_benchmark.executors import LocalExecutor
from clara_benchmark.extract import extract_batch, iter_feature_batches, list_lightcurves
from clara_benchmark.features import N_FEATURES


def test_extract_batch_keeps_going_past_bad_files(real_copies):
    (real_copies / "broken.fits").write_bytes(b"not fits at all" * 300)
    paths = list_lightcurves([real_copies])
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    batch = extract_batch(paths)
    assert len(batch.paths) == 3 and batch.features.shape == (3, N_FEATURES)
    assert batch.failures == [
        (str(real_copies / "broken.fits"), "not a FITS file (no SIMPLE = T card at the start)")
    ]
    assert 55525572 in batch.tic_ids
    assert np.all(np.isfinite(batch.features))


def test_batches_in_order_across_workers(real_copies, tmp_path):
    for i in range(3):
        shutil.copy(real_copies / "tic55525572_lc.fits", real_copies / f"copy{i}.fits")
    paths = list_lightcurves([real_copies])
    batches = list(iter_feature_batches(paths, LocalExecutor(2, start_method="spawn"), batch_size=2))
    names = [n for b in batches for n in b.filenames]
    assert names == [p.name for p in paths]
