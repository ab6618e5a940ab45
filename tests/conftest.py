"""Shared fixtures: where the real data lives, and how to run the CLI the way users do (``cli``: through
``cli.main`` in the test's process; ``cli_process``: a subprocess; ``spawn_cli``: a process not waited for,
to signal or kill)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLARA_SHARED", ROOT.parent / "shared")).resolve()
TESS_DIR = SHARED / "data" / "tess"
TESSCURL_DIR = SHARED / "data" / "tesscurl"
PUBLISHED_DIR = SHARED / "data" / "clara_published"

REAL_LIGHTCURVES = {
    # file name: (cadences, TIC id, sector)
    "hlsp_tess-data-alerts_tess_phot_00055652896-s01_tess_v1_lc.fits": (20076, 55652896, 1),
    "hlsp_tess-data-alerts_tess_phot_00160148385-s02_tess_v1_lc.fits": (19737, 160148385, 2),
    "tic55525572_lc.fits": (18944, 55525572, 5),
}


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set CLARA_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def tess_dir() -> Path:
    return _require(TESS_DIR)


@pytest.fixture(scope="session")
def tesscurl_dir() -> Path:
    return _require(TESSCURL_DIR)


@pytest.fixture(scope="session")
def published_dir() -> Path:
    return _require(PUBLISHED_DIR)


@pytest.fixture
def real_copies(tmp_path, tess_dir) -> Path:
    """Writable copies of the three real light curves (tests never write into shared/)."""
    out = tmp_path / "real"
    out.mkdir()
    for name in REAL_LIGHTCURVES:
        shutil.copy(tess_dir / name, out / name)
    return out


def altered_copy(published: Path, folder: Path) -> Path:
    """A copy of a published pickle in ``folder``, one byte longer: no longer a file CLARA released."""
    from clara_benchmark.modelio import KNOWN_PICKLES
    from clara_benchmark.utils.io import sha256_file

    copy = folder / published.name
    shutil.copy(published, copy)
    with open(copy, "ab") as fh:
        fh.write(b"\0")
    assert sha256_file(copy) not in KNOWN_PICKLES
    return copy


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, input: str | None = None):
    """Run ``python -m clara_benchmark.cli ARGS`` as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "clara_benchmark.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        input=input,
    )


def spawn_cli(*args: str, **popen) -> subprocess.Popen:
    """Start ``python -m clara_benchmark.cli ARGS`` as a process of its own and do not wait (tests that
    signal or kill it); stdout and stderr are piped as text unless ``popen`` says otherwise."""
    return subprocess.Popen(
        [sys.executable, "-m", "clara_benchmark.cli", *map(str, args)],
        env=cli_env(),
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen},
    )


def wait_for(predicate, timeout: float, poll: float = 0.05) -> bool:
    """Whether ``predicate()`` comes true within ``timeout`` seconds, asking every ``poll`` seconds."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    return False


def run_cli_here(*args: str, cwd: Path | None = None, timeout: float = 300, input: str | None = None):
    """``clara ARGS`` through ``cli.main`` in this process (stdout, stderr and the exit code captured, as
    ``run_cli`` gives them): the same entry point without a new interpreter importing scikit-learn and
    astropy again (~2 s a run). ``timeout`` is accepted for ``run_cli``'s signature; tests that need a
    process of their own (signals, crashes, the console encoding) use ``run_cli``."""
    import contextlib
    import io

    from clara_benchmark import cli as clara_cli

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    stdin = sys.stdin
    try:
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.StringIO(input or "")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = clara_cli.main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = stdin
        os.chdir(here)
    return subprocess.CompletedProcess(["clara", *argv], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """Run the CLI in this process (``run_cli_here``)."""
    return run_cli_here


@pytest.fixture
def cli_process():
    """Run the CLI as a subprocess, as a user's shell does (``run_cli``)."""
    return run_cli


@pytest.fixture
def score_cfg(tmp_path):
    """A minimal score config whose paths exist (the model file is a placeholder: config checks only)."""
    (tmp_path / "fits").mkdir()
    model = tmp_path / "p3.skops"
    model.write_bytes(b"x")
    return {
        "input_dirs": [str(tmp_path / "fits")],
        "output_dir": str(tmp_path / "out"),
        "use_p3": True,
        "p3model_path": str(model),
    }


@pytest.fixture
def served(tmp_path, tess_dir):
    """A download server's root holding valid light curves under SPOC names; returns (root, make)."""
    from download_helpers import archive_maker

    root = tmp_path / "archive"
    root.mkdir()
    return root, archive_maker(root, tess_dir)


@pytest.fixture
def server(served):
    """A real HTTP server on 127.0.0.1 serving ``served``'s root (faults can be injected)."""
    from download_helpers import start_server

    with start_server(served[0]) as srv:
        yield srv
