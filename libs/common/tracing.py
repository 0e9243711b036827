"""One trace from scrape to analytics: W3C `traceparent` rides in Pub/Sub attributes."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Literal, TypeVar

from opentelemetry import context, propagate, trace
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER_NAME = "nba-pipeline"
CLIENT_LIBRARY_KEY = "googclient_traceparent"
"""The Pub/Sub client library's own attribute for the same header; accepted on receipt."""

Exporter = Literal["none", "console", "otlp", "cloud-trace"]
CLOUD_TRACE_ENDPOINT = "https://telemetry.googleapis.com/v1/traces"
"""Cloud Trace's OTLP endpoint (the Telemetry API), Google's replacement for its own exporter."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
OTLP_SPAN_EXPORTER = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter")
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"
REQUEST_TRACE: ContextVar[str | None] = ContextVar("request_trace", default=None)
"""Trace id of the HTTP request being served: the one Cloud Run's request log carries."""


T = TypeVar("T")


def optional_class(
    module: str, name: str, base: Callable[..., T], setting: str, package: str
) -> Callable[..., T]:
    """A `base` subclass from an exporter package installed only where a setting chooses it."""
    try:
        found: Callable[..., T] = getattr(importlib.import_module(module), name)
    except ImportError:
        raise RuntimeError(f"{setting} needs: uv add {package}") from None
    return found


def exporter_for(
    kind: Exporter, cloud_trace_endpoint: str = CLOUD_TRACE_ENDPOINT
) -> SpanExporter | None:
    """The span exporter a setting names; optional packages are imported only when chosen."""
    if kind == "none":
        return None
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

    if kind == "console":
        return ConsoleSpanExporter()
    otlp = optional_class(*OTLP_SPAN_EXPORTER, SpanExporter, f"TRACE_EXPORTER={kind}", OTLP_PACKAGE)
    if kind == "otlp":
        return otlp()
    if kind == "cloud-trace":
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return otlp(endpoint=cloud_trace_endpoint, session=session)
    return None


def tracer_provider(
    kind: Exporter, project: str, service: str, cloud_trace_endpoint: str = CLOUD_TRACE_ENDPOINT
) -> TracerProvider:
    """A provider whose spans name the service and the project Cloud Trace files them under."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service, "gcp.project_id": project})
    provider = TracerProvider(resource=resource)
    exporter = exporter_for(kind, cloud_trace_endpoint)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(kind: Exporter, project: str, service: str) -> None:
    """Install a tracer provider once per process (the first caller wins, as OpenTelemetry requires).

    Also with `none`: its spans export nowhere, but their ids still join the log lines and the
    `traceparent` of one run across the three services.
    """
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(tracer_provider(kind, project, service))


def traceparent() -> str | None:
    """The current span as a W3C traceparent header, for a message's attributes."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_from(
    attributes: Mapping[str, str], name: str, **span_attributes: str
) -> Iterator[trace.Span]:
    """A span continuing the trace a message's attributes carry, else the current one (the
    request's, so a scrape joins the trace of the Cloud Run request that started it)."""
    header = attributes.get("traceparent") or attributes.get(CLIENT_LIBRARY_KEY)
    parent = propagate.extract({"traceparent": header}) if header else context.get_current()
    token = context.attach(parent)
    try:
        with trace.get_tracer(TRACER_NAME).start_as_current_span(
            name, attributes=span_attributes
        ) as span:
            yield span
    finally:
        context.detach(token)


def incoming_traceparent(headers: Mapping[str, str]) -> str | None:
    """The W3C `traceparent` a request arrived with, or one made from `X-Cloud-Trace-Context`
    (`TRACE_ID/DECIMAL_SPAN_ID;o=1`); Cloud Run files the request's own log line under it."""
    if re.fullmatch("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", headers.get("traceparent", "")):
        return headers["traceparent"]
    legacy = re.fullmatch(
        r"([0-9a-f]{32})/(\d+)(?:;o=(\d))?", headers.get("x-cloud-trace-context", "")
    )
    if legacy is None:
        return None
    trace_id, span_id, sampled = legacy.groups()
    return f"00-{trace_id}-{int(span_id) % 2**64:016x}-0{sampled or 0}"


class RequestTrace:
    """ASGI middleware: while a request is served, its trace is current, so log lines join
    Cloud Run's request log and spans without a message's `traceparent` join its trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parent = incoming_traceparent(headers)
        trace_token = REQUEST_TRACE.set(parent.split("-")[1] if parent else None)
        context_token = context.attach(propagate.extract({"traceparent": parent or ""}))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(context_token)
            REQUEST_TRACE.reset(trace_token)


class TraceLogFilter(logging.Filter):
    """Stamps log records with the trace the JSON formatter turns into Cloud Logging's field:
    the request's (joining Cloud Run's request log), else the current span's. A span in another
    trace (a push continuing the run's pipeline trace) is kept as `pipeline_trace_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        span_trace = f"{span_context.trace_id:032x}" if span_context.is_valid else None
        logged = REQUEST_TRACE.get() or span_trace
        record.trace_id = logged
        if span_trace is not None and span_trace != logged:
            record.pipeline_trace_id = span_trace
        return True
