"""Checks of the observability content, the same on every target.

Whether the app's /metrics is complete, the rules are loaded and healthy, Grafana has the
datasource and dashboards, and every dashboard panel's query returns data do not depend on
where the platform runs: only how Prometheus, Grafana or the app are reached does. The
targets' checklists pass that in (a query function, an HttpApi, the metrics text).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from obsctl import render as r
from obsctl import slo
from obsctl.config import duration_seconds
from obsctl.tools.http import HttpApi
from obsctl.tools.prometheus import parse_exposition
from obsctl.verify import Check, CheckFailed, CheckSkipped, eventually
from obsctl.verify import dashboards as dash

EXPECTED_METRICS = (
    "http_requests",  # the parser names counter families without _total
    "http_request_duration_seconds",
    "http_requests_in_progress",
    "app_info",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
)
EXPECTED_ALERTS = ("FastAPIHighErrorRate", "FastAPIHighLatency", "FastAPIPodDown")


def metrics_complete(text: str, where: str) -> int:
    """The app's exposition parses and has every expected family; returns the family count."""
    families = parse_exposition(text)
    missing = [m for m in EXPECTED_METRICS if m not in families]
    if missing:
        raise CheckFailed(f"{where} lacks {', '.join(missing)}")
    handlers = {s.labels.get("handler") for s in families["http_requests"].samples}
    odd = sorted(h for h in handlers if h and not h.startswith("/") and h != "unmatched")
    if odd:
        raise CheckFailed(f"{where}: handler labels that are not route templates: {odd}")
    return len(families)


def rules_healthy(groups: list[dict[str, Any]], root: Path, slo_groups: Collection[str] = ()) -> str:
    """Our rule groups (rules/ and the environment's SLO groups) are loaded, every expected
    alert is there, none fails to evaluate."""
    ours = {g["name"] for g in r.load_rule_groups(root)} | set(slo_groups)
    mine = [g for g in groups if g["name"] in ours]
    if {g["name"] for g in mine} != ours:
        raise CheckFailed(f"rule groups not loaded: {sorted(ours - {g['name'] for g in mine})}")
    rules = [rule for g in mine for rule in g["rules"]]
    alerts = {rule["name"] for rule in rules if rule["type"] == "alerting"}
    missing = [a for a in EXPECTED_ALERTS if a not in alerts]
    if missing:
        raise CheckFailed(f"alerts not loaded: {', '.join(missing)}")
    broken = [f"{rule['name']}: {rule.get('lastError')}" for rule in rules if rule.get("health") == "err"]
    if broken:
        raise CheckFailed(f"rules failing to evaluate: {'; '.join(broken)}")
    recording = sum(rule["type"] == "recording" for rule in rules)
    return f"{len(mine)} groups, {len(alerts)} alerts, {recording} recording rules, all healthy"


def grafana_provisioned(api: HttpApi, root: Path, settle: float, interval: float = 0.5) -> str:
    """Grafana healthy, a Prometheus datasource, and every dashboard of dashboards/ loaded."""
    health = api.get_json("/api/health")
    if health.get("database") != "ok":
        raise CheckFailed(f"Grafana unhealthy: {health}")
    if not any(s.get("type") == "prometheus" for s in api.get_json("/api/datasources")):
        raise CheckFailed("Grafana has no Prometheus datasource")
    wanted = {dash.load(text)["uid"] for text in r.load_dashboards(root).values()}

    def probe() -> str:  # provisioning (or the sidecar) loads dashboards a little after start
        found = {d["uid"] for d in api.get_json("/api/search", type="dash-db")}
        if wanted - found:
            raise CheckFailed(f"dashboards not loaded: {sorted(wanted - found)}")
        return f"Prometheus datasource, {len(wanted)} dashboards"

    return eventually(probe, settle, interval)


def dashboard_returns_data(
    query: Callable[[str], list[Any]],
    text: str,
    window: str,
    settle: float,
    interval: float = 0.25,
    cluster: bool = False,
) -> Callable[[], str]:
    """A check: every panel query of one dashboard, made concrete (the window, the template
    variables' default selection), returns a non-empty result. Cluster-only queries
    (kube-state-metrics) run only with `cluster`."""

    def run() -> str:
        dashboard = dash.load(text)
        queries = dash.panel_queries(dashboard, cluster=cluster)
        values = dash.variable_values(dashboard)

        def probe() -> str:
            empty = [
                f"'{title}' {ref}" for title, ref, expr in queries if not query(dash.concrete(expr, window, values))
            ]
            if empty:
                raise CheckFailed(f"{len(empty)}/{len(queries)} queries return nothing: {', '.join(empty)}")
            return f"{len(queries)} queries return data"

        return eventually(probe, settle, interval)

    return run


def dashboard_checks(
    root: Path,
    query: Callable[[str], list[Any]],
    window: str,
    settle: float,
    interval: float = 0.25,
    cluster: bool = False,
    slos: bool = True,
    slo_interval: str = slo.LONG_INTERVAL,
) -> list[Check]:
    """One check per dashboard of dashboards/: every panel query returns data. Without SLOs
    (`slos` false) the SLO dashboard has nothing to show, and its check says so. The SLO
    dashboard may wait one interval of the SLOs' long-window group longer: a fresh Prometheus
    runs a group first up to one interval after it starts (`slo_interval`, what
    slo.long_interval gives the environment), and the budget panels read it."""
    slo_settle = settle + duration_seconds(slo_interval)
    return [
        Check(
            f"dashboard {stem}: every panel returns data",
            dashboard_returns_data(
                query, text, window, slo_settle if stem == SLO_DASHBOARD else settle, interval, cluster
            )
            if slos or stem != SLO_DASHBOARD
            else _no_slos,
            "dashboards",
        )
        for stem, text in r.load_dashboards(root).items()
    ]


SLO_DASHBOARD = "slo-error-budgets"


def _no_slos() -> str:
    raise CheckSkipped("this environment defines no slos: the SLO dashboard has no recordings to show")
