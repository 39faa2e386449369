"""The SLO dashboard check waits for the SLOs' long-window group (slo-<name>-long): a fresh
Prometheus evaluates a group first up to one of its intervals after it starts, so the budget
panels (slo:period_error_budget_remaining:ratio, the window's ratio) have no data before."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from obsctl.verify import content

LONG = re.compile(r"period_error_budget_remaining|ratio_rate(1d|3d|28d|30d)")


def checks_with_a_late_long_group(repo_root: Path, late_s: float) -> dict[str, Any]:
    """The dashboard checks against a query that returns nothing for the long-window
    recordings until `late_s` seconds have passed, and data for everything else."""
    started = time.monotonic()

    def query(expr: str) -> list[Any]:
        if LONG.search(expr) and time.monotonic() - started < late_s:
            return []
        return [{"metric": {}, "value": [0, "1"]}]

    checks = content.dashboard_checks(repo_root, query, "10s", settle=0.1, interval=0.05, slo_interval="1s")
    return {c.name: c for c in checks}


def test_the_slo_dashboard_waits_one_long_interval_more(repo_root: Path) -> None:
    checks = checks_with_a_late_long_group(repo_root, late_s=0.6)
    assert "queries return data" in checks[f"dashboard {content.SLO_DASHBOARD}: every panel returns data"].run()


def test_it_still_fails_when_the_long_group_never_records(repo_root: Path) -> None:
    checks = checks_with_a_late_long_group(repo_root, late_s=60)
    started = time.monotonic()
    with pytest.raises(content.CheckFailed, match="queries return nothing: .*budget"):
        checks[f"dashboard {content.SLO_DASHBOARD}: every panel returns data"].run()
    assert time.monotonic() - started < 5
