"""Alerts reach a local Slack-style webhook and a local SMTP server: the gap rule, and the
critical alerts (a scheduled run that failed after its retries, a dead-lettered message), each
once per condition until it changes or clears, also across a restart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

import httpx

from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.alerts import gap_conditions, send_alert
from services.scrapers.dead_letters import DLQ_SUBSCRIPTIONS, DeadLetterCounter
from services.scrapers.deps import get_dead_letters
from services.scrapers.runner import ScrapeRunner
from services.scrapers.settings import ScraperSettings
from tests.utils.receivers import Received, smtp_server, webhook_receiver
from tests.utils.scrapers import GAMES, Scrapers, scrapers_app

ALERT_TO = ["ops@example.com"]
TODAY = dt.date(2025, 1, 20)


def gap(
    day: int, error: str = "UpstreamError: GET .../v1/box_scores answered 503", **more: Any
) -> dict[str, Any]:
    failed = dt.datetime(2025, 1, day + 1, 11, tzinfo=dt.UTC)
    return {"scraper_name": "bdl_box_scores", "params_key": f'{{"date":"2025-01-{day}"}}',
            "game_date": dt.date(2025, 1, day), "first_failed_at": failed, "last_failed_at": failed,
            "error_class": "UpstreamError", "error_message": error, "unrecoverable": None} | more  # fmt: skip


def test_an_alert_goes_to_slack_and_email() -> None:
    with webhook_receiver() as (url, hooks), smtp_server() as (port, mails):
        settings = ScraperSettings(slack_webhook_url=url, smtp_host="127.0.0.1", smtp_port=port,
                                   alert_email_to=ALERT_TO)  # fmt: skip
        assert send_alert(settings, "NBA pipeline gaps", "bdl_box_scores has gaps") == [
            "slack",
            "email",
        ]
    assert hooks.items == [{"text": "bdl_box_scores has gaps"}]
    (mail,) = mails.items
    assert mail.rcpt_tos == ALERT_TO
    assert b"Subject: NBA pipeline gaps" in mail.content and b"bdl_box_scores" in mail.content


def test_no_channel_configured_sends_nothing() -> None:
    assert send_alert(ScraperSettings(), "s", "t") == []


def test_a_failing_channel_does_not_stop_the_other() -> None:
    with smtp_server() as (port, mails):
        settings = ScraperSettings(slack_webhook_url="http://127.0.0.1:9/unreachable", smtp_host="127.0.0.1",
                                   smtp_port=port, alert_email_to=ALERT_TO)  # fmt: skip
        assert send_alert(settings, "s", "text") == ["email"]
    assert len(mails.items) == 1


def test_the_gap_rule_names_the_gap_count_the_oldest_gap_and_the_last_error() -> None:
    gaps = [gap(14), gap(17), gap(18, "ParseError: bdl_box_scores: field 'data'", last_failed_at=dt.datetime(2025, 1, 20, 12, tzinfo=dt.UTC)),
            gap(19), gap(8, "old"), {**gap(18), "params_key": '{"date":"2025-01-18","x":1}'}]  # fmt: skip
    [condition] = gap_conditions(gaps, TODAY, min_days=3, window=7)
    assert condition.key == "gaps:bdl_box_scores"
    assert condition.facts == ("2025-01-14", "2025-01-17", "2025-01-18", "2025-01-19")
    assert (
        "open gaps on 4 of the last 7 days (2025-01-14, 2025-01-17, 2025-01-18, 2025-01-19)"
        in condition.text
    )
    assert (
        '5 gaps; the oldest, {"date":"2025-01-14"}, failing since 2025-01-15 11:00 UTC'
        in condition.text
    )
    assert (
        "last error (2025-01-20 12:00 UTC): ParseError: bdl_box_scores: field 'data'"
        in condition.text
    )


def test_fewer_gap_days_in_the_window_do_not_alert() -> None:
    two_days = [gap(18), gap(19), {**gap(19), "params_key": "other"}, gap(13), gap(21)]
    assert gap_conditions(two_days, TODAY, min_days=3, window=7) == [], (
        "the 13th and 21st are outside"
    )


def test_unrecoverable_gaps_are_named_in_the_alert() -> None:
    reason = "espn_roster serves only the present and has no historical counterpart"
    gaps = [gap(17), gap(18), gap(19, unrecoverable=reason)]
    [condition] = gap_conditions(gaps, TODAY, min_days=3, window=7)
    assert f"1 of them cannot be re-run: {reason}" in condition.text
    assert "nba-pipeline gaps dismiss FAILURE_ID" in condition.text, "and how to close them"


@dataclass
class Channels:
    settings: dict[str, Any]
    hooks: Received
    mails: Received

    def critical(self) -> list[str]:
        """The critical alerts the webhook received, and one email each."""
        texts = [item["text"] for item in self.hooks.items if "CRITICAL" in item["text"]]
        assert sum(
            b"Subject: NBA pipeline CRITICAL" in mail.content for mail in self.mails.items
        ) == len(texts)
        return texts


@contextmanager
def channels() -> Iterator[Channels]:
    with webhook_receiver() as (url, hooks), smtp_server() as (port, mails):
        settings = {"slack_webhook_url": url, "smtp_host": "127.0.0.1", "smtp_port": port,
                    "alert_email_to": ALERT_TO, "http_attempts": 2, "breaker_fail_max": 100}  # fmt: skip
        yield Channels(settings, hooks, mails)


def scheduled_run(scrapers: Scrapers, answer: httpx.Response) -> str:
    """A bdl_games run of a workflow, as the scheduler starts it; its status."""
    scrapers.upstream.mock(return_value=answer)
    runner: ScrapeRunner = scrapers.http.app.state.runner  # type: ignore[attr-defined]
    run = partial(
        runner.run, "bdl_games", {"date": "2025-02-20"}, "post_game_collection", scheduled=True
    )
    return scrapers.http.portal.call(run).status  # type: ignore[union-attr]


RETRIED = httpx.Response(503, headers={"Retry-After": "0"})
MALFORMED = httpx.Response(200, json={"data": [{"id": 1}], "meta": {}})


def test_a_scheduled_run_that_fails_after_its_retries_alerts_at_once_and_once() -> None:
    warehouse = DuckDBWarehouse(":memory:")
    with channels() as sent, scrapers_app(warehouse, **sent.settings) as scrapers:
        assert scheduled_run(scrapers, RETRIED) == "failed"
        [text] = sent.critical()
        assert scrapers.upstream.call_count == 2, "after its retries"
        assert (
            "bdl_games failed on a scheduled run after its retries (workflow post_game_collection"
            in text
        )
        assert "answered 503" in text

        assert scheduled_run(scrapers, RETRIED) == "failed"
        assert len(sent.critical()) == 1, "the same condition alerts once"
        assert scheduled_run(scrapers, MALFORMED) == "failed"
        assert "ParseError" in sent.critical()[-1], "another error class changes it"

        assert scrapers.scrape().status_code == 502, "a manual run"
        assert len(sent.critical()) == 2, "a person watches a manual run: no alert"
        scrapers.clock.advance(dt.timedelta(minutes=5))
        scrapers.upstream.mock(return_value=httpx.Response(200, json=GAMES))
        assert scrapers.scrape().status_code == 200
        assert scheduled_run(scrapers, RETRIED) == "failed"
        assert len(sent.critical()) == 3, "a run that worked cleared it"
        clock = scrapers.clock

    with channels() as sent, scrapers_app(warehouse, clock, **sent.settings) as restarted:
        assert scheduled_run(restarted, RETRIED) == "failed"
        assert sent.critical() == [], "recorded in the warehouse: a restart does not alert again"


class DeadLetters:
    """A Pub/Sub subscriber double: pulls answer the messages waiting per DLQ subscription."""

    def __init__(self) -> None:
        self.waiting = dict.fromkeys(DLQ_SUBSCRIPTIONS, 0)
        self.failing: set[str] = set()

    def pull(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
        name = request["subscription"].rsplit("/", 1)[1]
        if name in self.failing:
            raise TimeoutError(f"{name} did not answer")
        messages = [SimpleNamespace(ack_id=f"a{i}", message=SimpleNamespace(message_id=str(i)))
                    for i in range(self.waiting[name])]  # fmt: skip
        return SimpleNamespace(received_messages=messages)

    def modify_ack_deadline(self, request: dict[str, Any]) -> None:
        """Handing the messages back."""

    def close(self) -> None:
        """Nothing to close."""


def test_a_dead_lettered_message_alerts_once_per_order_of_magnitude_until_the_queue_empties() -> (
    None
):
    queue = "nba-scraper-complete-dlq-sub"
    with channels() as sent, scrapers_app(**sent.settings) as scrapers:
        dlq = DeadLetters()
        counter = DeadLetterCounter("nba-test", subscriber=dlq)
        scrapers.http.app.dependency_overrides[get_dead_letters] = lambda: counter  # type: ignore[attr-defined]

        def check(depth: int) -> dict[str, Any]:
            dlq.waiting[queue] = depth
            response = scrapers.http.post("/check-dead-letters")
            response.raise_for_status()
            return dict(response.json())

        assert check(0) == {
            "depths": dict.fromkeys(DLQ_SUBSCRIPTIONS, 0),
            "sent": [],
            "cleared": [],
        }
        first = check(1)
        assert first["sent"] == [
            {"alert_key": f"dead_letters:{queue}", "channels": ["slack", "email"]}
        ]
        assert f"1 messages wait in dead-letter subscription {queue}" in sent.critical()[0]
        assert check(3)["sent"] == [] and len(sent.critical()) == 1
        assert check(12)["sent"] != [], "ten times as many"
        dlq.failing.add(queue)
        assert check(12)["cleared"] == [], "a queue that cannot be read is not taken for empty"
        dlq.failing.clear()
        assert check(0)["cleared"] == [f"dead_letters:{queue}"]
        assert check(1)["sent"] != [], "dead-lettered again after it emptied"
        assert len(sent.critical()) == 3
