"""Orchestration through the real stack: cleanup republishes a dropped event, decisions are recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from libs.common.messages import SCRAPER_COMPLETE_TOPIC
from nba_pipeline.pipeline import PipelineClient
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
