"""The gap backfiller as the scheduler runs it: only data closes a gap, live-only gaps of a past
date go through their historical counterpart or stay open as unrecoverable, the gap alert
follows the operators' rule once per condition, and a run with no gap open costs no query."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

import httpx

from libs.common.clock import EASTERN
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.scheduler import SchedulerConfig, SchedulerLoop
from services.scrapers.tables import SCRAPER_FAILURES
from tests.conftest import RECORDINGS
from tests.utils.receivers import Received, smtp_server, webhook_receiver
from tests.utils.scrapers import DAY, GAMES, Scrapers, open_gap_row, scrapers_app
from tests.utils.service_queries import Recording

JOBS = SchedulerConfig.load()
EMPTY = {"data": [], "meta": {"per_page": 100}}
EVENTS_URL = "https://api.the-odds-api.com/v4/sports/basketball_nba/events"
HISTORICAL_EVENTS_URL = "https://api.the-odds-api.com/v4/historical/sports/basketball_nba/events"
HISTORICAL_EVENTS = json.loads(
    (RECORDINGS / "oddsapi" / "historical_events_v4_raw_1.json").read_text()
)
EVENTS_DAY = dt.date(2024, 1, 24)
"""The Eastern game date of the historical events recording."""


def eastern(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), EASTERN)


def scrape(scrapers: Scrapers, day: dt.date, scraper: str = "bdl_games", **params: Any) -> str:
    """A manual run of one scrape; its execution id."""
    body = {"scraper_name": scraper, "params": {"date": day.isoformat(), **params}}
    return str(scrapers.http.post("/process", json=body).json()["execution_id"])


def gaps(scrapers: Scrapers) -> dict[str, dict[str, Any]]:
    """Every gap by failure_id."""
    rows = scrapers.warehouse.query("SELECT * FROM {nba_orchestration.scraper_failures}")
    return {row["failure_id"]: row for row in rows}


def backfill(scrapers: Scrapers) -> dict[str, Any]:
    response = scrapers.http.post("/backfill-gaps", json={})
    response.raise_for_status()
    return dict(response.json())


def only_job(name: str) -> SchedulerConfig:
    """jobs.yaml with one job: the others would scrape upstreams this test does not serve."""
    return JOBS.model_copy(update={"jobs": [job for job in JOBS.jobs if job.name == name]})


def test_the_backfiller_is_scheduled_every_4_hours() -> None:
    [job] = [job for job in JOBS.jobs if job.path == "/backfill-gaps"]
    assert job.enabled and job.schedule == "30 */4 * * *"


def test_the_scheduler_loop_runs_the_backfiller_and_only_data_closes_the_gap() -> None:
    day = dt.date(2025, 2, 20)
    with scrapers_app() as scrapers:
        scrapers.clock.set(eastern(day, 5))
        scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
        failed = scrape(scrapers, day)

        def post(path: str) -> None:
            scrapers.http.post(path, json={}).raise_for_status()

        loop = SchedulerLoop(only_job("nba-backfill-gaps"), post, scrapers.clock)

        scrapers.upstream.mock(return_value=httpx.Response(200, json=EMPTY))
        scrapers.clock.advance(dt.timedelta(hours=3))
        assert loop.tick() == [], "08:00: nothing due before 08:30"
        scrapers.clock.advance(dt.timedelta(hours=1))
        assert [(at.astimezone(EASTERN).hour, name) for at, name in loop.tick()] == [
            (8, "nba-backfill-gaps")
        ]
        gap = gaps(scrapers)[failed]
        assert not gap["backfilled"], "a re-run that found no rows leaves the gap open"
        assert (gap["attempts"], gap["error_class"]) == (2, "NoData")
        assert "only data closes a gap" in gap["error_message"]

        scrapers.upstream.mock(return_value=httpx.Response(200, json=GAMES))
        scrapers.clock.advance(dt.timedelta(hours=4))
        assert [name for _, name in loop.tick()] == ["nba-backfill-gaps"]
        gap = gaps(scrapers)[failed]
        assert gap["backfilled"]
        [run] = scrapers.warehouse.query(
            "SELECT status, record_count, workflow FROM {nba_orchestration.scraper_execution_log} "
            "WHERE execution_id = @e",
            {"e": gap["backfill_execution_id"]},
        )
        assert run == {"status": "success", "record_count": len(GAMES["data"]),
                       "workflow": "BACKFILL_GAPS"}  # fmt: skip


def test_a_live_only_gap_goes_through_the_historical_counterpart_once_its_date_has_passed() -> None:
    with scrapers_app(odds_api_key="test-key", http_attempts=1) as scrapers:
        scrapers.clock.set(eastern(EVENTS_DAY, 21))
        live = scrapers.routes.get(EVENTS_URL).mock(return_value=httpx.Response(503))
        historical = scrapers.routes.get(HISTORICAL_EVENTS_URL).mock(
            return_value=httpx.Response(200, json=HISTORICAL_EVENTS)
        )
        failed = scrape(scrapers, EVENTS_DAY, "oddsa_events")
        same_day = backfill(scrapers)
        assert same_day["still_failing"] == [failed] and live.call_count == 2, (
            "the same day, the live endpoint still lists the date's games"
        )

        scrapers.clock.set(eastern(EVENTS_DAY + dt.timedelta(days=2), 9))
        answer = backfill(scrapers)
        assert answer["backfilled"] == [failed] and live.call_count == 2
        [request] = historical.calls
        assert request.request.url.params["date"] == "2024-01-25T02:00:00Z", (
            "the snapshot the failed run would have seen (21:00 ET)"
        )
        gap = gaps(scrapers)[failed]
        [run] = scrapers.warehouse.query(
            "SELECT scraper_name, status FROM {nba_orchestration.scraper_execution_log} "
            "WHERE execution_id = @e",
            {"e": gap["backfill_execution_id"]},
        )
        assert gap["backfilled"] and run == {
            "scraper_name": "oddsa_events_his",
            "status": "success",
        }


def test_a_live_only_gap_without_a_counterpart_stays_open_and_is_reported_unrecoverable() -> None:
    day = dt.date(2025, 2, 20)
    roster = "https://site.api.espn.com/apis/site/v2/sports/basketball/nba/teams/2"
    with scrapers_app(http_attempts=1) as scrapers:
        scrapers.clock.set(eastern(day, 9))
        espn = scrapers.routes.get(roster).mock(return_value=httpx.Response(503))
        failed = scrape(scrapers, day, "espn_roster", team_id="2")
        scrapers.clock.set(eastern(day + dt.timedelta(days=1), 9))
        first, second = backfill(scrapers), backfill(scrapers)
        assert espn.call_count == 1, "a re-run would store today's roster under that date"
        [reported] = first["unrecoverable"]
        assert (
            reported["failure_id"] == failed and "no historical counterpart" in reported["reason"]
        )
        assert (first["attempted"], second["unrecoverable"], second["attempted"]) == (0, [], 0)
        gap = gaps(scrapers)[failed]
        assert not gap["backfilled"] and "can no longer be fetched" in gap["unrecoverable"]


def test_a_gap_of_a_scraper_no_longer_registered_is_reported_not_raised() -> None:
    with scrapers_app() as scrapers:
        gap = open_gap_row("gone", "retired_scraper", {})
        scrapers.warehouse.upsert(SCRAPER_FAILURES, [gap])
        [reported] = backfill(scrapers)["unrecoverable"]
    assert reported["reason"] == "retired_scraper is no longer a registered scraper"


def test_a_gap_whose_params_no_upstream_answers_is_reported_not_re_run() -> None:
    """Gaps recorded before the parameters were bounded (issue 17) hold params the scraper now
    refuses: re-running them would fail every pass and alert for nothing."""
    with scrapers_app() as scrapers:
        gap = open_gap_row("old", "espn_roster", {"team_id": ".."})
        scrapers.warehouse.upsert(SCRAPER_FAILURES, [gap])
        report = backfill(scrapers)
        [reported] = report["unrecoverable"]
        assert report["attempted"] == 0
        assert (
            reported["reason"].startswith("its params can never succeed")
            and "team_id" in reported["reason"]
        )


def gap_alerts(hooks: Received) -> list[str]:
    return [item["text"] for item in hooks.items if item["text"].startswith("NBA pipeline gaps")]


def test_the_gap_alert_follows_the_rule_once_per_condition_across_a_restart() -> None:
    days = [dt.date(2025, 2, d) for d in (14, 16, 18, 19)]
    warehouse = DuckDBWarehouse(":memory:")
    with webhook_receiver() as (url, hooks), smtp_server() as (port, mails):
        channels: dict[str, Any] = {"slack_webhook_url": url, "smtp_host": "127.0.0.1", "smtp_port": port,
                    "alert_email_to": ["ops@example.com"]}  # fmt: skip

        def instance() -> AbstractContextManager[Scrapers]:
            return scrapers_app(warehouse, **channels)

        with instance() as scrapers:
            scrapers.clock.set(eastern(days[2] + dt.timedelta(days=1), 9))
            scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
            first = scrape(scrapers, days[0])
            scrape(scrapers, days[1])
            assert gap_alerts(hooks) == [] and backfill(scrapers)["alerts"] == [], "2 days of 7"
            scrape(scrapers, days[2])
            answer = backfill(scrapers)
            assert answer["alerts"] == [
                {"alert_key": "gaps:bdl_games", "channels": ["slack", "email"]}
            ]
            [text] = gap_alerts(hooks)
            assert "bdl_games has open gaps on 3 of the last 7 days" in text
            assert "3 gaps; the oldest, " + gaps(scrapers)[first]["params_key"] in text
            assert "UpstreamError: GET https://api.balldontlie.io/v1/games answered 404" in text
            [mail] = [m for m in mails.items if b"Subject: NBA pipeline gaps" in m.content]
            assert mail.rcpt_tos == ["ops@example.com"]
            assert backfill(scrapers)["alerts"] == []
            clock = scrapers.clock

        with instance() as restarted:
            restarted.clock.set(clock.now())
            restarted.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
            assert backfill(restarted)["alerts"] == [], "recorded in the warehouse, not in memory"
            restarted.clock.set(eastern(days[3], 12))
            scrape(restarted, days[3])
            assert backfill(restarted)["alerts"] != [], "a new gap day changes the condition"
            assert "on 4 of the last 7 days" in gap_alerts(hooks)[-1]

            restarted.upstream.mock(return_value=httpx.Response(200, json=GAMES))
            cleared = backfill(restarted)
            assert (
                cleared["cleared_alerts"] == ["gaps:bdl_games"] and len(cleared["backfilled"]) == 4
            )
            assert len(gap_alerts(hooks)) == 2, "clearing sends nothing"

            restarted.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
            for day in days[1:]:
                scrape(restarted, day)
            assert backfill(restarted)["alerts"] != [], "the condition came back"
        assert len(gap_alerts(hooks)) == 3
        assert sum(b"Subject: NBA pipeline gaps" in mail.content for mail in mails.items) == 3


def gap_queries(recording: Recording) -> Callable[[], int]:
    """A counter of the warehouse queries the gap tracking made so far."""
    return lambda: sum("services/scrapers/failures.py" in call.site for call in recording.calls)


def test_a_successful_run_with_no_gap_open_costs_no_warehouse_query() -> None:
    recording = Recording(DuckDBWarehouse(":memory:"))
    with scrapers_app(cast(DuckDBWarehouse, recording)) as scrapers:
        counted = gap_queries(recording)
        assert scrapers.scrape().status_code == 200
        assert counted() == 1, "the first run reads the open gaps once"
        for _ in range(3):
            assert scrapers.scrape().status_code == 200
        assert counted() == 1, "later runs ask the instance's view"
        scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
        scrapers.scrape()
        assert counted() == 2, "a failure reads its scrape's gap"
        scrapers.upstream.mock(return_value=httpx.Response(200, json=GAMES))
        scrapers.scrape()
        assert counted() == 3 and scrapers.gap()["backfilled"], (
            "a success with a gap open closes it"
        )


def test_another_instances_gap_is_seen_once_the_view_is_older_than_its_max_age() -> None:
    with scrapers_app() as scrapers:
        assert scrapers.scrape().status_code == 200, "its view of open gaps is read now"
        gap = open_gap_row("elsewhere", "bdl_games", {"date": DAY.isoformat()}, game_date=DAY,
                           workflow="MANUAL")  # fmt: skip
        scrapers.warehouse.upsert(SCRAPER_FAILURES, [gap])  # as another instance's failed run
        scrapers.scrape()
        assert not gaps(scrapers)["elsewhere"]["backfilled"], "within its max age, the view stands"
        scrapers.clock.advance(dt.timedelta(seconds=300))
        scrapers.scrape()
        assert gaps(scrapers)["elsewhere"]["backfilled"]


def dismiss(scrapers: Scrapers, failure_id: str, reason: str = "game postponed") -> httpx.Response:
    return scrapers.http.post(f"/admin/gaps/{failure_id}/dismiss", json={"reason": reason})


def test_a_dismissed_gap_is_no_longer_re_run_or_alerted_and_a_new_failure_opens_another() -> None:
    days = [dt.date(2025, 2, d) for d in (14, 16, 18)]
    with webhook_receiver() as (url, hooks), scrapers_app(slack_webhook_url=url) as scrapers:
        scrapers.clock.set(eastern(days[-1] + dt.timedelta(days=1), 9))
        scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
        postponed, *others = [scrape(scrapers, day) for day in days]
        assert backfill(scrapers)["alerts"] != [], "3 gap days of 7"
        calls = scrapers.upstream.call_count

        answer = dismiss(scrapers, postponed)
        assert answer.status_code == 200
        assert answer.json()["cleared_alerts"] == ["gaps:bdl_games"], "2 gap days: it clears now"
        report = backfill(scrapers)
        assert report["attempted"] == 2 and scrapers.upstream.call_count == calls + 2, (
            "only the two open gaps are re-run"
        )
        listed = scrapers.http.get("/admin/gaps").json()["gaps"]
        assert sorted(gap["failure_id"] for gap in listed) == sorted(others)

        again = dismiss(scrapers, postponed, "another reason")
        assert (
            again.status_code == 200 and again.json()["gap"]["dismissed_reason"] == "game postponed"
        )
        gap = gaps(scrapers)[postponed]
        assert not gap["backfilled"] and gap["dismissed_reason"] == "game postponed"
        everything = scrapers.http.get("/admin/gaps", params={"include_closed": True}).json()
        assert len(everything["gaps"]) == 3

        refailed = scrape(scrapers, days[0])
        assert refailed != postponed and not gaps(scrapers)[refailed]["dismissed_at"], (
            "a later failure of the dismissed scrape is a new gap"
        )
        assert len(gap_alerts(hooks)) == 1


def test_dismissing_names_what_is_wrong_with_the_request() -> None:
    with scrapers_app() as scrapers:
        scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
        failed = scrape(scrapers, DAY)
        unknown = dismiss(scrapers, "6f0c5c43-2f1b-4a4c-9d43-7a2f0f3b8e11")
        assert unknown.status_code == 404 and "6f0c5c43" in unknown.json()["detail"]
        short = dismiss(scrapers, failed, "")
        assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "reason"]

        scrapers.upstream.mock(return_value=httpx.Response(200, json=GAMES))
        scrape(scrapers, DAY)
        filled = dismiss(scrapers, failed)
        assert filled.status_code == 409 and "closed by data" in filled.json()["detail"]
        assert gaps(scrapers)[failed]["dismissed_at"] is None
