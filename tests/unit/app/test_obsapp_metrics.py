"""obsapp.metrics: the metric names and labels that rules/ and dashboards/ rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from obsapp import metrics
from obsapp.metrics import BUCKETS, HttpMetrics, PrometheusMiddleware
from obsapp.settings import Instrumentation
from prometheus_client import CollectorRegistry
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from conftest import Scrape
    from fastapi.testclient import TestClient

MakeClient = Callable[..., "TestClient"]
ScrapeFn = Callable[["TestClient"], "Scrape"]


def test_requests_are_labelled_by_route_template_and_status(client: TestClient, scrape: ScrapeFn) -> None:
    for path in ("/api/items/1", "/api/items/2", "/api/items/999"):
        client.get(path)
    client.post("/api/items", json={"name": "x"})

    got = scrape(client)
    template = {"method": "GET", "handler": "/api/items/{item_id}"}
    assert got.value("http_requests_total", **template, status="200") == 2
    assert got.value("http_requests_total", **template, status="404") == 1
    assert got.value("http_requests_total", method="POST", handler="/api/items", status="201") == 1
    assert got.value("http_request_duration_seconds_count", **template) == 3
    assert got.value("http_requests_in_progress", **template) == 0


def test_unmatched_paths_share_one_handler_label(client: TestClient, scrape: ScrapeFn) -> None:
    for path in ("/nope", "/api/items/1/extra", "/wp-login.php"):
        assert client.get(path).status_code == 404

    got = scrape(client)
    assert got.value("http_requests_total", method="GET", handler="unmatched", status="404") == 3
    handlers = {labels["handler"] for labels in got.labels("http_requests_total")}
    assert handlers == {"unmatched"}


def test_method_not_allowed_keeps_the_template(client: TestClient, scrape: ScrapeFn) -> None:
    assert client.delete("/api/items/1").status_code == 405
    assert client.request("BREW", "/api/items").status_code == 405

    got = scrape(client)
    assert got.value("http_requests_total", method="DELETE", handler="/api/items/{item_id}", status="405") == 1
    assert got.value("http_requests_total", method="OTHER", handler="/api/items", status="405") == 1


def test_metrics_endpoint_is_not_counted(client: TestClient, scrape: ScrapeFn) -> None:
    scrape(client)
    got = scrape(client)

    assert got.labels("http_requests_total") == []


def test_probes_are_counted(client: TestClient, scrape: ScrapeFn) -> None:
    client.get("/healthz")
    client.get("/readyz")

    got = scrape(client)
    assert got.value("http_requests_total", method="GET", handler="/healthz", status="200") == 1
    assert got.value("http_requests_total", method="GET", handler="/readyz", status="200") == 1


def test_injected_and_unhandled_errors_count_as_500(make_client: MakeClient, scrape: ScrapeFn) -> None:
    client = make_client()
    app = client.app

    @app.get("/boom")  # type: ignore[attr-defined]
    async def boom() -> None:
        raise RuntimeError("unhandled")

    client.get("/api/items", headers={"X-Fault-Error-Rate": "1"})
    with pytest.raises(RuntimeError):
        client.get("/boom")

    got = scrape(client)
    assert got.value("http_requests_total", method="GET", handler="/api/items", status="500") == 1
    assert got.value("http_requests_total", method="GET", handler="/boom", status="500") == 1


def test_histogram_buckets_are_the_contract(client: TestClient, scrape: ScrapeFn) -> None:
    client.get("/api/slow?ms=30")

    got = scrape(client)
    buckets = [s for s in got.samples if s.name == "http_request_duration_seconds_bucket"]
    assert [float(s.labels["le"]) for s in buckets] == [*BUCKETS, float("inf")]
    assert {s.labels["handler"] for s in buckets} == {"/api/slow"}
    by_le = {float(s.labels["le"]): s.value for s in buckets}
    assert by_le[0.025] == 0
    assert by_le[0.05] == 1


def test_app_info_and_process_metrics(make_client: MakeClient, scrape: ScrapeFn) -> None:
    got = scrape(make_client(version="2.0.0-rc1"))

    assert got.labels("app_info") == [{"version": "2.0.0-rc1"}]
    assert got.value("app_info", version="2.0.0-rc1") == 1
    assert got.value("process_cpu_seconds_total") > 0
    assert got.value("process_resident_memory_bytes") > 0
    assert got.value("process_start_time_seconds") > 0


def test_no_created_series(client: TestClient, scrape: ScrapeFn) -> None:
    client.get("/")

    assert not [s for s in scrape(client).samples if s.name.endswith("_created")]


def test_openmetrics_on_request(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_instrumentation_off_serves_no_request_metrics(make_client: MakeClient, scrape: ScrapeFn) -> None:
    client = make_client(instrumentation=Instrumentation.OFF)
    client.get("/api/items")

    got = scrape(client)
    assert not [s for s in got.samples if s.name.startswith("http_")]
    assert got.value("app_info", version="0.1.0") == 1


def test_instrumentator_mode_records_the_same_series(make_client: MakeClient, scrape: ScrapeFn) -> None:
    # This mode registers in prometheus-client's global registry (see metrics.registries),
    # so it can be built once per process: this is the only test that builds it.
    client = make_client(instrumentation=Instrumentation.INSTRUMENTATOR)
    client.get("/api/items/1")

    got = scrape(client)
    template = {"method": "GET", "handler": "/api/items/{item_id}"}
    assert got.value("http_requests_total", **template, status="200") == 1
    assert got.value("http_request_duration_seconds_count", **template) == 1
    assert got.value("http_requests_in_progress", **template) == 0


# The middleware on its own, around a bare Starlette app: in-flight tracking and the caches.

ROUTES = [Route("/things/{thing_id}", PlainTextResponse), Route("/", PlainTextResponse)]


def call(middleware: PrometheusMiddleware, path: str, method: str = "GET") -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    asyncio.run(middleware(scope, receive, send))


def test_in_progress_counts_the_running_request() -> None:
    registry = CollectorRegistry()
    seen: list[float | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        labels = {"method": "GET", "handler": "/things/{thing_id}"}
        seen.append(registry.get_sample_value("http_requests_in_progress", labels))
        await PlainTextResponse("ok")(scope, receive, send)

    middleware = PrometheusMiddleware(app, routes=ROUTES, metrics=HttpMetrics(registry), exclude_paths=[])
    call(middleware, "/things/1")

    assert seen == [1.0]
    labels = {"method": "GET", "handler": "/things/{thing_id}"}
    assert registry.get_sample_value("http_requests_in_progress", labels) == 0
    assert registry.get_sample_value("http_requests_total", {**labels, "status": "200"}) == 1


def test_path_cache_is_bounded_and_series_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "MAX_CACHED_PATHS", 8)
    registry = CollectorRegistry()
    middleware = PrometheusMiddleware(
        PlainTextResponse("ok"), routes=ROUTES, metrics=HttpMetrics(registry), exclude_paths=[]
    )

    for n in range(20):
        call(middleware, f"/things/{n}")
        assert len(middleware._by_path) <= 8
    call(middleware, "/")

    assert len(middleware._by_label) == 2  # one bound series per (method, handler)
    labels = {"method": "GET", "handler": "/things/{thing_id}", "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 20
