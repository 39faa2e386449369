"""The ASGI app, `obsapp.main:app`: service info, probes, `/metrics` and the demo API.

`create_app` builds a complete app from `Settings`, so tests can build as many as they
need, each with its own metrics registry; the module-level `app` is the one uvicorn
serves, built from the environment at import. A bad setting must stop the whole server,
not one worker: see `refusing_app`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import multiprocess
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Receive, Scope, Send

from obsapp import api, metrics
from obsapp.settings import Instrumentation, Settings, SettingsError

METRICS_PATH = "/metrics"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (default: read from the environment)."""
    settings = Settings.from_env() if settings is None else settings
    registry, served = metrics.registries(settings)
    metrics.set_app_info(registry, settings.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = True
        yield
        app.state.ready = False
        if settings.multiproc_dir is not None:
            # This worker's live gauges (in-progress, app_info) must stop counting.
            multiprocess.mark_process_dead(os.getpid(), str(settings.multiproc_dir))

    app = FastAPI(title="obsapp", version=settings.version, lifespan=lifespan)
    app.state.ready = False

    @app.get("/")
    async def info() -> dict[str, object]:
        return {
            "service": "obsapp",
            "version": settings.version,
            "instrumentation": settings.instrumentation,
            "multiprocess": settings.multiproc_dir is not None,
            "pid": os.getpid(),
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the event loop answers. Checks nothing else, so a slow dependency
        never gets a healthy worker restarted."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: start-up has finished and shutdown has not begun."""
        if request.app.state.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status_code=503)

    @app.get(METRICS_PATH, include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        # A sync handler: in multiprocess mode collecting reads files, so it runs in the
        # thread pool rather than on the event loop.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(served), media_type=content_type)

    api.add_demo_routes(app, settings)

    if settings.instrumentation is Instrumentation.ON:
        app.add_middleware(
            metrics.PrometheusMiddleware,
            routes=app.router.routes,
            metrics=metrics.HttpMetrics(registry),
            exclude_paths=[METRICS_PATH],
        )
    elif settings.instrumentation is Instrumentation.INSTRUMENTATOR:
        metrics.use_instrumentator(app, registry)
    return app


def refusing_app(error: SettingsError) -> ASGIApp:
    """An ASGI app whose lifespan start-up fails with `error`, and that serves nothing.

    uvicorn's supervisor restarts a worker that raises while importing the app, so with
    `--workers 2` a bad setting would become a silent restart loop under a parent that
    looks healthy; a failed lifespan start-up instead makes uvicorn stop the parent
    (exit code 3), whatever the number of workers. Ref https://github.com/encode/uvicorn/discussions/2440
    """

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            raise error
        await receive()  # lifespan.startup
        await send({"type": "lifespan.startup.failed", "message": str(error)})

    return refuse


try:
    app: ASGIApp = create_app()
except SettingsError as exc:
    app = refusing_app(exc)
