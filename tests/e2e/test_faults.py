"""Fault injection through the real local stack (issue 6, DESIGN §9).

These tests take services down, open circuits, move the clock by days and configure alert
channels, so they run on their own stack (module-scoped, frozen clock, local Slack webhook and
SMTP receivers, a 2 s upstream timeout) and leave the session's `stack` untouched. Each test
scrapes its own dates, so the rows it counts are its own; expected counts come from the
replay server's generated season.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from libs.common.clock import EASTERN, Clock
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, ScraperComplete
from libs.common.sources.registry import get_source
from libs.common.warehouse.combining import CombiningWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.dlq import DeadLetterQueues, MessageFilter
from nba_pipeline.pipeline import PipelineClient, RunReport
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings
from nba_pipeline.stack import LocalStack, Ports, wait_until
from services.scrapers.breakers import BreakerRegistry
from tests.utils.faults import crash_mid_load, dropping_port, gcs_write_outage, missing_topic
from tests.utils.receivers import Received, smtp_server, webhook_receiver

pytestmark = pytest.mark.e2e

SEASON = Season(ReplaySettings().seed)
GAME_DAYS = SEASON.game_dates()
HTTP_TIMEOUT = 2.0
BREAKER_COOLDOWN = dt.timedelta(minutes=5)
ALERT_TO = "ops@example.com"


@dataclass
class Channels:
    webhook: Received
    mail: Received


@pytest.fixture(scope="module")
def channels() -> Iterator[tuple[dict[str, Any], Channels]]:
    """Local alert receivers and the settings that point the stack at them."""
    with webhook_receiver() as (url, hooks), smtp_server() as (port, mails):
        settings = {"slack_webhook_url": url, "smtp_host": "127.0.0.1", "smtp_port": port,
                    "alert_email_to": [ALERT_TO]}  # fmt: skip
        yield settings, Channels(hooks, mails)


@pytest.fixture(scope="module")
def faulty(
    tmp_path_factory: pytest.TempPathFactory, channels: tuple[dict[str, Any], Channels]
) -> Iterator[LocalStack]:
    """A stack of its own on a frozen clock."""
    overrides = channels[0] | {
        "http_timeout_seconds": HTTP_TIMEOUT,
        "breaker_reset_seconds": BREAKER_COOLDOWN.total_seconds(),
    }
    stack = LocalStack(ports=Ports.free(), workdir=tmp_path_factory.mktemp("faults"),
                       project="nba-faults", clock=Clock(dt.datetime.now(dt.UTC)),
                       settings_overrides=overrides)  # fmt: skip
    with stack:
        yield stack


@pytest.fixture
def pipeline(faulty: LocalStack) -> Iterator[PipelineClient]:
    client = PipelineClient(faulty.url("scrapers"))
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clean_upstream(faulty: LocalStack) -> Iterator[None]:
    """Every test starts with no armed fault and zero request counts, and leaves none armed."""
    replay = faulty.url("replay")
    httpx.delete(f"{replay}/_control/faults").raise_for_status()
    httpx.delete(f"{replay}/_control/requests").raise_for_status()
    yield
    httpx.delete(f"{replay}/_control/faults").raise_for_status()


def arm(stack: LocalStack, **fault: Any) -> None:
    httpx.post(f"{stack.url('replay')}/_control/faults", json=fault).raise_for_status()


def upstream_counts(stack: LocalStack) -> dict[str, dict[str, int]]:
    response = httpx.get(f"{stack.url('replay')}/_control/requests")
    response.raise_for_status()
    return dict(response.json())


def query(stack: LocalStack, sql: str, **params: Any) -> list[dict[str, Any]]:
    assert stack.clients is not None
    return stack.clients.warehouse.query(sql, params)


def logical_requests(stack: LocalStack, run: RunReport) -> int:
    """The upstream requests a run needed, as its raw file records them (retries not included)."""
    assert stack.clients is not None
    assert run.result is not None and run.result.gcs_path is not None
    stored = stack.clients.store.read_json(run.result.gcs_path)
    return len(stored.document["meta"]["request"]["requests"])


def rows_by_key(stack: LocalStack, scraper_name: str, day: dt.date) -> tuple[int, int]:
    """(rows, distinct natural keys) of the scraper's table for one game date."""
    table = get_source(scraper_name).table
    key = ", ".join(table.natural_key)
    [row] = query(
        stack,
        f"SELECT count(*) AS n, count(DISTINCT ({key})) AS keys FROM {{{table.fqn}}} "
        "WHERE game_date = @d",
        d=day,
    )
    return int(row["n"]), int(row["keys"])


