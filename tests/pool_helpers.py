"""Module-level task functions for the executor tests (spawned workers must be able to import them)."""

import os

_STATE = {}


def init_worker(tag):
    _STATE["tag"] = tag
    _STATE["inits"] = _STATE.get("inits", 0) + 1


def square_with_pid(x):
    return x * x, os.getpid(), _STATE.get("tag"), _STATE.get("inits")


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def fake_score(config, ctx):
    """A stand-in runner for testing the CLI's run wrapper (header, logs, monitor, exit codes)."""
    import time

    ctx.log.main(f"scoring {len(config.input_dirs)} directories")
    ctx.log.log("detail line for the command log only")
    for _ in ctx.progress(range(3), desc="fake"):
        time.sleep(0.1)
    if config.max_workers == 13:
        raise RuntimeError("boom")
    if config.max_workers == 7:
        from clara_benchmark.config import ClaraError

        raise ClaraError("a clear run-level problem")
    return 0
