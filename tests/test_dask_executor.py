"""DaskExecutor against a real 2-process LocalCluster: same results and order as LocalExecutor, the
initializer once per worker, a worker killed mid-run, an unreachable scheduler, executor selection."""

import socket
import time
from types import SimpleNamespace

import dask
import distributed
import numpy as np
import psutil
import pytest
from dask_helpers import always_die, die_once, record_init, tagged_square

from clara_benchmark.config import ClaraError, ConfigError, ScoreConfig, SimConfig
from clara_benchmark.dask_executor import local_cluster
from clara_benchmark.executors import DaskExecutor, LocalExecutor, get_executor
from clara_benchmark.extract import iter_feature_batches
from clara_benchmark.inputs import find_lightcurves
from pool_helpers import fail_on_three, square_with_pid

N_WORKERS = 2


@pytest.fixture(scope="module")
def cluster():
    # a task may kill 2 workers before it counts as poison (Dask's default is 4), to keep the test short
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with local_cluster(N_WORKERS) as cluster:
            yield cluster


@pytest.fixture
def address(cluster):
    """The scheduler address, once both workers are up (a test may have killed one)."""
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(N_WORKERS, timeout=60)
    return cluster.scheduler_address


def init_lines(path):
    return path.read_text().split() if path.exists() else []


def test_toy_results_and_order_match_local(address):
    local = list(LocalExecutor(1).imap(square_with_pid, range(50)))
    dask = list(DaskExecutor(address).imap(square_with_pid, range(50)))
    assert [r[0] for r in dask] == [r[0] for r in local] == [x * x for x in range(50)]
    assert len({r[1] for r in dask}) == N_WORKERS  # really ran in the two worker processes


def test_initializer_once_per_worker_not_per_task(address, tmp_path):
    log = tmp_path / "inits.txt"
    out = list(DaskExecutor(address).imap(tagged_square, range(40), record_init, (str(log), "models")))
    assert [r[0] for r in out] == [x * x for x in range(40)]
    assert {r[2] for r in out} == {"models"}
    pids = init_lines(log)
    assert len(pids) == N_WORKERS and len(set(pids)) == N_WORKERS
    assert {str(r[1]) for r in out} <= set(pids)


