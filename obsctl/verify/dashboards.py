"""Dashboard panel queries, made concrete so they can be run against Prometheus directly.

Grafana fills `$__rate_interval` and the dashboard's template variables in; verifying "every
panel's query returns data" without Grafana (or through it) needs the same substitution:

- `$__rate_interval`, `$__interval`, `$__range` become the window obsctl computes;
- a template variable (`$job`, `${handler}`) becomes what Grafana sends for its default
  selection: "All" is the variable's `allValue` (`.*`, which also matches a series without
  that label: locally nothing has `namespace` or `pod`), one value is that value and several
  are `(a|b)`, each regex-escaped as Grafana's Prometheus datasource escapes them for `=~`.
  `variable_values` can be given other selections (the live test picks real label values).

A target marked `"obsctlScope": "cluster"` needs what only clusters run (kube-state-metrics):
the local target's checks leave it out, the cluster checks run it. tests/unit/test_dashboards.py
holds that only kube_* metrics may be marked so, and that every variable used is defined.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BUILTINS = re.compile(r"\$\{?(__rate_interval|__interval|__range)\}?")
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
_REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")
CLUSTER_SCOPE = "cluster"


def panel_queries(dashboard: dict[str, Any], cluster: bool = True) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) for every Prometheus target, rows' nested panels included;
    without `cluster`, the targets marked cluster-only are left out."""
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if not expr or target.get("hide"):
                    continue
                if not cluster and target.get("obsctlScope") == CLUSTER_SCOPE:
                    continue
                out.append((panel.get("title", f"panel {panel.get('id')}"), target.get("refId", "A"), expr))

    walk(dashboard.get("panels", []))
    return out


def regex_escape(value: str) -> str:
    """A value inside a PromQL `=~"..."` string: regex specials escaped, the backslash doubled
    for the string literal (Grafana's prometheusSpecialRegexEscape)."""
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def variable_values(dashboard: dict[str, Any], chosen: dict[str, list[str]] | None = None) -> dict[str, str]:
    """What each query/custom variable becomes in an expression: `chosen[name]` (values) when
    given, else the dashboard's default selection. ValueError for a selection Grafana would
    expand from options obsctl cannot know ("All" without an allValue)."""
    out: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") not in ("query", "custom", "constant", "textbox"):
            continue
        name = var["name"]
        if chosen and name in chosen:
            values = chosen[name]
        else:
            current = (var.get("current") or {}).get("value", [])
            values = current if isinstance(current, list) else [current]
        if not values or "$__all" in values:
            if var.get("allValue") is None:
                raise ValueError(f"variable {name}: 'All' needs an allValue for obsctl to check the queries")
            out[name] = var["allValue"]
            continue
        escaped = [regex_escape(v) for v in values]
        out[name] = escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
    return out


def concrete(expr: str, window: str, values: dict[str, str] | None = None) -> str:
    """`expr` with Grafana's built-in interval variables replaced by `window`, and the template
    variables by `values` (see `variable_values`); an unknown variable is left as it is."""
    expr = _BUILTINS.sub(window, expr)
    if not values:
        return expr

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))

    return _VARIABLE.sub(sub, expr)


def load(text: str) -> dict[str, Any]:
    return json.loads(text)
