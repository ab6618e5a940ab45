"""Every error clara raises on purpose, in one place.

Library functions raise these; only the command line turns them into exit codes (``exit_code``) and one
line on the console. Each message names the file or the config key and what is wrong with it.

Two families:

* run-level errors (``ConfigError``, ``ModelFileError``, ``DownloadError``, ``ReportInputError``,
  ``FeatureStoreError``, ``OutputError``): the run cannot go on;
* per-light-curve errors (``LightCurveError``, ``FeatureError``): one file cannot be used; pipelines turn
  them into a row of the failures table and go on.

Examples
--------
>>> from clara_benchmark.exceptions import ClaraError, LightCurveError
>>> err = LightCurveError("star.fits", "empty file (0 bytes)")
>>> str(err)
'star.fits: empty file (0 bytes)'
>>> isinstance(err, ClaraError), err.reason
(True, 'empty file (0 bytes)')
"""

from __future__ import annotations

import os

__all__ = [
    "ClaraError",
    "ConfigError",
    "DownloadError",
    "FeatureError",
    "FeatureStoreError",
    "LightCurveError",
    "ModelFileError",
    "OutputError",
    "ReportInputError",
]


class ClaraError(Exception):
    """A problem clara can describe in one line; the CLI prints it without a traceback (exit code 1)."""

    exit_code = 1


class ConfigError(ClaraError):
    """A bad config key or value; the message names the file (or "command line") and the key. Exit 2."""

    exit_code = 2


class ModelFileError(ConfigError):
    """A model or reference file clara refuses or cannot read; the message names the file. Exit 2."""


class FeatureStoreError(ClaraError):
    """A feature store that cannot be read; ``directory`` and ``reason`` let a caller word its message."""

    def __init__(self, directory: str | os.PathLike, reason: Exception | str):
        self.directory = directory
        self.reason = reason
        super().__init__(f"{directory}: cannot read feature store ({reason})")


class DownloadError(ClaraError):
    """A download run that cannot go on (no script, an unreadable manifest, a locked sector folder)."""


class ReportInputError(ClaraError):
    """An input of ``report`` that cannot be used; the message names the file and what is wrong."""


class OutputError(ClaraError, OSError):
    """An output that cannot be written (disk full, no permission); nothing half-written is left.

    Also an ``OSError`` carrying the ``errno``, ``strerror`` and ``filename`` of the failed write, so that
    code which already handles write errors (``except OSError``) keeps doing so; ``str()`` is the one-line
    message.
    """

    def __init__(self, message: str, errno: int | None = None, strerror: str | None = None, filename=None):
        super().__init__(message)
        self.errno, self.strerror, self.filename = errno, strerror, filename

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # picklable with all four (it crosses process boundaries from workers)
        return (type(self), (self.args[0], self.errno, self.strerror, self.filename))


class LightCurveError(ClaraError, ValueError):
    """A light curve that cannot be used; ``str()`` names the file and the cause, ``reason`` the cause."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable with its two arguments (results cross process boundaries)
        return (type(self), (self.path, self.reason))


class FeatureError(ClaraError, ValueError):
    """A light curve whose features cannot be computed (too short, constant, all-NaN)."""
