"""Every dashboard panel returns data from a real Prometheus once traffic flows.

A real `prometheus` scrapes a tiny stand-in for the app (a stdlib HTTP server exposing
the app's metrics with counters that keep growing) every second and loads
rules/fastapi.rules.yaml. Each panel expression, with `$__rate_interval` and the template
variables substituted the way obsctl does (obsctl.verify.dashboards), must then return a
non-empty result of real numbers -- with every variable on "All" (the default; `.*` also
matches the namespace and pod labels the local target does not have), and with values the
variables' own label_values() queries list picked, one and several; the rules must be loaded
and evaluate without error.

The cluster-only queries (kube-state-metrics) run against a stand-in kube-state-metrics
scraped as its own job; the local target's checks leave them out.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from obsctl import config, slo
from obsctl import render as r
from obsctl.verify import dashboards as dash
from tests import liveprom

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules" / "fastapi.rules.yaml"
# the SLO rules obsctl generates for the repository's local environment (its slos:), so the
# SLO dashboard's panels have the recordings they read
SLO_ENV = "local"
DASHBOARD_FILES = sorted((REPO / "dashboards").glob("*.json"))
RATE_INTERVAL = "10s"  # ten scrapes at the 1s interval below
DATA_DEADLINE_S = 15.0  # from Prometheus start until every query must have data

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# cumulative share of requests at or below each bucket: a fast service
SHARE_AT_OR_BELOW = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 0.98, 0.99, 1.0, 1.0, 1.0)
HANDLERS = {  # handler -> (requests per tick with 200, with 500)
    "/api/items/{item_id}": (49, 1),
    "/healthz": (10, 0),
}


# --------------------------------------------------------------- stand-in app


def exposition(ticks: int) -> str:
    """The app's metrics after `ticks` ticks, Prometheus text format 0.0.4."""
    lines = [
        "# TYPE http_requests_total counter",
        *(
            f'http_requests_total{{method="GET",handler="{h}",status="{status}"}} {ticks * per_tick}'
            for h, (ok, err) in HANDLERS.items()
            for status, per_tick in (("200", ok), ("500", err))
            if per_tick
        ),
        "# TYPE http_request_duration_seconds histogram",
    ]
    for handler, (ok, err) in HANDLERS.items():
        count = ticks * (ok + err)
        labels = f'method="GET",handler="{handler}"'
        for le, share in zip(BUCKETS, SHARE_AT_OR_BELOW, strict=True):
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {int(count * share)}')
        lines += [
            f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {count}',
            f"http_request_duration_seconds_sum{{{labels}}} {count * 0.04:.3f}",
            f"http_request_duration_seconds_count{{{labels}}} {count}",
        ]
    lines += [
        "# TYPE http_requests_in_progress gauge",
        *(f'http_requests_in_progress{{method="GET",handler="{h}"}} {ticks % 3}' for h in HANDLERS),
        "# TYPE app_info gauge",
        'app_info{version="0.0.0-test"} 1',
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {ticks * 0.01:.2f}",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {50_000_000 + ticks}",
    ]
    return "\n".join(lines) + "\n"


# kube-state-metrics as on a cluster: obsctl's app, a Deployment without an autoscaler, and a
# service whose Deployment an HPA scales (its spec.replicas, 9, is not what the HPA wants)
KUBE_STATE = """\
# TYPE kube_deployment_spec_replicas gauge
kube_deployment_spec_replicas{namespace="observability",deployment="obsctl-app"} 2
kube_deployment_spec_replicas{namespace="shop",deployment="cart"} 9
# TYPE kube_deployment_status_replicas_available gauge
kube_deployment_status_replicas_available{namespace="observability",deployment="obsctl-app"} 1
kube_deployment_status_replicas_available{namespace="shop",deployment="cart"} 9
# TYPE kube_horizontalpodautoscaler_status_desired_replicas gauge
kube_horizontalpodautoscaler_status_desired_replicas{namespace="shop",horizontalpodautoscaler="cart"} 3
# TYPE kube_horizontalpodautoscaler_status_current_replicas gauge
kube_horizontalpodautoscaler_status_current_replicas{namespace="shop",horizontalpodautoscaler="cart"} 2
"""


class MetricsHandler(BaseHTTPRequestHandler):
    started = time.monotonic()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path not in ("/metrics", "/kube-state"):
            self.send_error(404)
            return
        ticks = 1 + int((time.monotonic() - self.started) * 10)  # grows ten times a second
        body = (exposition(ticks) if self.path == "/metrics" else KUBE_STATE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def fake_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler)
    thread = threading.Thread(target=server.serve_forever, name="fake-fastapi", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------- prometheus


@dataclass
class Prometheus:
    url: str
    started: float

    def get(self, path: str, **params: str) -> dict:
        return liveprom.api(self.url, path, **params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(fake_app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    slo_rules = workdir / "slo.rules.yaml"
    slo_rules.write_text(r.rules_yaml(slo_groups()))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES), str(slo_rules)],
        "scrape_configs": [
            {"job_name": "fastapi", "static_configs": [{"targets": [fake_app]}]},
            {
                "job_name": "kube-state-metrics",
                "metrics_path": "/kube-state",
                "honor_labels": True,
                "static_configs": [{"targets": [fake_app]}],
            },
        ],
    }
    started = time.monotonic()
    with liveprom.running(workdir, config, free_port()) as url:
        yield Prometheus(url=url, started=started)


# ---------------------------------------------------------------------- tests


def panel_queries() -> list[pytest.param]:
    params = []
    for path in DASHBOARD_FILES:
        dashboard = json.loads(path.read_text())
        local = set(dash.panel_queries(dashboard, cluster=False))
        for title, ref, expr in dash.panel_queries(dashboard):
            scope = "local" if (title, ref, expr) in local else "cluster"
            for selection in ("all", "one", "several"):
                params.append(
                    pytest.param(path.name, expr, selection, id=f"{dashboard['uid']}/{title}/{ref}/{scope}/{selection}")
                )
    return params


