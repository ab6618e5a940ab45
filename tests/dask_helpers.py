"""Module-level task functions for the Dask executor tests (worker processes import them by name)."""

import os
import time

_STATE = {}


def record_init(log_path, tag):
    """An initializer that leaves a trace: one line (this pid) per call in ``log_path``."""
    with open(log_path, "a") as f:
        f.write(f"{os.getpid()}\n")
    _STATE["tag"] = tag


def tagged_square(x):
    time.sleep(0.01)
    return x * x, os.getpid(), _STATE.get("tag")


def die_once(task):
    """Kill this worker process the first time task ``kill_at`` runs (the marker file says it happened)."""
    i, kill_at, marker = task
    if i == kill_at and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)
    time.sleep(0.02)
    return i * i, os.getpid()


def always_die(task):
    """A poison task: kills whichever worker runs it."""
    if "poison" in task[0]:
        os._exit(1)
    return len(task)
