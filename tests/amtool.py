"""The real amtool over a rendered alertmanager.yml: does Alertmanager accept it, and which
receivers would an alert with these labels reach."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def amtool() -> str:
    found = shutil.which("amtool")
    if not found:
        pytest.skip("amtool is not installed (apt-get install prometheus-alertmanager; make test does)")
    return found


def check_config(path: Path) -> None:
    check = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def routes(path: Path, *labels: str) -> list[str]:
    """The receivers an alert with these labels (name=value) is routed to, sorted."""
    out = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={path}", *labels],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return sorted(out.strip().split(","))