def processor_loads(stack: LocalStack, execution_id: str) -> list[dict[str, Any]]:
    return query(
        stack,
        "SELECT message_id, outcome, record_count, rows_changed FROM "
        "{nba_orchestration.processed_messages} WHERE phase = 'processors' AND execution_id = @e",
        e=execution_id,
    )


def assert_loaded_once(
    stack: LocalStack, scraper_name: str, execution_id: str | None, day: dt.date, rows: int
) -> None:
    """The run's table holds `rows` distinct keys for the day, from one processors load."""
    assert rows_by_key(stack, scraper_name, day) == (rows, rows)
    [load] = processor_loads(stack, execution_id or "")
    assert (load["outcome"], load["rows_changed"]) == ("loaded", rows)


def gap_of(stack: LocalStack, scraper_name: str, day: dt.date) -> dict[str, Any]:
    [gap] = query(
        stack,
        "SELECT * FROM {nba_orchestration.scraper_failures} "
        "WHERE scraper_name = @s AND game_date = @d",
        s=scraper_name,
        d=day,
    )
    return gap


def breaker_state(stack: LocalStack) -> str:
    """The persisted state of the circuit to the replay host; no row yet means never opened."""
    host = stack.url("replay").removeprefix("http://")
    rows = query(
        stack,
        "SELECT state FROM {nba_orchestration.circuit_breaker_state} "
        "WHERE provider = 'direct' AND host = @h",
        h=host,
    )
    return str(rows[0]["state"]) if rows else "closed"


def total_requests(stack: LocalStack) -> int:
    return sum(upstream_counts(stack)["requests"].values())


