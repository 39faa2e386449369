"""Prometheus adapter: its HTTP API and the text exposition parser."""

from __future__ import annotations

from typing import Any

from obsctl.errors import ToolError
from obsctl.tools.http import HttpApi


class Prometheus(HttpApi):
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        super().__init__(base_url, "Prometheus", timeout)

    def _data(self, path: str, **params: Any) -> Any:
        body = self.get_json(path, **params)
        if body.get("status") != "success":
            raise ToolError(f"Prometheus {path} failed: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._data("/api/v1/query", **params)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return result

    def targets(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/targets", state="active")["activeTargets"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/alerts")["alerts"]

    def alertmanagers(self) -> list[str]:
        return [a["url"] for a in self._data("/api/v1/alertmanagers")["activeAlertmanagers"]]


def parse_exposition(text: str) -> dict[str, Any]:
    """Metric families by name from Prometheus text format; ToolError when it is not valid."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return {fam.name: fam for fam in text_string_to_metric_families(text)}
    except (ValueError, TypeError, IndexError) as exc:
        raise ToolError(f"not valid Prometheus text format: {exc}") from None