def test_feature_extraction_identical_to_local(address, real_copies):
    names = sorted(p.name for p in real_copies.iterdir())
    (real_copies / "broken_lc.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    paths = find_lightcurves([real_copies]).files
    local = list(iter_feature_batches(paths, LocalExecutor(1), batch_size=2))
    dask = list(iter_feature_batches(paths, DaskExecutor(address), batch_size=2))
    assert len(dask) == len(local) == 2
    assert [p for b in dask for p in b.paths] == [str(real_copies / n) for n in names]
    assert [f.path for b in dask for f in b.failures] == [str(real_copies / "broken_lc.fits")]
    for a, b in zip(local, dask):
        assert b.paths == a.paths
        assert b.tic_ids == a.tic_ids
        assert b.failures == a.failures
        assert b.values.shape == a.values.shape
        assert np.array_equal(b.values, a.values)


def test_feature_sets_identical_to_local(address):
    """features' stages (bin_means, advanced_10) on Dask workers: the same numbers, rows and failure rows as
    in this process (two stars CLARA folds, one it skips, one without PDCSAP_FLUX)."""
    from shapes_helpers import TESS_REAL

    from clara_benchmark.featuresets import feature_set

    files = [
        TESS_REAL / "stsci-notebooks" / "tess2018206045859-s0001-0000000038846515-0120-s_lc.fits",
        TESS_REAL / "stsci-notebooks" / "tess2018206045859-s0001-0000000149603524-0120-s_lc.fits",
        TESS_REAL / "stsci-notebooks" / "tess2018206045859-s0001-0000000025155310-0120-s_lc.fits",
        TESS_REAL / "lightkurve-ext" / "hlsp_qlp_tess_ffi_s0024-0000000188589164_tess_v01_llc.fits",
    ]
    for method in ("bin_means", "advanced_10_feature_set"):
        local = feature_set(files, method)
        dask = feature_set(files, method, executor=DaskExecutor(address), batch_size=1)
        assert len(local) == 2 and len(local.failures) == 2
        assert dask.filenames == local.filenames and dask.tic_ids == local.tic_ids
        assert dask.failures == local.failures
        assert np.array_equal(dask.features, local.features)  # bit for bit


def test_exception_reaches_caller_after_earlier_results(address):
    seen = []
    with pytest.raises(ValueError, match="three"):
        for x in DaskExecutor(address, retries=0).imap(fail_on_three, range(8)):
            seen.append(x)
    assert seen == [0, 1, 2]  # the same rows LocalExecutor would have yielded before the error


def test_bounded_in_flight(address):
    pulled = []

    def tasks():
        for i in range(10_000):
            pulled.append(i)
            yield i

    it = DaskExecutor(address, in_flight_per_worker=2).imap(tagged_square, tasks())
    assert next(it)[0] == 0
    assert len(pulled) <= 2 * N_WORKERS  # never the whole input at once
    it.close()


def test_concurrent_runs_keep_their_own_state(address, tmp_path):
    ex = DaskExecutor(address)
    run_a = ex.imap(tagged_square, range(30), record_init, (str(tmp_path / "a.txt"), "A"))
    run_b = ex.imap(tagged_square, range(30), record_init, (str(tmp_path / "b.txt"), "B"))
    out_a, out_b = [], []
    for ra, rb in zip(run_a, run_b):  # both runs have tasks in flight on the same two workers
        out_a.append(ra)
        out_b.append(rb)
    assert [r[0] for r in out_a] == [r[0] for r in out_b] == [x * x for x in range(30)]
    assert {r[2] for r in out_a} == {"A"}
    assert {r[2] for r in out_b} == {"B"}


def test_worker_killed_mid_run_loses_and_duplicates_nothing(address, tmp_path):
    marker = tmp_path / "killed"
    log = tmp_path / "inits.txt"
    tasks = [(i, 12, str(marker)) for i in range(40)]
    out = list(DaskExecutor(address).imap(die_once, tasks, record_init, (str(log), "m")))
    assert marker.exists()  # a worker really died while running task 12
    dead_pid = int(marker.read_text())
    assert [r[0] for r in out] == [i * i for i in range(40)]
    assert out[12][1] != dead_pid  # task 12 was rerun on a live worker
    pids = init_lines(log)
    assert len(pids) == len(set(pids))  # once per worker process, including the restarted one


def test_task_that_keeps_killing_workers_is_a_clear_error(address):
    tasks = [["a.fits", "b.fits"], ["poison_lc.fits", "c.fits"], ["d.fits"]]
    seen = []
    with pytest.raises(
        ClaraError, match=r"workers died 2 times running task 1 \(2 files from poison_lc.fits\)"
    ):
        for n in DaskExecutor(address).imap(always_die, tasks):
            seen.append(n)
    assert seen == [2]


def test_unreachable_scheduler_is_a_config_error_naming_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f'"{address}"') as info:
        list(DaskExecutor(address).imap(square_with_pid, range(3)))
    assert time.monotonic() - start < 3
    assert info.value.exit_code == 2


def test_silent_server_times_out_quickly():
    with socket.socket() as s:  # accepts connections, never answers
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match="no answer"):
            list(DaskExecutor(address, connect_timeout=1).imap(square_with_pid, range(3)))
        assert time.monotonic() - start < 3


def test_bad_address_is_a_config_error():
    with pytest.raises(ConfigError, match="missing port"):
        list(DaskExecutor("127.0.0.1").imap(square_with_pid, range(3)))
    with pytest.raises(ConfigError, match="scheduler_address"):
        DaskExecutor("  ")


