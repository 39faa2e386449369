"""The prometheus-adapter rule's query, as the adapter would send it, against a live Prometheus.

The local platform is brought up for real (`obsctl up`: two app replicas, real Prometheus, the
traffic generator), and the rule obsctl renders (obsctl.targets.autoscaling) is run with the
adapter's template substitution applied. It must return one series per replica, labelled only
with the label the adapter maps to a Pod, with a positive rate: that is what the HPA averages.

The label mapping differs by platform. Locally a replica is a process, so `instance` stands
for the Pod and there is no namespace. On a cluster the Prometheus Operator relabels every
series a ServiceMonitor scrapes with `namespace` and `pod` (from __meta_kubernetes_namespace and
__meta_kubernetes_pod_name). No API server runs here, so for the cluster mapping a second real
Prometheus scrapes the same live replicas with those two labels set on each target, as the
operator's relabelling would leave them; the cluster rule must then return one series per Pod
and nothing for another namespace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from obsctl.targets import autoscaling as a
from tests import liveprom
from tests.conftest import free_port_block, local_config, make_project
from tests.conftest import run_obsctl as obsctl
from tests.liveprom import api

pytestmark = pytest.mark.integration

REPLICAS = 2
SCRAPE = "1s"  # local_config's scrape interval
DEADLINE_S = 30.0
NAMESPACE = "observability"


def wait_for(what: str, probe: Any) -> Any:
    """probe() until it returns something truthy, else fail with the last answer."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: nothing after {DEADLINE_S}s")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """(Prometheus URL, the app replicas' instances) of a live local platform."""
    tmp = tmp_path_factory.mktemp("autoscaling-live")
    base = free_port_block(14)
    config = make_project(tmp, local_config(base, replicas=REPLICAS))
    up = obsctl(config, "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        prometheus = f"http://127.0.0.1:{base + 10}"
        instances = sorted(f"127.0.0.1:{base + i}" for i in range(REPLICAS))
        yield prometheus, instances
    finally:
        down = obsctl(config, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def vector(base: str, query: str, want: int) -> list[dict[str, Any]]:
    """The query's vector once it has `want` series, every value a positive rate."""

    def probe() -> list[dict[str, Any]]:
        result = api(base, "/api/v1/query", query=query)["result"]
        values = [float(s["value"][1]) for s in result]
        ok = len(result) == want and all(math.isfinite(v) and v > 0 for v in values)
        return result if ok else []

    return wait_for(f"{want} series with a positive rate for {query}", probe)


def test_local_rule_returns_one_series_per_replica(platform: tuple[str, list[str]]) -> None:
    prometheus, instances = platform
    rule = a.adapter_rule(a.LOCAL_LABELS, a.rate_window(SCRAPE))
    # discovery: every series the adapter lists carries the label it maps to the Pod
    series = wait_for(
        "series for the seriesQuery",
        lambda: api(prometheus, "/api/v1/series", **{"match[]": rule["seriesQuery"]}),
    )
    assert {s["__name__"] for s in series} == {a.SOURCE_SERIES}
    assert {s["instance"] for s in series} == set(instances)

    query = a.adapter_query(rule, a.LOCAL_LABELS, instances, namespace=None)
    assert f'instance=~"{instances[0]}|{instances[1]}"' in query
    result = vector(prometheus, query, REPLICAS)
    assert sorted(s["metric"]["instance"] for s in result) == instances
    assert all(set(s["metric"]) == {"instance"} for s in result), result

    one = a.adapter_query(rule, a.LOCAL_LABELS, instances[:1], namespace=None)
    assert [s["metric"] for s in vector(prometheus, one, 1)] == [{"instance": instances[0]}]


def test_rule_rate_matches_the_dashboards_total(platform: tuple[str, list[str]]) -> None:
    """Per-Pod rates add up to the golden-signals traffic panel's figure (same counter, same job)."""
    prometheus, instances = platform
    window = a.rate_window(SCRAPE)
    query = a.adapter_query(a.adapter_rule(a.LOCAL_LABELS, window), a.LOCAL_LABELS, instances, namespace=None)
    dashboard = f'sum(rate(http_requests_total{{job="fastapi"}}[{window}]))'
    # one expression, so both sides come from the same evaluation instant
    diff = wait_for(
        "per-Pod rates and the dashboard's total",
        lambda: api(prometheus, "/api/v1/query", query=f"abs(sum({query}) - {dashboard})")["result"],
    )
    assert float(diff[0]["value"][1]) < 1e-9, diff


@pytest.fixture(scope="module")
def cluster_like(platform: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second real Prometheus scraping the live replicas as a ServiceMonitor would: job
    fastapi, with the namespace and pod labels the operator's relabelling sets."""
    _, instances = platform
    work = tmp_path_factory.mktemp("prometheus-cluster-like")
    targets = [
        {"targets": [inst], "labels": {"namespace": NAMESPACE, "pod": f"obsctl-app-5d9f8-{i}"}}
        for i, inst in enumerate(instances)
    ]
    config = {
        "global": {"scrape_interval": SCRAPE, "scrape_timeout": SCRAPE},
        "scrape_configs": [{"job_name": a.JOB, "static_configs": targets}],
    }
    with liveprom.running(work, config, free_port_block(1, start=23000)) as url:
        yield url


def test_cluster_rule_maps_namespace_and_pod(cluster_like: str) -> None:
    pods = ["obsctl-app-5d9f8-0", "obsctl-app-5d9f8-1"]
    rule = a.adapter_rule(a.CLUSTER_LABELS, a.rate_window(SCRAPE))
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    want = {(NAMESPACE, p) for p in pods}
    listed = wait_for(
        "series of both Pods for the cluster seriesQuery",
        lambda: (found := _listed_pods(cluster_like, rule["seriesQuery"])) == want and found,
    )
    assert listed == want

    query = a.adapter_query(rule, a.CLUSTER_LABELS, pods, namespace=NAMESPACE)
    assert query.startswith(f'sum(rate(http_requests_total{{namespace="{NAMESPACE}",pod=~"{pods[0]}|{pods[1]}"')
    result = vector(cluster_like, query, len(pods))
    assert sorted(s["metric"]["pod"] for s in result) == pods
    assert all(set(s["metric"]) == {"pod"} for s in result), result
    # the namespace matcher really scopes the answer
    other = a.adapter_query(rule, a.CLUSTER_LABELS, pods, namespace="someone-else")
    assert api(cluster_like, "/api/v1/query", query=other)["result"] == []


def _listed_pods(base: str, match: str) -> set[tuple[str, str]]:
    """(namespace, pod) of every series the adapter's discovery would list."""
    try:
        series = api(base, "/api/v1/series", **{"match[]": match})
    except OSError:
        return set()  # not listening yet
    return {(s["namespace"], s["pod"]) for s in series}


def test_the_local_series_cannot_serve_the_cluster_rule(platform: tuple[str, list[str]]) -> None:
    """Why the mapping must differ: the local series have no pod label, so the cluster rule's
    seriesQuery finds nothing there (the adapter would serve no metric at all)."""
    prometheus, _ = platform
    rule = a.adapter_rule(a.CLUSTER_LABELS, a.rate_window(SCRAPE))
    assert api(prometheus, "/api/v1/series", **{"match[]": rule["seriesQuery"]}) == []
