"""obsapp endpoints: service info, probes, the demo API, fault injection and refusing to start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from obsapp.api import MAX_CREATED_ITEMS, MAX_WORK_MS
from obsapp.main import refusing_app
from obsapp.settings import SettingsError
from starlette.types import Message

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

MakeClient = Callable[..., "TestClient"]

DEMO_REQUESTS = [
    ("GET", "/api/items"),
    ("GET", "/api/items/1"),
    ("POST", "/api/items"),
    ("GET", "/api/work?ms=1"),
    ("GET", "/api/slow?ms=1"),
]


def test_root_describes_the_service(make_client: MakeClient) -> None:
    body = make_client(version="9.9.9").get("/").json()

    assert body["service"] == "obsapp"
    assert body["version"] == "9.9.9"
    assert body["instrumentation"] == "on"
    assert body["multiprocess"] is False


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_not_ready_before_startup(make_client: MakeClient) -> None:
    client = make_client(started=False)

    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_items_list_get_and_404(client: TestClient) -> None:
    items = client.get("/api/items").json()
    assert [item["id"] for item in items] == [1, 2, 3]
    assert client.get("/api/items/2").json() == items[1]

    missing = client.get("/api/items/999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "item 999 not found"}


def test_create_item(client: TestClient) -> None:
    created = client.post("/api/items", json={"name": "drill", "price": 99.5})

    assert created.status_code == 201
    item = created.json()
    assert item == {"id": 4, "name": "drill", "price": 99.5}
    assert client.get("/api/items/4").json() == item
    assert client.post("/api/items", json={"price": 1}).status_code == 422


def test_created_items_are_bounded_and_seeds_stay(client: TestClient) -> None:
    for n in range(MAX_CREATED_ITEMS + 5):
        client.post("/api/items", json={"name": f"item {n}"})

    items = client.get("/api/items").json()
    assert len(items) == 3 + MAX_CREATED_ITEMS
    assert client.get("/api/items/1").status_code == 200
    assert client.get("/api/items/4").status_code == 404  # the oldest created one went first


def test_work_burns_cpu_and_is_bounded(client: TestClient) -> None:
    start = time.process_time()
    assert client.get("/api/work?ms=30").json()["ms"] == 30
    assert time.process_time() - start >= 0.03

    assert client.get(f"/api/work?ms={MAX_WORK_MS + 1}").status_code == 422


def test_slow_waits_without_cpu(client: TestClient) -> None:
    start = time.perf_counter()
    assert client.get("/api/slow?ms=50").json() == {"ms": 50}
    assert time.perf_counter() - start >= 0.05

    assert client.get("/api/slow?ms=-1").status_code == 422


@pytest.mark.parametrize(("method", "path"), DEMO_REQUESTS)
def test_env_error_rate_one_fails_every_demo_request(make_client: MakeClient, method: str, path: str) -> None:
    client = make_client(fault_error_rate=1.0)

    response = client.request(method, path, json={"name": "x"})

    assert response.status_code == 500
    assert response.json() == {"detail": "injected fault (error rate 1)"}


def test_faults_never_touch_probes_or_metrics(make_client: MakeClient) -> None:
    client = make_client(fault_error_rate=1.0, fault_latency_ms=5_000)
    headers = {"X-Fault-Error-Rate": "1", "X-Fault-Latency-Ms": "5000"}

    start = time.perf_counter()
    for path in ("/", "/healthz", "/readyz", "/metrics"):
        assert client.get(path, headers=headers).status_code == 200
    assert time.perf_counter() - start < 2


def test_header_overrides_env_both_ways(make_client: MakeClient) -> None:
    healthy, faulty = make_client(), make_client(fault_error_rate=1.0)

    assert healthy.get("/api/items", headers={"X-Fault-Error-Rate": "1"}).status_code == 500
    assert faulty.get("/api/items", headers={"X-Fault-Error-Rate": "0"}).status_code == 200


def test_partial_error_rate_fails_some(make_client: MakeClient) -> None:
    client = make_client(fault_error_rate=0.5)

    statuses = [client.get("/api/items").status_code for _ in range(200)]

    assert set(statuses) == {200, 500}
    assert 40 < statuses.count(500) < 160  # p(outside) ~ 1e-16 for a fair coin


@pytest.mark.parametrize("source", ["env", "header"])
def test_injected_latency(make_client: MakeClient, source: str) -> None:
    client = make_client(fault_latency_ms=80) if source == "env" else make_client()
    headers = {"X-Fault-Latency-Ms": "80"} if source == "header" else {}

    start = time.perf_counter()
    assert client.get("/api/items/1", headers=headers).status_code == 200
    assert time.perf_counter() - start >= 0.08


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Fault-Error-Rate", "1.1"),
        ("X-Fault-Error-Rate", "x"),
        ("X-Fault-Latency-Ms", "-5"),
        ("X-Fault-Latency-Ms", "10001"),
    ],
)
def test_bad_fault_header_is_rejected(client: TestClient, header: str, value: str) -> None:
    response = client.get("/api/items", headers={header: value})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", header]


def test_refusing_app_fails_its_startup_with_the_message() -> None:
    # Driven by hand: TestClient leaves its portal thread behind when start-up fails.
    # tests/integration/test_app_multiprocess.py shows uvicorn stopping on it.
    error = SettingsError("invalid environment: PROMETHEUS_MULTIPROC_DIR='/nope': gone")
    app = refusing_app(error)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.failed", "message": str(error)}]
    with pytest.raises(SettingsError):
        asyncio.run(app({"type": "http"}, receive, send))
