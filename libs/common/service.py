"""What every service app shares: lifespan wiring, health routes and push-request helpers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import resource
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import metrics, trace
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common.auth import auth_mode, push_verifier, require_admin_identity
from libs.common.deps import (
    ALL_DEPENDENCIES,
    Clients,
    ClientsDep,
    Dependency,
    SettingsDep,
    app_state,
)
from libs.common.logs import configure_logging
from libs.common.metrics import configure_metrics
from libs.common.settings import CommonSettings
from libs.common.tables.raw import LOADED_BY
from libs.common.tracing import RequestTrace, configure_tracing
from libs.common.validation import error_details
from libs.common.warehouse.schema import Table

log = logging.getLogger(__name__)


def create_service_app(
    title: str,
    description: str,
    settings: CommonSettings,
    tables: Iterable[Table],
    routers: Iterable[APIRouter],
    clients: Clients | None = None,
    on_startup: Callable[[FastAPI], None] | None = None,
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None,
    uses: Collection[Dependency] = ALL_DEPENDENCIES,
    publishes: str | None = None,
    state: Mapping[str, object] | None = None,
) -> FastAPI:
    """A FastAPI app whose clients come from settings, unless the caller shares its own.

    `uses` names the clients besides the warehouse that the service needs: only those are
    built at startup, and only those `/ready` checks; `publishes` is the topic it checks.
    `state` holds the app's own objects that its routes' dependencies read (`app.state`).
    """
    if "pubsub" in uses and publishes is None:
        raise ValueError(f"{title}: a service that uses pubsub names the topic it publishes")
    owned = clients is None
    tables = tuple(tables)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = os.environ.get("K_SERVICE", title)  # Cloud Run sets it to the service's name
        configure_tracing(settings.trace_exporter, settings.gcp_project, service)
        configure_metrics(settings.metrics_exporter, settings.gcp_project)
        push_verifier(app)  # when push auth is on: its imports now, not on the first push
        if owned:
            configure_logging(settings.gcp_project, settings.log_level)
            app.state.clients = Clients.from_settings(settings, uses)
        app.state.clients.warehouse.ensure_tables(tables)
        if on_startup is not None:
            on_startup(app)
        yield
        if on_shutdown is not None:
            await on_shutdown(app)
        if owned:
            app.state.clients.close()
        flush_telemetry()

    app = FastAPI(
        title=title,
        description=description,
        version=settings.service_version,
        lifespan=lifespan,
        exception_handlers={RequestValidationError: invalid_request},
    )
    app.state.settings = settings
    app.state.checks = ServiceChecks(title, uses, publishes)
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    if clients is not None:
        app.state.clients = clients
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTrace)
    app.include_router(health_router)
    for router in routers:
        app.include_router(router)
    return app


def flush_telemetry() -> None:
    """Export the spans and metrics still buffered: Cloud Run stops an instance 10 s after
    SIGTERM, and the last minute of metrics would otherwise go with it."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """The 422 of every service: each bad field named, no input repeated, so a NaN, an
    Infinity or a huge value in the body cannot turn the answer into a 500 or a huge page."""
    return JSONResponse({"detail": error_details(exc.errors())}, 422)


class BodySizeLimit:
    """ASGI middleware: a body over `max_bytes` gets a 413 naming the limit, before a route reads it.

    The body is read up front (it is small by then), so a chunked upload without
    Content-Length is refused the same way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def too_large(self) -> JSONResponse:
        return JSONResponse(
            {"detail": f"request body larger than {self.max_bytes} bytes (MAX_BODY_BYTES); "
                       "send one scrape request or one push message per call"},
            413,
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_bytes:
            await self.too_large()(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self.too_large()(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


def _check(name: str, probe: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    detail: str | None = None
    try:
        probe()
    except Exception as exc:
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    else:
        status = "ok"
    return {
        "name": name,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "detail": detail,
    }


def dependency_checks(
    clients: Clients, uses: Collection[Dependency], publishes: str | None
) -> list[dict[str, Any]]:
    """Reach the warehouse and each dependency in `uses` once: a query, the bucket, and the
    topic the service `publishes` to. A missing bucket or topic fails like an unreachable one."""
    probes: dict[str, Callable[[], Any]] = {
        "warehouse": lambda: clients.warehouse.query("SELECT 1 AS ok"),
        "gcs": lambda: clients.store.check_bucket(),
    }
    if publishes is not None:
        probes["pubsub"] = lambda: clients.publisher.check_topic(publishes)
    return [_check(name, probe) for name, probe in probes.items() if name in {"warehouse", *uses}]


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc), else its peak; Cloud Run kills at the limit."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def keys_present(settings: CommonSettings) -> dict[str, bool]:
    """Whether each secret setting has a value; never the value itself."""
    return {
        name: bool(value.get_secret_value())
        for name, value in settings
        if isinstance(value, SecretStr)
    }


DETAILED_CHECKS_SECONDS = 30.0
"""How long `/health/detailed` reuses its dependency checks: it is read by people, and each
check is a query, a bucket listing and a topic lookup (on BigQuery a job)."""


class CachedChecks:
    """The latest dependency checks and when they ran, run again once `seconds` old."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._clock = seconds, clock
        self._lock = threading.Lock()
        self._ran: tuple[float, str, list[dict[str, Any]]] | None = None

    def get(self, run: Callable[[], list[dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
        """(when the checks ran, ISO UTC; the checks), running them if none are fresh."""
        with self._lock:
            if self._ran is None or self._clock() - self._ran[0] >= self.seconds:
                self._ran = (self._clock(), dt.datetime.now(dt.UTC).isoformat(), run())
            return self._ran[1], self._ran[2]


@dataclass
class ServiceChecks:
    """What a service's `/ready` and `/health/detailed` reach, and the latter's cache."""

    title: str
    uses: Collection[Dependency] = ALL_DEPENDENCIES
    publishes: str | None = None
    cached: CachedChecks = field(default_factory=lambda: CachedChecks(DETAILED_CHECKS_SECONDS))

    def run(self, clients: Clients) -> list[dict[str, Any]]:
        """Every check, now."""
        return dependency_checks(clients, self.uses, self.publishes)


ChecksDep = Annotated[ServiceChecks, Depends(app_state("checks", ServiceChecks))]
"""What the app's health routes check."""

health_router = APIRouter(tags=["health"])
"""`/health` (liveness) and `/ready` (dependencies, 503 naming the failure), open for probes;
`/health/detailed` (configuration, cached checks) for admin identities only."""


@health_router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/ready", summary="Readiness: the dependencies this service uses are reachable")
def ready(clients: ClientsDep, service: ChecksDep) -> JSONResponse:
    checks = service.run(clients)
    failing = [c["name"] for c in checks if c["status"] != "ok"]
    if failing:
        return JSONResponse({"status": "unavailable", "failing": failing, "checks": checks}, 503)
    return JSONResponse({"status": "ready", "checks": checks})


@health_router.get(
    "/health/detailed",
    summary="Per-dependency status and latency (checked at most every "
    f"{DETAILED_CHECKS_SECONDS:.0f} s), keys present, memory, scrapers, version, auth",
    dependencies=[Depends(require_admin_identity)],
)
def detailed(settings: SettingsDep, clients: ClientsDep, service: ChecksDep) -> JSONResponse:
    checked_at, checks = service.cached.get(lambda: service.run(clients))
    ok = all(c["status"] == "ok" for c in checks)
    body = {
        "status": "ok" if ok else "degraded",
        "version": settings.service_version,
        "service": service.title,
        "warehouse": settings.warehouse,
        "checked_at": checked_at,
        "checks": checks,
        "api_keys_present": keys_present(settings),
        "memory_rss_bytes": rss_bytes(),
        "registered_scrapers": len(LOADED_BY),
        "auth": auth_mode(settings),
    }
    return JSONResponse(body, 200 if ok else 503)
