"""Fault injection for the demo endpoints, so alerts and dashboards can be proven on demand.

The environment sets a standing fault for the whole process (a drill that lasts until the
next deploy); the `X-Fault-*` headers override it for one request (a drill that touches
nothing else). Probes and `/metrics` never get faults: a fault there would test the
orchestrator's restart logic or the scrape, not the service's alerts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, HTTPException

from obsapp.settings import MAX_FAULT_LATENCY_MS, Settings

ERROR_RATE_HEADER = "X-Fault-Error-Rate"
LATENCY_HEADER = "X-Fault-Latency-Ms"


def fault_injector(settings: Settings) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that delays and/or fails a request as configured.

    A header replaces the environment's value rather than adding to it, so a drill can
    also switch a standing fault off for one request (`X-Fault-Error-Rate: 0`).
    Out-of-range header values are rejected with 422 like any other bad input.
    """

    async def inject_faults(
        error_rate: Annotated[float | None, Header(alias=ERROR_RATE_HEADER, ge=0.0, le=1.0)] = None,
        latency_ms: Annotated[int | None, Header(alias=LATENCY_HEADER, ge=0, le=MAX_FAULT_LATENCY_MS)] = None,
    ) -> None:
        latency = settings.fault_latency_ms if latency_ms is None else latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        rate = settings.fault_error_rate if error_rate is None else error_rate
        if rate and random.random() < rate:
            raise HTTPException(status_code=500, detail=f"injected fault (error rate {rate:g})")

    return inject_faults
