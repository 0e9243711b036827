"""Canary releases: the decision over a fake metrics source (healthy, failing, no data), the
whole release over a fake gcloud, the dry run's exact commands, and the Monitoring reads."""

from __future__ import annotations

import datetime as dt
import io
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from nba_pipeline.canary.decision import CanarySettings, RevisionHealth, judge
from nba_pipeline.canary.metrics import MONITORING_API, CloudMonitoring, MonitoringError
from nba_pipeline.canary.release import CommandFailed, RealGcloud, Release, ReleaseError, main
from nba_pipeline.deploy.settings import DeploySettings
from tests.unit.test_deploy import ENV

START = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
OLD, NEW = "nba-scrapers-00041-old", "nba-scrapers-00042-new"
SCOPE = ["nba-scrapers", "--project=nba-prod", "--region=europe-west1"]
IMAGE = "europe-west1-docker.pkg.dev/nba-prod/nba/scrapers:abc1234"
BUILD = ["gcloud", "builds", "submit", ".", "--project=nba-prod", "--region=europe-west1",
         "--config=.local/deploy/cloudbuild.yaml",
         f"--substitutions=_SERVICE=scrapers,_IMAGE={IMAGE}"]  # fmt: skip
DESCRIBE = ["gcloud", "run", "services", "describe", *SCOPE, "--format=json"]
TRAFFIC = ["gcloud", "run", "services", "update-traffic", *SCOPE]
DEPLOY = ["gcloud", "run", "deploy", *SCOPE, f"--image={IMAGE}", "--no-traffic", "--tag=canary",
          "--update-env-vars=SERVICE_VERSION=abc1234"]  # fmt: skip
PROMOTE = [*TRAFFIC, "--to-tags=canary=100"]
ROLLBACK = [*TRAFFIC, "--to-tags=previous=100"]
LIMITS = CanarySettings()
HEALTHY = RevisionHealth(requests=200, errors=1, p95_ms=320)
BASELINE = RevisionHealth(requests=1800, errors=9, p95_ms=300)


class FakeGcloud:
    """Records commands; describes the service before the deploy, then with the canary tagged."""

    def __init__(self, serving: str | None = OLD) -> None:
        self.commands: list[list[str]] = []
        self.serving = serving

    def run(self, command: list[str]) -> None:
        self.commands.append(command)

    def read(self, command: list[str], why: str) -> dict[str, Any] | None:
        self.commands.append(command)
        traffic: list[dict[str, Any]] = (
            [{"revisionName": self.serving, "percent": 100}] if self.serving else []
        )
        if DEPLOY in self.commands:
            traffic += [{"revisionName": OLD, "tag": "previous"},
                        {"revisionName": NEW, "tag": "canary"}]  # fmt: skip
        return {"status": {"traffic": traffic}}


class FakeMetrics:
    """Each revision's health over any window; notes the windows read."""

    def __init__(self, canary: RevisionHealth, previous: RevisionHealth = BASELINE) -> None:
        self.by_revision = {NEW: canary, OLD: previous}
        self.windows: list[tuple[str, dt.timedelta]] = []

    def health(self, revision: str, start: dt.datetime, end: dt.datetime) -> RevisionHealth:
        self.windows.append((revision, end - start))
        return self.by_revision[revision]


