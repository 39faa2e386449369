"""Alertmanager adapter (API v2) and the client of obsctl's webhook sink."""

from __future__ import annotations

from typing import Any

from obsctl.tools.http import HttpApi


class Alertmanager(HttpApi):
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        super().__init__(base_url, "Alertmanager", timeout)

    def ready(self) -> bool:
        return self.ok("/-/ready")

    def alerts(self, alertname: str | None = None, active_only: bool = True) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        if alertname:
            params["filter"] = f'alertname="{alertname}"'
        alerts = self.get_json("/api/v2/alerts", **params)
        if active_only:
            alerts = [a for a in alerts if a.get("status", {}).get("state") == "active"]
        return alerts

    def status(self) -> dict[str, Any]:
        return self.get_json("/api/v2/status")


class Sink(HttpApi):
    """obsctl's receiver sinks (obsctl.runtime.wire): what Alertmanager delivered."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        super().__init__(base_url, "webhook sink", timeout)

    def notifications(self, since: float = 0.0, kind: str | None = "webhook") -> list[dict[str, Any]]:
        """What arrived since `since`, of one receiver type (obsctl.runtime.wire records webhook,
        slack, pagerduty, opsgenie and email), or of every type with kind=None."""
        params = {"kind": kind} if kind else {}
        return [n for n in self.get_json("/notifications", **params) if n["received_at"] >= since]