def _children() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (started once per process, lives on)."""
    pids = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                pids.add(p.pid)
        except psutil.Error:
            pass
    return pids


def test_own_local_cluster_started_and_closed():
    before = _children()
    out = list(DaskExecutor(None, n_workers=2).imap(square_with_pid, range(12)))
    assert [r[0] for r in out] == [x * x for x in range(12)]
    assert len({r[1] for r in out} - before) >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = _children() - before
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"worker processes left running: {left}"


def test_get_executor_selection():
    dask = get_executor(
        SimpleNamespace(executor="dask", scheduler_address="tcp://10.0.0.5:8786", max_workers=3)
    )
    assert isinstance(dask, DaskExecutor)
    assert dask.scheduler_address == "tcp://10.0.0.5:8786"
    own = get_executor(SimpleNamespace(executor="dask", scheduler_address=None, max_workers=3))
    assert own.scheduler_address is None and own.n_workers == 3
    local = get_executor(SimpleNamespace(executor="local", max_workers=3))
    assert isinstance(local, LocalExecutor) and local.max_workers == 3
    with pytest.raises(ConfigError, match="executor"):
        get_executor(SimpleNamespace(executor="slurm", max_workers=1))
    for cls in (ScoreConfig, SimConfig):  # the keys get_executor reads exist on the commands' configs
        fields = cls.__dataclass_fields__
        assert {"executor", "scheduler_address", "max_workers"} <= set(fields)


def test_train_on_dask_gives_the_local_forest(address, tmp_path):
    """train's feature extraction behind the Dask executor: the same model as with local processes."""
    import json

    from clara_benchmark import cli
    from clara_benchmark.modelio import load_model
    from clara_benchmark.synthetic.sector import write_sector

    fits = tmp_path / "s1"
    write_sector(fits, n_stars=12, sector=1, seed=5, n_cadences=300, max_workers=1)
    variants = {
        "A": {"n_curves": 8, "length_days": 6, "cadence_minutes": 30, "noise_ppm": 200, "n_estimators": 4}
    }
    models = {}
    for executor in ("local", "dask"):
        cfg = tmp_path / f"{executor}.json"
        keys = {
            "input_dirs": [str(fits)],
            "output_dir": str(tmp_path / executor),
            "variants": variants,
            "max_workers": 2,
            "executor": executor,
        }
        if executor == "dask":
            keys["scheduler_address"] = address
        cfg.write_text(json.dumps(keys))
        assert cli.main(["train", "--config", str(cfg), "--log_dir", str(tmp_path / "logs"), "--quiet"]) == 0
        models[executor], _ = load_model(next((tmp_path / executor).glob("urf_A_*.skops")))
    X = np.random.default_rng(0).normal(size=(20, 4000))
    np.testing.assert_array_equal(models["dask"].predict_proba(X), models["local"].predict_proba(X))
    assert [t.tree_.node_count for t in models["dask"].estimators_] == [
        t.tree_.node_count for t in models["local"].estimators_
    ]


def test_stream_mode_workers_download_and_score_their_share(address, tmp_path, tess_dir, monkeypatch):
    """score in stream mode on Dask: the workers fetch, verify and score; the client (where fetching is
    made to fail here) only merges. Same scores as the library computes from the served files."""
    import json

    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    import clara_benchmark as clara
    from clara_benchmark import cli
    from clara_benchmark.modelio import save_model
    from clara_benchmark.tess_spoc_download.fetch import Fetcher
    from clara_benchmark.tess_spoc_download.localserver import LocalServer
    from download_helpers import archive_maker

    def not_here(*args, **kwargs):
        raise AssertionError("the client downloaded a file")

    monkeypatch.setattr(Fetcher, "fetch_file", not_here)  # in this (the client's) process only
    archive = tmp_path / "archive"
    archive.mkdir()
    names = archive_maker(archive, tess_dir)(8)
    rng = np.random.default_rng(4)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(
        rng.normal(size=(30, 4000)), [0, 1] * 15
    )
    model = save_model(forest, tmp_path / "tiny.skops", {"feature_spec": "clara-4000/1"})
    with LocalServer(archive) as srv:
        script = tmp_path / "tesscurl_sector_1_lc.sh"
        script.write_text("".join(f"curl -o {n} {srv.mast_url(n)}\n" for n in names))
        keys = {
            "tesscurl_script": str(script),
            "output_dir": str(tmp_path / "out"),
            "use_p3": True,
            "p3model_path": str(model),
            "batch_size": 2,
            "num_threads": 4,
            "executor": "dask",
            "scheduler_address": address,
        }
        (tmp_path / "stream.json").write_text(json.dumps(keys))
        argv = [
            "score",
            "--config",
            str(tmp_path / "stream.json"),
            "--log_dir",
            str(tmp_path / "logs"),
            "--quiet",
        ]
        assert cli.main(argv) == 0
        assert sorted(r.name for r in srv.requests) == sorted(names)  # each file fetched once, by a worker
    got = pd.read_csv(next((tmp_path / "out").glob("anomaly_scores_p3_*.csv")), float_precision="round_trip")
    expected = clara.score([archive / n for n in names], clara.load_models(p3=model)).scores
    assert got["filename"].tolist() == expected["filename"].tolist()
    assert got["anomaly_score"].tolist() == expected["p3"].tolist()
    log = (tmp_path / "logs" / "anomaly_scoring.log").read_text()
    assert "2 worker process(es) x 2 download thread(s)" in log
    assert "by 2 worker process(es)" in log
