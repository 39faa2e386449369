"""Shared fixtures for the obsapp unit tests.

`app/` goes on sys.path the way production puts it on PYTHONPATH, so the tests import
`obsapp` exactly as uvicorn does, not as an installed package.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "app"))

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns when it falls back to httpx,
    # which is what this project installs; the fallback is fully supported.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

from obsapp.main import create_app  # noqa: E402
from obsapp.settings import Settings  # noqa: E402

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """A client for `app`, or for an app built from `Settings` field overrides.

    The app's lifespan is started (and stopped after the test) unless `started=False`.
    """
    with ExitStack() as stack:

        def make(app: ASGIApp | None = None, *, started: bool = True, **overrides: Any) -> TestClient:
            client = TestClient(create_app(Settings(**overrides)) if app is None else app)
            return stack.enter_context(client) if started else client

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """A client for an app with default settings."""
    return make_client()


class Scrape:
    """One `/metrics` answer, parsed, with lookups by exact label set."""

    def __init__(self, text: str) -> None:
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        return next((s.value for s in self.samples if s.name == name and s.labels == labels), None)

    def labels(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


@pytest.fixture
def scrape() -> Callable[[TestClient], Scrape]:
    """Fetch and parse a client's `/metrics`."""

    def fetch(client: TestClient) -> Scrape:
        response = client.get("/metrics")
        assert response.status_code == 200
        return Scrape(response.text)

    return fetch
