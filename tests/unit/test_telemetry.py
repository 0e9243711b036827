"""Telemetry in production: spans reach Cloud Trace's OTLP endpoint and metrics Cloud Monitoring,
both built from the settings; log lines join Cloud Run's request log; one line per run that worked.

The endpoints are fakes in this process (an HTTP server for OTLP, a gRPC server for the
Monitoring API), so nothing needs a project or credentials.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.auth
import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.api.metric_pb2 import MetricDescriptor
from google.auth.credentials import AnonymousCredentials
from google.cloud.monitoring_v3 import MetricServiceClient
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport
from google.cloud.monitoring_v3.types import CreateMetricDescriptorRequest, CreateTimeSeriesRequest
from google.protobuf import empty_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from libs.common import metrics
from libs.common.logs import PIPELINE_TRACE_KEY, TRACE_KEY, CloudLoggingFormatter
from libs.common.messages import Phase
from libs.common.settings import CommonSettings
from libs.common.tracing import RequestTrace, TraceLogFilter, span_from, tracer_provider

PROJECT = "nba-prod"
REQUEST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MESSAGE_TRACE = "0af7651916cd43dd8448eb211c80319c"


def production_settings() -> CommonSettings:
    """What the Cloud Run manifests set (deploy/cloudrun/*.yaml)."""
    return CommonSettings(
        gcp_project=PROJECT, trace_exporter="cloud-trace", metrics_exporter="cloud-monitoring"
    )


@pytest.fixture
def anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Application Default Credentials that sign nothing, as on a machine with no project."""
    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), None))


@pytest.fixture
def otlp_endpoint() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An OTLP/HTTP endpoint on loopback recording (path, body) of every export."""
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def monitoring_api() -> Iterator[tuple[MetricServiceClient, list[CreateTimeSeriesRequest]]]:
    """A Monitoring API MetricService on loopback, and a client of it; records time series writes."""
    written: list[CreateTimeSeriesRequest] = []

    def create_descriptor(request: CreateMetricDescriptorRequest, _: Any) -> MetricDescriptor:
        return request.metric_descriptor

    def create_series(request: CreateTimeSeriesRequest, _: Any) -> empty_pb2.Empty:
        written.append(request)
        return empty_pb2.Empty()

    handlers = {
        "CreateMetricDescriptor": grpc.unary_unary_rpc_method_handler(
            create_descriptor,
            request_deserializer=CreateMetricDescriptorRequest.deserialize,
            response_serializer=MetricDescriptor.SerializeToString,
        ),
        "CreateTimeSeries": grpc.unary_unary_rpc_method_handler(
            create_series,
            request_deserializer=CreateTimeSeriesRequest.deserialize,
            response_serializer=empty_pb2.Empty.SerializeToString,
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)), written
    channel.close()
    server.stop(None)


def test_a_span_reaches_cloud_trace_as_otlp_filed_under_the_settings_project(
    anonymous: None, otlp_endpoint: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = otlp_endpoint
    settings = production_settings()
    provider = tracer_provider(
        settings.trace_exporter, settings.gcp_project, "nba-processors", cloud_trace_endpoint=url
    )
    with provider.get_tracer("test").start_as_current_span(
        "load", attributes={"execution_id": "e-1"}
    ):
        pass
    assert provider.force_flush()
    provider.shutdown()

    [(path, body)] = received
    assert path == "/v1/traces"
    [resource_spans] = ExportTraceServiceRequest.FromString(body).resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["gcp.project_id"] == PROJECT
    assert resource["service.name"] == "nba-processors"
    [span] = resource_spans.scope_spans[0].spans
    assert span.name == "load"
    assert {a.key: a.value.string_value for a in span.attributes} == {"execution_id": "e-1"}


def test_a_metric_reaches_cloud_monitoring_in_the_settings_project(
    monitoring_api: tuple[MetricServiceClient, list[CreateTimeSeriesRequest]],
) -> None:
    client, written = monitoring_api
    settings = production_settings()
    provider = metrics.meter_provider(settings.metrics_exporter, settings.gcp_project, client)
    runs = provider.get_meter("test").create_counter("nba.runs")
    runs.add(1, {"phase": "scrape", "scraper_name": "bdl_games", "status": "success"})
    assert provider.force_flush()
    [request] = written
    provider.shutdown()
    assert request.name == f"projects/{PROJECT}"
    [series] = request.time_series
    assert series.metric.type == "workload.googleapis.com/nba.runs"
    labels = dict(series.metric.labels)
    assert labels.pop("opentelemetry_id"), "each instance's series is labelled apart"
    assert labels == {"phase": "scrape", "scraper_name": "bdl_games", "status": "success"}
    assert series.points[0].value.int64_value == 1


def test_the_monitoring_exporter_uses_the_settings_project(anonymous: None) -> None:
    exporter = metrics.exporter_for("cloud-monitoring", production_settings().gcp_project)
    assert exporter is not None and getattr(exporter, "project_id", None) == PROJECT


def lines_logged_by(app: FastAPI, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The JSON lines a request to the app's `/` logs, formatted as the services format them."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(CloudLoggingFormatter(PROJECT))
    handler.addFilter(TraceLogFilter())
    logger = logging.getLogger("test.request")
    logger.addHandler(handler)
    try:
        assert TestClient(app).get("/", headers=headers).status_code == 200
    finally:
        logger.removeHandler(handler)
    return lines


def app_logging_in_spans() -> FastAPI:
    """One route logging in a scrape-like span (no message) and a push-like one (a message's trace)."""
    app = FastAPI()
    app.add_middleware(RequestTrace)
    logger = logging.getLogger("test.request")

    @app.get("/")
    def route() -> dict[str, str]:
        with span_from({}, "scrape"):
            logger.warning("scraped")
        with span_from({"traceparent": f"00-{MESSAGE_TRACE}-00f067aa0ba902b7-01"}, "load"):
            logger.warning("loaded")
        return {}

    return app


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": f"00-{REQUEST_TRACE}-b7ad6b7169203331-01"},
        {"X-Cloud-Trace-Context": f"{REQUEST_TRACE}/13292941442222215217;o=1"},
    ],
    ids=["traceparent", "x-cloud-trace-context"],
)
def test_log_lines_join_the_request_log_cloud_run_wrote_for_the_request(
    headers: dict[str, str],
) -> None:
    scraped, loaded = lines_logged_by(app_logging_in_spans(), headers)
    request_trace = f"projects/{PROJECT}/traces/{REQUEST_TRACE}"
    assert scraped[TRACE_KEY] == request_trace
    assert PIPELINE_TRACE_KEY not in scraped, "a scrape continues the request's own trace"
    assert loaded[TRACE_KEY] == request_trace
    assert loaded[PIPELINE_TRACE_KEY] == f"projects/{PROJECT}/traces/{MESSAGE_TRACE}"


def test_without_a_request_trace_a_log_line_carries_its_span_trace() -> None:
    [scraped, loaded] = lines_logged_by(app_logging_in_spans(), {})
    assert scraped[TRACE_KEY].startswith(f"projects/{PROJECT}/traces/")
    assert loaded[TRACE_KEY] == f"projects/{PROJECT}/traces/{MESSAGE_TRACE}"
    assert PIPELINE_TRACE_KEY not in loaded


def test_a_run_that_worked_logs_one_line_with_its_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=metrics.__name__)
    metrics.count_run(
        Phase.LOAD, "bdl_games", "loaded", 12, 0.51234, execution_id="e-1", rows_changed=3
    )
    metrics.count_run(Phase.SCRAPE, "bdl_games", "failed", 0, 0.2, execution_id="e-2")
    metrics.count_run(Phase.LOAD, "bdl_games", "rejected", 0, 0.1)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "processors loaded"
    assert record.__dict__["fields"] == {
        "phase": "processors",
        "scraper_name": "bdl_games",
        "status": "loaded",
        "rows": 12,
        "seconds": 0.512,
        "execution_id": "e-1",
        "rows_changed": 3,
    }


def test_nba_runs_describes_the_labels_and_phases_it_records(
    metric_reader: InMemoryMetricReader,
) -> None:
    for phase in Phase:
        metrics.count_run(phase, "bdl_games", "success", 1, 0.1)
    data = metric_reader.get_metrics_data()
    [runs] = [
        metric
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "nba.runs"
    ]
    points = list(runs.data.data_points)
    labels = {key for point in points for key in point.attributes or {}}
    phases = {str((point.attributes or {})["phase"]) for point in points}
    assert labels == {"phase", "scraper_name", "status"}
    assert phases == {"scrape", "processors", "analytics"}
    assert all(name in runs.description for name in labels | phases), runs.description