def test_429_with_retry_after_is_retried_and_the_data_lands_once(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    day = GAME_DAYS[10]
    arm(faulty, prefix="/balldontlie", status=429, count=2, retry_after=1)

    run = pipeline.scrape("bdl_games", {"date": day.isoformat()})
    assert run.status == "success", run
    counts = upstream_counts(faulty)
    assert counts["faulted"] == {"/balldontlie": 2}
    assert counts["requests"] == {"/balldontlie": logical_requests(faulty, run) + 2}

    pipeline.wait([run], timeout=60)
    assert_loaded_once(faulty, run.scraper_name, run.execution_id, day, len(SEASON.games_on(day)))


def test_500s_open_the_breaker_for_every_instance_then_half_open_recovers(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    assert faulty.clients is not None
    day = GAME_DAYS[11]
    params = {"date": day.isoformat()}
    host = faulty.url("replay").removeprefix("http://")
    other_instance = BreakerRegistry(
        faulty.clients.warehouse, clock=faulty.clock, refresh_seconds=0
    )
    assert not other_instance.is_open("direct", host)
    arm(faulty, prefix="/balldontlie", status=500, count=3)

    tripped = pipeline.scrape("bdl_games", params)
    assert tripped.status == "failed" and tripped.status_code == 502
    assert upstream_counts(faulty)["faulted"] == {"/balldontlie": 3}
    assert breaker_state(faulty) == "open"
    assert other_instance.is_open("direct", host), "a second instance reads OPEN from the warehouse"
    assert BreakerRegistry(faulty.clients.warehouse, clock=faulty.clock).is_open("direct", host)

    before = total_requests(faulty)
    for name in ("bdl_games", "espn_scoreboard"):
        fast = pipeline.scrape(name, params)
        assert fast.status == "failed" and "circuit open" in str(fast.error_message)
    assert total_requests(faulty) == before, "an open circuit fails fast, upstream untouched"

    faulty.clock.advance(BREAKER_COOLDOWN + dt.timedelta(seconds=1))
    arm(faulty, prefix="/balldontlie", status=500, count=1)
    trial = pipeline.scrape("bdl_games", params)
    assert trial.status == "failed"
    assert total_requests(faulty) == before + 1, "HALF_OPEN lets exactly one trial through"
    assert breaker_state(faulty) == "open", "a failed trial opens the circuit again"

    faulty.clock.advance(BREAKER_COOLDOWN + dt.timedelta(seconds=1))
    recovered = pipeline.scrape("bdl_games", params)
    assert recovered.status == "success", recovered
    assert breaker_state(faulty) == "closed"
    assert not other_instance.is_open("direct", host)

    pipeline.wait([recovered], timeout=60)
    games = len(SEASON.games_on(day))
    assert rows_by_key(faulty, "bdl_games", day) == (games, games)
    gap = gap_of(faulty, "bdl_games", day)
    assert gap["backfilled"] and gap["backfill_execution_id"] == recovered.execution_id
    assert gap["attempts"] == 3 and gap["error_class"] == "CircuitOpenError"


def test_events_published_while_processors_are_down_are_each_applied_once(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    days = GAME_DAYS[12:15]
    faulty.stop_service("processors")
    try:
        with dropping_port(faulty.ports.processors) as down:
            runs = [pipeline.scrape("bdl_games", {"date": day.isoformat()}) for day in days]
            assert [run.status for run in runs] == ["success"] * len(runs)
            wait_until(lambda: down.connections >= len(runs), "a push of every event", 30)
            ids = [run.execution_id or "" for run in runs]
            assert sorted(pipeline.pending(ids)) == sorted(ids)
            assert all(processor_loads(faulty, i) == [] for i in ids)
    finally:
        faulty.start_service("processors")

    # The emulator may have stopped redelivering (docs/local-stack.md); the cleanup job
    # republishes every run that has a file but no load, as it does every 15 minutes.
    faulty.clock.advance(dt.timedelta(minutes=faulty.settings().cleanup_grace_minutes + 1))
    cleanup = httpx.post(f"{faulty.url('scrapers')}/run-cleanup", json={}, timeout=60)
    cleanup.raise_for_status()
    republished = set(cleanup.json()["republished_execution_ids"])
    assert all(i in republished or processor_loads(faulty, i) for i in ids)
    pipeline.wait(runs, timeout=90)

    for day, run in zip(days, runs, strict=True):
        games = len(SEASON.games_on(day))
        assert rows_by_key(faulty, "bdl_games", day) == (games, games)
        loads = processor_loads(faulty, run.execution_id or "")
        assert {load["outcome"] for load in loads} == {"loaded"}
        assert sum(load["rows_changed"] for load in loads) == games, "applied once in effect"
        assert len({load["message_id"] for load in loads}) == len(loads)


def test_a_crash_inside_the_load_leaves_no_partial_rows_and_the_retry_completes(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    assert faulty.clients is not None
    day = GAME_DAYS[15]
    warehouse = faulty.clients.warehouse
    assert isinstance(warehouse, CombiningWarehouse) and isinstance(
        warehouse.inner, DuckDBWarehouse
    )
    warehouse = warehouse.inner
    with crash_mid_load(warehouse, 'nba_raw."bdl_player_boxscores"') as crash:
        run = pipeline.scrape("bdl_box_scores", {"date": day.isoformat()})
        assert run.status == "success", run
        wait_until(lambda: crash.fired > 0, "the push that loads the box scores", 30)
        assert crash.written_before_crash > 0
        assert rows_by_key(faulty, "bdl_box_scores", day) == (0, 0), (
            "the half-written load rolled back"
        )
        assert processor_loads(faulty, run.execution_id or "") == []
        crash.armed = False

    pipeline.wait([run], timeout=60)
    expected = SEASON.box_score_rows(day)
    assert run.result is not None and run.result.record_count == expected
    assert_loaded_once(faulty, run.scraper_name, run.execution_id, day, expected)


def test_gcs_write_failure_is_recorded_then_backfilled_once(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    assert faulty.clients is not None
    day = GAME_DAYS[16]
    with gcs_write_outage(faulty.clients.store) as outage:
        failed = pipeline.scrape("bdl_games", {"date": day.isoformat()})
        outage.down = False
    assert failed.status == "failed" and failed.status_code == 502
    assert outage.refused == 1 and failed.result is not None and failed.result.gcs_path is None
    [logged] = query(
        faulty,
        "SELECT status, error_class, error_message FROM {nba_orchestration.scraper_execution_log} "
        "WHERE execution_id = @e",
        e=failed.execution_id,
    )
    assert logged["status"] == "failed" and logged["error_class"] == "ServiceUnavailable"
    gap = gap_of(faulty, "bdl_games", day)
    assert (gap["failure_id"], gap["backfilled"], gap["attempts"]) == (
        failed.execution_id,
        False,
        1,
    )
    assert gap["error_class"] == "ServiceUnavailable"

    backfill = httpx.post(f"{faulty.url('scrapers')}/backfill-gaps", json={}, timeout=120)
    backfill.raise_for_status()
    assert failed.execution_id in backfill.json()["backfilled"]
    gap = gap_of(faulty, "bdl_games", day)
    assert gap["backfilled"] and gap["backfill_execution_id"] != failed.execution_id
    [rerun] = query(
        faulty,
        "SELECT execution_id, workflow, status FROM {nba_orchestration.scraper_execution_log} "
        "WHERE scraper_name = 'bdl_games' AND game_date = @d AND status <> 'failed'",
        d=day,
    )
    assert rerun == {"execution_id": gap["backfill_execution_id"], "workflow": "BACKFILL_GAPS",
                     "status": "success"}  # fmt: skip

    pipeline.wait_applied([rerun["execution_id"]], timeout=60)
    games = len(SEASON.games_on(day))
    assert rows_by_key(faulty, "bdl_games", day) == (games, games)


def test_a_failed_publish_is_one_failed_run_that_the_gap_backfiller_reruns_once(
    faulty: LocalStack, pipeline: PipelineClient
) -> None:
    assert faulty.clients is not None
    day = GAME_DAYS[19]
    scrapers = faulty.url("scrapers")
    with missing_topic(faulty.clients.publisher, SCRAPER_COMPLETE_TOPIC):
        failed = pipeline.scrape("bdl_games", {"date": day.isoformat()})
    assert failed.result is not None
    assert (failed.status_code, failed.status, failed.result.message_id) == (503, "failed", None)
    error = "publish failed: publish to nba-scraper-complete failed: 404"
    assert str(failed.error_message).startswith(error)
    shown = httpx.get(f"{scrapers}/executions/{failed.execution_id}").json()
    assert [(row["log_seq"], row["status"]) for row in shown["history"]] == [
        (2, "failed"),
        (1, "success"),
    ]
    assert shown["execution"] == shown["history"][0]
    listed = pipeline.executions(scraper_name="bdl_games", game_date=day.isoformat())
    assert [(run["execution_id"], run["status"]) for run in listed] == [
        (failed.execution_id, "failed")
    ]
    pipeline.wait([failed], timeout=0)
    gap = gap_of(faulty, "bdl_games", day)
    assert (gap["failure_id"], gap["error_class"], gap["backfilled"]) == (
        failed.execution_id,
        "PublishError",
        False,
    )

    backfill = httpx.post(f"{scrapers}/backfill-gaps", json={}, timeout=120)
    backfill.raise_for_status()
    assert failed.execution_id in backfill.json()["backfilled"]
    [rerun] = pipeline.executions(
        scraper_name="bdl_games", game_date=day.isoformat(), status="success"
    )
    assert rerun["execution_id"] == gap_of(faulty, "bdl_games", day)["backfill_execution_id"]
    pipeline.wait_applied([rerun["execution_id"]], timeout=60)
    assert_loaded_once(faulty, "bdl_games", rerun["execution_id"], day, len(SEASON.games_on(day)))
    assert processor_loads(faulty, failed.execution_id or "") == [], (
        "the unpublished file never loads"
    )


def gap_alerts(channels: Channels, scraper: str) -> tuple[list[str], list[bytes]]:
    """The gap alerts about one scraper the webhook and the SMTP server received."""
    hooks = [item["text"] for item in channels.webhook.items
             if item["text"].startswith(f"NBA pipeline gaps: {scraper} ")]  # fmt: skip
    subject = f"Subject: NBA pipeline gaps: {scraper} ".encode()
    return hooks, [mail.content for mail in channels.mail.items if subject in mail.content]


def test_gaps_on_three_days_of_seven_alert_once_by_webhook_and_email(
    faulty: LocalStack, pipeline: PipelineClient, channels: tuple[dict[str, Any], Channels]
) -> None:
    assert faulty.clients is not None
    received, days = channels[1], GAME_DAYS[20:23]
    assert (days[-1] - days[0]).days < 7
    backfill_url = f"{faulty.url('scrapers')}/backfill-gaps"
    frozen = faulty.clock.now()
    faulty.clock.set(dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(9), EASTERN))
    try:
        with gcs_write_outage(faulty.clients.store):
            failed = {pipeline.scrape("espn_scoreboard", {"date": day.isoformat()}).execution_id
                      for day in days}  # fmt: skip
            first = httpx.post(backfill_url, json={}, timeout=120).json()
            assert failed <= set(first["still_failing"])
            [hook], [mail] = gap_alerts(received, "espn_scoreboard")
            assert "espn_scoreboard has open gaps on 3 of the last 7 days" in hook
            assert "ServiceUnavailable" in hook and f"To: {ALERT_TO}".encode() in mail

            again = httpx.post(backfill_url, json={}, timeout=120).json()
            assert failed <= set(again["still_failing"])
            assert gap_alerts(received, "espn_scoreboard") == ([hook], [mail]), "once per condition"

        closed = httpx.post(backfill_url, json={}, timeout=120).json()
        assert failed <= set(closed["backfilled"]), closed
        assert "gaps:espn_scoreboard" in closed["cleared_alerts"]
    finally:
        faulty.clock.set(frozen)


def test_a_dead_lettered_message_alerts_at_once_by_webhook_and_email(
    faulty: LocalStack, channels: tuple[dict[str, Any], Channels]
) -> None:
    assert faulty.clients is not None
    received, marker = channels[1], uuid.uuid4().hex
    queues = DeadLetterQueues(faulty.project, pull_timeout=1)
    queues.purge(["scraper-complete"])  # this stack's own queue: counts start from empty
    check_url = f"{faulty.url('scrapers')}/check-dead-letters"
    queue, key = "nba-scraper-complete-dlq-sub", "dead_letters:nba-scraper-complete-dlq-sub"

    def critical() -> list[str]:
        return [item["text"] for item in received.webhook.items if queue in item["text"]]

    try:
        dead = ScraperComplete(scraper_name="bdl_games", execution_id=str(uuid.uuid4()),
                               status="failed", gcs_path=None, game_date=None, record_count=0,
                               duration_seconds=0.1, error_message="synthetic dead letter")  # fmt: skip
        faulty.clients.publisher.publish(
            f"{SCRAPER_COMPLETE_TOPIC}-dlq", dead, dead.attributes() | {"alerts_test": marker}
        )
        checks: list[dict[str, Any]] = []

        def counted() -> bool:
            checks.append(httpx.post(check_url, timeout=30).json())
            return bool(checks[-1]["depths"][queue] == 1)

        wait_until(counted, "the dead letter counted", 30)
        assert [c["sent"] for c in checks if c["sent"]] == [
            [{"alert_key": key, "channels": ["slack", "email"]}]
        ]
        [text] = critical()
        assert "CRITICAL: 1 messages wait in dead-letter subscription" in text
        assert sum(queue.encode() in mail.content for mail in received.mail.items) == 1
        assert httpx.post(check_url, timeout=30).json()["sent"] == [] and len(critical()) == 1
    finally:
        queues.purge(["scraper-complete"], MessageFilter(attributes={"alerts_test": marker}))
        queues.close()
    assert httpx.post(check_url, timeout=30).json()["cleared"] == [key]


TIMEOUT_DAY = GAME_DAYS[18].isoformat()
UPSTREAM_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "/balldontlie": ("bdl_games", {"date": TIMEOUT_DAY}),
    "/oddsapi": ("oddsa_events", {"date": TIMEOUT_DAY}),
    "/bettingpros": ("bp_events", {"date": TIMEOUT_DAY}),
    "/espn": ("espn_scoreboard", {"date": TIMEOUT_DAY}),
    "/nbacom_cdn": ("nbac_schedule", {"date": TIMEOUT_DAY}),
    "/nbacom_web": ("nbac_roster", {"team_id": 1610612744, "slug": "warriors"}),
}
"""One scraper per upstream of every family."""


@pytest.mark.parametrize("prefix", UPSTREAM_RUNS)
def test_an_upstream_timeout_is_retried_for_every_family(
    faulty: LocalStack, pipeline: PipelineClient, prefix: str
) -> None:
    scraper_name, params = UPSTREAM_RUNS[prefix]
    arm(faulty, prefix=prefix, status=None, count=1, latency_ms=int(HTTP_TIMEOUT * 2500))
    run = pipeline.scrape(scraper_name, params)
    assert run.status == "success", run
    counts = upstream_counts(faulty)
    assert counts["requests"] == {prefix: logical_requests(faulty, run) + 1}
    assert breaker_state(faulty) == "closed"
