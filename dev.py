#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python 3.10+ and pip.

    python3 dev.py test [pytest args]   make .venv, install clara with its test extras, lint, run the tests
    python3 dev.py demo [clara args]    make .venv, install clara, run the offline end-to-end demo

The virtual environment is reinstalled only when pyproject.toml changes (a stamp file records its hash).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*cmd, **kw) -> int:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def ensure_venv(extras: str = "test") -> None:
    stamp = VENV / ".clara-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip") != 0:
        sys.exit("pip upgrade failed")
    if sh(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]") != 0:
        sys.exit("installing clara failed")
    stamp.write_text(want)


def ensure_browser() -> None:
    """The report test drives a real headless Chromium; install Debian's when we can."""
    if shutil.which("chromium") or shutil.which("chromium-browser") or os.environ.get("CLARA_SKIP_BROWSER"):
        return
    if (
        sys.platform.startswith("linux")
        and shutil.which("apt-get")
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
    ):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh("apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
        sh("apt-get", "install", "-y", "-qq", "chromium", env=env, stdout=subprocess.DEVNULL)


def cmd_test(args: list[str]) -> int:
    ensure_venv("test")
    ensure_browser()
    if sh(PY, "-m", "ruff", "check", ".") != 0:
        return 1
    return sh(PY, "-m", "pytest", "-n", "2", "--dist", "worksteal", "-q", *args)


def cmd_demo(args: list[str]) -> int:
    ensure_venv("test")
    return sh(PY, "-m", "clara_benchmark.cli", "demo", *args)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("test", "demo"):
        print(__doc__)
        return 2
    return {"test": cmd_test, "demo": cmd_demo}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
