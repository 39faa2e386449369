"""Request metrics: the collectors, the ASGI middleware that feeds them, and the registries.

The names and labels are a contract: rules/ and dashboards/ query them as written here.
The middleware is plain ASGI rather than Starlette's BaseHTTPMiddleware (which runs the
app in a separate task and wraps every response) and does the per-request work with a
few dict lookups: the route template for a path, and the pre-bound label children for
it, are found once and cached, so bench/app_throughput.py can hold it to >= 90 % of the
throughput of the bare app.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from time import perf_counter

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obsapp.procstats import WorkerProcessCollector
from obsapp.settings import Instrumentation, Settings

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
UNMATCHED = "unmatched"
"""`handler` of every request no route matches, so scanners cannot mint new series."""
OTHER_METHOD = "OTHER"
"""`method` of requests with a non-standard method, for the same reason."""
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
MAX_CACHED_PATHS = 4096
"""Paths with ids (`/api/items/17`) are endless; the path cache is emptied when it reaches this."""


# `*_created` series double the series count and are absent in multiprocess mode anyway;
# nothing here queries them. This is process-wide, which is fine: the app owns its process.
disable_created_metrics()


def registries(settings: Settings) -> tuple[CollectorRegistry, CollectorRegistry]:
    """The registry metrics are created in, and the one `/metrics` serves.

    In single-process mode they are the same. In multiprocess mode values live in the
    per-worker files, so `/metrics` serves a registry that merges the files, and the
    first one only guards against two metrics with one name. The `instrumentator` mode
    uses prometheus-client's global registry, because that library creates its
    in-progress gauge there whatever registry it is given; so that mode can be built
    only once per process, which is all the benchmark needs.
    """
    shared = settings.instrumentation is Instrumentation.INSTRUMENTATOR
    registry = REGISTRY if shared else CollectorRegistry()
    if settings.multiproc_dir is None:
        if not shared:  # the global registry has its own
            ProcessCollector(registry=registry)
        return registry, registry
    served = CollectorRegistry()
    # Registered first: it marks crashed workers dead before their files are merged.
    WorkerProcessCollector(settings.multiproc_dir, registry=served)
    MultiProcessCollector(served, path=str(settings.multiproc_dir))
    return registry, served


def set_app_info(registry: CollectorRegistry, version: str) -> None:
    """Publish `app_info{version} 1`.

    A Gauge rather than an Info, which multiprocess mode does not support; `livemax` shows
    it once for all workers and drops it when they are gone.
    """
    info = Gauge("app_info", "Version of the running app.", ["version"], registry=registry, multiprocess_mode="livemax")
    info.labels(version).set(1)


class HttpMetrics:
    """The three request collectors the dashboards and alert rules are written against."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "handler", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request reaching the app to the last byte of its response.",
            ["method", "handler"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled, by method and route template.",
            ["method", "handler"],
            registry=registry,
            multiprocess_mode="livesum",
        )


@dataclass(slots=True)
class _Series:
    """Label children bound once per (method, handler), so a request does no label lookups."""

    method: str
    handler: str
    in_progress: Gauge
    duration: Histogram
    all_requests: Counter
    by_status: dict[int, Counter] = field(default_factory=dict)

    def requests(self, status: int) -> Counter:
        counter = self.by_status.get(status)
        if counter is None:
            counter = self.by_status[status] = self.all_requests.labels(self.method, self.handler, str(status))
        return counter


class PrometheusMiddleware:
    """Pure ASGI middleware that counts, times and tracks in-flight HTTP requests.

    The route template is found before the request runs (`http_requests_in_progress`
    needs it then) by matching the app's routes the way Starlette's router does: the
    first full match, else the first partial one (a 405). Routes must be added to the app
    itself, since a route inside an included router of recent FastAPI has no template here.
    """

    def __init__(
        self, app: ASGIApp, *, routes: list[BaseRoute], metrics: HttpMetrics, exclude_paths: Collection[str]
    ) -> None:
        self.app = app
        self._routes = routes
        self._metrics = metrics
        self._exclude = frozenset(exclude_paths)
        self._by_path: dict[tuple[str, str], _Series] = {}
        self._by_label: dict[tuple[str, str], _Series] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exclude:
            await self.app(scope, receive, send)
            return
        series = self._by_path.get((scope["method"], scope["path"])) or self._series_for(scope)
        status = 500  # what the server answers if the app raises before it responds

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        series.in_progress.inc()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            series.duration.observe(perf_counter() - start)
            series.in_progress.dec()
            series.requests(status).inc()

    def _series_for(self, scope: Scope) -> _Series:
        method = scope["method"] if scope["method"] in HTTP_METHODS else OTHER_METHOD
        handler = self._template(scope)
        series = self._by_label.get((method, handler))
        if series is None:
            series = self._by_label[(method, handler)] = _Series(
                method,
                handler,
                self._metrics.in_progress.labels(method, handler),
                self._metrics.duration.labels(method, handler),
                self._metrics.requests,
            )
        if len(self._by_path) >= MAX_CACHED_PATHS:
            self._by_path.clear()
        self._by_path[(scope["method"], scope["path"])] = series
        return series

    def _template(self, scope: Scope) -> str:
        # A copy of just what matching reads: FastAPI's routes may add keys to the scope.
        probe = {k: scope[k] for k in ("type", "method", "path", "root_path") if k in scope}
        partial = None
        for route in self._routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                return getattr(route, "path", UNMATCHED)
            if match is Match.PARTIAL and partial is None:
                partial = route
        return UNMATCHED if partial is None else getattr(partial, "path", UNMATCHED)


def use_instrumentator(app: Starlette, registry: CollectorRegistry) -> None:
    """Measure requests with prometheus-fastapi-instrumentator instead (benchmark only).

    It is configured to record what ours records (exact status codes, the same buckets,
    in-progress by method and handler, `/metrics` excluded), so the benchmark compares
    the cost of the same data. Imported here because only the test extras install it.
    """
    from prometheus_fastapi_instrumentator import Instrumentator
    from prometheus_fastapi_instrumentator import metrics as pfi

    Instrumentator(
        should_group_status_codes=False,
        should_instrument_requests_inprogress=True,
        inprogress_name="http_requests_in_progress",
        inprogress_labels=True,
        excluded_handlers=["^/metrics$"],
        registry=registry,
    ).add(
        pfi.requests(registry=registry),
        pfi.latency(should_include_status=False, buckets=BUCKETS, registry=registry),
    ).instrument(app)
