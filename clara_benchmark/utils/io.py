"""Atomic file writes and hashing: a reader never sees half a file under its final name.

A write that fails because the disk is full, the quota is used up, the file system is read-only or the
folder is not writable raises ``OutputError`` (an ``OSError`` and a ``ClaraError``): one line naming the
file and the cause, which the command line prints without a traceback; the previous file, if any, is kept.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from clara_benchmark.exceptions import OutputError

# mkstemp creates 0600 files; finished outputs get the usual permissions (0666 less the umask)
_UMASK = os.umask(0)
os.umask(_UMASK)

#: errors that mean "this output cannot be written here" (not a bug): disk full, quota, file too large for
#: the file system or its limit, read-only file system
FULL_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS") if hasattr(errno, name)
)
#: ... and no permission: for the writer's own steps (creating the folder and the temporary file, renaming)
OUTPUT_ERRNOS = FULL_ERRNOS | {errno.EACCES, errno.EPERM}


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The ``OutputError`` for a failed write of ``path``."""
    reason = exc.strerror or str(exc)
    return OutputError(
        f"{path}: cannot write: {reason} (nothing half-written is left under that name)",
        exc.errno,
        exc.strerror,
        str(path),
    )


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "w",
    encoding: str | None = "utf-8",
    newline: str | None = None,
    errors: str | None = None,
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. A full disk, an
    exhausted quota, a read-only file system (anywhere) or a missing permission (creating, renaming) raise
    ``OutputError`` naming ``path``.
    """
    path = Path(path)
    binary = "b" in mode
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if exc.errno in OUTPUT_ERRNOS and not isinstance(exc, OutputError):
            raise output_error(path, exc) from exc
        raise
    in_body = False
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        text_options = {} if binary else {"encoding": encoding, "newline": newline, "errors": errors}
        with os.fdopen(fd, mode, **text_options) as fh:
            in_body = True
            yield fh
            in_body = False
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # the caller's own code runs in the body: there only errors that can only mean "cannot write"
        mapped = FULL_ERRNOS if in_body else OUTPUT_ERRNOS
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in mapped:
            raise output_error(path, exc) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", newline="") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def failure_rows(failures: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """``(filename, path, reason)`` rows from ``(path, reason)`` pairs, the layout of most failures CSVs."""
    return [(os.path.basename(p), p, reason) for p, reason in failures]


def write_failures_csv(
    path: str | os.PathLike, rows: Iterable[Sequence], columns: Sequence[str] = ("filename", "path", "reason")
) -> None:
    """Write a failures table (one row per file that could not be used, with why) atomically.

    Every command writes its failures through here, each with its own documented columns (score's
    ``filename,reason``; sim, reference, train and evaluate's ``filename,path,reason``).
    """
    with atomic_open(path, "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(columns)
        out.writerows(rows)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_npz(path: str | os.PathLike) -> dict:
    """Every array of an ``.npz`` file, read eagerly with pickles refused; the file is closed on return.

    ``np.load(path)`` leaves its file open when the archive is damaged; opening it here closes it whatever
    happens. Damaged or foreign files raise ``ValueError`` (or ``OSError``) naming the file.
    """
    import zipfile

    import numpy as np

    with open(path, "rb") as fh:
        try:
            with np.load(fh, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        except (zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(f"{path}: not a readable .npz archive ({exc})") from None
