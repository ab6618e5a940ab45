"""The seed's log format: ``YYYY-MM-DD HH:MM:SS [LEVEL] message`` with levels MAIN, SYSTEM, ERROR, LOG.

``main.log`` gets the run-level story (MAIN and ERROR) of every command, each command has its own detailed
log, and ``system_status.log`` gets the monitor's SYSTEM entries. The console shows only MAIN and ERROR,
written through tqdm so progress bars stay intact.

The library logs through ``logging.getLogger("clara...")`` (``clara.pipeline``, ``clara.score``, ...) and
never configures logging itself, so a notebook turns it up or off as usual
(``logging.getLogger("clara").setLevel(logging.DEBUG)``; details are at the LOG level, 15). A command run
(``RunLog``) takes the ``clara`` logger over for its duration: its handlers write the seed's files, and
the handlers that were there before (a notebook's, or the demo's around one of its stages) come back when
it closes. A library WARNING is written as a MAIN line starting with "warning:".
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from tqdm import tqdm

LOG = 15
SYSTEM = 22
MAIN = 25
ERROR = logging.ERROR

for _level, _name in ((LOG, "LOG"), (SYSTEM, "SYSTEM"), (MAIN, "MAIN")):
    logging.addLevelName(_level, _name)

LINE_FORMAT = "%(asctime)s [%(levelname)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _OnlyLevels(logging.Filter):
    def __init__(self, *levels: int):
        super().__init__()
        self.levels = set(levels)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno in self.levels


class _SeedFormatter(logging.Formatter):
    """The seed's line format; a WARNING becomes a MAIN line "warning: ..." (the seed has no WARNING level)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.WARNING:
            record = logging.makeLogRecord(record.__dict__)
            record.msg, record.args = f"warning: {record.getMessage()}", None
            record.levelno, record.levelname = MAIN, "MAIN"
        return super().format(record)


class _TqdmConsole(logging.Handler):
    """Console lines that do not tear progress bars apart."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.levelno >= ERROR:
                msg = f"error: {msg}"
            elif record.levelno == logging.WARNING:
                msg = f"warning: {msg}"
            tqdm.write(msg, file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # a console that cannot be written to (closed pipe) has nowhere to report it either


class LogWriteFailures:
    """What the file handlers of one run log could not write; the first failure is told once on the
    console, every later one only recorded (a full disk fails every log file at once)."""

    def __init__(self):
        self.failed: list[tuple[Path, str]] = []

    def __bool__(self) -> bool:
        return bool(self.failed)

    def add(self, path: Path, exc: BaseException | None) -> None:
        reason = (
            (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__) if exc else "unknown error"
        )
        first = not self.failed
        self.failed.append((path, reason))
        if first:
            with contextlib.suppress(Exception):
                tqdm.write(
                    f"error: cannot write the log {path}: {reason}; logging to files stopped", file=sys.stderr
                )


class _LogFile(logging.FileHandler):
    """A log file that, when it cannot be written (disk full, file system gone read-only), says so in one
    console line (through ``failures``) and stops writing, instead of logging's "--- Logging error ---"
    block with a traceback for every later line."""

    def __init__(self, path: Path, failures: LogWriteFailures):
        super().__init__(path, encoding="utf-8", errors="backslashreplace")  # non-UTF-8 file names
        self.failures = failures
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        self.broken = True
        self.failures.add(Path(self.baseFilename), sys.exc_info()[1])

    def flush(self) -> None:
        if self.broken:
            return
        try:
            super().flush()
        except Exception:
            self.handleError(None)  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            super().close()
        except Exception:  # the final flush of a full disk: already told, or told now
            self.handleError(None)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                if self.stream is not None:
                    self.stream.close()
            self.stream = None


def _file_handler(
    path: Path, level: int, only: tuple[int, ...] = (), failures: LogWriteFailures | None = None
) -> logging.FileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFile(path, failures if failures is not None else LogWriteFailures())
    handler.setFormatter(_SeedFormatter(LINE_FORMAT, DATE_FORMAT))
    handler.setLevel(level)
    if only:
        handler.addFilter(_OnlyLevels(*only))
    return handler


class RunLog:
    """The logs of one command run: ``main()``, ``log()``, ``error()``, ``system()``.

    ``quiet`` keeps only errors on the console. Creating it opens the files and takes over the ``clara``
    logger (see the module docstring); ``close()`` detaches every handler and gives the logger back, so
    that several runs in one process (tests, the demo) never write into each other's files.
    """

    def __init__(
        self, command: str, log_dir: Path, command_log: Path | None, console: bool = True, quiet: bool = False
    ):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.command_log_path = Path(command_log) if command_log else self.log_dir / f"{command}.log"
        self.main_log_path = self.log_dir / "main.log"
        self.system_log_path = self.log_dir / "system_status.log"
        self._root = logging.getLogger("clara")
        self._logger = logging.getLogger(f"clara.{command}")
        self._system = logging.getLogger(f"clara.system.{id(self)}")
        self._system.setLevel(SYSTEM)
        self._system.propagate = False
        #: log files that could not be written (e.g. disk full); the CLI exits non-zero when any
        self.write_failures = LogWriteFailures()
        failures = self.write_failures
        run_handlers = [
            _file_handler(self.main_log_path, MAIN, only=(MAIN, logging.WARNING, ERROR), failures=failures),
            _file_handler(self.command_log_path, LOG, failures=failures),
        ]
        if console:
            handler = _TqdmConsole()
            handler.addFilter(_OnlyLevels(ERROR) if quiet else _OnlyLevels(MAIN, logging.WARNING, ERROR))
            run_handlers.append(handler)
        self._handlers = [(self._system, _file_handler(self.system_log_path, SYSTEM, failures=failures))]
        self._handlers += [(self._root, h) for h in run_handlers]
        self._saved = (list(self._root.handlers), self._root.level, self._root.propagate)
        for handler in list(self._root.handlers):
            self._root.removeHandler(handler)
        self._root.setLevel(LOG)
        self._root.propagate = False
        for logger, handler in self._handlers:
            logger.addHandler(handler)

    def main(self, msg: str) -> None:
        self._logger.log(MAIN, msg)

    def log(self, msg: str) -> None:
        self._logger.log(LOG, msg)

    def error(self, msg: str) -> None:
        self._logger.log(ERROR, msg)

    def system(self, msg: str) -> None:
        self._system.log(SYSTEM, msg)

    def exception(self, msg: str) -> None:
        """An unexpected failure: one line on the console, the traceback only in the command log."""
        self._logger.log(ERROR, f"{msg} (details in {self.command_log_path})")
        self.traceback()

    def traceback(self) -> None:
        """The exception being handled, with its traceback, in the command log only."""
        self._logger.log(LOG, "traceback follows", exc_info=True)

    def close(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
            handler.close()
        if self._handlers:
            handlers, level, propagate = self._saved
            for handler in handlers:
                self._root.addHandler(handler)
            self._root.setLevel(level)
            self._root.propagate = propagate
        self._handlers = []
