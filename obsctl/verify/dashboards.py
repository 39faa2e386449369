"""Dashboard panel queries, made concrete so they can be run against Prometheus directly.

Grafana fills `$__rate_interval` and friends in; verifying "every panel's query returns
data" without Grafana (or through it) needs the same substitution. Only these built-in
variables are allowed in dashboard expressions (tests/unit/test_dashboards.py holds that).
"""

from __future__ import annotations

import json
import re
from typing import Any

_BUILTINS = re.compile(r"\$\{?(__rate_interval|__interval|__range)\}?")


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) for every Prometheus target, rows' nested panels included."""
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr and not target.get("hide"):
                    out.append((panel.get("title", f"panel {panel.get('id')}"), target.get("refId", "A"), expr))

    walk(dashboard.get("panels", []))
    return out


def concrete(expr: str, window: str) -> str:
    """`expr` with Grafana's built-in interval variables replaced by `window`."""
    return _BUILTINS.sub(window, expr)


def load(text: str) -> dict[str, Any]:
    return json.loads(text)
