"""Log lines in Cloud Logging's shape, and exporters chosen by setting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import pytest
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from libs.common import metrics, tracing
from libs.common.logs import TRACE_KEY, CloudLoggingFormatter
from libs.common.tracing import TraceLogFilter


def formatted(project: str, **extra: object) -> dict[str, object]:
    """The JSON line one warning record becomes, with the filter the handler installs."""
    record = logging.LogRecord("svc", logging.WARNING, __file__, 1, "load %s", ("done",), None)
    record.__dict__.update(extra)
    TraceLogFilter().filter(record)
    line: dict[str, object] = json.loads(CloudLoggingFormatter(project).format(record))
    return line


def test_log_line_has_severity_message_and_the_trace_of_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("load") as span:
        line = formatted("nba-prod", fields={"execution_id": "e-1"})
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert line["severity"] == "WARNING"
    assert line["message"] == "load done"
    assert line[TRACE_KEY] == f"projects/nba-prod/traces/{trace_id}"
    assert line["execution_id"] == "e-1"


def test_log_line_outside_a_span_has_no_trace() -> None:
    assert TRACE_KEY not in formatted("nba-prod")


def test_console_exporters_by_setting() -> None:
    assert isinstance(tracing.exporter_for("console"), ConsoleSpanExporter)
    assert isinstance(metrics.exporter_for("console"), ConsoleMetricExporter)
    assert tracing.exporter_for("none") is None and metrics.exporter_for("none") is None


@pytest.mark.parametrize(
    ("choose", "module", "package"),
    [
        (lambda: tracing.exporter_for("otlp"),
         "opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry-exporter-otlp-proto-http"),
        (lambda: tracing.exporter_for("cloud-trace"),
         "opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry-exporter-otlp-proto-http"),
        (lambda: metrics.exporter_for("otlp"),
         "opentelemetry.exporter.otlp.proto.http.metric_exporter", "opentelemetry-exporter-otlp-proto-http"),
        (lambda: metrics.exporter_for("cloud-monitoring"),
         "opentelemetry.exporter.cloud_monitoring", "opentelemetry-exporter-gcp-monitoring"),
    ],
)  # fmt: skip
def test_an_exporter_whose_package_is_missing_names_the_package(
    monkeypatch: pytest.MonkeyPatch, choose: Callable[[], object], module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail as when not installed
    with pytest.raises(RuntimeError, match=f"uv add {package}"):
        choose()
