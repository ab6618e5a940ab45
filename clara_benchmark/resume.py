"""A resumable run: a work folder in the output folder that collects one part per finished batch.

``<output_dir>/.score_<timestamp>.work/`` holds ``run.json`` (the run's timestamp and identity: models,
inputs, options), one atomically written ``part-NNNNN.npz`` per finished batch, and ``lock``. A run holds an
exclusive lock on ``lock`` (``flock``) for as long as it works in the folder, so a second run of the same
output (two ``resume`` runs at once) is refused instead of sharing part numbers. A part that cannot be read
(damaged by a crash of the disk, or by hand) is moved aside as ``part-NNNNN.npz.damaged`` and its light curves
are simply done again. At the end the parts are assembled into the final outputs and the folder removed.

Interrupted at any moment and resumed (``resume: true``), a run loses no row and writes none twice: a part
either holds a whole batch or does not exist, and a resumed run skips every light curve a part holds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np

from clara_benchmark import __version__, products
from clara_benchmark.exceptions import ClaraError, ConfigError
from clara_benchmark.utils.io import atomic_write_bytes, atomic_write_text, load_npz

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one run at a time is on the user
    fcntl = None

RECORD = "run.json"
LOCK = "lock"


def pending_runs(output_dir: Path, kind: products.Product = products.SCORE_WORK) -> list[Path]:
    """Work folders of runs that did not finish, oldest first."""
    return [p for p, _ in kind.find(output_dir) if p.is_dir() and (p / RECORD).is_file()]


class WorkDir:
    """One unfinished run's folder. Use ``start`` or ``resume``; ``close`` (or ``finish``) releases it."""

    def __init__(self, path: Path, record: dict):
        self.path = Path(path)
        self.record = record
        self._lock_fd: int | None = None

    @property
    def timestamp(self) -> str:
        return self.record["timestamp"]

    # ------------------------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, output_dir: Path, timestamp: str, identity: dict) -> WorkDir:
        path = output_dir / products.SCORE_WORK.name(ts=timestamp)
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise ClaraError(
                f"{path} exists: another run into {output_dir} started in the same second; start again"
            ) from None
        work = cls(path, {"timestamp": timestamp, "clara": __version__, "identity": identity})
        work._lock()
        atomic_write_text(path / RECORD, json.dumps(work.record, indent=2) + "\n")
        return work

    @classmethod
    def resume(cls, path: Path, identity: dict) -> WorkDir:
        """Take over the unfinished run at ``path``; it must have been started with the same identity."""
        try:
            record = json.loads((path / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClaraError(f"{path / RECORD}: cannot read the unfinished run's record ({exc})") from None
        if not isinstance(record, dict) or "timestamp" not in record:
            raise ClaraError(f"{path / RECORD}: not a run record (no timestamp)")
        if record.get("identity") != identity:
            old = record.get("identity") or {}
            differs = [k for k in dict.fromkeys([*identity, *old]) if old.get(k) != identity.get(k)]
            raise ConfigError(
                f"resume: the unfinished run in {path} used different {', '.join(differs)}; "
                'use the same config, or set "resume": false to start a new run'
            )
        work = cls(path, record)
        work._lock()
        return work

    def _lock(self) -> None:
        if fcntl is None:
            return
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path / LOCK, flags, 0o644)
        except OSError as exc:
            raise ClaraError(f"{self.path / LOCK}: cannot open the run's lock ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ClaraError(
                    f"{self.path} is in use by another clara run (it holds the lock); "
                    "wait for it to finish, or stop it first"
                ) from None
            raise
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def finish(self) -> None:
        """The outputs are written: remove the folder (and release the lock)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.close()

    # ------------------------------------------------------------------------------------ parts

    def part_paths(self) -> list[Path]:
        return sorted(self.path.glob("part-*.npz"))

    def write_part(self, arrays: dict[str, np.ndarray]) -> Path:
        """One finished batch, atomically: a part either holds the whole batch or does not exist."""
        import io

        existing = [int(p.name[5:10]) for p in self.path.glob("part-*.npz*") if p.name[5:10].isdigit()]
        index = max(existing, default=-1) + 1
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = self.path / f"part-{index:05d}.npz"
        atomic_write_bytes(path, buf.getvalue())
        return path

    def read_parts(self, required: tuple[str, ...]) -> tuple[list[dict], list[str]]:
        """(every readable part's arrays, notes on parts moved aside because they could not be read)."""
        parts, notes = [], []
        for path in self.part_paths():
            try:
                arrays = load_npz(path)
                missing = [k for k in required if k not in arrays]
                if missing:
                    raise ValueError(f"no {', '.join(missing)}")
            except (OSError, ValueError) as exc:
                aside = path.with_name(path.name + ".damaged")
                with contextlib.suppress(OSError):
                    os.replace(path, aside)
                notes.append(
                    f"{path.name} could not be read ({exc}); moved to {aside.name}, its light curves are redone"
                )
                continue
            parts.append(arrays)
        return parts, notes
