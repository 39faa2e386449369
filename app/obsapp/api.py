"""The demo endpoints under `/api`: real handlers whose traffic fills the dashboards.

Each one gives a different signal: reads and a templated lookup with a genuine 404,
a create, a CPU-bound handler (saturation) and an I/O-bound one (latency without CPU).
All of them go through fault injection; see obsapp.faults.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from obsapp.faults import fault_injector
from obsapp.settings import Settings

MAX_WORK_MS = 1_000
"""A CPU burn blocks its worker's event loop; one second is already a visible stall."""
MAX_SLOW_MS = 10_000
"""An async sleep costs nothing but a connection; ten seconds covers any latency alert window."""
MAX_CREATED_ITEMS = 100
"""The store is in memory and per worker; the traffic generator creates items forever, so
only the newest ones are kept (the seeded items always stay, so `/api/items/1` keeps working)."""


class ItemIn(BaseModel):
    """What a client sends to create an item."""

    name: str = Field(min_length=1, max_length=100)
    price: float = Field(default=0.0, ge=0.0)


class Item(ItemIn):
    """An item as stored and returned."""

    id: int


class ItemStore:
    """Seeded items plus a bounded, oldest-first-evicted set of created ones."""

    def __init__(self) -> None:
        seeds = [ItemIn(name="hammer", price=12.5), ItemIn(name="wrench", price=8.0), ItemIn(name="saw")]
        self._seeded = {i: Item(id=i, **item.model_dump()) for i, item in enumerate(seeds, start=1)}
        self._created: dict[int, Item] = {}
        self._ids = itertools.count(len(seeds) + 1)

    def list(self) -> list[Item]:
        return [*self._seeded.values(), *self._created.values()]

    def get(self, item_id: int) -> Item | None:
        return self._seeded.get(item_id) or self._created.get(item_id)

    def add(self, item: ItemIn) -> Item:
        if len(self._created) >= MAX_CREATED_ITEMS:
            del self._created[next(iter(self._created))]
        stored = Item(id=next(self._ids), **item.model_dump())
        self._created[stored.id] = stored
        return stored


def add_demo_routes(app: FastAPI, settings: Settings) -> None:
    """Add the `/api` routes, each behind the fault injector configured by `settings`.

    They go on the app itself, not through an included APIRouter: recent FastAPI keeps
    an included router as one opaque route, and the metrics middleware needs each
    route's template (see obsapp.metrics.PrometheusMiddleware).
    """
    store = ItemStore()
    faults = [Depends(fault_injector(settings))]

    @app.get("/api/items", tags=["demo"], dependencies=faults)
    async def list_items() -> list[Item]:
        return store.list()

    @app.get("/api/items/{item_id}", tags=["demo"], dependencies=faults)
    async def get_item(item_id: int) -> Item:
        item = store.get(item_id)
        if item is None:
            raise HTTPException(status_code=404, detail=f"item {item_id} not found")
        return item

    @app.post("/api/items", status_code=201, tags=["demo"], dependencies=faults)
    async def create_item(item: ItemIn) -> Item:
        return store.add(item)

    @app.get("/api/work", tags=["demo"], dependencies=faults)
    async def work(ms: Annotated[int, Query(ge=0, le=MAX_WORK_MS)] = 10) -> dict[str, int]:
        """Burn `ms` of CPU on the event loop, as a CPU-bound handler would: other requests
        to this worker wait, which is the saturation signal the dashboards show."""
        deadline = time.thread_time() + ms / 1000
        iterations = 0
        while time.thread_time() < deadline:
            iterations += 1
        return {"ms": ms, "iterations": iterations}

    @app.get("/api/slow", tags=["demo"], dependencies=faults)
    async def slow(ms: Annotated[int, Query(ge=0, le=MAX_SLOW_MS)] = 100) -> dict[str, int]:
        """Wait `ms` without using CPU, like a handler waiting on a slow dependency."""
        await asyncio.sleep(ms / 1000)
        return {"ms": ms}
