"""The pod-down drill follows the page (no replica up, critical), not the per-replica warnings
that share its name: following whichever FastAPIPodDown fired first let the drill restart the
app before the page fired, and the page receivers then got nothing (seen under load)."""

from __future__ import annotations

from typing import Any

import pytest

from obsctl.verify import CheckFailed, local


class _Prometheus:
    def __init__(self, alerts: list[dict[str, Any]]) -> None:
        self._alerts = alerts

    def alerts(self) -> list[dict[str, Any]]:
        return self._alerts


class _Target:
    """Only what the drill's pending/firing steps touch."""

    def __init__(self, alerts: list[dict[str, Any]]) -> None:
        self.prometheus = _Prometheus(alerts)
        self.stopped = 0

    def app_programs(self) -> list[str]:
        return ["app:app-0", "app:app-1"]

    def stop_app(self) -> None:
        self.stopped += 1

    def start_app(self) -> None:
        pass


def _alert(severity: str, scope: str, state: str) -> dict[str, Any]:
    labels = {"alertname": "FastAPIPodDown", "severity": severity, "scope": scope, "job": "fastapi"}
    return {"labels": labels, "state": state}


def _firing_step(alerts: list[dict[str, Any]]) -> Any:
    checks = local.drill_pod_down(_Target(alerts), timeout=0.3)  # type: ignore[arg-type]
    return checks[0], checks[1]  # pending, firing


def test_replica_warnings_alone_are_not_the_page() -> None:
    replicas = [_alert("warning", "replica", "pending"), _alert("warning", "replica", "pending")]
    pending, _ = _firing_step(replicas)
    with pytest.raises(CheckFailed, match="alert pending in Prometheus: not seen"):
        pending.run()


def test_the_no_replica_page_is_followed() -> None:
    alerts = [_alert("warning", "replica", "firing"), _alert("critical", "all", "pending")]
    pending, _ = _firing_step(alerts)
    assert "pending after" in pending.run()