def label_values(prometheus: Prometheus, query: str, values: dict[str, str]) -> set[str]:
    """What Grafana's label_values(selector, label) lists, asked of Prometheus' series API."""
    m = re.fullmatch(r"label_values\((?:(.+), )?(\w+)\)", query)
    assert m, query
    selector, label = dash.concrete(m.group(1) or "", "1m", values), m.group(2)
    series = prometheus.get("/api/v1/series", **{"match[]": selector})
    return {s[label] for s in series if s.get(label)}


def selection(prometheus: Prometheus, dashboard: dict, which: str) -> dict[str, str]:
    """The variables' values: the defaults ("all"), or for each variable the first ("one") or
    every ("several") value its own query lists, chosen in order as Grafana refreshes them."""
    if which == "all":
        return dash.variable_values(dashboard)
    chosen: dict[str, list[str]] = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        found = sorted(label_values(prometheus, var["query"], dash.variable_values(dashboard, chosen)))
        if found:
            chosen[var["name"]] = found[:1] if which == "one" else found
    return dash.variable_values(dashboard, chosen)


def test_variable_queries_list_what_runs(prometheus: Prometheus, fake_app: str) -> None:
    """Locally: the app's job, instance and handlers; no namespace, no pod (so "All" is used)."""
    dashboard = json.loads((REPO / "dashboards" / "fastapi-golden-signals.json").read_text())
    values = dash.variable_values(dashboard)
    deadline = prometheus.started + DATA_DEADLINE_S
    while True:
        found = {v["name"]: label_values(prometheus, v["query"], values) for v in dashboard["templating"]["list"][1:]}
        if found["handler"] or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert found == {
        "namespace": set(),
        "job": {"fastapi"},
        "instance": {fake_app},
        "pod": set(),
        "handler": set(HANDLERS),
    }


def test_replicas_panel_prefers_the_autoscaler(prometheus: Prometheus) -> None:
    """Desired vs current: an HPA's desired/current replicas where a workload has one, else the
    Deployment's spec.replicas / available replicas."""
    dashboard = json.loads((REPO / "dashboards" / "fastapi-golden-signals.json").read_text())
    values = dash.variable_values(dashboard)
    panel = "Desired vs current replicas"
    queries = {ref: expr for title, ref, expr in dash.panel_queries(dashboard) if title == panel}
    deadline = prometheus.started + DATA_DEADLINE_S
    while True:
        got = {
            ref: {
                f"{s['metric']['namespace']}/{s['metric']['workload']}": float(s["value"][1])
                for s in prometheus.get("/api/v1/query", query=dash.concrete(expr, RATE_INTERVAL, values))["result"]
            }
            for ref, expr in queries.items()
        }
        if all(got.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert got == {
        "A": {"observability/obsctl-app": 2.0, "shop/cart": 3.0},
        "B": {"observability/obsctl-app": 1.0, "shop/cart": 2.0},
    }


def slo_groups() -> list[dict]:
    return slo.rule_groups(config.load(str(REPO / "obsctl.yaml"), SLO_ENV).spec.slos)


def expected_rules() -> tuple[set[str], set[str]]:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] + slo_groups() for r in g["rules"]]
    return {r["alert"] for r in rules if "alert" in r}, {r["record"] for r in rules if "record" in r}


def test_rules_are_loaded_and_evaluate(prometheus: Prometheus) -> None:
    alerts, records = expected_rules()
    deadline = prometheus.started + DATA_DEADLINE_S
    while True:
        groups = prometheus.get("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        # a group evaluated every 1m or 5m (the SLOs' long windows and sparse samples) may not
        # have run yet: unknown, not err
        slow = {r["name"] for g in groups if g["interval"] > DATA_DEADLINE_S for r in g["rules"]}
        unhealthy = {
            r["name"]: r.get("lastError") or r["health"]
            for r in rules
            if r["health"] == "err" or (r["health"] != "ok" and r["name"] not in slow)
        }
        if not unhealthy or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert {r["name"] for r in rules if r["type"] == "alerting"} == alerts
    assert {r["name"] for r in rules if r["type"] == "recording"} == records
    assert not unhealthy, unhealthy
    # the stand-in is a healthy, fast service with a 1.7% error ratio: nothing may fire (an SLO
    # of 99.5% would open a ticket at 3.4x, but only after its `for:` of an hour)
    firing = [r["name"] for r in rules if r["type"] == "alerting" and r["state"] == "firing"]
    assert not firing


@pytest.mark.parametrize(("file", "expr", "which"), panel_queries())
def test_panel_query_returns_data(prometheus: Prometheus, file: str, expr: str, which: str) -> None:
    dashboard = json.loads((REPO / "dashboards" / file).read_text())
    # the SLO dashboard's budget panels read the SLOs' long-window group, which a fresh
    # Prometheus runs first up to one of its intervals (1m) after it starts
    late = config.duration_seconds(slo.LONG_INTERVAL) if file == "slo-error-budgets.json" else 0.0
    deadline = prometheus.started + DATA_DEADLINE_S + late
    while True:
        query = dash.concrete(expr, RATE_INTERVAL, selection(prometheus, dashboard, which))
        data = prometheus.get("/api/v1/query", query=query)
        values = [float(s["value"][1]) for s in data["result"]] if data["resultType"] == "vector" else []
        if values and all(math.isfinite(v) for v in values):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no data (or NaN) after {DATA_DEADLINE_S + late}s for:\n{query}\ngot: {data}")
        time.sleep(0.25)
