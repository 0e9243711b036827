"""One trace from scrape to analytics: W3C `traceparent` rides in Pub/Sub attributes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

TRACER_NAME = "nba-pipeline"
CLIENT_LIBRARY_KEY = "googclient_traceparent"
"""The Pub/Sub client library's own attribute for the same header; accepted on receipt."""

Exporter = Literal["none", "console", "otlp", "cloud-trace"]


def exporter_for(kind: Exporter) -> SpanExporter | None:
    """The span exporter a setting names; optional packages are imported only when chosen."""
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise RuntimeError(
                "TRACE_EXPORTER=otlp needs: uv add opentelemetry-exporter-otlp-proto-http"
            ) from None
        return OTLPSpanExporter()  # type: ignore[no-any-return]
    if kind == "cloud-trace":
        try:
            from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter
        except ImportError:
            raise RuntimeError(
                "TRACE_EXPORTER=cloud-trace needs: uv add opentelemetry-exporter-gcp-trace"
            ) from None
        return CloudTraceSpanExporter()  # type: ignore[no-any-return]
    return None


def configure_tracing(kind: Exporter) -> None:
    """Install a tracer provider once per process (the first caller wins, as OpenTelemetry requires)."""
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
