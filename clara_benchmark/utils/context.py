"""What a command's ``run(config, ctx)`` gets besides its config: the run's log, timestamp and progress bars."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from clara_benchmark.utils.logs import RunLog


def run_timestamp() -> str:
    """The ``YYYYMMDD_HHMMSS`` stamp used in output file names."""
    return _dt.datetime.now().strftime("%Y%m%d_%H%M%S")


@dataclass
class RunContext:
    command: str
    log: RunLog
    log_dir: Path
    timestamp: str = field(default_factory=run_timestamp)
    quiet: bool = False
    meta_message: str | None = None

    def progress(
        self, iterable=None, total: int | None = None, desc: str = "", unit: str = "it", **kw
    ) -> tqdm:
        """A progress bar on stderr; hidden when quiet or when stderr is not a terminal."""
        return tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            disable=True if self.quiet else None,
            dynamic_ncols=True,
            leave=False,
            **kw,
        )
