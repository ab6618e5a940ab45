"""The seed's log format: ``YYYY-MM-DD HH:MM:SS [LEVEL] message`` with levels MAIN, SYSTEM, ERROR, LOG.

``main.log`` gets the run-level story (MAIN and ERROR) of every command, each command has its own detailed
log, and ``system_status.log`` gets the monitor's SYSTEM entries. The console shows only MAIN and ERROR,
written through tqdm so progress bars stay intact.
"""

from __future__ import annotations

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


class _TqdmConsole(logging.Handler):
    """Console lines that do not tear progress bars apart."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.levelno >= ERROR:
                msg = f"error: {msg}"
            tqdm.write(msg, file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _file_handler(path: Path, level: int, only: tuple[int, ...] = ()) -> logging.FileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
    handler.setLevel(level)
    if only:
        handler.addFilter(_OnlyLevels(*only))
    return handler


class RunLog:
    """The logger of one command run: ``main()``, ``log()``, ``error()``, ``system()``.

    ``quiet`` keeps only errors on the console. Creating it opens the files; ``close()`` detaches every handler so that several runs in one process
    (tests, the demo) never write into each other's files.
    """

    def __init__(
        self, command: str, log_dir: Path, command_log: Path | None, console: bool = True, quiet: bool = False
    ):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.command_log_path = Path(command_log) if command_log else self.log_dir / f"{command}.log"
        self.main_log_path = self.log_dir / "main.log"
        self.system_log_path = self.log_dir / "system_status.log"
        self._logger = logging.getLogger(f"clara.run.{command}.{id(self)}")
        self._logger.setLevel(LOG)
        self._logger.propagate = False
        self._system = logging.getLogger(f"clara.system.{id(self)}")
        self._system.setLevel(SYSTEM)
        self._system.propagate = False
        self._handlers = [
            (self._logger, _file_handler(self.main_log_path, MAIN, only=(MAIN, ERROR))),
            (self._logger, _file_handler(self.command_log_path, LOG)),
            (self._system, _file_handler(self.system_log_path, SYSTEM)),
        ]
        if console:
            handler = _TqdmConsole()
            handler.addFilter(_OnlyLevels(ERROR) if quiet else _OnlyLevels(MAIN, ERROR))
            self._handlers.append((self._logger, handler))
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
        self._logger.log(LOG, "traceback follows", exc_info=True)

    def close(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
            handler.close()
        self._handlers = []
