"""Orchestration through the real stack: cleanup republishes a dropped event, the daily schedule
on a cold warehouse, and an evaluator called twice in an hour."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from libs.common.clock import EASTERN
from libs.common.messages import SCRAPER_COMPLETE_TOPIC
from libs.common.sources.registry import get_source
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings
from nba_pipeline.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def frozen(stack: LocalStack) -> Iterator[dt.datetime]:
    """Freeze the stack's clock at real now; release it afterwards."""
    now = dt.datetime.now(dt.UTC)
    stack.clock.set(now)
    yield now
    stack.clock.release()


def drop_next_completion(monkeypatch: pytest.MonkeyPatch, stack: LocalStack) -> list[str]:
    """Make the next phase-1 publish vanish (as a lost event would), once."""
    publisher = stack.clients.publisher
    original = publisher.publish
    dropped: list[str] = []

    def publish(topic: str, message: Any, attributes: dict[str, str]) -> str:
        if topic == SCRAPER_COMPLETE_TOPIC and not dropped:
            dropped.append(attributes["execution_id"])
            return "dropped"
        return original(topic, message, attributes)

    monkeypatch.setattr(publisher, "publish", publish)
    return dropped


def cleanup(stack: LocalStack) -> dict[str, Any]:
    response = httpx.post(f"{stack.url('scrapers')}/run-cleanup", timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_cleanup_republishes_a_dropped_completion_once_it_is_overdue(
    stack: LocalStack, frozen: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = drop_next_completion(monkeypatch, stack)
    client = PipelineClient(stack.url("scrapers"))
    run = client.scrape("bdl_games", {"date": "2025-02-20"})
    assert run.status == "success" and dropped == [run.execution_id]
    assert client.pending([run.execution_id]) == [run.execution_id], "nothing processed it"

    stack.clock.advance(dt.timedelta(minutes=10))
    early = cleanup(stack)
    assert run.execution_id not in early["republished_execution_ids"], (
        "still inside the 30-minute grace"
    )

    stack.clock.advance(dt.timedelta(minutes=21))
    report = cleanup(stack)
    assert report["republished_execution_ids"] == [run.execution_id]
    assert report["files_republished"] == 1 and report["missing_files_found"] == 1
    client.wait([run], timeout=60)
    rows = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_raw.bdl_games} WHERE execution_id = @e",
        {"e": run.execution_id},
    )
    assert rows[0]["n"] == 9, "the republished event was loaded"
    recorded = stack.clients.warehouse.query(
        "SELECT files_republished FROM {nba_orchestration.cleanup_operations} WHERE cleanup_id = @c",
        {"c": report["cleanup_id"]},
    )
    assert recorded == [{"files_republished": 1}]

    stack.clock.advance(dt.timedelta(minutes=15))
    assert run.execution_id not in cleanup(stack)["republished_execution_ids"], (
        "applied runs are left alone"
    )


def test_the_daily_schedule_on_a_cold_warehouse_scrapes_the_season_schedule_first(
    stack: LocalStack,
) -> None:
    day = dt.date(2025, 1, 15)
    stack.clients.warehouse.replace(get_source("nbac_schedule").table, {}, [])
    url = f"{stack.url('scrapers')}/generate-daily-schedule"
    cold = httpx.post(url, json={"date": day.isoformat()}, timeout=120).json()
    assert cold["note"].startswith("season schedule was not loaded: scraped nbac_schedule (success")
    assert len(cold["execution_ids"]) == 1
    games = len(Season(ReplaySettings().seed).games_on(day))
    assert {(row["workflow"], row["games"]) for row in cold["expected"]} >= {
        ("props_captures", games)
    }

    client = PipelineClient(stack.url("scrapers"))
    ids = cold["execution_ids"]
    deadline = time.monotonic() + 60
    while ids := client.pending(ids):
        assert time.monotonic() < deadline, "the season schedule scrape was never loaded"
        time.sleep(0.05)
    warm = httpx.post(url, json={"date": day.isoformat()}, timeout=120).json()
    assert (warm["note"], warm["execution_ids"]) == (None, [])
    slots = {(row["workflow"], row["expected_at"]) for row in warm["expected"]}
    assert slots == {(row["workflow"], row["expected_at"]) for row in cold["expected"]}
    stored = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.daily_expected_schedule} "
        "WHERE schedule_date = @d",
        {"d": day},
    )
    assert stored[0]["n"] == len(slots), "a second call replaces the day, never adds to it"


def test_evaluating_twice_in_the_same_hour_never_double_runs(stack: LocalStack) -> None:
    day = dt.date(2024, 10, 30)
    stack.clock.set(dt.datetime.combine(day, dt.time(23), EASTERN))
    url = f"{stack.url('scrapers')}/evaluate-workflows"
    try:
        with ThreadPoolExecutor(2) as pool:
            concurrent = list(pool.map(lambda _: httpx.post(url, timeout=300), range(2)))
        again = httpx.post(url, timeout=300)
    finally:
        stack.clock.release()
    answers = [response.json() for response in (*concurrent, again)]
    assert all(response.status_code == 200 for response in (*concurrent, again))
    discovery = [d for answer in answers for d in answer if d["workflow"] == "discovery"]
    ran = [d for d in discovery if d["decision"] == "RUN"]
    assert len(ran) == 1, "23:00 is inside discovery's window only; it runs once"
    assert [d["reason"] for d in discovery if d["decision"] != "RUN"] == [
        "already ran this hour (23:00)"
    ] * 2
    assert {
        d["decision"] for answer in answers for d in answer if d["workflow"] != "discovery"
    } == {"SKIP"}
    logged = stack.clients.warehouse.query(
        "SELECT execution_id FROM {nba_orchestration.scraper_execution_log} "
        "WHERE workflow = 'discovery' AND started_at = @at",
        {"at": dt.datetime.combine(day, dt.time(23), EASTERN)},
    )
    yesterday = Season(ReplaySettings().seed).games_on(day - dt.timedelta(days=1))
    assert sorted(r["execution_id"] for r in logged) == sorted(ran[0]["execution_ids"])
    assert len(logged) == 1 + len(yesterday), "the events list, then one props run per game"


def test_two_instances_deciding_the_same_attempt_at_once_run_it_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each instance has its own in-process lock; the claim in GCS is what they share."""
    from fastapi.testclient import TestClient

    from services.scrapers.app import create_app
    from services.scrapers.orchestration import engine
    from services.scrapers.orchestration.decisions import History

    # Both instances read the day's history before either wrote its decision row.
    monkeypatch.setattr(engine, "history_of", lambda warehouse, workflow, day: History())
    day = dt.date(2024, 11, 13)
    stack.clock.set(dt.datetime.combine(day, dt.time(23), EASTERN))
    other_instance = create_app(stack.settings(), stack.clients, stack.clock)
    try:
        first = httpx.post(f"{stack.url('scrapers')}/evaluate-workflows", timeout=300)
        with TestClient(other_instance) as client:
            second = client.post("/evaluate-workflows")
    finally:
        stack.clock.release()
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    decided = [next(d for d in r.json() if d["workflow"] == "discovery") for r in (first, second)]
    assert [d["decision"] for d in decided] == ["RUN", "SKIP"]
    assert decided[1]["reason"] == f"attempt 1 of {day} was claimed by another instance"
    logged = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.scraper_execution_log} "
        "WHERE workflow = 'discovery' AND started_at = @at",
        {"at": dt.datetime.combine(day, dt.time(23), EASTERN)},
    )
    assert logged[0]["n"] == len(decided[0]["execution_ids"]), "the plan's runs, once"