class Clock:
    """Time that passes only when the release sleeps."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> dt.datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


@dataclass
class Run:
    """A release over fakes, and what they saw."""

    release: Release
    gcloud: FakeGcloud
    metrics: FakeMetrics
    said: list[str]


def release(canary: RevisionHealth, gcloud: FakeGcloud | None = None) -> Run:
    clock, said = Clock(), list[str]()
    gcloud, metrics = gcloud or FakeGcloud(), FakeMetrics(canary)
    settings = DeploySettings(**{name.lower(): value for name, value in ENV.items()})
    run = Release(
        "scrapers", settings, LIMITS, gcloud, metrics, clock.now, clock.sleep, said.append
    )
    return Run(run, gcloud, metrics, said)


def test_a_healthy_canary_gets_10_percent_then_all_traffic_after_the_whole_watch() -> None:
    run = release(HEALTHY)
    verdict = run.release.deploy()
    assert verdict is not None and verdict.decision == "promote"
    assert run.gcloud.commands == [
        BUILD, DESCRIBE, [*TRAFFIC, f"--set-tags=previous={OLD}"], DEPLOY, DESCRIBE,
        [*TRAFFIC, "--to-tags=previous=90,canary=10"], PROMOTE,
    ]  # fmt: skip
    windows = run.metrics.windows
    assert windows[-2:] == [(NEW, dt.timedelta(seconds=600)), (OLD, dt.timedelta(seconds=600))]
    assert len(windows) == 2 * 10, "read every 60 s, both revisions over the same window"
    assert run.said[-1] == (
        f"{NEW}: promote: healthy over 200 requests: error rate 0.5% within 5.5%, "
        "p95 320 ms within 650 ms"
    )


def test_a_canary_answering_5xx_is_rolled_back_at_the_first_check() -> None:
    run = release(RevisionHealth(requests=50, errors=10, p95_ms=300))
    verdict = run.release.deploy()
    assert verdict is not None and verdict.decision == "rollback"
    assert run.gcloud.commands[-1] == ROLLBACK
    assert run.metrics.windows[-1] == (OLD, dt.timedelta(seconds=60))
    assert run.said[-1] == (
        f"{NEW}: rollback: error rate 20.0% (10 of 50 requests answered 5xx) is over 5.5%: "
        "the previous revision's 0.5% plus CANARY_MAX_ERROR_RATE 5%"
    )


def test_a_slow_canary_is_rolled_back() -> None:
    verdict = judge(RevisionHealth(200, 0, 900), BASELINE, LIMITS, watched_all=False)
    assert verdict.decision == "rollback"
    assert verdict.reason == (
        "p95 latency 900 ms is over 650 ms: CANARY_MAX_LATENCY_RATIO 1.5 x the previous "
        "revision's 300 ms + 200 ms"
    )


def test_a_canary_that_served_nothing_is_rolled_back_as_no_data_after_the_watch() -> None:
    run = release(RevisionHealth(requests=3, errors=0, p95_ms=None))
    verdict = run.release.deploy()
    assert verdict is not None and verdict.decision == "rollback"
    assert run.gcloud.commands[-1] == ROLLBACK
    assert run.metrics.windows[-1][1] == dt.timedelta(seconds=600), "watched to the end"
    assert run.said[-1].startswith(
        f"{NEW}: rollback: no data: 3 requests reached the canary while it was watched, "
        "fewer than CANARY_MIN_REQUESTS (10)"
    )


def test_errors_the_previous_revision_has_too_are_not_blamed_on_the_canary() -> None:
    outage = RevisionHealth(requests=1000, errors=300, p95_ms=300)
    verdict = judge(RevisionHealth(100, 32, 310), outage, LIMITS, watched_all=True)
    assert verdict.decision == "promote", verdict.reason


def test_a_few_early_errors_wait_for_enough_requests() -> None:
    verdict = judge(RevisionHealth(4, 2, 300), BASELINE, LIMITS, watched_all=False)
    assert verdict.decision == "watch"


def test_a_service_serving_nothing_gets_no_canary() -> None:
    gcloud = FakeGcloud(serving=None)
    run = release(HEALTHY, gcloud)
    with pytest.raises(ReleaseError, match="deploy it first with `make deploy-scrapers`"):
        run.release.deploy()
    assert DEPLOY not in gcloud.commands


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**ENV, "DRY_RUN": "1"}.items():
        monkeypatch.setenv(name, value)
    for name in CanarySettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def printed(*argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue().splitlines()


def test_the_dry_run_prints_the_exact_commands(env: None) -> None:
    code, lines = printed("deploy", "scrapers")
    assert code == 0
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    assert commands == [
        BUILD, [*TRAFFIC, "--set-tags=previous=PREVIOUS_REVISION"], DEPLOY,
        [*TRAFFIC, "--to-tags=previous=90,canary=10"],
    ]  # fmt: skip
    notes = [line for line in lines if line.startswith("#")]
    assert (
        notes[0]
        == f"# PREVIOUS_REVISION is the revision serving the most traffic: {shlex.join(DESCRIBE)}"
    )
    assert notes[-2:] == [f"# {shlex.join(PROMOTE)}", f"# {shlex.join(ROLLBACK)}"]


def test_promote_and_rollback_by_hand_need_only_the_project(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV.keys() - {"GCP_PROJECT", "GCP_REGION"}:
        monkeypatch.delenv(name)
    assert printed("promote", "scrapers") == (0, [shlex.join(PROMOTE)])
    assert printed("rollback", "scrapers") == (0, [shlex.join(ROLLBACK)])
    monkeypatch.delenv("GCP_PROJECT")
    assert printed("rollback", "scrapers") == (2, [])


def test_a_bad_setting_or_service_is_named(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CANARY_MAX_ERROR_RATE", "5")
    assert printed("deploy", "scrapers") == (2, [])
    assert (
        "CANARY_MAX_ERROR_RATE='5': Input should be less than or equal to 1"
        in capsys.readouterr().err
    )
    assert printed("deploy", "frontend")[0] == 2
    assert "make deploy-canary SERVICE=scrapers" in capsys.readouterr().err


def series(cls: str | None, value: dict[str, Any]) -> dict[str, Any]:
    labels = {"response_code_class": cls} if cls else {}
    return {"metric": {"labels": labels}, "points": [{"value": value}]}


@respx.mock
def test_cloud_monitoring_counts_requests_5xx_and_p95_of_one_revision() -> None:
    url = f"{MONITORING_API}/projects/nba-prod/timeSeries"
    pages = [
        {"timeSeries": [series("2xx", {"int64Value": "180"})], "nextPageToken": "p2"},
        {"timeSeries": [series("5xx", {"int64Value": "20"}), series("4xx", {"int64Value": "3"})]},
        {"timeSeries": [series(None, {"doubleValue": 412.5})]},
    ]
    route = respx.get(url).mock(side_effect=[httpx.Response(200, json=p) for p in pages])
    monitoring = CloudMonitoring("nba-prod", "nba-scrapers", httpx.Client(), lambda: "tok")
    health = monitoring.health(NEW, START, START + dt.timedelta(minutes=10))
    assert health == RevisionHealth(requests=203, errors=20, p95_ms=412.5)
    first = route.calls[0].request
    assert first.headers["Authorization"] == "Bearer tok"
    assert dict(first.url.params) == {
        "filter": 'metric.type = "run.googleapis.com/request_count" AND resource.type = '
        '"cloud_run_revision" AND resource.labels.service_name = "nba-scrapers" AND '
        f'resource.labels.revision_name = "{NEW}"',
        "interval.startTime": "2026-12-07T09:00:00Z",
        "interval.endTime": "2026-12-07T09:10:00Z",
        "aggregation.alignmentPeriod": "600s",
        "aggregation.perSeriesAligner": "ALIGN_DELTA",
        "aggregation.crossSeriesReducer": "REDUCE_SUM",
        "aggregation.groupByFields": "metric.labels.response_code_class",
    }
    assert route.calls[1].request.url.params["pageToken"] == "p2"
    latency = route.calls[2].request.url.params
    assert latency["aggregation.crossSeriesReducer"] == "REDUCE_PERCENTILE_95"
    assert "request_latencies" in latency["filter"]


@respx.mock
def test_a_refused_monitoring_read_names_the_role_to_grant() -> None:
    respx.get(url__startswith=MONITORING_API).mock(return_value=httpx.Response(403))
    monitoring = CloudMonitoring("nba-prod", "nba-scrapers", httpx.Client(), lambda: "tok")
    with pytest.raises(MonitoringError, match=r"roles/monitoring\.viewer"):
        monitoring.health(NEW, START, START + dt.timedelta(minutes=1))


def test_without_gcloud_the_release_stops_with_127_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(*args: Any, **kwargs: Any) -> None:
        raise FileNotFoundError("gcloud")

    monkeypatch.setattr(subprocess, "run", missing)
    for step in (RealGcloud().run, lambda command: RealGcloud().read(command, "lookup")):
        with pytest.raises(CommandFailed) as failed:
            step(DESCRIBE)
        assert failed.value.code == 127
    assert "gcloud not found; install the Google Cloud CLI" in capsys.readouterr().err
