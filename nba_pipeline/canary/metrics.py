"""A revision's request count, 5xx count and p95 latency from the Cloud Monitoring API.

Cloud Run writes `run.googleapis.com/request_count` (labelled by `response_code_class`) and
`run.googleapis.com/request_latencies` (a distribution, in ms) per revision; this reads them
with `projects.timeSeries.list` over REST, one aligned point per series for the whole window.
https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from nba_pipeline.canary.decision import RevisionHealth

MONITORING_API = "https://monitoring.googleapis.com/v3"
READ_SCOPE = "https://www.googleapis.com/auth/monitoring.read"
MIN_ALIGNMENT_SECONDS = 60


class MetricsSource(Protocol):
    """What the canary watch reads; tests pass a fake one."""

    def health(self, revision: str, start: dt.datetime, end: dt.datetime) -> RevisionHealth: ...


class MonitoringError(RuntimeError):
    """The Monitoring API refused a read; the message says what to fix."""


def default_token() -> str:
    """An access token of the caller's application default credentials (`gcloud auth
    application-default login`, or the environment's service account)."""
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default(scopes=[READ_SCOPE])
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    return str(credentials.token)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Mapping[str, Any]) -> float:
    """A point's value: int64Value comes as a JSON string, doubleValue as a number."""
    return float(value.get("int64Value", value.get("doubleValue", 0)))


class CloudMonitoring:
    """Reads one Cloud Run service's per-revision request metrics in a project."""

    def __init__(
        self,
        project: str,
        service: str,
        http: httpx.Client | None = None,
        token: Callable[[], str] = default_token,
    ) -> None:
        self.project = project
        self.service = service
        self.http = http or httpx.Client(timeout=30)
        self.token = token

    def health(self, revision: str, start: dt.datetime, end: dt.datetime) -> RevisionHealth:
        """Requests, 5xx answers and p95 latency of `revision` between start and end."""
        counts = self._series(
            "run.googleapis.com/request_count",
            revision,
            start,
            end,
            "ALIGN_DELTA",
            "REDUCE_SUM",
            "metric.labels.response_code_class",
        )
        requests = errors = 0
        for series in counts:
            served = sum(int(_number(p["value"])) for p in series.get("points", []))
            requests += served
            if series.get("metric", {}).get("labels", {}).get("response_code_class") == "5xx":
                errors += served
        latencies = self._series(
            "run.googleapis.com/request_latencies",
            revision,
            start,
            end,
            "ALIGN_DELTA",
            "REDUCE_PERCENTILE_95",
        )
        p95 = max(
            (_number(p["value"]) for series in latencies for p in series.get("points", [])),
            default=None,
        )
        return RevisionHealth(requests, errors, p95)

    def _series(
        self,
        metric: str,
        revision: str,
        start: dt.datetime,
        end: dt.datetime,
        aligner: str,
        reducer: str,
        group_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every time series of one metric of the revision, each aligned to one point."""
        seconds = max(MIN_ALIGNMENT_SECONDS, round((end - start).total_seconds()))
        params = {
            "filter": f'metric.type = "{metric}" AND resource.type = "cloud_run_revision" '
            f'AND resource.labels.service_name = "{self.service}" '
            f'AND resource.labels.revision_name = "{revision}"',
            "interval.startTime": _rfc3339(end - dt.timedelta(seconds=seconds)),
            "interval.endTime": _rfc3339(end),
            "aggregation.alignmentPeriod": f"{seconds}s",
            "aggregation.perSeriesAligner": aligner,
            "aggregation.crossSeriesReducer": reducer,
        }
        if group_by:
            params["aggregation.groupByFields"] = group_by
        url = f"{MONITORING_API}/projects/{self.project}/timeSeries"
        found: list[dict[str, Any]] = []
        while True:
            response = self.http.get(
                url, params=params, headers={"Authorization": f"Bearer {self.token()}"}
            )
            if response.status_code == 403:
                raise MonitoringError(
                    f"Cloud Monitoring refused to read {metric} in {self.project} (403): grant "
                    "the deploying identity roles/monitoring.viewer on the project"
                )
            if response.is_error:
                raise MonitoringError(
                    f"Cloud Monitoring answered {response.status_code} reading {metric}: "
                    f"{response.text[:300]}"
                )
            body = response.json()
            found += body.get("timeSeries", [])
            if not body.get("nextPageToken"):
                return found
            params["pageToken"] = body["nextPageToken"]
