"""Metrics for runs, rows, latency and credits (DESIGN §10), exported where a setting says.
The DLQ depth gauge is the scrapers service's (`services/scrapers/dead_letters.py`).

Instruments are created at import from the global meter provider; OpenTelemetry binds them to
whichever provider is installed later, so code records without knowing the exporter. The SDK
is imported only when an exporter is chosen: with `none` the API's no-op meter records nothing.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import metrics

from libs.common.messages import Phase
from libs.common.tracing import TRACER_NAME, optional_class

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter

log = logging.getLogger(__name__)
FAILED_STATUSES = frozenset({"failed", "rejected"})
"""Run outcomes that log their own warning or error where they happen."""

MetricsExporter = Literal["none", "console", "otlp", "cloud-monitoring"]
EXPORT_INTERVAL_MS = 60_000
"""Cloud Monitoring accepts one point per series every 5 s at most; a minute is plenty."""

_meter = metrics.get_meter(TRACER_NAME)
RUNS = _meter.create_counter(
    "nba.runs",
    unit="{run}",
    description=f"runs by phase ({', '.join(Phase)}), scraper_name and status (a scrape's "
    "run status; a push's outcome, or rejected)",
)
ROWS = _meter.create_counter(
    "nba.rows", unit="{row}", description="records a scrape parsed, rows a load or build wrote"
)
DURATION = _meter.create_histogram(
    "nba.run.duration", unit="s", description="wall time of one run per phase and scraper"
)

CREDITS = _meter.create_gauge(
    "nba.upstream.credits_remaining",
    unit="{credit}",
    description="credits an upstream's quota headers say are left (The Odds API), per upstream",
)


def count_run(
    phase: Phase, scraper_name: str, status: str, rows: int, seconds: float, **counts: object
) -> None:
    """Count one run of a phase with its rows and duration; a run that did not fail also logs
    one INFO line with them and `counts` (its execution id, rows changed), so each run that
    worked says so once, under the trace of the request that ran it."""
    labels = {"phase": phase, "scraper_name": scraper_name}
    RUNS.add(1, {**labels, "status": status})
    ROWS.add(rows, labels)
    DURATION.record(seconds, labels)
    if status not in FAILED_STATUSES:
        fields = {**labels, "status": status, "rows": rows, "seconds": round(seconds, 3), **counts}
        log.info(f"{phase} {status}", extra={"fields": fields})


def observe_credits(upstream: str, remaining: int) -> None:
    """Record what an upstream's last answer said is left of its quota (alerted on below a floor)."""
    CREDITS.set(remaining, {"upstream": upstream})


def exporter_for(
    kind: MetricsExporter, project: str = "", client: Any = None
) -> MetricExporter | None:
    """The metric exporter a setting names; optional packages are imported only when chosen.

    `cloud-monitoring` writes `workload.googleapis.com/<instrument>` in `project` through
    `client` (default: the Monitoring API with the service's credentials), each instance's
    series labelled apart (`opentelemetry_id`) since Cloud Run runs several at once.
    """
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
        exporter = optional_class(
            "opentelemetry.exporter.cloud_monitoring", "CloudMonitoringMetricsExporter", MetricExporter,
            "METRICS_EXPORTER=cloud-monitoring", "opentelemetry-exporter-gcp-monitoring",
        )  # fmt: skip
        with warnings.catch_warnings():  # deprecated upstream: README, "Dependencies and why"
            warnings.simplefilter("ignore", DeprecationWarning)
            return exporter(project_id=project or None, client=client, add_unique_identifier=True)
    return None


def meter_provider(
    kind: MetricsExporter, project: str, client: Any = None, interval_ms: int = EXPORT_INTERVAL_MS
) -> MeterProvider:
    """A provider exporting every `interval_ms` where a setting says (`none`: nowhere)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = exporter_for(kind, project, client)
    if exporter is None:
        return MeterProvider()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
    return MeterProvider(metric_readers=[reader])


def configure_metrics(kind: MetricsExporter, project: str) -> None:
    """Install a meter provider exporting every minute; `none` installs nothing (tests may) and
    loads no SDK (a cold start's tenths of a second)."""
    if kind == "none":
        return
    from opentelemetry.sdk.metrics import MeterProvider

    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(meter_provider(kind, project))
