"""One trace from scrape to analytics: W3C `traceparent` rides in Pub/Sub attributes."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, TypeVar

from opentelemetry import context, propagate, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER_NAME = "nba-pipeline"
CLIENT_LIBRARY_KEY = "googclient_traceparent"
"""The Pub/Sub client library's own attribute for the same header; accepted on receipt."""

Exporter = Literal["none", "console", "otlp", "cloud-trace"]


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


def exporter_for(kind: Exporter) -> SpanExporter | None:
    """The span exporter a setting names; optional packages are imported only when chosen."""
    if kind == "none":
        return None
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        return optional_class(
            "opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter", SpanExporter,
            "TRACE_EXPORTER=otlp", "opentelemetry-exporter-otlp-proto-http",
        )()  # fmt: skip
    if kind == "cloud-trace":
        return optional_class(
            "opentelemetry.exporter.cloud_trace", "CloudTraceSpanExporter", SpanExporter,
            "TRACE_EXPORTER=cloud-trace", "opentelemetry-exporter-gcp-trace",
        )()  # fmt: skip
    return None


def configure_tracing(kind: Exporter) -> None:
    """Install a tracer provider once per process (the first caller wins, as OpenTelemetry requires).

    Also with `none`: its spans export nowhere, but their ids still join the log lines and the
    `traceparent` of one run across the three services.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider()
    exporter = exporter_for(kind)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def traceparent() -> str | None:
    """The current span as a W3C traceparent header, for a message's attributes."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_from(
    attributes: Mapping[str, str], name: str, **span_attributes: str
) -> Iterator[trace.Span]:
    """A span continuing the trace a message's attributes carry (or a new trace)."""
    carrier = {
        "traceparent": attributes.get("traceparent") or attributes.get(CLIENT_LIBRARY_KEY, "")
    }
    token = context.attach(propagate.extract(carrier))
    try:
        with trace.get_tracer(TRACER_NAME).start_as_current_span(
            name, attributes=span_attributes
        ) as span:
            yield span
    finally:
        context.detach(token)


class TraceLogFilter(logging.Filter):
    """Stamps log records with the current trace id, which the JSON formatter turns into Cloud Logging's field."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = f"{span_context.trace_id:032x}"
        return True
