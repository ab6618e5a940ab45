"""System monitor: a background thread that writes a resource snapshot to ``system_status.log``.

The period holds because ticks are scheduled on a fixed monotonic grid and CPU load is sampled
without blocking (``psutil.cpu_percent(interval=None)`` reports usage since the previous call).
Stopping wakes the thread at once through an Event rather than waiting out a sleep.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

GB = 1024**3
MB = 1024**2


def _existing_parent(path: Path) -> Path:
    """disk_usage needs an existing path; the data directory may not be created yet."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _cpu_temperature() -> float | None:
    sensors = getattr(psutil, "sensors_temperatures", None)
    if sensors is None:
        return None
    try:
        readings = sensors()
    except Exception:
        return None
    for name in ("coretemp", "k10temp", "cpu_thermal", "cpu-thermal", "acpitz", "zenpower"):
        entries = readings.get(name)
        if entries:
            return float(max(e.current for e in entries))
    for entries in readings.values():
        if entries:
            return float(entries[0].current)
    return None


def system_snapshot(data_dir: Path) -> str:
    """One status line: CPU, RAM, disk of ``data_dir``, network, load, temperature (when a sensor exists)."""
    cpu = psutil.cpu_percent(interval=None)
    freq = psutil.cpu_freq()
    mhz = f"{freq.current:.0f} MHz" if freq else "n/a MHz"
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage(str(_existing_parent(data_dir)))
    net = psutil.net_io_counters()
    try:
        load1, load5, load15 = psutil.getloadavg()
    except (AttributeError, OSError):
        load1 = load5 = load15 = float("nan")
    parts = [
        f"CPU {cpu:.1f}% ({psutil.cpu_count(logical=True)} logical cores, {mhz})",
        f"RAM {mem.percent:.1f}% ({(mem.total - mem.available) / GB:.2f}/{mem.total / GB:.2f} GB)",
        f"Disk {disk.percent:.1f}% of {_existing_parent(data_dir)} "
        f"(used {disk.used / GB:.1f} GB, free {disk.free / GB:.1f} GB, total {disk.total / GB:.1f} GB)",
        f"Net sent {net.bytes_sent / MB:.1f} MB recv {net.bytes_recv / MB:.1f} MB" if net else "Net n/a",
        f"Load {load1:.2f}/{load5:.2f}/{load15:.2f}",
    ]
    temp = _cpu_temperature()
    if temp is not None:
        parts.append(f"Temp {temp:.1f} C")
    return " | ".join(parts)


class SystemMonitor:
    """Writes ``system_snapshot`` through ``emit`` at start, every ``interval`` seconds, and at stop."""

    def __init__(self, emit: Callable[[str], None], data_dir: Path | str = ".", interval: float = 5.0):
        if interval <= 0:
            raise ValueError("monitor interval must be positive")
        self.emit = emit
        self.data_dir = Path(data_dir)
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, label: str) -> None:
        try:
            self.emit(f"{label} {system_snapshot(self.data_dir)}")
        except Exception as exc:  # the monitor must never take a run down
            self.emit(f"{label} status unavailable: {exc}")

    def _run(self) -> None:
        start = time.monotonic()
        tick = 1
        while not self._stop.wait(max(0.0, start + tick * self.interval - time.monotonic())):
            self._write("status")
            tick += 1
            # if a tick came late (suspended machine), skip missed slots instead of bursting
            tick = max(tick, int((time.monotonic() - start) / self.interval) + 1)

    def start(self) -> SystemMonitor:
        psutil.cpu_percent(interval=None)  # prime the non-blocking CPU counter
        self._write(f"start pid={os.getpid()}")
        self._thread = threading.Thread(target=self._run, name="clara-system-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._write("stop")

    def __enter__(self) -> SystemMonitor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
