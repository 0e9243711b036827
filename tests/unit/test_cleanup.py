"""Cleanup republishes runs that never reached every phase: a lost phase-1 event, a lost
phase-2 event, and, on request, a resumed backfill's runs whatever their age."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from libs.common.audit import PROCESSED_MESSAGES, record_processed
from libs.common.messages import REPROCESS_ATTRIBUTE
from tests.utils.scrapers import DAY, Scrapers, scrapers_app


@pytest.fixture
def scrapers() -> Iterator[Scrapers]:
    with scrapers_app() as app:
        yield app


def scraped(scrapers: Scrapers) -> str:
    """One successful run whose completion was published (and is then lost)."""
    answer = scrapers.scrape().json()
    assert answer["status"] == "success"
    scrapers.publisher.published.clear()
    return str(answer["execution_id"])


def applied(scrapers: Scrapers, execution_id: str, phase: str, outcome: str) -> None:
    scrapers.warehouse.ensure_tables([PROCESSED_MESSAGES])  # as a push service creates it
    record_processed(scrapers.warehouse, subscription="s", message_id="1", phase=phase,
                     scraper_name="bdl_games", execution_id=execution_id, outcome=outcome,
                     work_key=f"{phase}|{execution_id}", game_date=DAY)  # fmt: skip


def test_a_run_no_processor_loaded_is_republished_as_the_same_work(scrapers: Scrapers) -> None:
    run = scraped(scrapers)
    scrapers.clock.advance(dt.timedelta(minutes=45))
    report = scrapers.http.post("/run-cleanup").json()
    assert report["republished_execution_ids"] == [run]
    [(_, message, attributes)] = scrapers.publisher.published
    assert message.execution_id == run  # type: ignore[attr-defined]
    assert REPROCESS_ATTRIBUTE not in attributes, "the original, if it comes, is a duplicate"


def test_a_load_whose_phase2_event_was_lost_is_applied_once_more(scrapers: Scrapers) -> None:
    """The processors loaded it, so the same work would be a duplicate that publishes no
    phase-2 message: cleanup republishes it under its own reprocess id instead."""
    run = scraped(scrapers)
    applied(scrapers, run, "processors", "loaded")
    scrapers.clock.advance(dt.timedelta(minutes=45))
    report = scrapers.http.post("/run-cleanup").json()
    assert report["republished_execution_ids"] == [run]
    [(_, _, attributes)] = scrapers.publisher.published
    assert attributes[REPROCESS_ATTRIBUTE] == f"cleanup-{report['cleanup_id']}"


def test_a_run_every_phase_applied_is_left_alone(scrapers: Scrapers) -> None:
    run = scraped(scrapers)
    applied(scrapers, run, "processors", "loaded")
    applied(scrapers, run, "analytics", "built")
    scrapers.clock.advance(dt.timedelta(minutes=45))
    report = scrapers.http.post("/run-cleanup").json()
    assert (report["files_checked"], report["files_republished"]) == (1, 0)


def test_named_runs_are_republished_whatever_their_age(scrapers: Scrapers) -> None:
    """A backfill resuming after a crash: its runs finished minutes ago, inside the grace
    period, and their events died with the previous stack."""
    run, other = scraped(scrapers), scraped(scrapers)
    assert scrapers.http.post("/run-cleanup").json()["files_republished"] == 0, "in grace"
    report = scrapers.http.post("/run-cleanup", json={"execution_ids": [run]}).json()
    assert report["republished_execution_ids"] == [run] and other != run
    assert (
        scrapers.http.post("/run-cleanup", json={"execution_ids": []}).json()["files_checked"] == 0
    )
