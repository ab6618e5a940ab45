import threading
import time

import pytest

from clara_benchmark.utils.monitor import SystemMonitor, system_snapshot


def test_snapshot_has_every_field(tmp_path):
    line = system_snapshot(tmp_path / "not" / "created" / "yet")
    for field in (
        "CPU",
        "logical cores",
        "MHz",
        "RAM",
        "GB",
        "Disk",
        "free",
        "total",
        "Net sent",
        "recv",
        "Load",
    ):
        assert field in line, (field, line)


def test_monitor_period_holds_and_stops_promptly(tmp_path):
    stamps: list[tuple[float, str]] = []
    lock = threading.Lock()

    def emit(msg):
        with lock:
            stamps.append((time.monotonic(), msg))

    interval = 0.2
    mon = SystemMonitor(emit, tmp_path, interval=interval).start()
    time.sleep(1.1)
    t0 = time.monotonic()
    mon.stop()
    stop_took = time.monotonic() - t0
    assert stop_took < 0.15, stop_took  # does not wait out the period
    kinds = [m.split(" ", 1)[0] for _, m in stamps]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    ticks = [t for t, m in stamps if m.startswith("status")]
    assert 4 <= len(ticks) <= 6, len(ticks)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    # on a fixed grid: no drift from the time spent sampling
    assert max(abs(g - interval) for g in gaps) < 0.08, gaps
    assert all("CPU" in m and "RAM" in m for _, m in stamps)
    n = len(stamps)
    time.sleep(0.5)
    assert len(stamps) == n  # nothing after stop


def test_monitor_survives_a_failing_snapshot(tmp_path, monkeypatch):
    import clara_benchmark.utils.monitor as monitor

    lines = []
    monkeypatch.setattr(monitor, "system_snapshot", lambda path: 1 / 0)
    mon = SystemMonitor(lines.append, tmp_path, interval=0.05).start()
    time.sleep(0.2)
    mon.stop()
    assert lines and all("status unavailable" in line for line in lines)


def test_bad_interval():
    with pytest.raises(ValueError):
        SystemMonitor(print, ".", interval=0)
