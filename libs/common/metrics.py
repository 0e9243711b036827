"""Metrics for runs, rows, latency and DLQ depth (DESIGN §10), exported where a setting says.

Instruments are created at import from the global meter provider; OpenTelemetry binds them to
whichever provider is installed later, so code records without knowing the exporter. The SDK
is imported only when an exporter is chosen: with `none` the API's no-op meter records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from libs.common.tracing import TRACER_NAME, optional_class

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter

MetricsExporter = Literal["none", "console", "otlp", "cloud-monitoring"]
EXPORT_INTERVAL_MS = 60_000
"""Cloud Monitoring accepts one point per series every 5 s at most; a minute is plenty."""

_meter = metrics.get_meter(TRACER_NAME)
RUNS = _meter.create_counter(
    "nba.runs", unit="{run}", description="runs per phase (scrape, load, build), scraper and status"
)
ROWS = _meter.create_counter(
    "nba.rows", unit="{row}", description="records a scrape parsed, rows a load or build wrote"
)
DURATION = _meter.create_histogram(
    "nba.run.duration", unit="s", description="wall time of one run per phase and scraper"
)

DepthSource = Callable[[], Mapping[str, int]]
_dlq_depths: dict[object, DepthSource] = {}


def _observe_dlq(options: CallbackOptions) -> Iterable[Observation]:
    for depths in list(_dlq_depths.values()):
        for subscription, depth in depths().items():
            yield Observation(depth, {"subscription": subscription})


_meter.create_observable_gauge(
    "nba.dlq.depth",
    callbacks=[_observe_dlq],
    unit="{message}",
    description="messages waiting in each dead-letter subscription",
)


def count_run(phase: str, scraper_name: str, status: str, rows: int, seconds: float) -> None:
    """Count one run of a phase with its rows and duration."""
    labels = {"phase": phase, "scraper_name": scraper_name}
    RUNS.add(1, {**labels, "status": status})
    ROWS.add(rows, labels)
    DURATION.record(seconds, labels)


def observe_dlq_depth(owner: object, depths: DepthSource | None) -> None:
    """Set (None: remove) the source the DLQ gauge reads for `owner`, e.g. one scrapers app.

    Keyed by owner, so one app stopping (a test's second stack, a restart) never silences
    another's gauge, and a repeated start of the same app replaces its source.
    """
    if depths is None:
        _dlq_depths.pop(owner, None)
    else:
        _dlq_depths[owner] = depths


def exporter_for(kind: MetricsExporter) -> MetricExporter | None:
    """The metric exporter a setting names; optional packages are imported only when chosen."""
    if kind == "none":
        return None
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter

    if kind == "console":
        return ConsoleMetricExporter()
    if kind == "otlp":
        return optional_class(
            "opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter", MetricExporter,
            "METRICS_EXPORTER=otlp", "opentelemetry-exporter-otlp-proto-http",
        )()  # fmt: skip
    if kind == "cloud-monitoring":
        return optional_class(
            "opentelemetry.exporter.cloud_monitoring", "CloudMonitoringMetricsExporter", MetricExporter,
            "METRICS_EXPORTER=cloud-monitoring", "opentelemetry-exporter-gcp-monitoring",
        )()  # fmt: skip
    return None


def configure_metrics(kind: MetricsExporter) -> None:
    """Install a meter provider exporting every minute; `none` installs nothing (tests may)."""
    exporter = exporter_for(kind)
    if exporter is None:
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if isinstance(metrics.get_meter_provider(), MeterProvider):
        return
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=EXPORT_INTERVAL_MS)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
